//! The demo issuer's public keys. Served only in demo mode.

use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::startup::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/.well-known/jwks.json", web::get().to(jwks));
}

async fn jwks(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match &state.dev_jwks {
        Some(keys) => Ok(HttpResponse::Ok().json(keys)),
        None => Err(ApiError::RouteNotFound),
    }
}
