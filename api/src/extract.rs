//! The authenticated caller, as an extractor: a handler that takes [`Caller`] cannot
//! run for an unauthenticated request.

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use dap_auth::Principal;
use futures::future::LocalBoxFuture;

use crate::audit::RequestContext;
use crate::error::ApiError;
use crate::startup::AppState;

/// A caller whose bearer token was verified. Refusals are audited.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        // Only the Authorization header carries tokens; never query strings. A browser
        // that logged in has a session cookie instead (an opaque handle, not a token).
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .map(|v| v.to_str().map(str::to_owned));
        let session = req
            .cookie(crate::login::SESSION_COOKIE)
            .map(|c| c.value().to_owned())
            .filter(|_| header.is_none());
        let cross_site = session.is_some() && cross_site_write(req);
        let ctx = RequestContext::of(req);
        let dataset = req
            .match_info()
            .get("id")
            .map(|d| d.chars().take(130).collect());
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("app state missing")))?;
            let verified = match header {
                Some(Ok(value)) => match bearer(&value) {
                    Some(token) if token.starts_with(dap_auth::secrets::PAT_PREFIX) => {
                        personal_token(&state, token).await
                    }
                    Some(token) => state.verifier.verify(token).await,
                    None => Err(dap_auth::Error::MissingToken),
                },
                Some(Err(_)) => Err(dap_auth::Error::Malformed("header is not ASCII".into())),
                None => match session {
                    Some(_) if cross_site => Err(dap_auth::Error::Claims(
                        "a session cookie on a cross-site write request".into(),
                    )),
                    Some(value) => browser_session(&state, &value).await,
                    None => Err(dap_auth::Error::MissingToken),
                },
            };
            let verified = match verified {
                Ok(principal) => still_active(&state, principal).await,
                Err(e) => Err(e),
            };
            match verified {
                Ok(principal) => Ok(Caller(principal)),
                Err(cause) => {
                    let error = ApiError::InvalidToken(cause);
                    state.audit_anonymous_denial(&ctx, dataset, &error).await?;
                    Err(error)
                }
            }
        })
    }
}

/// A state-changing request that a browser says comes from another site: with a session
/// cookie that would be cross-site request forgery (SameSite=Lax already keeps the cookie
/// off such requests in current browsers; this is the second lock).
fn cross_site_write(req: &HttpRequest) -> bool {
    use actix_web::http::Method;
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    let site = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| s != "same-origin" && s != "none") {
        return true;
    }
    let origin = req.headers().get("origin").and_then(|v| v.to_str().ok());
    let public = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| s.public_url.as_ref())
        .map(|u| u.origin().ascii_serialization());
    match (origin, public) {
        (Some(origin), Some(public)) => origin != public,
        _ => false,
    }
}

/// A browser session: the principal the login established, until it expires or the
/// user logs out (checked in the shared database on every request).
async fn browser_session(state: &AppState, value: &str) -> Result<Principal, dap_auth::Error> {
    let invalid = |why: &str| dap_auth::Error::Claims(format!("session {why}"));
    if value.len() > 128 || !value.starts_with(crate::routes::auth::SESSION_PREFIX) {
        return Err(invalid("malformed"));
    }
    let stored = state
        .control
        .session_by_hash(&dap_auth::secrets::token_digest(value))
        .await
        .map_err(|e| invalid(&format!("lookup failed: {e}")))?
        .ok_or_else(|| invalid("unknown or expired"))?;
    stored_principal(
        stored.subject,
        stored.issuer,
        &stored.grants,
        &stored.nsis_level,
        stored.constraints.as_deref(),
    )
}

/// Rebuilds a principal kept in the control plane (personal token or session).
fn stored_principal(
    subject: String,
    issuer: String,
    grants: &str,
    nsis: &str,
    constraints: Option<&str>,
) -> Result<Principal, dap_auth::Error> {
    let corrupt = || dap_auth::Error::Claims("stored grants are corrupt".into());
    let grants: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        serde_json::from_str(grants).map_err(|_| corrupt())?;
    let grants = grants
        .into_iter()
        .filter_map(|(m, r)| dap_schema::MunicipalityCode::parse(&m).ok().map(|m| (m, r)))
        .collect();
    let nsis = nsis.parse().map_err(|_| corrupt())?;
    let mut principal =
        Principal::from_grants(subject, issuer, dap_auth::CallerKind::User, grants, nsis);
    principal.restore_constraints(constraints)?;
    Ok(principal)
}

/// The token of `Bearer <token>` (scheme case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A machine token stops working as soon as its client is disabled or expires, on every
/// replica: the client's state is read from the shared control plane.
async fn still_active(
    state: &AppState,
    principal: Principal,
) -> Result<Principal, dap_auth::Error> {
    if principal.issuer != dap_auth::dap_issuer::DAP_ISSUER {
        return Ok(principal);
    }
    let client_id = principal.client_id.clone().unwrap_or_default();
    if principal.subject != client_id {
        return Err(dap_auth::Error::Claims(
            "machine token subject and client differ".into(),
        ));
    }
    match state.control.machine_client(&client_id).await {
        Ok(Some((client, _))) if client.is_active(chrono::Utc::now()) => {
            // Municipality, datasets and roles come from the client's record, not from
            // the token: a change to the client applies to tokens already handed out.
            let municipality = dap_schema::MunicipalityCode::parse(&client.municipality)
                .map_err(|e| dap_auth::Error::Claims(e.to_string()))?;
            let roles = client
                .datasets
                .iter()
                .filter_map(|id| state.catalogue.get(id))
                .map(|d| d.read_role.clone())
                .collect();
            let mut rebuilt = Principal::from_grants(
                principal.subject,
                principal.issuer,
                dap_auth::CallerKind::Machine,
                std::collections::BTreeMap::from([(municipality, roles)]),
                principal.nsis,
            );
            rebuilt.client_id = Some(client.client_id);
            rebuilt.datasets = Some(client.datasets.into_iter().collect());
            Ok(rebuilt)
        }
        Ok(_) => Err(dap_auth::Error::Claims(
            "the machine client is disabled, expired or deleted".into(),
        )),
        Err(e) => Err(dap_auth::Error::Claims(format!(
            "client state unavailable: {e}"
        ))),
    }
}

/// The `iss` of principals that came with a personal access token.
pub const PAT_ISSUER: &str = "urn:dap:personal-token";

/// A personal access token acts as its owner did at creation, limited to its datasets,
/// until it expires or is revoked (checked in the shared database on every request).
async fn personal_token(state: &AppState, token: &str) -> Result<Principal, dap_auth::Error> {
    let invalid = |why: &str| dap_auth::Error::Claims(format!("personal token {why}"));
    if token.len() > 128 {
        return Err(invalid("malformed"));
    }
    let stored = state
        .control
        .personal_token_by_hash(&dap_auth::secrets::token_digest(token))
        .await
        .map_err(|e| invalid(&format!("lookup failed: {e}")))?
        .ok_or_else(|| invalid("unknown"))?;
    if stored.revoked_at.is_some() || stored.expires_at <= chrono::Utc::now() {
        return Err(invalid("revoked or expired"));
    }
    let mut principal = stored_principal(
        stored.subject,
        PAT_ISSUER.into(),
        &stored.grants,
        &stored.nsis_level,
        stored.constraints.as_deref(),
    )?;
    principal.client_id = Some(stored.id);
    principal.datasets = Some(
        stored
            .datasets
            .split(',')
            .filter(|d| !d.is_empty())
            .map(str::to_owned)
            .collect(),
    );
    Ok(principal)
}
