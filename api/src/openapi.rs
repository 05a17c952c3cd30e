//! The OpenAPI document, generated from the route annotations merged into the base
//! document of `dap-openapi`.

use actix_web::App;
use utoipa::openapi::OpenApi;
use utoipa_actix_web::AppExt;

use crate::{graphql, rest};

/// The complete document, as served at `/openapi.json` and committed as `openapi/openapi.json`.
pub fn document() -> OpenApi {
    let (_, document) = App::new()
        .into_utoipa_app()
        .openapi(dap_openapi::base())
        .configure(rest::configure)
        .configure(graphql::configure)
        .split_for_parts();
    document
}

/// The document as pretty JSON with a trailing newline (the committed form).
pub fn document_json() -> serde_json::Result<String> {
    document().to_pretty_json().map(|mut s| {
        s.push('\n');
        s
    })
}
