//! `/api/v1/me`: who the caller is, and their personal access tokens for BI tools. The
//! rules are the core's ([`crate::app::identity::personal`]).

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use dap_openapi::ErrorBody;
use dap_openapi::model::identity::{CreateToken, CreatedToken, Me, SharingProfile, TokenList};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::app::identity::me as me_of;
use crate::app::{AppError, Core};
use crate::rest::extract::{Caller, request_context};
use crate::rest::input::{Json, Path};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(me)
        .service(create_token)
        .service(create_sharing_profile)
        .service(list_tokens)
        .service(revoke_token);
}

/// Who the caller is: subject, roles per municipality, assurance level.
#[utoipa::path(
    tag = "identity",
    security(("municipal_broker" = []), ("dap_token" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
    )
)]
#[get("/api/v1/me")]
async fn me(Caller(principal): Caller) -> HttpResponse {
    HttpResponse::Ok().json(me_of(&principal))
}

/// Creates a personal access token for a BI tool, limited to named datasets.
#[utoipa::path(
    tag = "identity",
    security(("municipal_broker" = [])),
    request_body = CreateToken,
    responses(
        (status = 201, description = "The token, shown once", body = CreatedToken),
        (status = 400, description = "Bad name, datasets, lifetime or municipality code", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "Not a signed-in person, or `municipality_not_granted`: a municipality you do not act for", body = ErrorBody),
        (status = 404, description = "A named dataset does not exist or is not visible", body = ErrorBody),
        (status = 500, description = "Internal error (opaque)", body = ErrorBody),
    )
)]
#[post("/api/v1/me/tokens")]
async fn create_token(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    body: Json<CreateToken>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let body = body.value()?;
        core.create_personal_token(&principal, body).await
    };
    let created = core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(created))
}

/// Creates a Delta Sharing profile for Power BI, pandas or Spark: a personal access
/// token limited to the named datasets, with the sharing endpoint. Shown once.
#[utoipa::path(
    tag = "identity",
    security(("municipal_broker" = [])),
    request_body = CreateToken,
    responses(
        (status = 201, description = "The profile (save it as a .share file), shown once", body = SharingProfile),
        (status = 400, description = "Bad name, datasets, lifetime or municipality code", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "Not a signed-in person, or `municipality_not_granted`: a municipality you do not act for", body = ErrorBody),
        (status = 404, description = "A named dataset does not exist or is not visible", body = ErrorBody),
        (status = 500, description = "Internal error (opaque)", body = ErrorBody),
    )
)]
#[post("/api/v1/me/sharing-profiles")]
async fn create_sharing_profile(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    body: Json<CreateToken>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let request_base = {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    };
    let work = async {
        let body = body.value()?;
        core.create_sharing_profile(&principal, body, &request_base)
            .await
    };
    let profile = core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(profile))
}

/// Lists the caller's personal access tokens (never the tokens themselves).
#[utoipa::path(
    tag = "identity",
    security(("municipal_broker" = [])),
    responses(
        (status = 200, description = "The caller's tokens", body = TokenList),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "Not a signed-in person", body = ErrorBody),
        (status = 500, description = "Internal error (opaque)", body = ErrorBody),
    )
)]
#[get("/api/v1/me/tokens")]
async fn list_tokens(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = core.personal_tokens(&principal);
    let list = core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Revokes one of the caller's tokens; it is refused from the next request on.
#[utoipa::path(
    tag = "identity",
    security(("municipal_broker" = [])),
    params(("id" = String, Path, description = "Token id", example = "pat-abc")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "Not a signed-in person", body = ErrorBody),
        (status = 404, description = "No such token of the caller", body = ErrorBody),
        (status = 500, description = "Internal error (opaque)", body = ErrorBody),
    )
)]
#[delete("/api/v1/me/tokens/{id}")]
async fn revoke_token(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = core.revoke_personal_token(&principal, &id);
    core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::NoContent().finish())
}
