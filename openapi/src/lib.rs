//! The API contract: the base OpenAPI document (info, security schemes, tags, shared
//! schemas) that the routes' annotations are merged into, and the offline docs UI.
//!
//! The full document is generated from the code (`dap_api::openapi::document()`); the
//! committed `openapi/openapi.json` is checked against it by a test.
//!
//! [`model`] holds the wire types: the request and response bodies every surface speaks.
//! The application core takes and returns them, so a surface only translates.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod model;

use serde::Serialize;
use utoipa::openapi::security::{
    ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityScheme,
};
use utoipa::openapi::{OpenApi as OpenApiDoc, Server};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};
use utoipa_swagger_ui::{Config, SwaggerUi};

/// Security scheme: a bearer JWT from the municipal identity broker (OIDC).
pub const BROKER_SCHEME: &str = "municipal_broker";
/// Security scheme: OAuth 2 client credentials for machine clients.
pub const CLIENT_CREDENTIALS_SCHEME: &str = "machine_client";
/// Security scheme: a bearer token dap issued (demo tokens, later personal access tokens).
pub const DAP_TOKEN_SCHEME: &str = "dap_token";

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"code": "dataset_not_found", "message": "dataset not found"}))]
pub struct ErrorBody {
    /// Stable snake_case error code, e.g. `invalid_parameter`.
    pub code: String,
    /// What went wrong and, for 4xx, how to fix the request.
    pub message: String,
    /// A refused delivery's first problems (at most 100), by line and column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problems: Option<Vec<model::deliveries::DeliveryProblem>>,
}

/// The error responses every dataset route shares.
#[derive(IntoResponses)]
pub enum DatasetErrors {
    /// Bad parameter, cursor, version or range; the message says how to fix it
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// Missing or invalid bearer token
    #[response(
        status = 401,
        headers(("WWW-Authenticate" = String, description = "Bearer error=\"invalid_token\""))
    )]
    Unauthorized(ErrorBody),
    /// NSIS level too low, or municipality not granted
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such dataset, or the caller may not see it
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// Internal error (opaque)
    #[response(status = 500)]
    Internal(ErrorBody),
    /// Temporarily unavailable: `dataset_unavailable`, `audit_unavailable`, `control_plane_unavailable` or `server_busy`; try again after `Retry-After`
    #[response(
        status = 503,
        headers(("Retry-After" = String, description = "Seconds to wait before trying again"))
    )]
    Unavailable(ErrorBody),
}

/// The error responses every admin route shares.
#[derive(IntoResponses)]
pub enum AdminErrors {
    /// Bad parameter or body, or several administered municipalities and none named; the message says how to fix it
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// Missing or invalid token
    #[response(
        status = 401,
        headers(("WWW-Authenticate" = String, description = "Bearer error=\"invalid_token\""))
    )]
    Unauthorized(ErrorBody),
    /// Not an administrator of the municipality (or not a platform operator), or the body names another municipality
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such record in the administered municipality
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// Internal error (opaque)
    #[response(status = 500)]
    Internal(ErrorBody),
    /// Temporarily unavailable: `dataset_unavailable`, `audit_unavailable`, `control_plane_unavailable` or `server_busy`; try again after `Retry-After`
    #[response(
        status = 503,
        headers(("Retry-After" = String, description = "Seconds to wait before trying again"))
    )]
    Unavailable(ErrorBody),
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dap — direct data access",
        description = "Secure online access to the shared municipal data warehouse. A caller sees only \
its own municipality's rows; a dataset it may not see answers 404 like a missing one; every access is audited.\n\n\
Filters: `filter=column:operator:value` (repeatable, AND), operators `eq ne lt lte gt gte in prefix contains suffix not_prefix not_contains not_suffix year month day is_null`.",
        license(name = "EUPL-1.2", identifier = "EUPL-1.2"),
    ),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "datasets", description = "The catalogue and the data of the datasets the caller may see"),
        (name = "deliveries", description = "A municipality's systems deliver their own rows: validated whole, applied once, to their own partition only"),
        (name = "health", description = "Liveness and readiness"),
        (name = "identity", description = "Keys of dap's token issuer"),
        (name = "oauth", description = "Tokens for machine clients (client credentials)"),
    ),
)]
struct BaseDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BROKER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "Access token from the municipal OIDC broker in front of KOMBIT's Context Handler \
(municipality, roles and NSIS level as claims).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            CLIENT_CREDENTIALS_SCHEME,
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::ClientCredentials(ClientCredentials::new("/oauth/token", Scopes::new()))],
                "Machine clients registered by the municipality get 15-minute tokens from /oauth/token.",
            )),
        );
        components.add_security_scheme(
            "client_secret_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A machine client's id and secret (OAuth 2 client_secret_basic).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            DAP_TOKEN_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("A token dap issued: from POST /oauth/token (machine clients), or `dap token` in demo mode."))
                    .build(),
            ),
        );
    }
}

/// The base document the routes are merged into.
pub fn base() -> OpenApiDoc {
    let mut doc = BaseDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.servers = Some(vec![Server::new("/")]);
    doc
}

/// Swagger UI at `/docs/`, served from assets compiled into the binary: the page makes
/// no request to any other host (the online validator badge is switched off).
pub fn docs_ui(document: OpenApiDoc) -> SwaggerUi {
    SwaggerUi::new("/docs/{_:.*}")
        .url("/openapi.json", document)
        .config(
            Config::new(["/openapi.json"])
                .validator_url("none")
                .try_it_out_enabled(true),
        )
}
