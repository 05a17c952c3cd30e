//! `POST /oauth/token`: the OAuth 2 client-credentials grant for machine clients
//! (RFC 6749 §4.4), with `client_secret_basic`, `client_secret_post` or `private_key_jwt`
//! (RFC 7523 §2.2). The rules and the audit are the core's
//! ([`crate::app::identity::client_credentials`]); here is the HTTP form: the
//! form-encoded body, HTTP Basic, and errors as the OAuth error body (`error`,
//! `error_description`), as clients expect.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, post, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use dap_openapi::model::identity::{TokenRequest, TokenResponse};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::app::Core;
use crate::app::identity::{ClientRefusal, TokenGrant};
use crate::rest::extract::request_context;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(issue_token);
}

/// An OAuth error (RFC 6749 §5.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    #[schema(example = "invalid_client")]
    pub error: String,
    pub error_description: String,
}

/// The OAuth error response of a refusal: 401 for client authentication, 500 for ours,
/// 400 for the rest.
fn oauth_error(refusal: ClientRefusal) -> HttpResponse {
    let status = match refusal.error {
        "invalid_client" => StatusCode::UNAUTHORIZED,
        "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="dap""#));
    }
    response.json(OAuthError {
        error: refusal.error.into(),
        error_description: refusal.description.into(),
    })
}

/// The largest token request read (a client assertion is a signed JWT of a few KB).
const FORM_LIMIT: usize = 16 * 1024;

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
        (status = 413, description = "The form is larger than 16 KiB", body = OAuthError),
        (status = 500, description = "Internal error", body = OAuthError),
    )
)]
#[post("/oauth/token")]
async fn issue_token(
    req: HttpRequest,
    core: web::Data<Core>,
    payload: web::Payload,
) -> HttpResponse {
    let ctx = request_context(&req);
    // A form field no client sends (control characters, overlong) is named at once,
    // and so is a body past the limit; everything else about the form is the core's to
    // judge. These refusals are audited as a refused credential is.
    let read = crate::rest::input::body(&req, payload, FORM_LIMIT).await;
    let checked = read.and_then(|body| {
        url::form_urlencoded::parse(&body)
            .try_for_each(|(name, value)| {
                crate::app::input::check_text("form field", &name, &value)
            })
            .map(|()| body)
    });
    let body = match checked {
        Ok(body) => body,
        Err(error) => {
            if let Err(unrecorded) = core.audit_request(&ctx, None, None, Some(&error)).await {
                return unrecorded.error_response();
            }
            let status = match error.class() {
                crate::app::ErrorClass::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            return HttpResponse::build(status)
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(OAuthError {
                    error: "invalid_request".into(),
                    error_description: error.public_message(),
                });
        }
    };
    let grant = TokenGrant {
        request: serde_urlencoded::from_bytes::<TokenRequest>(&body).ok(),
        basic: basic_credentials(&req),
    };
    match core.client_token(&ctx, grant).await {
        Ok(token) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(token),
        Err(refusal) => oauth_error(refusal),
    }
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
