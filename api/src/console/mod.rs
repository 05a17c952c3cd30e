//! The web console at `/console/` (and `/`): server-rendered HTML for analysts and
//! municipal IT departments, compiled into the binary with its one stylesheet and one
//! small script (`api/assets/`); nothing is loaded from other hosts.
//!
//! A surface like REST and GraphQL: each page reads the signed-in person off the session
//! cookie ([`session::Viewer`]), makes its calls into the application core inside the
//! audit ([`Core::audited`]) and renders the answer. Nothing here decides access,
//! audits by itself or validates beyond turning form strings into typed values. Every
//! response carries a strict Content-Security-Policy (no inline script or style); every
//! form that changes something carries a CSRF token checked in one place
//! ([`session::Submitted`]).

mod admin;
mod catalogue;
mod chart;
mod connect;
mod dataset;
mod form;
pub mod i18n;
mod key_figures;
mod layout;
mod session;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{self, Next};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use crate::app::{AppError, ErrorClass};
use i18n::Lang;

/// The policy of every console response: only this origin, no inline script or style,
/// no framing, forms post only here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const CSS: &str = include_str!("../../assets/console.css");
const JS: &str = include_str!("../../assets/console.js");

/// Mounts the console under `/console` and sends `/` there.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(root)).service(
        web::scope("/console")
            .wrap(middleware::from_fn(security_headers))
            .route("", web::get().to(root))
            .route("/", web::get().to(catalogue::catalogue))
            .route("/assets/{name}", web::get().to(asset))
            .route("/lang", web::get().to(session::switch_language))
            .route("/sign-in", web::get().to(session::sign_in_page))
            .route("/sign-in/demo", web::post().to(session::demo_sign_in))
            .route("/sign-out", web::post().to(session::sign_out))
            .route(
                "/municipality",
                web::post().to(session::choose_municipality),
            )
            .route("/datasets", web::get().to(catalogue::catalogue))
            .route("/datasets/{id}", web::get().to(dataset::dataset_page))
            .route("/connect", web::get().to(connect::connect_page))
            .route("/connect/tokens", web::post().to(connect::create_token))
            .route(
                "/connect/tokens/{token}/revoke",
                web::post().to(connect::revoke_token),
            )
            .route(
                "/connect/sharing-profile",
                web::post().to(connect::sharing_profile),
            )
            .route("/key-figures", web::get().to(key_figures::list))
            .route("/key-figures/{figure}", web::get().to(key_figures::figure))
            .route("/admin", web::get().to(admin::overview))
            .route("/admin/clients", web::post().to(admin::register_client))
            .route(
                "/admin/clients/{client}/{action}",
                web::post().to(admin::change_client),
            )
            .route(
                "/admin/tokens/{token}/revoke",
                web::post().to(admin::revoke_token),
            )
            .route("/admin/delegations", web::post().to(admin::delegate))
            .route(
                "/admin/delegations/{delegation}/revoke",
                web::post().to(admin::revoke_delegation),
            )
            .route("/admin/settings", web::post().to(admin::save_settings))
            .route("/admin/delivery-rights", web::post().to(admin::grant_right))
            .route(
                "/admin/delivery-rights/revoke",
                web::post().to(admin::revoke_right),
            )
            .route("/admin/audit", web::get().to(admin::audit_log))
            .default_service(web::to(not_found)),
    );
}

async fn root() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/"))
        .finish()
}

/// The console's stylesheet and script, compiled in.
async fn asset(name: web::Path<String>) -> HttpResponse {
    let (body, kind) = match name.as_str() {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return HttpResponse::NotFound().finish(),
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, kind))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, Failure> {
    Err(Failure::app(AppError::NotFound, &req))
}

/// Headers on every console response: the CSP, no sniffing, no framing, no referrer to
/// other sites; pages are not cached (they show a person's data).
async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let is_asset = req.path().starts_with("/console/assets/");
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    let set = |headers: &mut header::HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    };
    set(headers, "content-security-policy", CONTENT_SECURITY_POLICY);
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "same-origin");
    if !is_asset && !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, "cache-control", "no-store");
    }
    Ok(response)
}

/// Why a console request did not get its page.
#[derive(Debug)]
pub enum Failure {
    /// Not signed in, or the session expired: to sign-in, then back to `return_to`.
    SignIn { return_to: String },
    /// A form without a valid CSRF token.
    Csrf { lang: Lang },
    /// An error of the core, shown as a page.
    App {
        error: AppError,
        lang: Lang,
        request_id: String,
    },
}

impl Failure {
    /// The core's error as a page in the request's language.
    pub fn app(error: AppError, req: &HttpRequest) -> Self {
        Self::App {
            error,
            lang: Lang::of(req),
            request_id: crate::rest::extract::request_context(req).request_id,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SignIn { .. } => f.write_str("sign-in needed"),
            Self::Csrf { .. } => f.write_str("CSRF token missing or wrong"),
            Self::App { error, .. } => write!(f, "{error}"),
        }
    }
}

impl ResponseError for Failure {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn { .. } => StatusCode::SEE_OTHER,
            Self::Csrf { .. } => StatusCode::FORBIDDEN,
            Self::App { error, .. } => match error.class() {
                ErrorClass::Unauthenticated => StatusCode::UNAUTHORIZED,
                ErrorClass::Forbidden => StatusCode::FORBIDDEN,
                ErrorClass::NotFound => StatusCode::NOT_FOUND,
                ErrorClass::BadRequest
                | ErrorClass::NotAcceptable
                | ErrorClass::MethodNotAllowed => StatusCode::BAD_REQUEST,
                ErrorClass::Conflict => StatusCode::CONFLICT,
                ErrorClass::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                ErrorClass::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
                ErrorClass::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::SignIn { return_to } => {
                let mut target = url::form_urlencoded::Serializer::new(String::new());
                target.append_pair("return_to", return_to);
                HttpResponse::SeeOther()
                    .insert_header((
                        header::LOCATION,
                        format!("/console/sign-in?{}", target.finish()),
                    ))
                    .finish()
            }
            Self::Csrf { lang } => layout::error_page(
                self.status_code(),
                *lang,
                lang.t("forbidden.title"),
                lang.t("error.csrf"),
            ),
            Self::App {
                error,
                lang,
                request_id,
            } => {
                if matches!(
                    error.class(),
                    ErrorClass::Internal | ErrorClass::Unavailable
                ) {
                    tracing::error!(error = %format!("{error:#}"), "console page failed");
                }
                let (title, text) = match error.class() {
                    // One page for missing and not visible: the message is the same
                    // whatever the cause.
                    ErrorClass::NotFound => (
                        lang.t("not_found.title"),
                        lang.t("not_found.text").to_owned(),
                    ),
                    ErrorClass::Internal | ErrorClass::Unavailable => (
                        lang.t("error.title"),
                        format!("{} {request_id}", lang.t("error.text")),
                    ),
                    ErrorClass::Forbidden | ErrorClass::Unauthenticated => {
                        (lang.t("forbidden.title"), error.public_message())
                    }
                    _ => (lang.t("error.form"), error.public_message()),
                };
                layout::error_page(self.status_code(), *lang, title, &text)
            }
        }
    }
}
