//! `GET /api/v1/datasets/{id}/rows`: one page of rows, read through the scoped scan.

use actix_web::{HttpRequest, HttpResponse, get, web};
use dap_lake::encode;
use dap_openapi::DatasetErrors;
use dap_openapi::model::datasets::RowsPage;
use serde_json::value::RawValue;

use crate::app::paging::PageRequest;
use crate::app::{AppError, Core};
use crate::rest::extract::{Caller, request_context};
use crate::rest::input::Path;
use crate::rest::params::Params;

const PARAMS: &[&str] = &[
    "select",
    "filter",
    "order_by",
    "limit",
    "cursor",
    "version",
    "as_of",
    "municipality",
];

/// One page of the caller's municipality's rows.
#[utoipa::path(
    tag = "datasets",
    security(("municipal_broker" = []), ("dap_token" = []), ("machine_client" = [])),
    params(
        ("id" = String, Path, description = "Dataset id, `<domain>.<name>`", example = "oekonomi.posteringer"),
        ("select" = Option<String>, Query, description = "Comma-separated columns (default: all the caller may see)", example = "aar,funktion,beloeb"),
        ("filter" = Option<Vec<String>>, Query, explode = true, description = "`column:operator:value`, repeatable (AND). Operators: eq, ne, lt, lte, gt, gte, in (comma-separated), prefix, contains, suffix, not_prefix, not_contains, not_suffix (text, matched literally), year, month, day (dates; comma-separated numbers), is_null (true/false)", example = json!(["aar:eq:2025", "funktion:prefix:5.22"])),
        ("order_by" = Option<String>, Query, description = "Comma-separated `column[:asc|:desc]`; key columns are appended", example = "beloeb:desc"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 10000, description = "Page size (default 100)", example = 100),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page, unchanged"),
        ("version" = Option<u64>, Query, description = "Read this table version (time travel); see /versions", example = 1),
        ("as_of" = Option<String>, Query, description = "Read the version current at this instant: RFC 3339 (`2026-01-31T12:00:00Z`), or a date (`2026-01-31`: the end of that day in Danish time)", example = "2026-01-31"),
        ("municipality" = Option<String>, Query, description = "Municipality code to act for, when the token grants several", example = "0101"),
    ),
    responses(
        (status = 200, description = "A page of rows", body = RowsPage),
        DatasetErrors,
    )
)]
#[get("/api/v1/datasets/{id}/rows")]
pub async fn read_rows(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let params = Params::parse(req.query_string(), PARAMS)?;
        let request = PageRequest {
            query: params.row_query()?,
            cursor: params.text("cursor"),
            surface: "rest",
        };
        core.read_page(&principal, params.target(&id), request)
            .await
    };
    let page = core.audited(&ctx, &principal, Some(&id), work).await?;
    let rows = String::from_utf8(encode::json_array(&[page.batch.as_ref().clone()])?)
        .map_err(AppError::internal)?;
    let rows = RawValue::from_string(rows).map_err(AppError::internal)?;
    Ok(HttpResponse::Ok().json(RowsPage {
        dataset: page.dataset,
        municipality: page.municipality,
        table_version: page.version,
        row_count: page.batch.num_rows(),
        columns: page.columns,
        rows,
        next_cursor: page.next_cursor,
    }))
}
