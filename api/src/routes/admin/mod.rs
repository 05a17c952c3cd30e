//! `/api/v1/admin/…`: municipal IT administration (machine clients, personal tokens,
//! settings, delegations, the audit log) and the platform operators' catalogue.
//!
//! A municipal administrator acts for exactly one municipality where they hold
//! `it-administration`; every query and change is confined to it, whatever a request
//! body says. Another municipality's records answer 404, like records that do not exist.

mod audit_log;
pub(crate) mod catalogue;
pub(crate) mod clients;
pub(crate) mod delegations;
pub(crate) mod settings;
pub(crate) mod tokens;

use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::ApiError;

pub fn configure(cfg: &mut ServiceConfig) {
    clients::configure(cfg);
    tokens::configure(cfg);
    settings::configure(cfg);
    delegations::configure(cfg);
    audit_log::configure(cfg);
    catalogue::configure(cfg);
}

/// Which municipality an administrator of several acts for.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ActingFor {
    /// Municipality code, when you administer several.
    pub municipality: Option<String>,
}

/// A body may repeat the municipality (scripts do), but never name another one.
fn same_municipality(body: Option<&str>, acting: &str) -> Result<(), ApiError> {
    match body {
        Some(named) if named != acting => Err(ApiError::Forbidden(format!(
            "you administer {acting}; a request cannot name municipality '{}'",
            named.chars().take(8).collect::<String>()
        ))),
        _ => Ok(()),
    }
}

/// Dataset ids of a request: each must be in the catalogue.
fn known_datasets(
    state: &crate::startup::AppState,
    datasets: &[String],
) -> Result<Vec<String>, ApiError> {
    if datasets.is_empty() || datasets.len() > 100 {
        return Err(ApiError::InvalidParameter("name 1 to 100 datasets".into()));
    }
    let mut out = Vec::new();
    for id in datasets {
        if state.catalogue.get(id).is_none() {
            return Err(ApiError::InvalidParameter(format!(
                "dataset '{}' is not in the catalogue: see GET /api/v1/datasets",
                id.chars().take(130).collect::<String>()
            )));
        }
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    Ok(out)
}

fn internal(e: dap_schema::Error) -> ApiError {
    ApiError::Internal(e.into())
}

fn split(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect()
}
