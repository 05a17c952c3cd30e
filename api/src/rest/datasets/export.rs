//! Bulk export, table history and the change feed.

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpRequest, HttpResponse, get, web};
use dap_auth::Principal;
use dap_lake::export::{CsvOptions, Format};
use dap_openapi::model::datasets::VersionList;
use dap_openapi::{DatasetErrors, ErrorBody};

use crate::app::datasets::{ChangesRequest, Download};
use crate::app::{AppError, AuditFacts, Core, RequestContext};
use crate::rest::extract::{Caller, request_context};
use crate::rest::input::Path;
use crate::rest::params::Params;
use crate::rest::streaming::audited_body;

const EXPORT_PARAMS: &[&str] = &[
    "format",
    "select",
    "filter",
    "order_by",
    "version",
    "as_of",
    "delimiter",
    "decimal",
    "bom",
    "municipality",
];
const CHANGES_PARAMS: &[&str] = &[
    "from_version",
    "to_version",
    "format",
    "select",
    "delimiter",
    "decimal",
    "bom",
    "municipality",
];

/// The format from `format=`, else from `Accept`, else NDJSON.
fn negotiate(req: &HttpRequest, params: &Params, allow_xlsx: bool) -> Result<Format, AppError> {
    let names = if allow_xlsx {
        Format::NAMES
    } else {
        Format::STREAM_NAMES
    };
    let format = match params.text("format") {
        Some(name) => Format::from_name(&name)
            .filter(|f| allow_xlsx || *f != Format::Xlsx)
            .ok_or_else(|| AppError::InvalidParameter(format!("format must be one of {names}")))?,
        None => {
            let accept = req
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("*/*");
            let mut chosen = None;
            for media in accept
                .split(',')
                .map(|m| m.split(';').next().unwrap_or_default().trim())
            {
                if media == "*/*" || media == "application/*" {
                    chosen = Some(Format::Ndjson);
                    break;
                }
                if let Some(f) =
                    Format::from_media_type(media).filter(|f| allow_xlsx || *f != Format::Xlsx)
                {
                    chosen = Some(f);
                    break;
                }
            }
            chosen.ok_or_else(|| {
                AppError::NotAcceptable(format!(
                    "none of the media types in Accept is offered; use format= with one of {names}"
                ))
            })?
        }
    };
    // Checked whatever the format, so that a mistyped option is never silently ignored.
    let csv = csv_options(params)?;
    Ok(match format {
        Format::Csv(_) => Format::Csv(csv),
        other => other,
    })
}

fn csv_options(params: &Params) -> Result<CsvOptions, AppError> {
    let delimiter = match params.text("delimiter").as_deref() {
        None | Some(",") => b',',
        Some(";") => b';',
        Some("tab") | Some("\t") => b'\t',
        Some("|") => b'|',
        Some(_) => {
            return Err(AppError::InvalidParameter(
                "query parameter 'delimiter' must be , ; | or tab, e.g. delimiter=;".into(),
            ));
        }
    };
    let decimal_comma = match params.text("decimal").as_deref() {
        None | Some("point") => false,
        Some("comma") => true,
        Some(_) => {
            return Err(AppError::InvalidParameter(
                "query parameter 'decimal' must be point or comma, e.g. decimal=comma".into(),
            ));
        }
    };
    if decimal_comma && delimiter == b',' {
        return Err(AppError::InvalidParameter(
            "decimal=comma needs another delimiter: use delimiter=; (Danish Excel)".into(),
        ));
    }
    Ok(CsvOptions {
        delimiter,
        decimal_comma,
        bom: params.flag("bom")?.unwrap_or(false),
    })
}

fn attachment(name: String) -> ContentDisposition {
    ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::Filename(name)],
    }
}

/// A streamed file download whose stream ends with the closing audit record.
fn download(
    core: &web::Data<Core>,
    ctx: &RequestContext,
    principal: &Principal,
    id: &str,
    download: Download,
    facts: AuditFacts,
) -> HttpResponse {
    let content_type = download.format.content_type();
    let filename = download.filename.clone();
    let body = audited_body(
        download,
        core.clone(),
        ctx.clone(),
        principal.clone(),
        id.to_owned(),
        facts,
    );
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(attachment(filename))
        .streaming(body)
}

/// All rows the query selects, streamed in the requested format.
///
/// Which format: **for Excel, `xlsx`** (codes such as `0101` and `5.22.07` stay text,
/// amounts are numbers with a number format, a bold frozen header with an autofilter, the
/// sheet named after the dataset). CSV is for other tools (scripts, databases): Excel
/// opening a CSV file turns `0101` into `101` and `5.2` into a date, whatever the
/// delimiter. `parquet` or `arrow-file` for pandas, polars, DuckDB and R; `arrow` (the IPC
/// stream format) for readers of streams.
#[utoipa::path(
    tag = "datasets",
    security(("municipal_broker" = []), ("dap_token" = []), ("machine_client" = [])),
    params(
        ("id" = String, Path, description = "Dataset id", example = "oekonomi.posteringer"),
        ("format" = Option<String>, Query, description = "`xlsx` (Excel workbook: the format for Excel; codes stay text, amounts are numbers), `csv` (for other tools, not for Excel: Excel turns 0101 into 101), `json`, `ndjson`, `parquet`, `arrow` (Arrow IPC stream: pyarrow.ipc.open_stream, polars.read_ipc_stream) or `arrow-file` (Arrow IPC file, also called Feather v2: pandas.read_feather, polars.read_ipc); else chosen by Accept; default ndjson", example = "xlsx"),
        ("select" = Option<String>, Query, description = "Comma-separated columns"),
        ("filter" = Option<Vec<String>>, Query, explode = true, description = "`column:operator:value`, repeatable (AND)"),
        ("order_by" = Option<String>, Query, description = "Comma-separated `column[:asc|:desc]`"),
        ("version" = Option<u64>, Query, description = "Table version to read (time travel)"),
        ("as_of" = Option<String>, Query, description = "Read the version current at this instant: RFC 3339 (`2026-01-31T12:00:00Z`), or a date (`2026-01-31`: the end of that day in Danish time)", example = "2026-01-31"),
        ("delimiter" = Option<String>, Query, description = "CSV: `,` (default), `;`, `|` or `tab`"),
        ("decimal" = Option<String>, Query, description = "CSV: `point` (default) or `comma` (needs delimiter=;), for tools that read Danish numbers"),
        ("bom" = Option<bool>, Query, description = "CSV: start with a UTF-8 byte-order mark"),
        ("municipality" = Option<String>, Query, description = "Municipality code to act for, when the token grants several"),
    ),
    responses(
        (status = 200, description = "The rows; `Content-Disposition` names dataset, version and municipality",
         headers(("Content-Disposition" = String, description = "attachment; filename=\"<dataset>_v<version>_<municipality>.<ext>\"")),
         content(
            (String = "application/x-ndjson"),
            (String = "application/json"),
            (String = "text/csv"),
            (Vec<u8> = "application/vnd.apache.parquet"),
            (Vec<u8> = "application/vnd.apache.arrow.stream"),
            (Vec<u8> = "application/vnd.apache.arrow.file"),
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )),
        (status = 406, description = "No offered format in Accept", body = ErrorBody),
        (status = 429, description = "`too_many_exports`: the caller already runs as many exports as one caller may (`exports.max_per_caller`); `Retry-After` says when to try again", body = ErrorBody,
         headers(("Retry-After" = String, description = "Seconds to wait"))),
        DatasetErrors,
    )
)]
#[get("/api/v1/datasets/{id}/export")]
pub async fn export_rows(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let params = Params::parse(req.query_string(), EXPORT_PARAMS)?;
        let format = negotiate(&req, &params, true)?;
        let query = params.row_query()?;
        let (started, facts) = core
            .export(&principal, params.target(&id), query, format)
            .await?;
        Ok((
            download(&core, &ctx, &principal, &id, started, facts.clone()),
            facts,
        ))
    };
    core.audited(&ctx, &principal, Some(&id), work).await
}

/// The caller's municipality's changed rows between two versions (Delta change data feed).
#[utoipa::path(
    tag = "datasets",
    security(("municipal_broker" = []), ("dap_token" = []), ("machine_client" = [])),
    params(
        ("id" = String, Path, description = "Dataset id", example = "oekonomi.posteringer"),
        ("from_version" = u64, Query, description = "First version to include", example = 1),
        ("to_version" = Option<u64>, Query, description = "Last version to include (default: current)"),
        ("format" = Option<String>, Query, description = "ndjson (default), json, csv, parquet, arrow (Arrow IPC stream) or arrow-file (Arrow IPC file, Feather v2)"),
        ("select" = Option<String>, Query, description = "Comma-separated columns; `_change_type`, `_commit_version`, `_commit_timestamp` are always added"),
        ("delimiter" = Option<String>, Query, description = "CSV delimiter"),
        ("decimal" = Option<String>, Query, description = "CSV decimal separator: point or comma"),
        ("bom" = Option<bool>, Query, description = "CSV byte-order mark"),
        ("municipality" = Option<String>, Query, description = "Municipality code to act for, when the token grants several"),
    ),
    responses(
        (status = 200, description = "Changed rows with `_change_type` (insert, update_preimage, update_postimage, delete), `_commit_version` and `_commit_timestamp`",
         headers(("Content-Disposition" = String, description = "attachment; filename=\"<dataset>_changes_<from>-<to>_<municipality>.<ext>\"")),
         content(
            (String = "application/x-ndjson"),
            (String = "application/json"),
            (String = "text/csv"),
            (Vec<u8> = "application/vnd.apache.parquet"),
            (Vec<u8> = "application/vnd.apache.arrow.stream"),
            (Vec<u8> = "application/vnd.apache.arrow.file"),
        )),
        (status = 406, description = "No offered format in Accept", body = ErrorBody),
        (status = 429, description = "`too_many_exports`: the caller already runs as many exports as one caller may (`exports.max_per_caller`); `Retry-After` says when to try again", body = ErrorBody,
         headers(("Retry-After" = String, description = "Seconds to wait"))),
        DatasetErrors,
    )
)]
#[get("/api/v1/datasets/{id}/changes")]
pub async fn changes(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let params = Params::parse(req.query_string(), CHANGES_PARAMS)?;
        let request = ChangesRequest {
            from: params.number("from_version")?.ok_or_else(|| {
                AppError::InvalidParameter("from_version is required, e.g. from_version=1".into())
            })?,
            to: params.number("to_version")?,
            columns: params.columns("select").unwrap_or_default(),
            format: negotiate(&req, &params, false)?,
        };
        let (started, facts) = core
            .changes(&principal, params.target(&id), request)
            .await?;
        Ok((
            download(&core, &ctx, &principal, &id, started, facts.clone()),
            facts,
        ))
    };
    core.audited(&ctx, &principal, Some(&id), work).await
}

/// The table's versions, newest first, with the caller's municipality's row counts.
#[utoipa::path(
    tag = "datasets",
    security(("municipal_broker" = []), ("dap_token" = []), ("machine_client" = [])),
    params(
        ("id" = String, Path, description = "Dataset id", example = "oekonomi.posteringer"),
        ("municipality" = Option<String>, Query, description = "Municipality code to act for, when the token grants several"),
    ),
    responses(
        (status = 200, description = "The table's history", body = VersionList),
        DatasetErrors,
    )
)]
#[get("/api/v1/datasets/{id}/versions")]
pub async fn versions(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let params = Params::parse(req.query_string(), &["municipality"])?;
        core.versions(&principal, params.target(&id)).await
    };
    let list = core.audited(&ctx, &principal, Some(&id), work).await?;
    Ok(HttpResponse::Ok().json(list))
}
