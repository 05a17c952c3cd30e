//! `GET /api/v1/datasets/{id}/rows`: one page of rows, read through the scoped scan.

use actix_web::{HttpRequest, HttpResponse, get, web};
use arrow::compute::concat_batches;
use dap_auth::Principal;
use dap_lake::{RowQuery, encode, query::DEFAULT_LIMIT};
use dap_openapi::DatasetErrors;
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::params::Params;
use crate::audit::{AuditFacts, RequestContext};
use crate::cursor::{Cursor, CursorSigner};
use crate::error::ApiError;
use crate::extract::Caller;
use crate::startup::AppState;

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

/// One page of rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct RowsPage {
    #[schema(example = "oekonomi.posteringer")]
    pub dataset: String,
    #[schema(example = "0101")]
    pub municipality: String,
    /// The table version the page was read at; every page of a cursor chain has the same.
    pub table_version: u64,
    pub columns: Vec<String>,
    pub row_count: usize,
    /// Row objects with the selected columns. Decimals are JSON numbers with their exact
    /// digits, dates `YYYY-MM-DD` strings.
    #[schema(value_type = Vec<Object>, example = json!([{"kommunekode": "0101", "funktion": "5.22.07", "beloeb": 24517.12}]))]
    pub rows: Box<RawValue>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One page of the caller's municipality's rows.
#[utoipa::path(
    tag = "datasets",
    security(("municipal_broker" = []), ("dap_token" = []), ("machine_client" = [])),
    params(
        ("id" = String, Path, description = "Dataset id, `<domain>.<name>`", example = "oekonomi.posteringer"),
        ("select" = Option<String>, Query, description = "Comma-separated columns (default: all the caller may see)", example = "aar,funktion,beloeb"),
        ("filter" = Option<Vec<String>>, Query, explode = true, description = "`column:operator:value`, repeatable (AND). Operators: eq, ne, lt, lte, gt, gte, in (comma-separated), prefix, is_null (true/false)", example = json!(["aar:eq:2025", "funktion:prefix:5.22"])),
        ("order_by" = Option<String>, Query, description = "Comma-separated `column[:asc|:desc]`; key columns are appended", example = "beloeb:desc"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 10000, description = "Page size (default 100)", example = 100),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page, unchanged"),
        ("version" = Option<u64>, Query, description = "Read this table version (time travel); see /versions", example = 1),
        ("as_of" = Option<String>, Query, format = DateTime, description = "Read the version current at this RFC 3339 instant"),
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
    state: web::Data<AppState>,
    Caller(principal): Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = RequestContext::of(&req);
    let id = id.into_inner();
    let work = page(&state, &principal, &id, req.query_string());
    state.audited(&ctx, &principal, Some(&id), work).await
}

async fn page(
    state: &AppState,
    principal: &Principal,
    id: &str,
    query: &str,
) -> Result<(HttpResponse, AuditFacts), ApiError> {
    let params = Params::parse(query, PARAMS)?;
    let scope = state.scope(principal, id, params.text("municipality").as_deref())?;
    let mut resolved = RowQuery {
        select: params.text("select"),
        filters: params.filters.clone(),
        order_by: params.text("order_by"),
        offset: 0,
        limit: Some(params.number("limit")?.unwrap_or(DEFAULT_LIMIT)),
        version: params.number("version")?,
        as_of: params.timestamp("as_of")?,
    }
    .resolve(&scope)?;
    // The requested version or instant is part of the query a cursor is bound to.
    let query_hash = CursorSigner::query_hash(&format!(
        "{}|{:?}|{:?}",
        resolved.fingerprint(),
        resolved.version,
        resolved.as_of
    ));
    if let Some(token) = params.text("cursor").as_deref() {
        let cursor = state.cursors.verify(token)?;
        if cursor.d != id
            || cursor.s != scope.subject()
            || cursor.m != scope.municipality().as_str()
            || cursor.q != query_hash
        {
            return Err(ApiError::InvalidCursor(
                "the cursor belongs to another dataset, query or caller; repeat the same query with the cursor, or start without one".into(),
            ));
        }
        resolved.offset = cursor.o;
        resolved.version = Some(cursor.v);
        resolved.as_of = None;
    }
    let limit = resolved.limit.unwrap_or(DEFAULT_LIMIT);
    // One row more than the page tells whether there is a next page.
    let mut fetch = resolved.clone();
    fetch.limit = Some(limit + 1);
    let scan = state.lake.scan(&scope, &fetch).await?;
    let (version, schema) = (scan.version, scan.schema.clone());
    let mut batches = scan.collect_page().await?;
    let page_size = usize::try_from(limit).unwrap_or(usize::MAX);
    let has_more = encode::row_count(&batches) > page_size;
    if has_more {
        let all = concat_batches(&schema, &batches).map_err(dap_lake::Error::from)?;
        batches = vec![all.slice(0, page_size)];
    }
    let row_count = encode::row_count(&batches);
    let rows = String::from_utf8(encode::json_array(&batches)?)
        .map_err(|e| ApiError::Internal(e.into()))?;
    let rows = RawValue::from_string(rows).map_err(|e| ApiError::Internal(e.into()))?;
    let next_cursor = if has_more {
        Some(state.cursors.sign(&Cursor {
            d: id.to_owned(),
            v: version,
            q: query_hash,
            s: scope.subject().to_owned(),
            m: scope.municipality().to_string(),
            o: resolved.offset + limit,
        })?)
    } else {
        None
    };
    let facts = AuditFacts {
        municipality: Some(scope.municipality().to_string()),
        table_version: Some(version),
        columns: Some(resolved.select.join(",")),
        filter: Some(resolved.normalised_filter()).filter(|f| !f.is_empty()),
        rows_returned: Some(row_count),
    };
    let page = RowsPage {
        dataset: id.to_owned(),
        municipality: scope.municipality().to_string(),
        table_version: version,
        columns: resolved.select,
        row_count,
        rows,
        next_cursor,
    };
    Ok((HttpResponse::Ok().json(page), facts))
}
