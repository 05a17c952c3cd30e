//! The demo issuer's public keys. Served only in demo mode.

use actix_web::{HttpResponse, get, web};
use dap_openapi::ErrorBody;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::ApiError;
use crate::startup::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(jwks);
}

/// The demo issuer's JSON Web Key Set (public keys only).
#[utoipa::path(
    tag = "identity",
    responses(
        (status = 200, description = "JWK set of the demo issuer", content_type = "application/json",
         body = Object, example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "…", "kid": "dev-…", "alg": "EdDSA", "use": "sig"}]})),
        (status = 404, description = "Not in demo mode", body = ErrorBody),
    )
)]
#[get("/.well-known/jwks.json")]
async fn jwks(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match &state.dev_jwks {
        Some(keys) => Ok(HttpResponse::Ok().json(keys)),
        None => Err(ApiError::RouteNotFound),
    }
}
