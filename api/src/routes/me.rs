//! `/api/v1/me`: who the caller is, and their personal access tokens for BI tools.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use dap_auth::secrets::{new_id, new_personal_token, token_digest};
use dap_auth::{CallerKind, Principal, policy};
use dap_openapi::ErrorBody;
use dap_schema::PersonalToken;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::audit::{AuditFacts, RequestContext};
use crate::error::ApiError;
use crate::extract::{Caller, PAT_ISSUER};
use crate::startup::AppState;

/// Default and longest lifetime of a personal access token, in days.
pub const DEFAULT_DAYS: u32 = 30;
pub const MAX_DAYS: u32 = 90;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(me)
        .service(create_token)
        .service(list_tokens)
        .service(revoke_token);
}

/// The caller as dap sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub subject: String,
    pub issuer: String,
    /// `user` or `machine`.
    pub kind: String,
    /// Roles held per municipality code.
    #[schema(value_type = Object, example = json!({"0101": ["laes-borger", "laes-oekonomi"]}))]
    pub grants: BTreeMap<String, BTreeSet<String>>,
    #[schema(example = "Substantial")]
    pub assurance_level: String,
    /// Datasets the credential is limited to, if any.
    pub datasets: Option<BTreeSet<String>>,
}

/// A request for a personal access token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// What the token is for, e.g. `Power BI økonomi`.
    #[schema(example = "Power BI økonomi")]
    pub name: String,
    /// Datasets the token may read; each must be visible to the caller.
    #[schema(example = json!(["oekonomi.posteringer"]))]
    pub datasets: Vec<String>,
    /// Lifetime in days (default 30, at most 90).
    pub expires_in_days: Option<u32>,
}

/// A personal access token as listed (the token itself is only shown at creation).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub datasets: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new token, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: TokenInfo,
    /// Use as `Authorization: Bearer <token>`. dap stores only a digest: this is the only time it is shown.
    pub token: String,
}

/// The caller's tokens, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

impl From<&PersonalToken> for TokenInfo {
    fn from(t: &PersonalToken) -> Self {
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            datasets: t
                .datasets
                .split(',')
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// Tokens are managed by people signed in through an identity provider, not by
/// machine clients and not with another personal token.
fn owner(principal: &Principal) -> Result<(), ApiError> {
    if principal.kind != CallerKind::User || principal.issuer == PAT_ISSUER {
        return Err(ApiError::Forbidden(
            "personal access tokens are managed with a sign-in from the identity provider, not with a machine or personal token".into(),
        ));
    }
    Ok(())
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
    HttpResponse::Ok().json(Me {
        grants: principal
            .grants
            .iter()
            .map(|(m, r)| (m.to_string(), r.clone()))
            .collect(),
        kind: principal.kind.as_str().into(),
        assurance_level: principal.nsis.to_string(),
        datasets: principal.datasets.clone(),
        subject: principal.subject,
        issuer: principal.issuer,
    })
}

/// Creates a personal access token for a BI tool, limited to named datasets.
#[utoipa::path(
    tag = "identity",
    security(("municipal_broker" = [])),
    request_body = CreateToken,
    responses(
        (status = 201, description = "The token, shown once", body = CreatedToken),
        (status = 400, description = "Bad name, datasets or lifetime", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "Not a signed-in person", body = ErrorBody),
        (status = 404, description = "A named dataset does not exist or is not visible", body = ErrorBody),
        (status = 500, description = "Internal error (opaque)", body = ErrorBody),
    )
)]
#[post("/api/v1/me/tokens")]
async fn create_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    Caller(principal): Caller,
    body: web::Json<CreateToken>,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let work = async {
        owner(&principal)?;
        let request = body.into_inner();
        let name = request.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ApiError::InvalidParameter(
                "name must be 1 to 100 characters".into(),
            ));
        }
        let days = request.expires_in_days.unwrap_or(DEFAULT_DAYS);
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(ApiError::InvalidParameter(format!(
                "expires_in_days must be between 1 and {MAX_DAYS}"
            )));
        }
        let datasets: BTreeSet<String> = request.datasets.into_iter().collect();
        if datasets.is_empty() || datasets.len() > 100 {
            return Err(ApiError::InvalidParameter(
                "name 1 to 100 datasets the token may read".into(),
            ));
        }
        for id in &datasets {
            let visible = state
                .catalogue
                .get(id)
                .is_some_and(|d| policy::can_list(&principal, &d));
            if !visible {
                return Err(ApiError::DatasetNotFound);
            }
        }
        let token = new_personal_token();
        let now = Utc::now();
        let stored = PersonalToken {
            id: new_id("pat-"),
            token_hash: token_digest(&token),
            issuer: principal.issuer.clone(),
            subject: principal.subject.clone(),
            name,
            grants: principal.grants_json(),
            nsis_level: principal.nsis.to_string(),
            datasets: datasets.iter().cloned().collect::<Vec<_>>().join(","),
            created_at: now,
            expires_at: now + chrono::Duration::days(i64::from(days)),
            revoked_at: None,
            // The owner's data constraints go with the token: it must not see more.
            constraints: principal.constraints_json(),
        };
        state
            .control
            .insert_personal_token(stored.clone())
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        let facts = AuditFacts {
            columns: Some(format!(
                "personal token {} for {}",
                stored.id, stored.datasets
            )),
            ..AuditFacts::default()
        };
        let created = CreatedToken {
            info: TokenInfo::from(&stored),
            token,
        };
        Ok((
            HttpResponse::Created()
                .insert_header(("cache-control", "no-store"))
                .json(created),
            facts,
        ))
    };
    state.audited(&ctx, &principal, None, work).await
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
    state: web::Data<AppState>,
    Caller(principal): Caller,
) -> Result<HttpResponse, ApiError> {
    owner(&principal)?;
    let tokens = state
        .control
        .personal_tokens_of(&principal.issuer, &principal.subject)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(HttpResponse::Ok().json(TokenList {
        tokens: tokens.iter().map(TokenInfo::from).collect(),
    }))
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
    state: web::Data<AppState>,
    Caller(principal): Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let id = id.into_inner();
    let work = async {
        owner(&principal)?;
        let revoked = state
            .control
            .revoke_personal_token(&principal.issuer, &principal.subject, &id, Utc::now())
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        if !revoked {
            return Err(ApiError::TokenNotFound);
        }
        let facts = AuditFacts {
            columns: Some(format!("revoked personal token {id}")),
            ..AuditFacts::default()
        };
        Ok((HttpResponse::NoContent().finish(), facts))
    };
    state.audited(&ctx, &principal, None, work).await
}
