//! Browser login: `/auth/login` sends the browser to the broker (authorization code +
//! PKCE), `/auth/callback` turns the answer into a session cookie, `/auth/logout` ends
//! the session. Logins, refused logins and logouts are audited.

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use dap_auth::Principal;
use dap_openapi::ErrorBody;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::app::{AppError, Core};
use crate::rest::extract::request_context;
use crate::rest::input::Query;
use crate::rest::login::{Login, LoginState, SESSION_COOKIE, STATE_COOKIE, safe_return_to};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(start_login).service(callback).service(logout);
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LoginQuery {
    /// A path on this server to return to after login (default `/api/v1/me`).
    pub return_to: Option<String>,
}

/// The configured login; without one the login routes do not exist, and while its broker
/// has not answered discovery they answer 503.
fn configured(req: &HttpRequest) -> Result<&Login, AppError> {
    req.app_data::<web::Data<LoginState>>()
        .ok_or(AppError::NotFound)?
        .get()
}
fn cookie<'c>(login: &Login, name: &'c str, value: String, max_age: time::Duration) -> Cookie<'c> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .secure(login.secure_cookies)
        // Lax: sent on the broker's top-level redirect back, not on cross-site posts.
        .same_site(SameSite::Lax)
        .max_age(max_age)
        .finish()
}

/// Starts a browser login: redirects to the broker's authorization endpoint.
#[utoipa::path(
    tag = "auth",
    params(LoginQuery),
    security(()),
    responses(
        (status = 302, description = "To the broker's login page",
         headers(("Location" = String, description = "The broker's authorization URL"))),
        (status = 400, description = "`return_to` is not plain text (it holds a control character)", body = ErrorBody),
        (status = 404, description = "Browser login is not configured", body = ErrorBody),
        (status = 503, description = "The broker has not answered discovery yet; `Retry-After` says when to try again", body = ErrorBody,
         headers(("Retry-After" = String))),
    )
)]
#[get("/auth/login")]
async fn start_login(
    req: HttpRequest,
    core: web::Data<Core>,
    query: Query<LoginQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.value_or_record(&core, &req).await?;
    let login = configured(&req)?;
    let (url, pending) = login.start(safe_return_to(query.return_to.as_deref()));
    let sealed = login.seal(&pending).map_err(AppError::Internal)?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, url.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(cookie(
            login,
            STATE_COOKIE,
            sealed,
            time::Duration::seconds(crate::rest::login::LOGIN_SECONDS),
        ))
        .finish())
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set by the broker when the login failed.
    pub error: Option<String>,
}

/// The broker's redirect back: checks state, exchanges the code, verifies the ID token
/// and the access token, and starts a session.
#[utoipa::path(
    tag = "auth",
    params(CallbackQuery),
    security(()),
    responses(
        (status = 302, description = "Logged in: to the page the login started from, with the session cookie",
         headers(("Location" = String), ("Set-Cookie" = String, description = "dap_session, HttpOnly"))),
        (status = 400, description = "State missing, wrong or expired, or the broker reported an error", body = ErrorBody),
        (status = 401, description = "The broker's tokens were not accepted", body = ErrorBody,
         headers(("WWW-Authenticate" = String))),
        (status = 404, description = "Browser login is not configured", body = ErrorBody),
    )
)]
#[get("/auth/callback")]
async fn callback(
    req: HttpRequest,
    core: web::Data<Core>,
    query: Query<CallbackQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.value_or_record(&core, &req).await?;
    let login = configured(&req)?;
    let ctx = request_context(&req);
    let result = complete(&core, login, &req, query).await;
    let principal = result.as_ref().ok().map(|(p, _)| p);
    core.audit_request(&ctx, principal, None, result.as_ref().err())
        .await?;
    let (_, (value, return_to)) = result?;
    let mut clear = cookie(login, STATE_COOKIE, String::new(), time::Duration::ZERO);
    clear.make_removal();
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, return_to))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(clear)
        .cookie(cookie(
            login,
            SESSION_COOKIE,
            value,
            time::Duration::hours(login.session_hours),
        ))
        .finish())
}

async fn complete(
    core: &Core,
    login: &Login,
    req: &HttpRequest,
    query: CallbackQuery,
) -> Result<(Principal, (String, String)), AppError> {
    if let Some(error) = query.error {
        return Err(AppError::InvalidParameter(format!(
            "the broker ended the login with error '{}'; start again at /auth/login",
            error.chars().take(64).collect::<String>()
        )));
    }
    let restart =
        |what: &str| AppError::InvalidParameter(format!("{what}; start again at /auth/login"));
    let pending = req
        .cookie(STATE_COOKIE)
        .and_then(|c| login.open(c.value()))
        .ok_or_else(|| restart("no login in progress in this browser, or it expired"))?;
    let (Some(code), Some(got)) = (query.code, query.state) else {
        return Err(restart("code and state are required"));
    };
    let same = got.len() == pending.state.len()
        && got
            .bytes()
            .zip(pending.state.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err(restart(
            "state does not match the login this browser started",
        ));
    }
    let completed = login.complete(&pending, code).await.map_err(|e| {
        tracing::info!(reason = %format!("{e:#}"), "login refused");
        AppError::InvalidToken(dap_auth::Error::Claims("login refused".into()))
    })?;
    // The access token carries the privileges; it must pass the same checks as a
    // bearer token from this broker, and belong to the person who logged in.
    let principal = core
        .verifier
        .verify(&completed.access_token)
        .await
        .map_err(AppError::InvalidToken)?;
    if principal.subject != completed.id_subject {
        return Err(AppError::InvalidToken(dap_auth::Error::Claims(
            "ID token and access token name different subjects".into(),
        )));
    }
    let value = core.start_session(&principal, login.session_hours).await?;
    Ok((principal, (value, pending.return_to)))
}

/// Ends the browser session (server-side too) and clears the cookie.
#[utoipa::path(
    tag = "auth",
    security(()),
    responses(
        (status = 204, description = "Logged out (also when there was no session)"),
        (status = 404, description = "Browser login is not configured", body = ErrorBody),
    )
)]
#[post("/auth/logout")]
async fn logout(req: HttpRequest, core: web::Data<Core>) -> Result<HttpResponse, AppError> {
    let login = configured(&req)?;
    let ctx = request_context(&req);
    if let Some(value) = req.cookie(SESSION_COOKIE) {
        core.end_session(&ctx, value.value()).await?;
    }
    let mut clear = cookie(login, SESSION_COOKIE, String::new(), time::Duration::ZERO);
    clear.make_removal();
    Ok(HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(clear)
        .finish())
}
