//! The municipality's own settings: datasets switched off, a higher NSIS requirement.

use actix_web::{HttpRequest, HttpResponse, get, put, web};
use dap_openapi::AdminErrors;
use dap_openapi::model::admin::{NewSettings, Settings};
use utoipa_actix_web::service_config::ServiceConfig;

use super::ActingFor;
use crate::app::{AppError, Core};
use crate::rest::extract::{Caller, request_context};
use crate::rest::input::{Json, Query};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_settings).service(put_settings);
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
    core: web::Data<Core>,
    Caller(principal): Caller,
    acting: Query<ActingFor>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let acting = acting.value()?;
        core.municipality_settings(&principal, acting.municipality.as_deref())
    };
    let settings = core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::Ok().json(settings))
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
    core: web::Data<Core>,
    Caller(principal): Caller,
    acting: Query<ActingFor>,
    body: Json<NewSettings>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let (acting, body) = (acting.value()?, body.value()?);
        core.replace_settings(&principal, acting.municipality.as_deref(), body)
            .await
    };
    let settings = core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::Ok().json(settings))
}
