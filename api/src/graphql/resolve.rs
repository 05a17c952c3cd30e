//! Resolvers. Every dataset field goes the REST way: `AppState::scope` (policy → scope),
//! then `Lake::scan` or `Lake::aggregate` on that scope, and one audit record per field.

use std::future::Future;
use std::sync::Arc;

use actix_web::web;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
};
use async_graphql::Value;
use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use chrono::{DateTime, Utc};
use dap_auth::Principal;
use dap_lake::predicate::FilterTree;
use dap_lake::query::{MAX_LIMIT, ResolvedQuery};
use dap_lake::{Measure, RowQuery, encode};
use dap_schema::{AccessScope, AuditOutcome, ColumnDef};

use super::error::{field_error, from_api, from_lake};
use crate::audit::{AuditFacts, RequestContext};
use crate::cursor::{Cursor, CursorSigner};
use crate::error::ApiError;
use crate::startup::AppState;

pub(super) type GqlResult<T> = Result<T, async_graphql::Error>;

/// What every resolver of one request knows: the state, the verified caller, the request.
pub struct Gql {
    pub state: web::Data<AppState>,
    pub principal: Principal,
    pub request: RequestContext,
}

/// One row of a result batch.
#[derive(Clone)]
pub struct RowRef {
    batch: Arc<RecordBatch>,
    row: usize,
}

impl RowRef {
    /// The value of `column` (the batch column name) as GraphQL; `field` names it in errors.
    pub fn cell(&self, column: &str, field: &str) -> GqlResult<Value> {
        let array = self.batch.column_by_name(column).ok_or_else(|| {
            field_error(
                "invalid_parameter",
                format!("{field} is not part of this result; group by it to read it in key"),
            )
        })?;
        cell(array.as_ref(), self.row)
    }
}

/// A page of rows.
#[derive(Clone)]
pub struct PageData {
    pub version: u64,
    pub municipality: String,
    batch: Arc<RecordBatch>,
    pub has_next: bool,
    pub end_cursor: Option<String>,
}

impl PageData {
    pub fn rows(&self) -> impl Iterator<Item = RowRef> + '_ {
        (0..self.batch.num_rows()).map(|row| RowRef {
            batch: Arc::clone(&self.batch),
            row,
        })
    }
}

/// The groups of an aggregate.
pub struct AggregateData {
    pub version: u64,
    pub municipality: String,
    batch: Arc<RecordBatch>,
}

impl AggregateData {
    pub fn rows(&self) -> impl Iterator<Item = RowRef> + '_ {
        (0..self.batch.num_rows()).map(|row| RowRef {
            batch: Arc::clone(&self.batch),
            row,
        })
    }
}

/// One measure (sum, avg, min or max) of one group.
pub struct MeasureRef {
    pub row: RowRef,
    pub measure: Measure,
}

/// An Arrow value as GraphQL: integers and floats as numbers, decimals and dates as
/// their exact text.
fn cell(array: &dyn Array, row: usize) -> GqlResult<Value> {
    if array.is_null(row) {
        return Ok(Value::Null);
    }
    Ok(match array.data_type() {
        DataType::Int8 => Value::from(array.as_primitive::<Int8Type>().value(row)),
        DataType::Int16 => Value::from(array.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => Value::from(array.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => Value::from(array.as_primitive::<Int64Type>().value(row)),
        DataType::Float32 => float(f64::from(array.as_primitive::<Float32Type>().value(row))),
        DataType::Float64 => float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Boolean => Value::from(array.as_boolean().value(row)),
        DataType::Utf8 => Value::from(array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Value::from(array.as_string::<i64>().value(row)),
        _ => Value::from(
            arrow::util::display::array_value_to_string(array, row)
                .map_err(|e| from_api(ApiError::Internal(e.into())))?,
        ),
    })
}

fn float(f: f64) -> Value {
    async_graphql::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

pub(super) fn gql<'a>(ctx: &ResolverContext<'a>) -> GqlResult<&'a Gql> {
    ctx.ctx.data::<Arc<Gql>>().map(AsRef::as_ref)
}

/// Runs one dataset field's work and writes its audit record, served or refused. If the
/// record cannot be written the field fails (fail closed).
async fn audited<T>(
    gql: &Gql,
    field: &str,
    dataset: &str,
    work: impl Future<Output = GqlResult<(T, AuditFacts)>>,
) -> GqlResult<T> {
    let result = work.await;
    let code = |e: &async_graphql::Error| {
        e.extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .map(|v| v.to_string().trim_matches('"').to_owned())
            .unwrap_or_else(|| "internal_error".into())
    };
    let outcome = match &result {
        Ok(_) => AuditOutcome::Allowed,
        Err(e) if code(e) == "internal_error" => AuditOutcome::Failed,
        Err(_) => AuditOutcome::Denied,
    };
    let mut record = gql.request.record(Some(&gql.principal), outcome);
    record.action = format!("{} {field}", gql.request.action);
    record.dataset = Some(dataset.chars().take(130).collect());
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
        Err(e) => record.reason = Some(code(e)),
    }
    gql.state
        .control
        .append_audit(&record)
        .await
        .map_err(|e| from_api(ApiError::AuditUnavailable(e)))?;
    result.map(|(value, _)| value)
}

/// The arguments both dataset fields take.
struct Common {
    scope: AccessScope,
    tree: Option<FilterTree>,
    version: Option<u64>,
    as_of: Option<DateTime<Utc>>,
}

fn common(gql: &Gql, ctx: &ResolverContext<'_>, id: &str) -> GqlResult<Common> {
    let municipality = ctx
        .args
        .get("municipality")
        .map(|v| v.string().map(str::to_owned))
        .transpose()?;
    let scope = gql
        .state
        .scope(&gql.principal, id, municipality.as_deref())
        .map_err(from_api)?;
    let tree = match ctx.args.get("where") {
        Some(w) if !w.is_null() => {
            let visible: Vec<&ColumnDef> = scope
                .dataset()
                .columns
                .iter()
                .filter(|c| scope.can_see(&c.name))
                .collect();
            let tree = super::filter::where_tree(w.as_value(), &visible, 0)?;
            tree.check_size().map_err(from_lake)?;
            Some(tree)
        }
        _ => None,
    };
    let version = match ctx.args.get("asOfVersion") {
        Some(v) if !v.is_null() => Some(v.u64().map_err(|_| {
            field_error(
                "invalid_parameter",
                "asOfVersion must be a whole number ≥ 0",
            )
        })?),
        _ => None,
    };
    let as_of = match ctx.args.get("asOfTimestamp") {
        Some(v) if !v.is_null() => Some(
            DateTime::parse_from_rfc3339(v.string()?)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    field_error(
                        "invalid_parameter",
                        "asOfTimestamp must be an RFC 3339 instant, e.g. 2026-01-31T12:00:00Z",
                    )
                })?,
        ),
        _ => None,
    };
    Ok(Common {
        scope,
        tree,
        version,
        as_of,
    })
}

/// Columns selected under `nodes` (all aliases and fragments).
fn selected(ctx: &ResolverContext<'_>, path: &[&str]) -> Vec<String> {
    let mut look = ctx.look_ahead();
    for name in path {
        look = look.field(name);
    }
    let mut columns: Vec<String> = Vec::new();
    for field in look.selection_fields() {
        for sub in field.selection_set() {
            let name = sub.name().to_owned();
            if !name.starts_with("__") && !columns.contains(&name) {
                columns.push(name);
            }
        }
    }
    columns
}

/// A page of a dataset.
pub fn page(ctx: ResolverContext<'_>, id: String) -> FieldFuture<'_> {
    FieldFuture::new(async move {
        let gql = gql(&ctx)?;
        let field = ctx.ctx.field().name().to_owned();
        let data = audited(gql, &field, &id, read_page(gql, &ctx, &id)).await?;
        Ok(Some(FieldValue::owned_any(data)))
    })
}

async fn read_page(
    gql: &Gql,
    ctx: &ResolverContext<'_>,
    id: &str,
) -> GqlResult<(PageData, AuditFacts)> {
    let Common {
        scope,
        tree,
        version,
        as_of,
    } = common(gql, ctx, id)?;
    let first = ctx
        .args
        .get("first")
        .map(|v| v.i64())
        .transpose()?
        .unwrap_or(100);
    let limit = u64::try_from(first)
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            field_error(
                "invalid_parameter",
                format!("first must be between 1 and {MAX_LIMIT}"),
            )
        })?;
    let mut select = selected(ctx, &["nodes"]);
    if select.is_empty() {
        // Only pageInfo or the version asked for: read as little as possible.
        select = scope.visible_columns().iter().take(1).cloned().collect();
    }
    let order_by = order_by(ctx)?;
    let mut resolved = RowQuery {
        select: Some(select.join(",")),
        filters: Vec::new(),
        order_by,
        offset: 0,
        limit: Some(limit),
        version,
        as_of,
    }
    .resolve(&scope)
    .map_err(from_lake)?;
    resolved.tree = tree;
    let query_hash = CursorSigner::query_hash(&format!(
        "graphql|{}|{:?}|{:?}",
        resolved.fingerprint(),
        resolved.version,
        resolved.as_of
    ));
    if let Some(after) = ctx.args.get("after").filter(|v| !v.is_null()) {
        let cursor = gql
            .state
            .cursors
            .verify(after.string()?)
            .map_err(from_api)?;
        if cursor.d != id
            || cursor.s != scope.subject()
            || cursor.m != scope.municipality().as_str()
            || cursor.q != query_hash
        {
            return Err(from_api(ApiError::InvalidCursor(
                "the cursor belongs to another dataset, query or caller; repeat the same query with the cursor, or start without one".into(),
            )));
        }
        resolved.offset = cursor.o;
        resolved.version = Some(cursor.v);
        resolved.as_of = None;
    }
    let (version, batch, has_next) = fetch_page(gql, &scope, &resolved, limit).await?;
    let end_cursor = if has_next {
        Some(
            gql.state
                .cursors
                .sign(&Cursor {
                    d: id.to_owned(),
                    v: version,
                    q: query_hash,
                    s: scope.subject().to_owned(),
                    m: scope.municipality().to_string(),
                    o: resolved.offset + limit,
                })
                .map_err(from_api)?,
        )
    } else {
        None
    };
    let facts = AuditFacts {
        municipality: Some(scope.municipality().to_string()),
        table_version: Some(version),
        columns: Some(resolved.select.join(",")),
        filter: Some(resolved.normalised_filter()).filter(|f| !f.is_empty()),
        rows_returned: Some(batch.num_rows()),
    };
    let page = PageData {
        version,
        municipality: scope.municipality().to_string(),
        batch: Arc::new(batch),
        has_next,
        end_cursor,
    };
    Ok((page, facts))
}

/// One row more than the page tells whether there is a next page.
async fn fetch_page(
    gql: &Gql,
    scope: &AccessScope,
    resolved: &ResolvedQuery,
    limit: u64,
) -> GqlResult<(u64, RecordBatch, bool)> {
    let mut fetch = resolved.clone();
    fetch.limit = Some(limit + 1);
    let scan = gql
        .state
        .lake
        .scan(scope, &fetch)
        .await
        .map_err(from_lake)?;
    let (version, schema) = (scan.version, scan.schema.clone());
    let batches = scan.collect_page().await.map_err(from_lake)?;
    let all = concat_batches(&schema, &batches).map_err(|e| from_lake(dap_lake::Error::from(e)))?;
    let page_size = usize::try_from(limit).unwrap_or(usize::MAX);
    let has_next = encode::row_count(&batches) > page_size;
    let rows = all.num_rows().min(page_size);
    Ok((version, all.slice(0, rows), has_next))
}

fn order_by(ctx: &ResolverContext<'_>) -> GqlResult<Option<String>> {
    let Some(list) = ctx.args.get("orderBy").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let mut parts = Vec::new();
    for item in list.list()?.iter() {
        let item = item.object()?;
        let column = item.try_get("column")?.enum_name()?.to_owned();
        let direction = match item
            .get("direction")
            .map(|d| d.enum_name().map(str::to_owned))
            .transpose()?
        {
            Some(d) if d == "DESC" => "desc",
            _ => "asc",
        };
        parts.push(format!("{column}:{direction}"));
    }
    Ok(Some(parts.join(",")))
}

/// Groups of a dataset with count and measures.
pub fn aggregate(ctx: ResolverContext<'_>, id: String) -> FieldFuture<'_> {
    FieldFuture::new(async move {
        let gql = gql(&ctx)?;
        let field = ctx.ctx.field().name().to_owned();
        let data = audited(gql, &field, &id, read_aggregate(gql, &ctx, &id)).await?;
        Ok(Some(FieldValue::owned_any(data)))
    })
}

async fn read_aggregate(
    gql: &Gql,
    ctx: &ResolverContext<'_>,
    id: &str,
) -> GqlResult<(AggregateData, AuditFacts)> {
    let Common {
        scope,
        tree,
        version,
        as_of,
    } = common(gql, ctx, id)?;
    let mut group_by: Vec<String> = Vec::new();
    if let Some(list) = ctx.args.get("groupBy").filter(|v| !v.is_null()) {
        for item in list.list()?.iter() {
            let name = item.enum_name()?.to_owned();
            if !group_by.contains(&name) {
                group_by.push(name);
            }
        }
    }
    // `key` shows group columns only; saying so once beats one error per group.
    if let Some(column) = selected(ctx, &["groups", "key"])
        .into_iter()
        .find(|c| !group_by.contains(c))
    {
        return Err(field_error(
            "invalid_parameter",
            format!("key.{column} is not grouped; add it to groupBy to read it in key"),
        ));
    }
    let mut measures = Vec::new();
    for measure in [Measure::Sum, Measure::Avg, Measure::Min, Measure::Max] {
        for column in selected(ctx, &["groups", measure.as_str()]) {
            measures.push((measure, column));
        }
    }
    let mut resolved = RowQuery {
        select: Some(
            scope
                .visible_columns()
                .iter()
                .take(1)
                .cloned()
                .collect::<Vec<_>>()
                .join(","),
        ),
        version,
        as_of,
        ..RowQuery::default()
    }
    .resolve(&scope)
    .map_err(from_lake)?;
    resolved.tree = tree;
    let result = gql
        .state
        .lake
        .aggregate(&scope, &resolved, &group_by, &measures)
        .await
        .map_err(from_lake)?;
    let batch = match result.batches.first() {
        Some(first) => concat_batches(&first.schema(), &result.batches)
            .map_err(|e| from_lake(dap_lake::Error::from(e)))?,
        None => RecordBatch::new_empty(Arc::new(arrow::datatypes::Schema::empty())),
    };
    let measured: Vec<String> = measures.iter().map(|(m, c)| m.output(c)).collect();
    let facts = AuditFacts {
        municipality: Some(scope.municipality().to_string()),
        table_version: Some(result.version),
        columns: Some(
            group_by
                .iter()
                .chain(measured.iter())
                .cloned()
                .collect::<Vec<_>>()
                .join(","),
        ),
        filter: Some(resolved.normalised_filter()).filter(|f| !f.is_empty()),
        rows_returned: Some(batch.num_rows()),
    };
    let data = AggregateData {
        version: result.version,
        municipality: scope.municipality().to_string(),
        batch: Arc::new(batch),
    };
    Ok((data, facts))
}
