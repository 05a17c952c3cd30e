//! Personal access tokens that act for the administrator's municipality.

use actix_web::{HttpRequest, HttpResponse, delete, get, web};
use dap_openapi::AdminErrors;
use dap_openapi::model::admin::MunicipalTokenList;
use utoipa_actix_web::service_config::ServiceConfig;

use super::ActingFor;
use crate::app::{AppError, Core};
use crate::rest::extract::{Caller, request_context};
use crate::rest::input::{Path, Query};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_municipal_tokens)
        .service(revoke_municipal_token);
}

/// Lists the personal access tokens that act for the municipality.
#[utoipa::path(
    tag = "admin", params(ActingFor),
    security(("municipal_broker" = [])),
    responses(
        (status = 200, description = "The tokens, newest first", body = MunicipalTokenList),
        AdminErrors,
    )
)]
#[get("/api/v1/admin/tokens")]
async fn list_municipal_tokens(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    acting: Query<ActingFor>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let acting = acting.value()?;
        core.municipal_tokens(&principal, acting.municipality.as_deref())
            .await
    };
    let tokens = core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::Ok().json(tokens))
}

/// Revokes a personal access token that acts for the municipality.
#[utoipa::path(
    tag = "admin", params(ActingFor, ("id" = String, Path, description = "Token id")),
    security(("municipal_broker" = [])),
    responses(
        (status = 204, description = "Revoked (refused from the next request on)"),
        AdminErrors,
    )
)]
#[delete("/api/v1/admin/tokens/{id}")]
async fn revoke_municipal_token(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    acting: Query<ActingFor>,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let acting = acting.value()?;
        core.revoke_municipal_token(&principal, acting.municipality.as_deref(), &id)
            .await
    };
    core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::NoContent().finish())
}
