//! Delegations: municipality A lets organisation B (a CVR: an IT community, a
//! consultancy, another municipality) read named datasets of A until a date. Visible to
//! both sides, revocable by A, audited.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use dap_auth::Principal;
use dap_auth::secrets::new_id;
use dap_openapi::AdminErrors;
use dap_schema::admin::Delegation;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{ActingFor, internal, known_datasets, same_municipality, split};
use crate::admin::administered;
use crate::audit::{AuditFacts, RequestContext};
use crate::error::ApiError;
use crate::extract::Caller;
use crate::startup::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_delegations)
        .service(create_delegation)
        .service(revoke_delegation);
}

/// Longest a delegation may run.
const MAX_DAYS: i64 = 3 * 366;

/// A delegation, seen from either side.
#[derive(Debug, Serialize, ToSchema)]
pub struct DelegationInfo {
    pub id: String,
    /// The municipality whose data is delegated.
    pub grantor: String,
    /// The organisation (CVR) that may read it.
    pub grantee_cvr: String,
    pub datasets: Vec<String>,
    pub valid_until: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// `granted` (by the municipality you administer) or `received` (by its CVR).
    pub direction: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DelegationList {
    pub delegations: Vec<DelegationInfo>,
}

/// A new delegation from the municipality you administer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDelegation {
    /// The organisation's CVR number (8 digits).
    #[schema(example = "12345678")]
    pub grantee_cvr: String,
    pub datasets: Vec<String>,
    /// Until when (at most three years ahead).
    pub valid_until: DateTime<Utc>,
    /// Optional; must be the municipality you administer.
    pub grantor: Option<String>,
}

fn info(d: Delegation, municipality: &str) -> DelegationInfo {
    DelegationInfo {
        direction: if d.grantor == municipality {
            "granted".into()
        } else {
            "received".into()
        },
        datasets: split(&d.datasets),
        id: d.id,
        grantor: d.grantor,
        grantee_cvr: d.grantee_cvr,
        valid_until: d.valid_until,
        created_at: d.created_at,
        revoked_at: d.revoked_at,
    }
}

/// Delegations the municipality granted, and those granted to its CVR.
#[utoipa::path(
    tag = "admin", params(ActingFor),
    security(("municipal_broker" = [])),
    responses(
        (status = 200, description = "Delegations, newest first", body = DelegationList),
        AdminErrors,
    )
)]
#[get("/api/v1/admin/delegations")]
async fn list_delegations(
    req: HttpRequest,
    state: web::Data<AppState>,
    Caller(principal): Caller,
    acting: web::Query<ActingFor>,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let work = async {
        let m = administered(&principal, acting.municipality.as_deref())?;
        let cvr = m.municipality().map(|x| x.cvr.clone()).unwrap_or_default();
        let delegations: Vec<DelegationInfo> = state
            .control
            .delegations_involving(m.as_str(), &cvr)
            .await
            .map_err(internal)?
            .into_iter()
            .map(|d| info(d, m.as_str()))
            .collect();
        let facts = AuditFacts {
            municipality: Some(m.to_string()),
            rows_returned: Some(delegations.len()),
            ..AuditFacts::default()
        };
        Ok((
            HttpResponse::Ok().json(DelegationList { delegations }),
            facts,
        ))
    };
    state.audited(&ctx, &principal, None, work).await
}

/// Lets an organisation read named datasets of the municipality until a date. Its people
/// name the municipality (`municipality=`) in their requests.
#[utoipa::path(
    tag = "admin", params(ActingFor),
    security(("municipal_broker" = [])),
    request_body = NewDelegation,
    responses(
        (status = 201, description = "The delegation", body = DelegationInfo),
        AdminErrors,
    )
)]
#[post("/api/v1/admin/delegations")]
async fn create_delegation(
    req: HttpRequest,
    state: web::Data<AppState>,
    Caller(principal): Caller,
    acting: web::Query<ActingFor>,
    body: web::Json<NewDelegation>,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let work = async {
        let (value, facts) = delegate(
            &state,
            &principal,
            acting.municipality.as_deref(),
            body.into_inner(),
        )
        .await?;
        Ok((HttpResponse::Created().json(value), facts))
    };
    state.audited(&ctx, &principal, None, work).await
}

/// Delegates datasets to an organisation (REST and GraphQL).
pub(crate) async fn delegate(
    state: &AppState,
    principal: &Principal,
    acting: Option<&str>,
    body: NewDelegation,
) -> Result<(DelegationInfo, AuditFacts), ApiError> {
    let m = administered(principal, acting)?;
    same_municipality(body.grantor.as_deref(), m.as_str())?;
    let cvr = body.grantee_cvr.trim();
    if cvr.len() != 8 || !cvr.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::InvalidParameter(
            "grantee_cvr must be a CVR number of 8 digits".into(),
        ));
    }
    if m.municipality().is_some_and(|x| x.cvr == cvr) {
        return Err(ApiError::InvalidParameter(
            "a municipality cannot delegate to itself".into(),
        ));
    }
    let datasets = known_datasets(state, &body.datasets)?;
    let now = Utc::now();
    if body.valid_until <= now || body.valid_until > now + chrono::Duration::days(MAX_DAYS) {
        return Err(ApiError::InvalidParameter(
            "valid_until must be in the future and at most three years ahead".into(),
        ));
    }
    let stored = Delegation {
        id: new_id("del-"),
        grantor: m.to_string(),
        grantee_cvr: cvr.to_owned(),
        datasets: datasets.join(","),
        valid_until: body.valid_until,
        created_at: now,
        created_by: principal.subject.chars().take(512).collect(),
        revoked_at: None,
    };
    state
        .control
        .insert_delegation(stored.clone())
        .await
        .map_err(internal)?;
    state.admin.reload(&state.control).await.map_err(internal)?;
    let facts = AuditFacts {
        municipality: Some(m.to_string()),
        columns: Some(format!(
            "delegated {} to CVR {} until {} ({})",
            stored.datasets, stored.grantee_cvr, stored.valid_until, stored.id
        )),
        ..AuditFacts::default()
    };
    Ok((info(stored, m.as_str()), facts))
}

/// Revokes a delegation the municipality granted; it stops at once on this replica and
/// within `lake.refresh_secs` on the others.
#[utoipa::path(
    tag = "admin", params(ActingFor, ("id" = String, Path, description = "Delegation id")),
    security(("municipal_broker" = [])),
    responses(
        (status = 204, description = "Revoked"),
        AdminErrors,
    )
)]
#[delete("/api/v1/admin/delegations/{id}")]
async fn revoke_delegation(
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

/// Revokes a delegation the municipality granted (REST and GraphQL).
pub(crate) async fn revoke(
    state: &AppState,
    principal: &Principal,
    acting: Option<&str>,
    id: &str,
) -> Result<((), AuditFacts), ApiError> {
    let m = administered(principal, acting)?;
    if !state
        .control
        .revoke_delegation(m.as_str(), id, Utc::now())
        .await
        .map_err(internal)?
    {
        return Err(ApiError::RouteNotFound);
    }
    state.admin.reload(&state.control).await.map_err(internal)?;
    let facts = AuditFacts {
        municipality: Some(m.to_string()),
        columns: Some(format!("revoked delegation {id}")),
        ..AuditFacts::default()
    };
    Ok(((), facts))
}
