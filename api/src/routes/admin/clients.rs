//! Machine clients of the administrator's municipality.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use dap_auth::Principal;
use dap_auth::secrets::{NO_SECRET, hash_secret, new_id, new_secret};
use dap_openapi::AdminErrors;
use dap_schema::MachineClient;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{ActingFor, internal, known_datasets, same_municipality};
use crate::admin::administered;
use crate::audit::{AuditFacts, RequestContext};
use crate::error::ApiError;
use crate::extract::Caller;
use crate::startup::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_clients)
        .service(create_client)
        .service(rotate_client)
        .service(disable_client)
        .service(delete_client);
}

/// A machine client as administrators see it (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientInfo {
    pub client_id: String,
    pub municipality: String,
    pub datasets: Vec<String>,
    pub expires_at: DateTime<Utc>,
    pub disabled: bool,
    /// `client_secret_basic` or `private_key_jwt`.
    pub auth_method: String,
    pub created_at: Option<DateTime<Utc>>,
}

impl ClientInfo {
    fn of(c: &MachineClient, created_at: Option<DateTime<Utc>>) -> Self {
        Self {
            client_id: c.client_id.clone(),
            municipality: c.municipality.clone(),
            datasets: c.datasets.clone(),
            expires_at: c.expires_at,
            disabled: c.disabled,
            auth_method: if c.public_key.is_some() {
                "private_key_jwt".into()
            } else {
                "client_secret_basic".into()
            },
            created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList {
    pub clients: Vec<ClientInfo>,
}

/// Registers a client for an integrator.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// Datasets the client may read.
    #[schema(example = json!(["oekonomi.posteringer"]))]
    pub datasets: Vec<String>,
    /// Days until the client expires (default 365, at most 730).
    pub expires_in_days: Option<u32>,
    /// A public JWK: the client authenticates with `private_key_jwt` and gets no secret.
    #[schema(value_type = Option<Object>)]
    pub public_key: Option<serde_json::Value>,
    /// Optional; must be the municipality you administer.
    pub municipality: Option<String>,
}

/// A registered client; the secret is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: ClientInfo,
    pub client_secret: Option<String>,
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
    state: web::Data<AppState>,
    Caller(principal): Caller,
    acting: web::Query<ActingFor>,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let work = async {
        let m = administered(&principal, acting.municipality.as_deref())?;
        let clients = state
            .control
            .clients_of(m.as_str())
            .await
            .map_err(internal)?;
        let facts = AuditFacts {
            municipality: Some(m.to_string()),
            rows_returned: Some(clients.len()),
            ..AuditFacts::default()
        };
        let clients = clients
            .iter()
            .map(|(c, at)| ClientInfo::of(c, Some(*at)))
            .collect();
        Ok((HttpResponse::Ok().json(ClientList { clients }), facts))
    };
    state.audited(&ctx, &principal, None, work).await
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
    state: web::Data<AppState>,
    Caller(principal): Caller,
    acting: web::Query<ActingFor>,
    body: web::Json<NewClient>,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let work = async {
        let (created, facts) = register(
            &state,
            &principal,
            acting.municipality.as_deref(),
            body.into_inner(),
        )
        .await?;
        Ok((
            HttpResponse::Created()
                .insert_header(("cache-control", "no-store"))
                .json(created),
            facts,
        ))
    };
    state.audited(&ctx, &principal, None, work).await
}

/// Registers a machine client (REST and GraphQL).
pub(crate) async fn register(
    state: &AppState,
    principal: &Principal,
    acting: Option<&str>,
    body: NewClient,
) -> Result<(CreatedClient, AuditFacts), ApiError> {
    let m = administered(principal, acting)?;
    same_municipality(body.municipality.as_deref(), m.as_str())?;
    let datasets = known_datasets(state, &body.datasets)?;
    let days = body.expires_in_days.unwrap_or(365);
    if !(1..=730).contains(&days) {
        return Err(ApiError::InvalidParameter(
            "expires_in_days must be between 1 and 730".into(),
        ));
    }
    let public_key = match &body.public_key {
        Some(jwk) => Some(
            dap_auth::client_assertion::public_jwk(&jwk.to_string())
                .map_err(|e| ApiError::InvalidParameter(e.to_string()))?,
        ),
        None => None,
    };
    let client = MachineClient {
        client_id: new_id("dap-"),
        municipality: m.to_string(),
        datasets,
        expires_at: Utc::now() + chrono::Duration::days(i64::from(days)),
        disabled: false,
        public_key,
    };
    let (secret, hash) = if client.public_key.is_some() {
        (None, NO_SECRET.to_owned())
    } else {
        let secret = new_secret();
        let hash = hash_secret(&secret).map_err(|e| ApiError::Internal(e.into()))?;
        (Some(secret), hash)
    };
    state
        .control
        .insert_machine_client(&client, &hash)
        .await
        .map_err(internal)?;
    let facts = AuditFacts {
        municipality: Some(m.to_string()),
        columns: Some(format!(
            "registered machine client {} for {}",
            client.client_id,
            client.datasets.join(",")
        )),
        ..AuditFacts::default()
    };
    let created = CreatedClient {
        client: ClientInfo::of(&client, Some(Utc::now())),
        client_secret: secret,
    };
    Ok((created, facts))
}

/// A new secret for a client.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    pub client_id: String,
    /// Shown once; the old secret stops working now.
    pub client_secret: String,
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
    state: web::Data<AppState>,
    Caller(principal): Caller,
    acting: web::Query<ActingFor>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let work = async {
        let (rotated, facts) =
            rotate(&state, &principal, acting.municipality.as_deref(), &id).await?;
        Ok((
            HttpResponse::Ok()
                .insert_header(("cache-control", "no-store"))
                .json(rotated),
            facts,
        ))
    };
    state.audited(&ctx, &principal, None, work).await
}

/// Gives a client a new secret (REST and GraphQL).
pub(crate) async fn rotate(
    state: &AppState,
    principal: &Principal,
    acting: Option<&str>,
    id: &str,
) -> Result<(RotatedSecret, AuditFacts), ApiError> {
    let m = administered(principal, acting)?;
    let found = state.control.machine_client(id).await.map_err(internal)?;
    let Some((client, _)) = found.filter(|(c, _)| c.municipality == m.as_str()) else {
        return Err(ApiError::RouteNotFound);
    };
    if client.public_key.is_some() {
        return Err(ApiError::InvalidParameter(
            "this client authenticates with private_key_jwt; register a new key instead".into(),
        ));
    }
    let secret = new_secret();
    let hash = hash_secret(&secret).map_err(|e| ApiError::Internal(e.into()))?;
    if !state
        .control
        .set_client_secret(m.as_str(), id, &hash)
        .await
        .map_err(internal)?
    {
        return Err(ApiError::RouteNotFound);
    }
    let facts = AuditFacts {
        municipality: Some(m.to_string()),
        columns: Some(format!("rotated the secret of machine client {id}")),
        ..AuditFacts::default()
    };
    Ok((
        RotatedSecret {
            client_id: id.to_owned(),
            client_secret: secret,
        },
        facts,
    ))
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
    state: web::Data<AppState>,
    Caller(principal): Caller,
    acting: web::Query<ActingFor>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    change_client(req, state, principal, acting, id, false).await
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
    state: web::Data<AppState>,
    Caller(principal): Caller,
    acting: web::Query<ActingFor>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    change_client(req, state, principal, acting, id, true).await
}

async fn change_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    acting: web::Query<ActingFor>,
    id: web::Path<String>,
    delete: bool,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let work = async {
        let facts = change(
            &state,
            &principal,
            acting.municipality.as_deref(),
            &id,
            delete,
        )
        .await?;
        Ok((HttpResponse::NoContent().finish(), facts))
    };
    state.audited(&ctx, &principal, None, work).await
}

/// Disables or deletes a client (REST and GraphQL).
pub(crate) async fn change(
    state: &AppState,
    principal: &Principal,
    acting: Option<&str>,
    id: &str,
    delete: bool,
) -> Result<AuditFacts, ApiError> {
    let m = administered(principal, acting)?;
    let done = if delete {
        state.control.delete_client_of(m.as_str(), id).await
    } else {
        state.control.disable_client_of(m.as_str(), id).await
    }
    .map_err(internal)?;
    if !done {
        return Err(ApiError::RouteNotFound);
    }
    Ok(AuditFacts {
        municipality: Some(m.to_string()),
        columns: Some(format!(
            "{} machine client {id}",
            if delete { "deleted" } else { "disabled" }
        )),
        ..AuditFacts::default()
    })
}
