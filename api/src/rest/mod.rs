//! The REST surface: HTTP routes, one module per resource, plus the mapping of the core's
//! errors to HTTP ([`error`]), the authenticated caller as an extractor ([`extract`]),
//! query-string parsing ([`params`]), streamed downloads ([`streaming`]) and the browser
//! login ([`login`]). Every route is registered with `utoipa_actix_web`'s `service(...)`,
//! which only accepts handlers annotated with `#[utoipa::path]`: a route cannot exist
//! without being in the OpenAPI document.

pub mod admin;
pub mod auth;
pub mod datasets;
pub mod error;
pub mod extract;
pub mod fallback;
pub mod health;
pub mod input;
pub mod key_figures;
pub mod login;
pub mod me;
pub mod oauth;
pub mod observe;
pub mod params;
pub mod streaming;
pub mod wellknown;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers every documented route.
pub fn configure(cfg: &mut ServiceConfig) {
    health::configure(cfg);
    wellknown::configure(cfg);
    datasets::configure(cfg);
    key_figures::configure(cfg);
    oauth::configure(cfg);
    me::configure(cfg);
    auth::configure(cfg);
    admin::configure(cfg);
}
