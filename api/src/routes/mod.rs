//! HTTP routes, one module per resource.

pub mod datasets;
pub mod health;
pub mod wellknown;

use actix_web::web;

use crate::error::ApiError;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    wellknown::configure(cfg);
    datasets::configure(cfg);
}

/// Unknown paths get the shared error body.
pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound)
}
