//! The audited operation: every surface runs its work inside [`Core::audited`], which
//! writes one audit record after the work and before the answer is returned. If the
//! record cannot be written the caller gets an internal error instead of the data (fail
//! closed). The outcome comes from the error's class, never from comparing text.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use dap_auth::Principal;
use dap_schema::{AuditOutcome, AuditRecord};

use super::metrics::Delivery;
use super::{AppError, Core};

/// Facts about one request that every audit record carries, whatever the surface.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub source_addr: Option<String>,
    /// What was asked, e.g. `GET /api/v1/datasets/{id}/rows` or `graphql mutation x`.
    pub action: String,
    started: Instant,
}

impl RequestContext {
    /// A context for a request that starts now.
    pub fn new(request_id: String, source_addr: Option<String>, action: String) -> Self {
        Self {
            request_id,
            source_addr,
            action,
            started: Instant::now(),
        }
    }

    /// The same request, naming a part of it (a GraphQL field or mutation).
    pub fn part(&self, action: String) -> Self {
        Self {
            action,
            ..self.clone()
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

/// What a served request read or changed, for its audit record.
#[derive(Debug, Clone, Default)]
pub struct AuditFacts {
    pub municipality: Option<String>,
    pub table_version: Option<u64>,
    pub columns: Option<String>,
    pub filter: Option<String>,
    pub rows_returned: Option<usize>,
}

impl AuditFacts {
    /// Writes the facts into `record`.
    pub fn apply(&self, record: &mut AuditRecord) {
        if self.municipality.is_some() {
            record.municipality = self.municipality.clone();
        }
        record.table_version = self.table_version.and_then(|v| i64::try_from(v).ok());
        record.columns = self.columns.clone();
        record.filter = self.filter.clone();
        record.rows_returned = self.rows_returned.and_then(|n| i64::try_from(n).ok());
    }
}

/// Dataset ids as audited: at most 130 characters of whatever the caller sent.
pub fn audited_dataset(id: &str) -> String {
    id.chars().take(130).collect()
}

/// The records of a request's parts that are appended with the request's own record at
/// its end ([`Core::audited_later`], [`Core::audit_request_with`]): one wait for the audit
/// log per request instead of one per part. Nothing of the request may be answered
/// before that append succeeds. A request dropped before its end (the client went away)
/// still leaves its parts' records, written in the background, a served part's as
/// interrupted.
#[derive(Debug)]
pub struct AuditLedger {
    writer: super::audit_writer::AuditWriter,
    parts: Mutex<Ledger>,
}

#[derive(Debug, Default)]
struct Ledger {
    records: Vec<AuditRecord>,
    /// Parts served, counted in the metrics once their records are durable.
    served: Vec<(RequestContext, AuditFacts)>,
}

impl AuditLedger {
    fn push(&self, record: AuditRecord, served: Option<(RequestContext, AuditFacts)>) {
        // A poisoned lock still holds every record pushed: none may be lost.
        let mut ledger = self.parts.lock().unwrap_or_else(PoisonError::into_inner);
        ledger.records.push(record);
        ledger.served.extend(served);
    }

    fn take(&self) -> Ledger {
        std::mem::take(&mut *self.parts.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Drop for AuditLedger {
    fn drop(&mut self) {
        let Ledger { mut records, .. } = self.take();
        if records.is_empty() {
            return;
        }
        for record in &mut records {
            if record.outcome == AuditOutcome::Allowed {
                record.outcome = AuditOutcome::Interrupted;
            }
        }
        let writer = self.writer.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = writer.append_all(records).await {
                    tracing::error!(%error, "the records of an interrupted request were not written");
                }
            });
        }
    }
}

impl Core {
    /// Runs `work` and writes its audit record, whether it was served or refused.
    pub async fn audited<T, F>(
        &self,
        ctx: &RequestContext,
        principal: &Principal,
        dataset: Option<&str>,
        work: F,
    ) -> Result<T, AppError>
    where
        F: Future<Output = Result<(T, AuditFacts), AppError>>,
    {
        let result = work.await;
        let record = part_record(ctx, principal, dataset, &result);
        self.append_audit(&record).await?;
        if let Ok((_, facts)) = &result {
            self.count_page_rows(ctx, facts);
        }
        result.map(|(value, _)| value)
    }

    /// A ledger for the parts of one request (see [`AuditLedger`]).
    pub fn audit_ledger(&self) -> AuditLedger {
        AuditLedger {
            writer: self.audit.clone(),
            parts: Mutex::default(),
        }
    }

    /// Like [`Self::audited`] for a part of a request that is answered only at its end
    /// (a GraphQL field): the record joins `ledger` and is appended with the request's
    /// own record by [`Self::audit_request_with`], which fails the whole request (it
    /// answers nothing) when any of them is not written.
    pub async fn audited_later<T, F>(
        &self,
        ledger: &AuditLedger,
        ctx: &RequestContext,
        principal: &Principal,
        dataset: Option<&str>,
        work: F,
    ) -> Result<T, AppError>
    where
        F: Future<Output = Result<(T, AuditFacts), AppError>>,
    {
        let result = work.await;
        let record = part_record(ctx, principal, dataset, &result);
        let served = result.as_ref().ok().map(|(_, f)| (ctx.clone(), f.clone()));
        ledger.push(record, served);
        result.map(|(value, _)| value)
    }

    /// [`Self::audit_request`] with the records `ledger` holds, appended before the
    /// request's own, all in one wait.
    pub async fn audit_request_with(
        &self,
        ledger: &AuditLedger,
        ctx: &RequestContext,
        principal: Option<&Principal>,
        error: Option<&AppError>,
    ) -> Result<(), AppError> {
        let Ledger {
            mut records,
            served,
        } = ledger.take();
        records.push(request_record(ctx, principal, None, error));
        self.append_audits(records).await?;
        for (ctx, facts) in &served {
            self.count_page_rows(ctx, facts);
        }
        Ok(())
    }

    /// Writes the record of a request refused (or answered) outside [`Self::audited`]:
    /// before a principal was known, or a whole request whose parts have records of
    /// their own. `error` decides the outcome; `None` is allowed.
    pub async fn audit_request(
        &self,
        ctx: &RequestContext,
        principal: Option<&Principal>,
        dataset: Option<String>,
        error: Option<&AppError>,
    ) -> Result<(), AppError> {
        self.append_audit(&request_record(ctx, principal, dataset, error))
            .await
    }

    /// Rows a served read returned from a table (a read has a table version; listings
    /// of datasets, clients or rights do not), for the metrics.
    fn count_page_rows(&self, ctx: &RequestContext, facts: &AuditFacts) {
        if let (Some(_), Some(rows)) = (facts.table_version, facts.rows_returned) {
            self.metrics.served(
                self.metrics.surface_of_action(&ctx.action),
                Delivery::Page,
                facts.municipality.as_deref(),
                rows as u64,
                0,
            );
        }
    }

    /// Appends a record; failing to is an internal error (the caller fails closed).
    pub async fn append_audit(&self, record: &AuditRecord) -> Result<(), AppError> {
        self.append_audits(vec![record.clone()]).await
    }

    /// Appends records in order, in one wait; failing to append any is an internal error
    /// (the caller fails closed).
    async fn append_audits(&self, records: Vec<AuditRecord>) -> Result<(), AppError> {
        let started = Instant::now();
        let appended = self.audit.append_all(records).await;
        self.metrics
            .audit_appended(started.elapsed(), appended.is_err());
        appended.map_err(AppError::AuditUnavailable)
    }
}

/// The record of one part of a request (see [`Core::audited`]).
fn part_record<T>(
    ctx: &RequestContext,
    principal: &Principal,
    dataset: Option<&str>,
    result: &Result<(T, AuditFacts), AppError>,
) -> AuditRecord {
    let outcome = match result {
        Ok(_) => AuditOutcome::Allowed,
        Err(e) => e.outcome(),
    };
    let mut record = ctx.record(Some(principal), outcome);
    record.dataset = dataset.map(audited_dataset);
    match result {
        Ok((_, facts)) => facts.apply(&mut record),
        Err(e) => record.reason = Some(e.code().to_owned()),
    }
    record
}

/// The record of a whole request (see [`Core::audit_request`]).
fn request_record(
    ctx: &RequestContext,
    principal: Option<&Principal>,
    dataset: Option<String>,
    error: Option<&AppError>,
) -> AuditRecord {
    let outcome = error.map_or(AuditOutcome::Allowed, AppError::outcome);
    let mut record = ctx.record(principal, outcome);
    record.dataset = dataset;
    record.reason = error.map(|e| e.code().to_owned());
    record
}

/// The record of an administrative command run on the server itself (the CLI): the
/// subject is the local user.
pub fn local_record(action: &str, municipality: Option<String>, what: String) -> AuditRecord {
    let mut record = AuditRecord::new(
        uuid::Uuid::new_v4().to_string(),
        format!("cli {action}"),
        AuditOutcome::Allowed,
    );
    record.subject = Some(std::env::var("USER").unwrap_or_else(|_| "local-operator".into()));
    record.caller_kind = Some("cli".into());
    record.municipality = municipality;
    record.columns = Some(what);
    record
}
