//! The municipality's own settings: datasets switched off, a higher NSIS requirement.

use actix_web::{HttpRequest, HttpResponse, get, put, web};
use chrono::{DateTime, Utc};
use dap_auth::Principal;
use dap_openapi::AdminErrors;
use dap_schema::NsisLevel;
use dap_schema::admin::MunicipalitySettings;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{ActingFor, internal, same_municipality, split};
use crate::admin::administered;
use crate::audit::{AuditFacts, RequestContext};
use crate::error::ApiError;
use crate::extract::Caller;
use crate::startup::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_settings).service(put_settings);
}

/// A municipality's settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct Settings {
    pub municipality: String,
    /// Datasets switched off for the municipality: nobody reads them for it.
    pub disabled_datasets: Vec<String>,
    /// NSIS level required for all of the municipality's data, on top of each dataset's.
    #[schema(example = "High")]
    pub min_nsis: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
}

/// New settings (replace the old ones).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSettings {
    #[serde(default)]
    pub disabled_datasets: Vec<String>,
    /// `Low`, `Substantial`, `High`, or absent for the platform's defaults.
    pub min_nsis: Option<String>,
    /// Optional; must be the municipality you administer.
    pub municipality: Option<String>,
}

fn view(municipality: &str, stored: Option<MunicipalitySettings>) -> Settings {
    match stored {
        Some(s) => Settings {
            municipality: s.municipality,
            disabled_datasets: split(&s.disabled_datasets),
            min_nsis: s.min_nsis,
            updated_at: Some(s.updated_at),
            updated_by: Some(s.updated_by),
        },
        None => Settings {
            municipality: municipality.into(),
            disabled_datasets: Vec::new(),
            min_nsis: None,
            updated_at: None,
            updated_by: None,
        },
    }
}

/// The municipality's settings.
#[utoipa::path(
    tag = "admin", params(ActingFor),
    security(("municipal_broker" = [])),
    responses(
        (status = 200, description = "The settings", body = Settings),
        AdminErrors,
    )
)]
#[get("/api/v1/admin/settings")]
async fn get_settings(
    req: HttpRequest,
    state: web::Data<AppState>,
    Caller(principal): Caller,
    acting: web::Query<ActingFor>,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let work = async {
        let m = administered(&principal, acting.municipality.as_deref())?;
        let facts = AuditFacts {
            municipality: Some(m.to_string()),
            ..AuditFacts::default()
        };
        let settings = view(m.as_str(), state.admin.settings_of(m.as_str()));
        Ok((HttpResponse::Ok().json(settings), facts))
    };
    state.audited(&ctx, &principal, None, work).await
}

/// Replaces the municipality's settings; this replica applies them at once, the others
/// within `lake.refresh_secs`.
#[utoipa::path(
    tag = "admin", params(ActingFor),
    security(("municipal_broker" = [])),
    request_body = NewSettings,
    responses(
        (status = 200, description = "The new settings", body = Settings),
        AdminErrors,
    )
)]
#[put("/api/v1/admin/settings")]
async fn put_settings(
    req: HttpRequest,
    state: web::Data<AppState>,
    Caller(principal): Caller,
    acting: web::Query<ActingFor>,
    body: web::Json<NewSettings>,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let work = async {
        let (value, facts) = replace(
            &state,
            &principal,
            acting.municipality.as_deref(),
            body.into_inner(),
        )
        .await?;
        Ok((HttpResponse::Ok().json(value), facts))
    };
    state.audited(&ctx, &principal, None, work).await
}

/// Replaces the municipality's settings (REST and GraphQL).
pub(crate) async fn replace(
    state: &AppState,
    principal: &Principal,
    acting: Option<&str>,
    body: NewSettings,
) -> Result<(Settings, AuditFacts), ApiError> {
    let m = administered(principal, acting)?;
    same_municipality(body.municipality.as_deref(), m.as_str())?;
    let disabled = if body.disabled_datasets.is_empty() {
        Vec::new()
    } else {
        super::known_datasets(state, &body.disabled_datasets)?
    };
    let min_nsis = match body.min_nsis.as_deref() {
        Some(level) => Some(
            level
                .parse::<NsisLevel>()
                .map_err(|e| ApiError::InvalidParameter(e.to_string()))?
                .to_string(),
        ),
        None => None,
    };
    let stored = MunicipalitySettings {
        municipality: m.to_string(),
        disabled_datasets: disabled.join(","),
        min_nsis,
        updated_at: Utc::now(),
        updated_by: principal.subject.chars().take(512).collect(),
    };
    state
        .control
        .put_municipality_settings(stored.clone())
        .await
        .map_err(internal)?;
    state.admin.reload(&state.control).await.map_err(internal)?;
    let facts = AuditFacts {
        municipality: Some(m.to_string()),
        columns: Some(format!(
            "settings: disabled [{}], min_nsis {}",
            stored.disabled_datasets,
            stored.min_nsis.as_deref().unwrap_or("default")
        )),
        ..AuditFacts::default()
    };
    Ok((view(m.as_str(), Some(stored)), facts))
}
