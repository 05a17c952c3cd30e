//! Machine clients of the administrator's municipality.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use dap_openapi::AdminErrors;
use dap_openapi::model::admin::{ClientList, CreatedClient, NewClient, RotatedSecret};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{ActingFor, no_store};
use crate::app::{AppError, Core};
use crate::rest::extract::{Caller, request_context};
use crate::rest::input::{Json, Path, Query};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_clients)
        .service(create_client)
        .service(rotate_client)
        .service(disable_client)
        .service(delete_client);
}

/// Lists the municipality's machine clients.
#[utoipa::path(
    tag = "admin", params(ActingFor),
    security(("municipal_broker" = [])),
    responses(
        (status = 200, description = "The clients", body = ClientList),
        AdminErrors,
    )
)]
#[get("/api/v1/admin/clients")]
async fn list_clients(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    acting: Query<ActingFor>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let acting = acting.value()?;
        core.list_clients(&principal, acting.municipality.as_deref())
            .await
    };
    let list = core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Registers a machine client bound to the municipality.
#[utoipa::path(
    tag = "admin", params(ActingFor),
    security(("municipal_broker" = [])),
    request_body = NewClient,
    responses(
        (status = 201, description = "Registered; the secret is shown once", body = CreatedClient),
        AdminErrors,
    )
)]
#[post("/api/v1/admin/clients")]
async fn create_client(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    acting: Query<ActingFor>,
    body: Json<NewClient>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let (acting, body) = (acting.value()?, body.value()?);
        core.register_client(&principal, acting.municipality.as_deref(), body)
            .await
    };
    let created = core.audited(&ctx, &principal, None, work).await?;
    Ok(no_store(HttpResponse::Created()).json(created))
}

/// Gives a client a new secret; the old one stops working at once.
#[utoipa::path(
    tag = "admin", params(ActingFor, ("id" = String, Path, description = "Client id")),
    security(("municipal_broker" = [])),
    responses(
        (status = 200, description = "The new secret, shown once", body = RotatedSecret),
        AdminErrors,
    )
)]
#[post("/api/v1/admin/clients/{id}/rotate")]
async fn rotate_client(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    acting: Query<ActingFor>,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let acting = acting.value()?;
        core.rotate_client_secret(&principal, acting.municipality.as_deref(), &id)
            .await
    };
    let rotated = core.audited(&ctx, &principal, None, work).await?;
    Ok(no_store(HttpResponse::Ok()).json(rotated))
}

/// Disables a client: its tokens are refused from the next request on, on every replica.
#[utoipa::path(
    tag = "admin", params(ActingFor, ("id" = String, Path, description = "Client id")),
    security(("municipal_broker" = [])),
    responses(
        (status = 204, description = "Disabled"),
        AdminErrors,
    )
)]
#[post("/api/v1/admin/clients/{id}/disable")]
async fn disable_client(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    acting: Query<ActingFor>,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    change_client(&req, &core, Caller(principal), acting, &id, false).await
}

/// Deletes a client; its tokens are refused from the next request on.
#[utoipa::path(
    tag = "admin", params(ActingFor, ("id" = String, Path, description = "Client id")),
    security(("municipal_broker" = [])),
    responses(
        (status = 204, description = "Deleted"),
        AdminErrors,
    )
)]
#[delete("/api/v1/admin/clients/{id}")]
async fn delete_client(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    acting: Query<ActingFor>,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    change_client(&req, &core, Caller(principal), acting, &id, true).await
}

async fn change_client(
    req: &HttpRequest,
    core: &Core,
    Caller(principal): Caller,
    acting: Query<ActingFor>,
    id: &str,
    delete: bool,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(req);
    let work = async {
        let acting = acting.value()?;
        core.change_client(&principal, acting.municipality.as_deref(), id, delete)
            .await
    };
    core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::NoContent().finish())
}
