//! `/api/v1/admin/…`: municipal IT administration (machine clients, personal tokens,
//! settings, delegations, the audit log) and the platform operators' catalogue. The
//! rules are the core's ([`crate::app::admin`]); a handler reads the request, runs one
//! audited core operation and encodes its answer.

mod audit_log;
mod catalogue;
mod clients;
mod delegations;
mod delivery_rights;
mod key_figures;
mod settings;
mod tokens;

use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the admin routes.
pub fn configure(cfg: &mut ServiceConfig) {
    clients::configure(cfg);
    tokens::configure(cfg);
    settings::configure(cfg);
    delegations::configure(cfg);
    delivery_rights::configure(cfg);
    audit_log::configure(cfg);
    catalogue::configure(cfg);
    key_figures::configure(cfg);
}

/// Which municipality an administrator of several acts for.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ActingFor {
    /// Municipality code, when you administer several.
    pub municipality: Option<String>,
}

/// A response that must not be cached: it shows a secret once.
fn no_store(mut response: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    response.insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"));
    response
}
