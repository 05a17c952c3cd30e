//! `POST /oauth/token`: the OAuth 2 client-credentials grant for machine clients
//! (RFC 6749 §4.4), with `client_secret_basic`, `client_secret_post` or `private_key_jwt`
//! (RFC 7523 §2.2).
//! Errors here use the OAuth error body (`error`, `error_description`), as clients expect.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use dap_auth::dap_issuer::MACHINE_TOKEN_SECONDS;
use dap_auth::secrets::verify_secret;
use dap_schema::AuditOutcome;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::audit::RequestContext;
use crate::startup::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(issue_token);
}

/// The token request (form-encoded).
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    #[schema(example = "client_credentials")]
    pub grant_type: String,
    /// With `client_secret_post`; otherwise use HTTP Basic authentication.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// With `private_key_jwt`: `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    pub client_assertion_type: Option<String>,
    /// With `private_key_jwt`: a JWT signed with the client's key, `iss` = `sub` = client
    /// id, `aud` = `urn:dap:issuer` or this endpoint's URL, `exp` at most 5 minutes
    /// ahead, and a `jti` used once.
    pub client_assertion: Option<String>,
    /// Ignored: the client's datasets are fixed at registration.
    pub scope: Option<String>,
}

/// A successful token response.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
}

/// An OAuth error (RFC 6749 §5.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    #[schema(example = "invalid_client")]
    pub error: String,
    pub error_description: String,
}

fn oauth_error(status: u16, error: &str, description: &str) -> HttpResponse {
    let mut response =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default());
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    if status == 401 {
        response.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="dap""#));
    }
    response.json(OAuthError {
        error: error.into(),
        error_description: description.into(),
    })
}

/// Exchanges client credentials for a short-lived access token scoped to the client's
/// municipality and datasets.
#[utoipa::path(
    tag = "oauth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses(
        (status = 200, description = "An access token", body = TokenResponse),
        (status = 400, description = "Malformed request or unsupported grant", body = OAuthError),
        (status = 401, description = "Unknown, disabled or expired client, or wrong secret", body = OAuthError,
         headers(("WWW-Authenticate" = String, description = "Basic realm=\"dap\""))),
        (status = 500, description = "Internal error", body = OAuthError),
    )
)]
#[post("/oauth/token")]
async fn issue_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let (client_id, outcome) = exchange(&req, &state, &body).await;
    // Every answer is audited, refusals included; without the record there is no token.
    let mut record = ctx.record(
        None,
        if outcome.is_ok() {
            AuditOutcome::Allowed
        } else {
            AuditOutcome::Denied
        },
    );
    record.subject = client_id.map(|id| id.chars().take(64).collect());
    record.caller_kind = Some("machine".into());
    match &outcome {
        Ok((_, municipality)) => record.municipality = Some(municipality.clone()),
        Err(refusal) => record.reason = Some(refusal.reason.into()),
    }
    if state.control.append_audit(&record).await.is_err() {
        return oauth_error(500, "server_error", "internal error");
    }
    match outcome {
        Ok((access_token, _)) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(TokenResponse {
                access_token,
                token_type: "Bearer".into(),
                expires_in: MACHINE_TOKEN_SECONDS,
            }),
        Err(refusal) => oauth_error(refusal.status, refusal.error, refusal.description),
    }
}

/// Why a token request was refused, and how to say it.
struct Refusal {
    status: u16,
    error: &'static str,
    description: &'static str,
    reason: &'static str,
}

const fn refuse(
    status: u16,
    error: &'static str,
    description: &'static str,
    reason: &'static str,
) -> Refusal {
    Refusal {
        status,
        error,
        description,
        reason,
    }
}

const BAD_CLIENT: Refusal = refuse(
    401,
    "invalid_client",
    "unknown client, wrong secret, or the client is disabled or expired",
    "invalid_client",
);

/// Parses the request and authenticates the client; returns the client id it named.
async fn exchange(
    req: &HttpRequest,
    state: &AppState,
    body: &[u8],
) -> (Option<String>, Result<(String, String), Refusal>) {
    let Ok(form) = serde_urlencoded::from_bytes::<TokenRequest>(body) else {
        let r = refuse(
            400,
            "invalid_request",
            "send grant_type=client_credentials as application/x-www-form-urlencoded",
            "invalid_request",
        );
        return (None, Err(r));
    };
    if form.grant_type != "client_credentials" {
        let r = refuse(
            400,
            "unsupported_grant_type",
            "only grant_type=client_credentials is supported",
            "unsupported_grant_type",
        );
        return (form.client_id, Err(r));
    }
    if form.client_assertion.is_some() || form.client_assertion_type.is_some() {
        return assertion_exchange(req, state, form).await;
    }
    let (client_id, secret) = match (basic_credentials(req), form.client_id, form.client_secret) {
        (Some((id, _)), Some(_), _) | (Some((id, _)), _, Some(_)) => {
            let r = refuse(
                400,
                "invalid_request",
                "authenticate with one method: HTTP Basic or client_id/client_secret in the body",
                "invalid_request",
            );
            return (Some(id), Err(r));
        }
        (Some(pair), None, None) => pair,
        (None, Some(id), Some(secret)) => (id, secret),
        (None, id, _) => {
            let r = refuse(
                401,
                "invalid_client",
                "client authentication is required",
                "invalid_client",
            );
            return (id, Err(r));
        }
    };
    let outcome = issue(state, &client_id, Credential::Secret(&secret))
        .await
        .map_err(refusal_for);
    (Some(client_id), outcome)
}

fn refusal_for(reason: &'static str) -> Refusal {
    match reason {
        "server_error" => refuse(500, "server_error", "internal error", "server_error"),
        "invalid_request" => refuse(
            400,
            "invalid_request",
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer with a client_assertion, and no other client authentication",
            "invalid_request",
        ),
        reason => Refusal {
            reason,
            ..BAD_CLIENT
        },
    }
}

/// `private_key_jwt`: the client proves itself with an assertion signed by its key.
async fn assertion_exchange(
    req: &HttpRequest,
    state: &AppState,
    form: TokenRequest,
) -> (Option<String>, Result<(String, String), Refusal>) {
    let (Some(kind), Some(assertion)) = (form.client_assertion_type, form.client_assertion) else {
        return (form.client_id, Err(refusal_for("invalid_request")));
    };
    if kind != dap_auth::client_assertion::ASSERTION_TYPE
        || form.client_secret.is_some()
        || basic_credentials(req).is_some()
    {
        return (form.client_id, Err(refusal_for("invalid_request")));
    }
    let Ok(client_id) = dap_auth::client_assertion::claimed_client(&assertion) else {
        return (form.client_id, Err(refusal_for("invalid_assertion")));
    };
    if form.client_id.as_ref().is_some_and(|id| *id != client_id) {
        return (Some(client_id), Err(refusal_for("invalid_assertion")));
    }
    let outcome = issue(state, &client_id, Credential::Assertion(&assertion))
        .await
        .map_err(refusal_for);
    (Some(client_id), outcome)
}

/// How the client authenticated.
enum Credential<'a> {
    Secret(&'a str),
    Assertion(&'a str),
}

/// Checks the client and signs a token; the error is the audited reason.
async fn issue(
    state: &AppState,
    client_id: &str,
    credential: Credential<'_>,
) -> Result<(String, String), &'static str> {
    // A hash to verify against when the client does not exist, so timing does not tell.
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$8dhdAEXnQRnOrjwwSR+ykT+wwt3j1gDcUlYV2QbOtkk";
    let found = state
        .control
        .machine_client(client_id)
        .await
        .map_err(|_| "server_error")?;
    let client = match (credential, found) {
        (Credential::Secret(secret), None) => {
            verify_secret(secret, DUMMY);
            return Err("invalid_client");
        }
        (Credential::Assertion(_), None) => return Err("invalid_client"),
        (Credential::Secret(secret), Some((client, hash))) => {
            if !verify_secret(secret, &hash) {
                return Err("invalid_client");
            }
            client
        }
        (Credential::Assertion(assertion), Some((client, _))) => {
            let Some(key) = client.public_key.as_deref() else {
                return Err("invalid_client");
            };
            let verified = dap_auth::client_assertion::verify(
                assertion,
                &client.client_id,
                key,
                &state.assertion_audiences(),
            )
            .map_err(|e| {
                tracing::info!(client_id = %client.client_id, reason = %e, "client assertion refused");
                "invalid_assertion"
            })?;
            // One use per assertion, across replicas: a captured assertion is worthless.
            let digest = dap_auth::secrets::token_digest(&format!(
                "{}\n{}",
                verified.client_id, verified.jti
            ));
            let expires = chrono::DateTime::from_timestamp(verified.expires_at, 0)
                .unwrap_or_else(Utc::now)
                + chrono::Duration::seconds(120);
            if !state
                .control
                .use_assertion_once(&digest, expires)
                .await
                .map_err(|_| "server_error")?
            {
                return Err("assertion_replayed");
            }
            client
        }
    };
    if !client.is_active(Utc::now()) {
        return Err("client_inactive");
    }
    let mut roles: Vec<String> = client
        .datasets
        .iter()
        .filter_map(|id| state.catalogue.get(id))
        .map(|d| d.read_role.clone())
        .collect();
    roles.sort();
    roles.dedup();
    let token = state
        .issuer_keys
        .signer()
        .machine_token(
            &client.client_id,
            &client.municipality,
            &client.datasets,
            &roles,
        )
        .map_err(|_| "server_error")?;
    Ok((token, client.municipality))
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}
