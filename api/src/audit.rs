//! Request context and the audit wrapper every data route runs in.
//!
//! A route's work runs inside [`AppState::audited`]; the audit record is written after
//! the work and before the response is returned. If it cannot be written the client
//! gets a 500 instead of the data (fail closed).

use std::future::Future;
use std::time::Instant;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};
use dap_auth::Principal;
use dap_schema::{AuditOutcome, AuditRecord};
use futures::future::{Ready, ready};
use tracing_actix_web::RequestId;

use crate::error::ApiError;
use crate::startup::AppState;

/// Facts about one request that every audit record carries.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub source_addr: Option<String>,
    /// The route, e.g. `GET /api/v1/datasets/{id}/rows`.
    pub action: String,
    started: Instant,
}

impl RequestContext {
    /// Reads the context off a request.
    pub fn of(req: &HttpRequest) -> Self {
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let route = req
            .match_pattern()
            .unwrap_or_else(|| req.path().chars().take(200).collect());
        Self {
            request_id,
            source_addr: req.peer_addr().map(|a| a.ip().to_string()),
            action: format!("{} {route}", req.method()),
            started: Instant::now(),
        }
    }

    /// A record for this request with the caller's facts filled in.
    pub fn record(&self, principal: Option<&Principal>, outcome: AuditOutcome) -> AuditRecord {
        let mut record = AuditRecord::new(self.request_id.clone(), self.action.clone(), outcome);
        record.source_addr = self.source_addr.clone();
        record.duration_ms = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        if let Some(p) = principal {
            record.subject = Some(p.subject.clone());
            record.caller_kind = Some(p.kind.as_str().to_owned());
            record.nsis_level = Some(p.nsis.as_str().to_owned());
            record.client_id = p.client_id.clone();
            record.municipality = match p.municipalities.as_slice() {
                [only] => Some(only.to_string()),
                _ => None,
            };
        }
        record
    }
}

impl FromRequest for RequestContext {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}

/// What a served request read, for its audit record.
#[derive(Debug, Clone, Default)]
pub struct AuditFacts {
    pub municipality: Option<String>,
    pub table_version: Option<u64>,
    pub columns: Option<String>,
    pub filter: Option<String>,
    pub rows_returned: Option<usize>,
}

impl AppState {
    /// Runs `work` and writes its audit record, whether it was served or refused.
    pub async fn audited<F>(
        &self,
        ctx: &RequestContext,
        principal: &Principal,
        dataset: Option<&str>,
        work: F,
    ) -> Result<HttpResponse, ApiError>
    where
        F: Future<Output = Result<(HttpResponse, AuditFacts), ApiError>>,
    {
        self.audited_with(ctx, principal, dataset, work).await
    }

    /// [`Self::audited`] for work that yields any value (e.g. a GraphQL field's).
    pub async fn audited_with<T, F>(
        &self,
        ctx: &RequestContext,
        principal: &Principal,
        dataset: Option<&str>,
        work: F,
    ) -> Result<T, ApiError>
    where
        F: Future<Output = Result<(T, AuditFacts), ApiError>>,
    {
        let result = work.await;
        let outcome = match &result {
            Ok(_) => AuditOutcome::Allowed,
            Err(e) if e.code() == "internal_error" => AuditOutcome::Failed,
            Err(_) => AuditOutcome::Denied,
        };
        let mut record = ctx.record(Some(principal), outcome);
        record.dataset = dataset.map(|d| d.chars().take(130).collect());
        match &result {
            Ok((_, facts)) => {
                if facts.municipality.is_some() {
                    record.municipality = facts.municipality.clone();
                }
                record.table_version = facts.table_version.and_then(|v| i64::try_from(v).ok());
                record.columns = facts.columns.clone();
                record.filter = facts.filter.clone();
                record.rows_returned = facts.rows_returned.and_then(|n| i64::try_from(n).ok());
            }
            Err(e) => record.reason = Some(e.reason()),
        }
        self.control
            .append_audit(&record)
            .await
            .map_err(ApiError::AuditUnavailable)?;
        result.map(|(response, _)| response)
    }

    /// Writes the record of a request refused before a principal was known.
    pub async fn audit_anonymous_denial(
        &self,
        ctx: &RequestContext,
        dataset: Option<String>,
        error: &ApiError,
    ) -> Result<(), ApiError> {
        let mut record = ctx.record(None, AuditOutcome::Denied);
        record.dataset = dataset;
        record.reason = Some(error.reason());
        self.control
            .append_audit(&record)
            .await
            .map_err(ApiError::AuditUnavailable)
    }
}
