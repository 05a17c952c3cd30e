//! The public keys of dap's token issuer (and, in demo mode, of the demo issuer).

use actix_web::{HttpResponse, get, web};
use dap_openapi::ErrorBody;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::app::AppError;
use crate::app::Core;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(jwks);
}

/// dap's JSON Web Key Set: the keys of machine-client tokens and, in demo mode, of demo tokens.
#[utoipa::path(
    tag = "identity",
    responses(
        (status = 200, description = "JWK set", content_type = "application/json",
         body = Object, example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "…", "kid": "dev-…", "alg": "EdDSA", "use": "sig"}]})),
        (status = 500, description = "Internal error (opaque)", body = ErrorBody),
    )
)]
#[get("/.well-known/jwks.json")]
async fn jwks(state: web::Data<Core>) -> Result<HttpResponse, AppError> {
    let mut keys = serde_json::to_value(
        state
            .issuer_keys
            .signer()
            .jwks()
            .map_err(|e| AppError::Internal(e.into()))?,
    )
    .map_err(|e| AppError::Internal(e.into()))?;
    if let (Some(all), Some(dev)) = (
        keys["keys"].as_array_mut(),
        state.dev_jwks.as_ref().and_then(|d| d["keys"].as_array()),
    ) {
        all.extend(dev.iter().cloned());
    }
    Ok(HttpResponse::Ok().json(keys))
}
