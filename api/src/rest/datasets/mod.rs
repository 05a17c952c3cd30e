//! `/api/v1/datasets`: the catalogue the caller may see, one dataset's schema, rows,
//! exports, the change feed and the history. Each handler parses, calls one operation of
//! the core (`app::datasets`) inside the audit, and encodes.

mod deliveries;
mod export;
mod rows;

use actix_web::{HttpRequest, HttpResponse, get, web};
use dap_openapi::model::datasets::{DatasetDetail, DatasetList};
use dap_openapi::{DatasetErrors, ErrorBody};

use crate::app::{AppError, Core};
use crate::rest::extract::{Caller, request_context};
use crate::rest::input::Path;
use crate::rest::params::Params;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_datasets)
        .service(describe_dataset)
        .service(rows::read_rows)
        .service(export::export_rows)
        .service(export::changes)
        .service(export::versions)
        .service(deliveries::deliver)
        .service(deliveries::list_deliveries);
}

/// Lists the datasets the caller's roles open.
#[utoipa::path(
    tag = "datasets",
    security(("municipal_broker" = []), ("dap_token" = []), ("machine_client" = [])),
    responses(
        (status = 200, description = "Datasets the caller may see", body = DatasetList),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody,
         headers(("WWW-Authenticate" = String, description = "Bearer realm=\"dap\", error=\"invalid_token\", error_description=\"why: expired, not valid yet, revoked, another audience, untrusted issuer, malformed, or not verifiable\""))),
        (status = 500, description = "Internal error (opaque)", body = ErrorBody),
    )
)]
#[get("/api/v1/datasets")]
async fn list_datasets(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = core.list_datasets(&principal);
    let list = core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::Ok().json(list))
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
    core: web::Data<Core>,
    Caller(principal): Caller,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let params = Params::parse(req.query_string(), &["municipality"])?;
        let target = params.target(&id);
        core.describe_dataset(&principal, target).await
    };
    let detail = core.audited(&ctx, &principal, Some(&id), work).await?;
    Ok(HttpResponse::Ok().json(detail))
}
