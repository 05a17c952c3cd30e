//! Delegations: municipality A lets organisation B (a CVR: an IT community, a
//! consultancy, another municipality) read named datasets of A until a date. Visible to
//! both sides, revocable by A, audited.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use dap_openapi::AdminErrors;
use dap_openapi::model::admin::{DelegationInfo, DelegationList, NewDelegation};
use utoipa_actix_web::service_config::ServiceConfig;

use super::ActingFor;
use crate::app::{AppError, Core};
use crate::rest::extract::{Caller, request_context};
use crate::rest::input::{Json, Path, Query};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_delegations)
        .service(create_delegation)
        .service(revoke_delegation);
}

/// Delegations the municipality granted, and those granted to its CVR.
#[utoipa::path(
    tag = "admin", params(ActingFor),
    security(("municipal_broker" = [])),
    responses(
        (status = 200, description = "Delegations, newest first", body = DelegationList),
        AdminErrors,
    )
)]
#[get("/api/v1/admin/delegations")]
async fn list_delegations(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    acting: Query<ActingFor>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let acting = acting.value()?;
        core.delegations(&principal, acting.municipality.as_deref())
            .await
    };
    let list = core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Lets an organisation read named datasets of the municipality until a date. Its people
/// name the municipality (`municipality=`) in their requests.
#[utoipa::path(
    tag = "admin", params(ActingFor),
    security(("municipal_broker" = [])),
    request_body = NewDelegation,
    responses(
        (status = 201, description = "The delegation", body = DelegationInfo),
        AdminErrors,
    )
)]
#[post("/api/v1/admin/delegations")]
async fn create_delegation(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    acting: Query<ActingFor>,
    body: Json<NewDelegation>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let (acting, body) = (acting.value()?, body.value()?);
        core.delegate(&principal, acting.municipality.as_deref(), body)
            .await
    };
    let delegation = core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::Created().json(delegation))
}

/// Revokes a delegation the municipality granted; it stops at once on this replica and
/// within `lake.refresh_secs` on the others.
#[utoipa::path(
    tag = "admin", params(ActingFor, ("id" = String, Path, description = "Delegation id")),
    security(("municipal_broker" = [])),
    responses(
        (status = 204, description = "Revoked"),
        AdminErrors,
    )
)]
#[delete("/api/v1/admin/delegations/{id}")]
async fn revoke_delegation(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    acting: Query<ActingFor>,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let acting = acting.value()?;
        core.revoke_delegation(&principal, acting.municipality.as_deref(), &id)
            .await
    };
    core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::NoContent().finish())
}
