//! The catalogue as platform operators manage it: register and update datasets, classify
//! columns, map a read role to a dataset, declare data constraints on columns.

use actix_web::{HttpRequest, HttpResponse, get, put, web};
use dap_auth::Principal;
use dap_openapi::AdminErrors;
use dap_schema::{DatasetDef, DatasetId};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::internal;
use crate::admin::operator;
use crate::audit::{AuditFacts, RequestContext};
use crate::error::ApiError;
use crate::extract::Caller;
use crate::startup::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_catalogue).service(put_dataset);
}

/// Every dataset with its full definition.
#[derive(Debug, Serialize, ToSchema)]
pub struct Catalogue {
    #[schema(value_type = Vec<Object>)]
    pub datasets: Vec<DatasetDef>,
}

/// The whole catalogue, as stored.
#[utoipa::path(
    tag = "admin",
    security(("municipal_broker" = [])),
    responses(
        (status = 200, description = "All datasets", body = Catalogue),
        AdminErrors,
    )
)]
#[get("/api/v1/admin/catalogue")]
async fn list_catalogue(
    req: HttpRequest,
    state: web::Data<AppState>,
    Caller(principal): Caller,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let work = async {
        operator(&state.operators, &principal)?;
        let datasets = state.control.load_catalogue().await.map_err(internal)?;
        let facts = AuditFacts {
            rows_returned: Some(datasets.len()),
            ..AuditFacts::default()
        };
        Ok((HttpResponse::Ok().json(Catalogue { datasets }), facts))
    };
    state.audited(&ctx, &principal, None, work).await
}

/// What a definition must satisfy before it is stored.
fn validate(id: &str, def: &DatasetDef) -> Result<(), String> {
    DatasetId::parse(id).map_err(|e| e.to_string())?;
    if def.id.as_str() != id {
        return Err(format!(
            "the body's id '{}' differs from the path's '{id}'",
            def.id.as_str()
        ));
    }
    if def.domain != def.id.domain() {
        return Err(format!(
            "domain must be '{}', the id's first part",
            def.id.domain()
        ));
    }
    if def.location.trim().is_empty() || def.location.split(['/', '\\']).any(|s| s == "..") {
        return Err("location must be a URL or a path inside the lake root (no '..')".into());
    }
    if def.columns.is_empty() {
        return Err("a dataset needs columns".into());
    }
    let mut names: Vec<&str> = def.columns.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err("column names must be unique".into());
    }
    let tenant = def
        .columns
        .iter()
        .find(|c| c.name == def.tenant_column)
        .ok_or_else(|| format!("tenant_column '{}' is not a column", def.tenant_column))?;
    if tenant.data_type != dap_schema::ColumnType::String {
        return Err("the tenant column must be a string column (four-digit codes)".into());
    }
    for key in &def.key_columns {
        if !def.columns.iter().any(|c| &c.name == key) {
            return Err(format!("key column '{key}' is not a column"));
        }
    }
    if dap_auth::roles::short_name(&def.read_role).as_deref() != Some(def.read_role.as_str())
        || def.read_role.len() > 64
    {
        return Err("read_role must be a role short name, e.g. laes-oekonomi".into());
    }
    Ok(())
}

/// Registers or replaces a dataset definition (columns, classification, read role,
/// required NSIS level, constraints). Every replica picks it up within `lake.refresh_secs`.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Dataset id", example = "oekonomi.posteringer")),
    security(("municipal_broker" = [])),
    request_body(content = Object, description = "The dataset definition, as GET /api/v1/admin/catalogue shows it"),
    responses(
        (status = 200, description = "Stored", body = Object),
        AdminErrors,
    )
)]
#[put("/api/v1/admin/catalogue/{id}")]
async fn put_dataset(
    req: HttpRequest,
    state: web::Data<AppState>,
    Caller(principal): Caller,
    id: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let work = async {
        let (value, facts) = put(&state, &principal, &id, body.into_inner()).await?;
        Ok((HttpResponse::Ok().json(value), facts))
    };
    state.audited(&ctx, &principal, Some(&id), work).await
}

/// Registers or replaces a dataset definition (REST and GraphQL).
pub(crate) async fn put(
    state: &AppState,
    principal: &Principal,
    id: &str,
    body: serde_json::Value,
) -> Result<(DatasetDef, AuditFacts), ApiError> {
    operator(&state.operators, principal)?;
    let def: DatasetDef = serde_json::from_value(body)
        .map_err(|e| ApiError::InvalidParameter(format!("not a dataset definition: {e}")))?;
    validate(id, &def).map_err(ApiError::InvalidParameter)?;
    state.control.upsert_dataset(&def).await.map_err(internal)?;
    state
        .catalogue
        .reload(&state.control)
        .await
        .map_err(internal)?;
    let facts = AuditFacts {
        columns: Some(format!(
            "catalogue: {} read by {} (min NSIS {})",
            def.id.as_str(),
            def.read_role,
            def.min_nsis
        )),
        ..AuditFacts::default()
    };
    Ok((def, facts))
}
