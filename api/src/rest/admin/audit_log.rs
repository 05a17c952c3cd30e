//! The audit log as administrators query it: JSON pages, or the whole selection streamed
//! as NDJSON or CSV. Who sees which records is the core's rule
//! ([`crate::app::Core::query_audit`]); the encodings are this surface's.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use bytes::Bytes;
use dap_openapi::AdminErrors;
use dap_openapi::model::admin::{AuditEntry, AuditPage, AuditParams};
use futures::{Stream, StreamExt, stream};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::app::admin::audit_log::{AuditFormat, AuditSelection, audit_records};
use crate::app::{AppError, Core};
use crate::rest::extract::{Caller, request_context};
use crate::rest::input::Query;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(query_audit);
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
        dap_schema::time::rfc3339(&e.occurred_at),
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

/// A page of records as CSV lines or NDJSON.
fn encode(page: &[AuditEntry], csv: bool) -> Bytes {
    let mut out = String::new();
    for entry in page {
        if csv {
            out.push_str(&csv_line(entry));
        } else {
            out.push_str(&serde_json::to_string(entry).unwrap_or_default());
            out.push('\n');
        }
    }
    Bytes::from(out)
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
    core: web::Data<Core>,
    Caller(principal): Caller,
    params: Query<AuditParams>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async { core.query_audit(&principal, &params.value()?).await };
    match core.audited(&ctx, &principal, None, work).await? {
        AuditSelection::Page(page) => Ok(HttpResponse::Ok().json(page)),
        AuditSelection::Stream(query, format) => {
            let csv = format == AuditFormat::Csv;
            let pages = audit_records(core.control.clone(), query);
            Ok(streamed(pages, csv))
        }
    }
}

/// Every selected record as a download, read from the database a page at a time.
fn streamed(
    pages: impl Stream<Item = Result<Vec<AuditEntry>, AppError>> + 'static,
    csv: bool,
) -> HttpResponse {
    let header_line = csv.then(|| Ok(Bytes::from(format!("{}\r\n", CSV_COLUMNS.join(",")))));
    let body =
        stream::iter(header_line).chain(pages.map(move |page| page.map(|p| encode(&p, csv))));
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
        .streaming(body)
}
