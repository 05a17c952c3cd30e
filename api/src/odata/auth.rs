//! The caller of an OData request: a bearer token as everywhere, or HTTP Basic with a
//! personal access token as the password ([`Credential::BasicPassword`]), because Excel's
//! and Power BI's "From OData feed" dialog offers Basic but cannot send a bearer header.
//! Who the credential belongs to is [`Core::authenticate`]'s to say; refusals are
//! audited and answer 401 with `WWW-Authenticate: Basic` so the tool prompts.

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use dap_auth::Principal;
use futures::future::LocalBoxFuture;

use super::error::ODataError;
use crate::app::identity::Credential;
use crate::app::{AppError, Core};
use crate::rest::extract::request_context;

/// A caller whose credential was verified.
#[derive(Debug, Clone)]
pub struct ODataCaller(pub Principal);

/// The credential of an OData request. Only the Authorization header carries one; a
/// browser session cookie is not used here (a feed is read by tools, not pages).
fn credential(req: &HttpRequest) -> Credential {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Credential::Missing;
    };
    let Ok(value) = value.to_str() else {
        return Credential::Malformed("header is not ASCII");
    };
    let Some((scheme, rest)) = value.trim().split_once(' ') else {
        return Credential::Malformed("use Basic or Bearer");
    };
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        return Credential::Bearer(rest.to_owned());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Credential::Malformed("use Basic or Bearer");
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    match decoded.as_deref().and_then(|text| text.split_once(':')) {
        // The user name is ignored: the token alone says who the caller is.
        Some((_, password)) if !password.is_empty() => {
            Credential::BasicPassword(password.to_owned())
        }
        Some(_) => Credential::Missing,
        None => Credential::Malformed("Basic credentials are not base64 of user:password"),
    }
}

impl FromRequest for ODataCaller {
    type Error = ODataError;
    type Future = LocalBoxFuture<'static, Result<Self, ODataError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let core = req.app_data::<web::Data<Core>>().cloned();
        let credential = credential(req);
        let ctx = request_context(req);
        Box::pin(async move {
            let core = core
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("application core missing")))?;
            match core.authenticate(credential).await {
                Ok(principal) => Ok(Self(principal)),
                Err(cause) => {
                    let error = AppError::InvalidToken(cause);
                    core.audit_request(&ctx, None, None, Some(&error)).await?;
                    Err(error.into())
                }
            }
        })
    }
}
