//! `/api/v1/datasets`: the catalogue the caller may see, one dataset's schema, and rows.

mod export;
mod params;
mod rows;

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use dap_auth::{Denial, Principal, policy};
use dap_openapi::{DatasetErrors, ErrorBody};
use dap_schema::{AccessScope, DatasetDef};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::audit::{AuditFacts, RequestContext};
use crate::error::ApiError;
use crate::extract::Caller;
use crate::startup::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_datasets)
        .service(describe_dataset)
        .service(rows::read_rows)
        .service(export::export_rows)
        .service(export::changes)
        .service(export::versions);
}

/// Danish and English text.
#[derive(Debug, Serialize, ToSchema)]
pub struct Localised {
    pub da: String,
    pub en: String,
}

/// A dataset in the listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetSummary {
    #[schema(example = "oekonomi.posteringer")]
    pub id: String,
    #[schema(example = "oekonomi")]
    pub domain: String,
    pub title: Localised,
    pub description: Localised,
}

impl From<&DatasetDef> for DatasetSummary {
    fn from(d: &DatasetDef) -> Self {
        Self {
            id: d.id.to_string(),
            domain: d.domain.clone(),
            title: Localised {
                da: d.title_da.clone(),
                en: d.title_en.clone(),
            },
            description: Localised {
                da: d.description_da.clone(),
                en: d.description_en.clone(),
            },
        }
    }
}

/// A column the caller may see.
#[derive(Debug, Serialize, ToSchema)]
pub struct ColumnInfo {
    #[schema(example = "beloeb")]
    pub name: String,
    /// `string`, `int32`, `int64`, `float64`, `decimal(p,s)`, `date` or `boolean`.
    #[serde(rename = "type")]
    #[schema(example = "decimal(18,2)")]
    pub data_type: String,
    /// `public`, `personal` or `sensitive`.
    #[schema(example = "public")]
    pub classification: &'static str,
    pub description: String,
}

/// One dataset: schema as visible to the caller and the table's current version.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetDetail {
    #[serde(flatten)]
    pub summary: DatasetSummary,
    /// The municipality the caller acts for.
    #[schema(example = "0101")]
    pub municipality: String,
    pub tenant_column: String,
    pub key_columns: Vec<String>,
    pub min_nsis_level: String,
    pub columns: Vec<ColumnInfo>,
    /// The table version currently served.
    pub table_version: u64,
    /// When that version was committed.
    pub updated_at: Option<DateTime<Utc>>,
}

/// The datasets the caller may see.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetList {
    pub datasets: Vec<DatasetSummary>,
}

impl AppState {
    /// Resolves the caller's access scope for a dataset; invisible datasets are 404.
    pub fn scope(
        &self,
        principal: &Principal,
        id: &str,
        municipality: Option<&str>,
    ) -> Result<AccessScope, ApiError> {
        let dataset: Arc<DatasetDef> = self.catalogue.get(id).ok_or(ApiError::DatasetNotFound)?;
        let (scope, acting) = match policy::authorize(principal, &dataset, municipality) {
            Ok(scope) => (scope, None),
            Err(denial @ (Denial::NotFound | Denial::MunicipalityNotGranted(_))) => {
                // A municipality may have delegated the dataset to the caller's organisation.
                let delegate = municipality
                    .and_then(|m| self.admin.delegated(principal, &dataset, m))
                    .ok_or(denial)?;
                let scope = policy::authorize(&delegate, &dataset, municipality)?;
                (scope, Some(delegate))
            }
            Err(denial) => return Err(denial.into()),
        };
        self.admin
            .check(&scope, acting.as_ref().unwrap_or(principal))?;
        Ok(scope)
    }
}

/// Lists the datasets the caller's roles open.
#[utoipa::path(
    tag = "datasets",
    security(("municipal_broker" = []), ("dap_token" = []), ("machine_client" = [])),
    responses(
        (status = 200, description = "Datasets the caller may see", body = DatasetList),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody,
         headers(("WWW-Authenticate" = String, description = "Bearer error=\"invalid_token\""))),
        (status = 500, description = "Internal error (opaque)", body = ErrorBody),
    )
)]
#[get("/api/v1/datasets")]
async fn list_datasets(
    req: HttpRequest,
    state: web::Data<AppState>,
    Caller(principal): Caller,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let work = async {
        let datasets: Vec<DatasetSummary> = state
            .catalogue
            .visible_to(&principal)
            .iter()
            // A dataset every one of the caller's municipalities switched off is not listed.
            .filter(|d| {
                principal.municipalities.iter().any(|m| {
                    state
                        .admin
                        .settings_of(m.as_str())
                        .is_none_or(|s| !s.disabled_datasets.split(',').any(|x| x == d.id.as_str()))
                })
            })
            .map(|d| DatasetSummary::from(d.as_ref()))
            .collect();
        let facts = AuditFacts {
            rows_returned: Some(datasets.len()),
            ..AuditFacts::default()
        };
        Ok((HttpResponse::Ok().json(DatasetList { datasets }), facts))
    };
    state.audited(&ctx, &principal, None, work).await
}

/// One dataset: the columns the caller may see, and the table's current version.
#[utoipa::path(
    tag = "datasets",
    security(("municipal_broker" = []), ("dap_token" = []), ("machine_client" = [])),
    params(
        ("id" = String, Path, description = "Dataset id, `<domain>.<name>`", example = "oekonomi.posteringer"),
        ("municipality" = Option<String>, Query, description = "Municipality code to act for, when the token grants several", example = "0101"),
    ),
    responses(
        (status = 200, description = "The dataset", body = DatasetDetail),
        DatasetErrors,
    )
)]
#[get("/api/v1/datasets/{id}")]
async fn describe_dataset(
    req: HttpRequest,
    state: web::Data<AppState>,
    Caller(principal): Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let id = id.into_inner();
    let work = async {
        let params = params::Params::parse(req.query_string(), &["municipality"])?;
        let scope = state.scope(&principal, &id, params.text("municipality").as_deref())?;
        let info = state.lake.table_info(&scope).await?;
        let dataset = scope.dataset();
        let detail = DatasetDetail {
            summary: DatasetSummary::from(dataset),
            municipality: scope.municipality().to_string(),
            tenant_column: dataset.tenant_column.clone(),
            key_columns: dataset
                .key_columns
                .iter()
                .filter(|k| scope.can_see(k))
                .cloned()
                .collect(),
            min_nsis_level: dataset.min_nsis.to_string(),
            columns: dataset
                .columns
                .iter()
                .filter(|c| scope.can_see(&c.name))
                .map(|c| ColumnInfo {
                    name: c.name.clone(),
                    data_type: c.data_type.to_string(),
                    classification: c.classification.as_str(),
                    description: c.description.clone(),
                })
                .collect(),
            table_version: info.version,
            updated_at: info.timestamp,
        };
        let facts = AuditFacts {
            municipality: Some(scope.municipality().to_string()),
            table_version: Some(info.version),
            ..AuditFacts::default()
        };
        Ok((HttpResponse::Ok().json(detail), facts))
    };
    state.audited(&ctx, &principal, Some(&id), work).await
}
