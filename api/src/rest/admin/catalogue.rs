//! The catalogue as platform operators manage it: register and update datasets, classify
//! columns, map a read role to a dataset, declare data constraints on columns.

use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};
use dap_openapi::AdminErrors;
use dap_openapi::model::admin::Catalogue;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::app::admin::catalogue::definition;
use crate::app::{AppError, Core};
use crate::rest::extract::{Caller, request_context};
use crate::rest::input::{Json, Path};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_catalogue)
        .service(put_dataset)
        .service(delete_dataset);
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
    core: web::Data<Core>,
    Caller(principal): Caller,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = core.stored_catalogue(&principal);
    let catalogue = core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::Ok().json(catalogue))
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
    core: web::Data<Core>,
    Caller(principal): Caller,
    id: Path<String>,
    body: Json<serde_json::Value>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let body = body.value()?;
        core.put_dataset(&principal, &id, definition(body)).await
    };
    let stored = core.audited(&ctx, &principal, Some(&id), work).await?;
    Ok(HttpResponse::Ok().json(stored))
}

/// Removes a dataset from the catalogue; it answers 404 everywhere from then on. The
/// table in the lake is left alone.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Dataset id", example = "borger.nope")),
    security(("municipal_broker" = [])),
    responses(
        (status = 204, description = "Removed"),
        AdminErrors,
    )
)]
#[delete("/api/v1/admin/catalogue/{id}")]
async fn delete_dataset(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = core.delete_dataset(&principal, &id);
    core.audited(&ctx, &principal, Some(&id), work).await?;
    Ok(HttpResponse::NoContent().finish())
}
