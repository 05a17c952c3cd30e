//! The audit log as administrators query it: a municipal administrator sees the records
//! acted for their municipality; a platform operator sees all. JSON pages, or the whole
//! selection streamed as NDJSON or CSV.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use dap_openapi::AdminErrors;
use dap_schema::admin::AuditQuery;
use dap_schema::entity::audit_event;
use futures::stream;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::internal;
use crate::admin::{administered, operator};
use crate::audit::{AuditFacts, RequestContext};
use crate::error::ApiError;
use crate::extract::Caller;
use crate::startup::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(query_audit);
}

/// Filters and format of an audit query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditParams {
    /// Municipality: the one you administer (when several), or any for platform operators.
    pub municipality: Option<String>,
    /// From this time (RFC 3339, inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Until this time (RFC 3339, exclusive).
    pub to: Option<DateTime<Utc>>,
    pub subject: Option<String>,
    pub dataset: Option<String>,
    /// `allowed`, `denied` or `failed`.
    pub outcome: Option<String>,
    /// `json` (default, paged), `ndjson` or `csv` (everything selected, streamed).
    pub format: Option<String>,
    /// Page size for `json` (default 100, at most 1000).
    pub limit: Option<u64>,
    /// Continue after this record id (`next_after` of the previous page).
    pub after: Option<i64>,
}

/// One audit record.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub request_id: String,
    pub action: String,
    pub subject: Option<String>,
    pub caller_kind: Option<String>,
    pub client_id: Option<String>,
    pub nsis_level: Option<String>,
    pub municipality: Option<String>,
    pub dataset: Option<String>,
    pub table_version: Option<i64>,
    pub columns: Option<String>,
    pub filter: Option<String>,
    pub rows_returned: Option<i64>,
    pub outcome: String,
    pub reason: Option<String>,
    pub duration_ms: i64,
    pub source_addr: Option<String>,
}

impl From<audit_event::Model> for AuditEntry {
    fn from(m: audit_event::Model) -> Self {
        Self {
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
}

/// A page of audit records.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub records: Vec<AuditEntry>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<i64>,
}

const CSV_COLUMNS: [&str; 19] = [
    "id",
    "seq",
    "occurred_at",
    "request_id",
    "action",
    "subject",
    "caller_kind",
    "client_id",
    "nsis_level",
    "municipality",
    "dataset",
    "table_version",
    "columns",
    "filter",
    "rows_returned",
    "outcome",
    "reason",
    "duration_ms",
    "source_addr",
];

/// One RFC 4180 field; a leading `=`, `+`, `-` or `@` is defused so a spreadsheet does
/// not run it as a formula.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn csv_line(e: &AuditEntry) -> String {
    let opt = |v: &Option<String>| v.as_deref().map(csv_field).unwrap_or_default();
    let num = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    let fields = [
        e.id.to_string(),
        e.seq.to_string(),
        e.occurred_at.to_rfc3339(),
        csv_field(&e.request_id),
        csv_field(&e.action),
        opt(&e.subject),
        opt(&e.caller_kind),
        opt(&e.client_id),
        opt(&e.nsis_level),
        opt(&e.municipality),
        opt(&e.dataset),
        num(e.table_version),
        opt(&e.columns),
        opt(&e.filter),
        num(e.rows_returned),
        csv_field(&e.outcome),
        opt(&e.reason),
        e.duration_ms.to_string(),
        opt(&e.source_addr),
    ];
    format!("{}\r\n", fields.join(","))
}

/// Audit records: yours as a municipal IT administrator, everyone's as a platform operator.
#[utoipa::path(
    tag = "admin", params(AuditParams),
    security(("municipal_broker" = [])),
    responses(
        (status = 200, description = "A page (json) or every selected record (ndjson, csv)",
         content(
            (AuditPage = "application/json"),
            (String = "application/x-ndjson"),
            (String = "text/csv"),
         )),
        AdminErrors,
    )
)]
#[get("/api/v1/admin/audit")]
async fn query_audit(
    req: HttpRequest,
    state: web::Data<AppState>,
    Caller(principal): Caller,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let params = params.into_inner();
    let work = async {
        let municipality = if operator(&state.operators, &principal).is_ok() {
            match params.municipality.as_deref() {
                Some(code) => Some(
                    dap_schema::MunicipalityCode::parse(code)
                        .map_err(|e| ApiError::InvalidParameter(e.to_string()))?
                        .to_string(),
                ),
                None => None,
            }
        } else {
            Some(administered(&principal, params.municipality.as_deref())?.to_string())
        };
        if let Some(o) = params.outcome.as_deref()
            && !matches!(o, "allowed" | "denied" | "failed")
        {
            return Err(ApiError::InvalidParameter(
                "outcome must be allowed, denied or failed".into(),
            ));
        }
        let query = AuditQuery {
            municipality: municipality.clone(),
            from: params.from,
            to: params.to,
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
        let format = params.format.as_deref().unwrap_or("json");
        let response = match format {
            "json" => {
                let limit = params.limit.unwrap_or(100);
                if !(1..=1000).contains(&limit) {
                    return Err(ApiError::InvalidParameter(
                        "limit must be between 1 and 1000".into(),
                    ));
                }
                let records: Vec<AuditEntry> = state
                    .control
                    .query_audit(&query, limit)
                    .await
                    .map_err(internal)?
                    .into_iter()
                    .map(AuditEntry::from)
                    .collect();
                let next_after = (records.len() as u64 == limit)
                    .then(|| records.last().map(|r| r.id))
                    .flatten();
                HttpResponse::Ok().json(AuditPage {
                    records,
                    next_after,
                })
            }
            "ndjson" | "csv" => stream_records(&state, query, format == "csv"),
            other => {
                return Err(ApiError::InvalidParameter(format!(
                    "format '{}' is not offered: use json, ndjson or csv",
                    other.chars().take(16).collect::<String>()
                )));
            }
        };
        Ok((response, facts))
    };
    state.audited(&ctx, &principal, None, work).await
}

/// Every selected record, read from the database a page at a time.
fn stream_records(state: &web::Data<AppState>, query: AuditQuery, csv: bool) -> HttpResponse {
    const PAGE: u64 = 500;
    let control = state.control.clone();
    let header_line = csv.then(|| format!("{}\r\n", CSV_COLUMNS.join(",")));
    let pages = stream::unfold(
        (query, header_line, false),
        move |(mut query, header_line, done)| {
            let control = control.clone();
            async move {
                if let Some(line) = header_line {
                    return Some((Ok::<_, ApiError>(Bytes::from(line)), (query, None, done)));
                }
                if done {
                    return None;
                }
                let page = match control.query_audit(&query, PAGE).await {
                    Ok(page) => page,
                    Err(e) => return Some((Err(internal(e)), (query, None, true))),
                };
                let last = page.len() < PAGE as usize;
                query.after_id = page.last().map(|r| r.id).or(query.after_id);
                let mut out = String::new();
                for record in page {
                    let entry = AuditEntry::from(record);
                    if csv {
                        out.push_str(&csv_line(&entry));
                    } else {
                        out.push_str(&serde_json::to_string(&entry).unwrap_or_default());
                        out.push('\n');
                    }
                }
                Some((Ok(Bytes::from(out)), (query, None, last)))
            }
        },
    );
    let (content_type, name) = if csv {
        ("text/csv; charset=utf-8", "audit.csv")
    } else {
        ("application/x-ndjson", "audit.ndjson")
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .streaming(pages)
}
