//! The authenticated caller, as an extractor: a handler that takes [`Caller`] cannot
//! run for an unauthenticated request. This is the HTTP half of authentication: reading
//! the credential off the request (the `Authorization` header or the session cookie) and
//! refusing a cookie on a cross-site write; who the credential belongs to is
//! [`Core::authenticate`]'s to say. Also the request's audit context
//! ([`request_context`]).

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use dap_auth::Principal;
use futures::future::LocalBoxFuture;

use crate::app::audit::{RequestContext, audited_dataset};
use crate::app::identity::Credential;
use crate::app::{AppError, Core};

/// A caller whose credential was verified. Refusals are audited.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

/// The audit context of a request: its id (see [`crate::rest::observe`]), the peer's
/// address, and `METHOD /route/{pattern}` as the action.
pub fn request_context(req: &HttpRequest) -> RequestContext {
    let request_id = crate::rest::observe::request_id_of(req)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let route = req
        .match_pattern()
        .unwrap_or_else(|| req.path().chars().take(200).collect());
    RequestContext::new(
        request_id,
        req.peer_addr().map(|a| a.ip().to_string()),
        format!("{} {route}", req.method()),
    )
}

/// The credential a request carries. Only the Authorization header carries tokens, never
/// query strings; a browser that logged in has a session cookie instead (an opaque
/// handle, not a token), which is ignored next to a header.
fn credential(req: &HttpRequest) -> Credential {
    match req.headers().get(AUTHORIZATION).map(|v| v.to_str()) {
        Some(Ok(value)) => bearer(value).map_or(Credential::Missing, |token| {
            Credential::Bearer(token.to_owned())
        }),
        Some(Err(_)) => Credential::Malformed("header is not ASCII"),
        None => match req.cookie(crate::rest::login::SESSION_COOKIE) {
            Some(_) if cross_site_write(req) => {
                Credential::Refused("a session cookie on a cross-site write request")
            }
            Some(cookie) => Credential::Session(cookie.value().to_owned()),
            None => Credential::Missing,
        },
    }
}

impl FromRequest for Caller {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let core = req.app_data::<web::Data<Core>>().cloned();
        let credential = credential(req);
        let ctx = request_context(req);
        let dataset = req.match_info().get("id").map(audited_dataset);
        Box::pin(async move {
            let core = core
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("application core missing")))?;
            match core.authenticate(credential).await {
                Ok(principal) => Ok(Caller(principal)),
                Err(cause) => {
                    let error = AppError::InvalidToken(cause);
                    core.audit_request(&ctx, None, dataset, Some(&error))
                        .await?;
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
        .app_data::<web::Data<Core>>()
        .and_then(|s| s.public_url.as_ref())
        .map(|u| u.origin().ascii_serialization());
    match (origin, public) {
        (Some(origin), Some(public)) => origin != public,
        _ => false,
    }
}

/// The token of `Bearer <token>` (scheme case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
