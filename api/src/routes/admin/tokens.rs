//! Personal access tokens that act for the administrator's municipality.

use actix_web::{HttpRequest, HttpResponse, delete, get, web};
use chrono::{DateTime, Utc};
use dap_auth::Principal;
use dap_openapi::AdminErrors;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{ActingFor, internal, split};
use crate::admin::administered;
use crate::audit::{AuditFacts, RequestContext};
use crate::error::ApiError;
use crate::extract::Caller;
use crate::startup::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_municipal_tokens)
        .service(revoke_municipal_token);
}

/// A personal access token as administrators see it (never the token).
#[derive(Debug, Serialize, ToSchema)]
pub struct MunicipalToken {
    pub id: String,
    /// The person who created it.
    pub subject: String,
    pub name: String,
    pub datasets: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MunicipalTokenList {
    pub tokens: Vec<MunicipalToken>,
}

/// Lists the personal access tokens that act for the municipality.
#[utoipa::path(
    tag = "admin", params(ActingFor),
    security(("municipal_broker" = [])),
    responses(
        (status = 200, description = "The tokens, newest first", body = MunicipalTokenList),
        AdminErrors,
    )
)]
#[get("/api/v1/admin/tokens")]
async fn list_municipal_tokens(
    req: HttpRequest,
    state: web::Data<AppState>,
    Caller(principal): Caller,
    acting: web::Query<ActingFor>,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let work = async {
        let m = administered(&principal, acting.municipality.as_deref())?;
        let tokens: Vec<MunicipalToken> = state
            .control
            .personal_tokens_for(m.as_str())
            .await
            .map_err(internal)?
            .into_iter()
            .map(|t| MunicipalToken {
                datasets: split(&t.datasets),
                id: t.id,
                subject: t.subject,
                name: t.name,
                created_at: t.created_at,
                expires_at: t.expires_at,
                revoked_at: t.revoked_at,
            })
            .collect();
        let facts = AuditFacts {
            municipality: Some(m.to_string()),
            rows_returned: Some(tokens.len()),
            ..AuditFacts::default()
        };
        Ok((
            HttpResponse::Ok().json(MunicipalTokenList { tokens }),
            facts,
        ))
    };
    state.audited(&ctx, &principal, None, work).await
}

/// Revokes a personal access token that acts for the municipality.
#[utoipa::path(
    tag = "admin", params(ActingFor, ("id" = String, Path, description = "Token id")),
    security(("municipal_broker" = [])),
    responses(
        (status = 204, description = "Revoked (refused from the next request on)"),
        AdminErrors,
    )
)]
#[delete("/api/v1/admin/tokens/{id}")]
async fn revoke_municipal_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    Caller(principal): Caller,
    acting: web::Query<ActingFor>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let work = async {
        let ((), facts) = revoke(&state, &principal, acting.municipality.as_deref(), &id).await?;
        Ok((HttpResponse::NoContent().finish(), facts))
    };
    state.audited(&ctx, &principal, None, work).await
}

/// Revokes a personal token acting for the municipality (REST and GraphQL).
pub(crate) async fn revoke(
    state: &AppState,
    principal: &Principal,
    acting: Option<&str>,
    id: &str,
) -> Result<((), AuditFacts), ApiError> {
    let m = administered(principal, acting)?;
    if !state
        .control
        .revoke_token_for(m.as_str(), id, Utc::now())
        .await
        .map_err(internal)?
    {
        return Err(ApiError::TokenNotFound);
    }
    let facts = AuditFacts {
        municipality: Some(m.to_string()),
        columns: Some(format!("revoked personal token {id}")),
        ..AuditFacts::default()
    };
    Ok(((), facts))
}
