//! The audit log as administrators query it: a municipal administrator sees the records
//! acted for their municipality; a platform operator sees all. A page of records, or the
//! whole selection as a stream of pages (the surface encodes it: NDJSON, CSV).

use dap_auth::Principal;
use dap_openapi::model::admin::{AuditEntry, AuditPage, AuditParams};
use dap_schema::ControlPlane;
use dap_schema::admin::AuditQuery;
use dap_schema::entity::audit_event;
use futures::Stream;

use crate::app::access::{administered, operator};
use crate::app::input::{DateMeans, instant};
use crate::app::{AppError, AuditFacts, Core};

/// Records per database read when the whole selection is streamed.
const STREAM_PAGE: u64 = 500;

/// How the selected records are wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditFormat {
    /// One page (`json`).
    Page,
    /// Every selected record as newline-delimited JSON.
    Ndjson,
    /// Every selected record as CSV.
    Csv,
}

/// The answer to an audit query: a page, or the selection to stream in `format`.
#[derive(Debug)]
pub enum AuditSelection {
    Page(AuditPage),
    Stream(AuditQuery, AuditFormat),
}

/// One stored audit record as administrators see it.
pub fn audit_entry(m: audit_event::Model) -> AuditEntry {
    AuditEntry {
        id: m.id,
        seq: m.seq,
        occurred_at: m.occurred_at,
        request_id: m.request_id,
        action: m.action,
        subject: m.subject,
        caller_kind: m.caller_kind,
        client_id: m.client_id,
        nsis_level: m.nsis_level,
        municipality: m.municipality,
        dataset: m.dataset,
        table_version: m.table_version,
        columns: m.columns,
        filter: m.filter,
        rows_returned: m.rows_returned,
        outcome: m.outcome,
        reason: m.reason,
        duration_ms: m.duration_ms,
        source_addr: m.source_addr,
    }
}

/// Every record `query` selects, a database page at a time; an error ends the stream.
pub fn audit_records(
    control: ControlPlane,
    query: AuditQuery,
) -> impl Stream<Item = Result<Vec<AuditEntry>, AppError>> {
    futures::stream::unfold(
        (control, query, false),
        |(control, mut query, done)| async move {
            if done {
                return None;
            }
            let page = match control.query_audit(&query, STREAM_PAGE).await {
                Ok(page) => page,
                Err(e) => return Some((Err(AppError::from(e)), (control, query, true))),
            };
            let last = page.len() < STREAM_PAGE as usize;
            query.after_id = page.last().map(|r| r.id).or(query.after_id);
            let entries = page.into_iter().map(audit_entry).collect();
            Some((Ok(entries), (control, query, last)))
        },
    )
}

/// An optional instant parameter of an audit query.
fn instant_of(
    name: &'static str,
    text: Option<&str>,
    date: DateMeans,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, AppError> {
    text.map(|t| instant("query parameter", name, t, date).map_err(|e| e.in_field(name)))
        .transpose()
}

/// The format a query names (default a page).
fn format_of(params: &AuditParams) -> Result<AuditFormat, AppError> {
    match params.format.as_deref().unwrap_or("json") {
        "json" => Ok(AuditFormat::Page),
        "ndjson" => Ok(AuditFormat::Ndjson),
        "csv" => Ok(AuditFormat::Csv),
        other => Err(AppError::invalid(
            "format",
            format!(
                "query parameter 'format': '{}' is not offered: use json, ndjson or csv, e.g. format=csv",
                other.chars().take(16).collect::<String>()
            ),
        )),
    }
}

impl Core {
    /// Which municipality's records the caller may query: any (or all) for a platform
    /// operator, the administered one for a municipal administrator.
    fn audited_municipality(
        &self,
        principal: &Principal,
        requested: Option<&str>,
    ) -> Result<Option<String>, AppError> {
        if operator(&self.operators, principal).is_err() {
            return Ok(Some(administered(principal, requested)?.to_string()));
        }
        requested
            .map(|code| {
                dap_schema::MunicipalityCode::parse(code)
                    .map(|m| m.to_string())
                    .map_err(|e| AppError::InvalidParameter(e.to_string()))
            })
            .transpose()
    }

    /// The audit records the caller may see that `params` select: a page, or the whole
    /// selection to stream with [`audit_records`].
    pub async fn query_audit(
        &self,
        principal: &Principal,
        params: &AuditParams,
    ) -> Result<(AuditSelection, AuditFacts), AppError> {
        let municipality = self.audited_municipality(principal, params.municipality.as_deref())?;
        if let Some(o) = params.outcome.as_deref()
            && !matches!(o, "allowed" | "denied" | "failed" | "interrupted")
        {
            return Err(AppError::invalid(
                "outcome",
                format!(
                    "query parameter 'outcome': '{}' is not an outcome: use allowed, denied, failed or interrupted, e.g. outcome=denied",
                    o.chars().take(16).collect::<String>()
                ),
            ));
        }
        let query = AuditQuery {
            municipality: municipality.clone(),
            from: instant_of("from", params.from.as_deref(), DateMeans::StartOfDay)?,
            to: instant_of("to", params.to.as_deref(), DateMeans::Ambiguous)?,
            subject: params.subject.clone(),
            dataset: params.dataset.clone(),
            outcome: params.outcome.clone(),
            after_id: params.after,
        };
        let facts = AuditFacts {
            municipality,
            filter: Some(format!(
                "from={:?} to={:?} subject={:?} dataset={:?} outcome={:?}",
                query.from, query.to, query.subject, query.dataset, query.outcome
            )),
            ..AuditFacts::default()
        };
        let selection = match format_of(params)? {
            AuditFormat::Page => AuditSelection::Page(self.audit_page(query, params.limit).await?),
            format => AuditSelection::Stream(query, format),
        };
        Ok((selection, facts))
    }

    async fn audit_page(
        &self,
        query: AuditQuery,
        limit: Option<u64>,
    ) -> Result<AuditPage, AppError> {
        let limit = limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(AppError::invalid(
                "limit",
                "query parameter 'limit' must be between 1 and 1000, e.g. limit=100",
            ));
        }
        let records: Vec<AuditEntry> = self
            .control
            .query_audit(&query, limit)
            .await?
            .into_iter()
            .map(audit_entry)
            .collect();
        let next_after = (records.len() as u64 == limit)
            .then(|| records.last().map(|r| r.id))
            .flatten();
        Ok(AuditPage {
            records,
            next_after,
        })
    }
}

impl Core {
    /// The audit chain's verification (the whole chain, every municipality's records:
    /// its integrity is one fact), for anyone who may read an audit log: a municipal IT
    /// administrator or a platform operator. Reports no record's content.
    pub async fn audit_chain_status(
        &self,
        principal: &Principal,
        requested: Option<&str>,
    ) -> Result<(dap_schema::audit_chain::Verification, AuditFacts), AppError> {
        let municipality = self.audited_municipality(principal, requested)?;
        let verification = self.control.verify_audit().await?;
        let facts = AuditFacts {
            municipality,
            filter: Some("audit chain verification".into()),
            ..AuditFacts::default()
        };
        Ok((verification, facts))
    }
}
