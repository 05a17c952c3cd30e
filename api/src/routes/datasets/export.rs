//! Bulk export, table history and the change feed.

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpRequest, HttpResponse, get, web};
use dap_auth::Principal;
use dap_lake::export::{CsvOptions, Format};
use dap_lake::{RowQuery, VersionInfo};
use dap_openapi::{DatasetErrors, ErrorBody};
use serde::Serialize;
use utoipa::ToSchema;

use super::params::Params;
use crate::audit::{AuditFacts, RequestContext};
use crate::error::ApiError;
use crate::extract::Caller;
use crate::startup::AppState;
use crate::streaming::audited_body;

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

/// The caller's view of a table's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionList {
    #[schema(example = "oekonomi.posteringer")]
    pub dataset: String,
    #[schema(example = "0101")]
    pub municipality: String,
    /// Newest first.
    #[schema(value_type = Vec<VersionEntry>)]
    pub versions: Vec<VersionInfo>,
}

/// One commit (documentation of [`VersionInfo`]).
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionEntry {
    pub version: u64,
    pub timestamp: Option<chrono::DateTime<chrono::Utc>>,
    #[schema(example = "WRITE")]
    pub operation: Option<String>,
    /// Rows of the caller's municipality this commit inserted.
    pub rows_inserted: Option<u64>,
    pub rows_updated: Option<u64>,
    pub rows_deleted: Option<u64>,
}

/// The format from `format=`, else from `Accept`, else NDJSON.
fn negotiate(req: &HttpRequest, params: &Params, allow_xlsx: bool) -> Result<Format, ApiError> {
    let names = if allow_xlsx {
        Format::NAMES
    } else {
        "json, ndjson, csv, parquet, arrow"
    };
    let format = match params.text("format") {
        Some(name) => Format::from_name(&name)
            .filter(|f| allow_xlsx || *f != Format::Xlsx)
            .ok_or_else(|| ApiError::InvalidParameter(format!("format must be one of {names}")))?,
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
                ApiError::NotAcceptable(format!(
                    "none of the media types in Accept is offered; use format= with one of {names}"
                ))
            })?
        }
    };
    Ok(match format {
        Format::Csv(_) => Format::Csv(csv_options(params)?),
        other => other,
    })
}

fn csv_options(params: &Params) -> Result<CsvOptions, ApiError> {
    let delimiter = match params.text("delimiter").as_deref() {
        None | Some(",") => b',',
        Some(";") => b';',
        Some("tab") | Some("\t") => b'\t',
        Some("|") => b'|',
        Some(_) => {
            return Err(ApiError::InvalidParameter(
                "delimiter must be , ; | or tab".into(),
            ));
        }
    };
    let decimal_comma = match params.text("decimal").as_deref() {
        None | Some("point") => false,
        Some("comma") => true,
        Some(_) => {
            return Err(ApiError::InvalidParameter(
                "decimal must be point or comma".into(),
            ));
        }
    };
    if decimal_comma && delimiter == b',' {
        return Err(ApiError::InvalidParameter(
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
#[allow(clippy::too_many_arguments)]
fn download(
    state: &web::Data<AppState>,
    ctx: &RequestContext,
    principal: &Principal,
    id: &str,
    export: dap_lake::export::Export,
    facts: AuditFacts,
    filename: String,
    format: Format,
) -> (HttpResponse, AuditFacts) {
    let body = audited_body(
        export,
        state.clone(),
        ctx.clone(),
        principal.clone(),
        id.to_owned(),
        facts.clone(),
    );
    let response = HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header(attachment(filename))
        .streaming(body);
    (response, facts)
}

/// All rows the query selects, streamed in the requested format.
#[utoipa::path(
    tag = "datasets",
    security(("municipal_broker" = []), ("dap_token" = []), ("machine_client" = [])),
    params(
        ("id" = String, Path, description = "Dataset id", example = "oekonomi.posteringer"),
        ("format" = Option<String>, Query, description = "json, ndjson, csv, parquet, arrow (IPC stream) or xlsx; else chosen by Accept; default ndjson", example = "csv"),
        ("select" = Option<String>, Query, description = "Comma-separated columns"),
        ("filter" = Option<Vec<String>>, Query, explode = true, description = "`column:operator:value`, repeatable (AND)"),
        ("order_by" = Option<String>, Query, description = "Comma-separated `column[:asc|:desc]`"),
        ("version" = Option<u64>, Query, description = "Table version to read (time travel)"),
        ("as_of" = Option<String>, Query, format = DateTime, description = "Read the version current at this RFC 3339 instant"),
        ("delimiter" = Option<String>, Query, description = "CSV: `,` (default), `;`, `|` or `tab`"),
        ("decimal" = Option<String>, Query, description = "CSV: `point` (default) or `comma` (needs delimiter=;)"),
        ("bom" = Option<bool>, Query, description = "CSV: start with a UTF-8 byte-order mark (Excel)"),
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
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )),
        (status = 406, description = "No offered format in Accept", body = ErrorBody),
        DatasetErrors,
    )
)]
#[get("/api/v1/datasets/{id}/export")]
pub async fn export_rows(
    req: HttpRequest,
    state: web::Data<AppState>,
    Caller(principal): Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let id = id.into_inner();
    let work = start_export(&req, &state, &ctx, &principal, &id);
    state.audited(&ctx, &principal, Some(&id), work).await
}

async fn start_export(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    ctx: &RequestContext,
    principal: &Principal,
    id: &str,
) -> Result<(HttpResponse, AuditFacts), ApiError> {
    let params = Params::parse(req.query_string(), EXPORT_PARAMS)?;
    let format = negotiate(req, &params, true)?;
    let scope = state.scope(principal, id, params.text("municipality").as_deref())?;
    let query = RowQuery {
        select: params.text("select"),
        filters: params.filters.clone(),
        order_by: params.text("order_by"),
        offset: 0,
        limit: None,
        version: params.number("version")?,
        as_of: params.timestamp("as_of")?,
    }
    .resolve(&scope)?;
    let export = state.lake.export(&scope, &query, format).await?;
    let municipality = scope.municipality().to_string();
    let facts = AuditFacts {
        municipality: Some(municipality.clone()),
        table_version: Some(export.version),
        columns: Some(query.select.join(",")),
        filter: Some(query.normalised_filter()).filter(|f| !f.is_empty()),
        rows_returned: None,
    };
    let filename = format!(
        "{id}_v{}_{municipality}.{}",
        export.version,
        format.extension()
    );
    Ok(download(
        state, ctx, principal, id, export, facts, filename, format,
    ))
}

/// The caller's municipality's changed rows between two versions (Delta change data feed).
#[utoipa::path(
    tag = "datasets",
    security(("municipal_broker" = []), ("dap_token" = []), ("machine_client" = [])),
    params(
        ("id" = String, Path, description = "Dataset id", example = "oekonomi.posteringer"),
        ("from_version" = u64, Query, description = "First version to include", example = 1),
        ("to_version" = Option<u64>, Query, description = "Last version to include (default: current)"),
        ("format" = Option<String>, Query, description = "ndjson (default), json, csv, parquet or arrow"),
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
        )),
        (status = 406, description = "No offered format in Accept", body = ErrorBody),
        DatasetErrors,
    )
)]
#[get("/api/v1/datasets/{id}/changes")]
pub async fn changes(
    req: HttpRequest,
    state: web::Data<AppState>,
    Caller(principal): Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let id = id.into_inner();
    let work = start_changes(&req, &state, &ctx, &principal, &id);
    state.audited(&ctx, &principal, Some(&id), work).await
}

async fn start_changes(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    ctx: &RequestContext,
    principal: &Principal,
    id: &str,
) -> Result<(HttpResponse, AuditFacts), ApiError> {
    let params = Params::parse(req.query_string(), CHANGES_PARAMS)?;
    let format = negotiate(req, &params, false)?;
    let scope = state.scope(principal, id, params.text("municipality").as_deref())?;
    let from = params.number("from_version")?.ok_or_else(|| {
        ApiError::InvalidParameter("from_version is required, e.g. from_version=1".into())
    })?;
    let to = params.number("to_version")?;
    let select: Vec<String> = params
        .text("select")
        .map(|s| {
            s.split(',')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let export = state
        .lake
        .export_changes(&scope, from, to, &select, format)
        .await?;
    let municipality = scope.municipality().to_string();
    let facts = AuditFacts {
        municipality: Some(municipality.clone()),
        table_version: Some(export.version),
        columns: Some(if select.is_empty() {
            scope.visible_columns().join(",")
        } else {
            select.join(",")
        }),
        filter: Some(format!(
            "changes from_version {from} to_version {}",
            export.version
        )),
        rows_returned: None,
    };
    let filename = format!(
        "{id}_changes_{from}-{}_{municipality}.{}",
        export.version,
        format.extension()
    );
    Ok(download(
        state, ctx, principal, id, export, facts, filename, format,
    ))
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
    state: web::Data<AppState>,
    Caller(principal): Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let id = id.into_inner();
    let work = async {
        let params = Params::parse(req.query_string(), &["municipality"])?;
        let scope = state.scope(&principal, &id, params.text("municipality").as_deref())?;
        let versions = state.lake.versions(&scope).await?;
        let facts = AuditFacts {
            municipality: Some(scope.municipality().to_string()),
            table_version: versions.first().map(|v| v.version),
            rows_returned: Some(versions.len()),
            ..AuditFacts::default()
        };
        let list = VersionList {
            dataset: id.clone(),
            municipality: scope.municipality().to_string(),
            versions,
        };
        Ok((HttpResponse::Ok().json(list), facts))
    };
    state.audited(&ctx, &principal, Some(&id), work).await
}
