//! Delivery rights of the administrator's municipality: who may deliver which dataset.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use dap_openapi::AdminErrors;
use dap_openapi::model::deliveries::{DeliveryRight, DeliveryRightList, NewDeliveryRight};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::ActingFor;
use crate::app::{AppError, Core};
use crate::rest::extract::{Caller, request_context};
use crate::rest::input::{Json, Query};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_delivery_rights)
        .service(grant_delivery_right)
        .service(revoke_delivery_right);
}

/// The right to revoke: a dataset and a grantee (a machine client, or a person).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RightToRevoke {
    /// Municipality code, when you administer several.
    pub municipality: Option<String>,
    pub dataset: String,
    /// The machine client; or name a person with `issuer` and `subject`.
    pub client_id: Option<String>,
    pub issuer: Option<String>,
    pub subject: Option<String>,
}

/// Lists who may deliver which dataset for the municipality.
#[utoipa::path(
    tag = "admin", params(ActingFor),
    security(("municipal_broker" = [])),
    responses(
        (status = 200, description = "The delivery rights", body = DeliveryRightList),
        AdminErrors,
    )
)]
#[get("/api/v1/admin/delivery-rights")]
async fn list_delivery_rights(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    acting: Query<ActingFor>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let acting = acting.value()?;
        core.list_delivery_rights(&principal, acting.municipality.as_deref())
            .await
    };
    let list = core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Grants a delivery right for a dataset, to a machine client of the municipality or a
/// person. Separate from the read right: a client reads what its datasets open, and
/// delivers only what a right allows.
#[utoipa::path(
    tag = "admin", params(ActingFor),
    security(("municipal_broker" = [])),
    request_body = NewDeliveryRight,
    responses(
        (status = 201, description = "Granted", body = DeliveryRight),
        AdminErrors,
    )
)]
#[post("/api/v1/admin/delivery-rights")]
async fn grant_delivery_right(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    acting: Query<ActingFor>,
    body: Json<NewDeliveryRight>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let (acting, body) = (acting.value()?, body.value()?);
        core.grant_delivery_right(&principal, acting.municipality.as_deref(), body)
            .await
    };
    let right = core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::Created().json(right))
}

/// Revokes a delivery right; the next delivery is refused on every replica.
#[utoipa::path(
    tag = "admin", params(RightToRevoke),
    security(("municipal_broker" = [])),
    responses(
        (status = 204, description = "Revoked"),
        AdminErrors,
    )
)]
#[delete("/api/v1/admin/delivery-rights")]
async fn revoke_delivery_right(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    right: Query<RightToRevoke>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let right = right.value()?;
        core.revoke_delivery_right(
            &principal,
            right.municipality.as_deref(),
            &right.dataset,
            right.client_id.as_deref(),
            right.issuer.as_deref(),
            right.subject.as_deref(),
        )
        .await
    };
    core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::NoContent().finish())
}
