//! Key-figure definitions as platform operators manage them (`/api/v1/admin/key-figures`).

use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};
use dap_openapi::AdminErrors;
use dap_openapi::model::key_figures::KeyFigureDefinitions;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::app::admin::key_figures::definition;
use crate::app::{AppError, Core};
use crate::rest::extract::{Caller, request_context};
use crate::rest::input::{Json, Path};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_key_figure_definitions)
        .service(get_key_figure_definition)
        .service(put_key_figure_definition)
        .service(delete_key_figure_definition);
}

/// Every key-figure definition, as stored.
#[utoipa::path(
    tag = "admin",
    security(("municipal_broker" = [])),
    responses(
        (status = 200, description = "All key-figure definitions", body = KeyFigureDefinitions),
        AdminErrors,
    )
)]
#[get("/api/v1/admin/key-figures")]
async fn list_key_figure_definitions(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = core.stored_key_figures(&principal);
    let list = core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// One key-figure definition, as stored.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Key figure id", example = "nettoudgift-pr-indbygger")),
    security(("municipal_broker" = [])),
    responses(
        (status = 200, description = "The definition", body = Object),
        AdminErrors,
    )
)]
#[get("/api/v1/admin/key-figures/{id}")]
async fn get_key_figure_definition(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = core.stored_key_figure(&principal, &id);
    let def = core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::Ok().json(def))
}

/// Registers or replaces a key-figure definition, after checking it against the
/// catalogue; a definition that would allow small groups is refused with the reason.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Key figure id (lower-case letters, digits, '-')", example = "nettoudgift-pr-indbygger")),
    security(("municipal_broker" = [])),
    request_body(content = Object, description = "The definition, as GET /api/v1/admin/key-figures shows it"),
    responses(
        (status = 200, description = "Stored", body = Object),
        AdminErrors,
    )
)]
#[put("/api/v1/admin/key-figures/{id}")]
async fn put_key_figure_definition(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    id: Path<String>,
    body: Json<serde_json::Value>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let body = body.value()?;
        core.put_key_figure(&principal, &id, definition(body)).await
    };
    let stored = core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::Ok().json(stored))
}

/// Removes a key-figure definition.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Key figure id", example = "nettoudgift-pr-indbygger")),
    security(("municipal_broker" = [])),
    responses(
        (status = 204, description = "Removed"),
        AdminErrors,
    )
)]
#[delete("/api/v1/admin/key-figures/{id}")]
async fn delete_key_figure_definition(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = core.delete_key_figure(&principal, &id);
    core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::NoContent().finish())
}
