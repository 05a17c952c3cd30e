//! Liveness and readiness.

use actix_web::{HttpResponse, get, web};
use dap_openapi::ErrorBody;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::app::AppError;
use crate::app::Core;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(live).service(ready);
}

/// Liveness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Live {
    #[schema(example = "ok")]
    pub status: String,
}

/// Readiness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    #[schema(example = "ready")]
    pub status: String,
    /// Datasets in the served catalogue.
    pub datasets: usize,
}

/// The process is up.
#[utoipa::path(tag = "health", responses((status = 200, description = "The process is up", body = Live)))]
#[get("/health/live")]
async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Live {
        status: "ok".into(),
    })
}

/// The control-plane database answers and the catalogue is loaded.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = Ready),
        (status = 503, description = "The control-plane database does not answer", body = ErrorBody),
    )
)]
#[get("/health/ready")]
async fn ready(state: web::Data<Core>) -> Result<HttpResponse, AppError> {
    state
        .control
        .ping()
        .await
        .map_err(|e| AppError::NotReady(e.to_string()))?;
    Ok(HttpResponse::Ok().json(Ready {
        status: "ready".into(),
        datasets: state.catalogue.len(),
    }))
}
