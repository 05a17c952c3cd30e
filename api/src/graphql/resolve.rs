//! Resolvers: each dataset field translates its arguments into the core's typed request
//! and makes one call (`Core::read_page`, `Core::aggregate`) inside the core's audit.

use std::future::Future;
use std::sync::Arc;

use actix_web::web;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
};
use async_graphql::Value;
use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use dap_auth::Principal;
use dap_lake::query::{MAX_LIMIT, OrderBy};
use dap_lake::{Measure, RowQuery};

use super::error::{field_error, invalid};
use crate::app::datasets::{AggregateRequest, Target};
use crate::app::paging::PageRequest;
use crate::app::{AppError, AuditFacts, AuditLedger, Core, RequestContext};

pub(super) type GqlResult<T> = Result<T, async_graphql::Error>;

/// What every resolver of one request knows: the core, the verified caller, the request.
pub struct Gql {
    pub core: web::Data<Core>,
    pub principal: Principal,
    pub request: RequestContext,
    /// The records of the request's read fields, appended with the request's own at its
    /// end.
    pub audit: Arc<AuditLedger>,
}

impl Gql {
    /// Runs a read field's `work` inside the core's audit: its record is appended with
    /// the request's own at the request's end, and the request answers nothing unless
    /// both are written (see [`Core::audited_later`]).
    pub(super) async fn audited<T>(
        &self,
        part: &RequestContext,
        dataset: Option<&str>,
        work: impl Future<Output = Result<(T, AuditFacts), AppError>>,
    ) -> Result<T, AppError> {
        self.core
            .audited_later(&self.audit, part, &self.principal, dataset, work)
            .await
    }
}

/// One row of a result batch.
#[derive(Clone)]
pub struct RowRef {
    batch: Arc<RecordBatch>,
    row: usize,
}

impl RowRef {
    /// The rows of `batch`.
    pub fn all(batch: &Arc<RecordBatch>) -> impl Iterator<Item = RowRef> + '_ {
        (0..batch.num_rows()).map(|row| RowRef {
            batch: Arc::clone(batch),
            row,
        })
    }

    /// The value of `column` (the batch column name) as GraphQL; `field` names it in errors.
    pub fn cell(&self, column: &str, field: &str) -> GqlResult<Value> {
        let array = self.batch.column_by_name(column).ok_or_else(|| {
            invalid(format!(
                "{field} is not part of this result; group by it to read it in key"
            ))
        })?;
        cell(array.as_ref(), self.row)
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
                .map_err(|e| field_error(AppError::internal(e)))?,
        ),
    })
}

fn float(f: f64) -> Value {
    async_graphql::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

pub(super) fn gql<'a>(ctx: &ResolverContext<'a>) -> GqlResult<&'a Gql> {
    ctx.ctx.data::<Arc<Gql>>().map(AsRef::as_ref)
}

/// Runs one dataset field's operation inside the core's audit (one record per field,
/// written with the request's; if it cannot be written the request answers nothing).
async fn audited<T>(
    gql: &Gql,
    field: &str,
    dataset: &str,
    work: impl Future<Output = Result<(T, AuditFacts), AppError>>,
) -> GqlResult<T> {
    let ctx = gql.request.part(format!("{} {field}", gql.request.action));
    gql.audited(&ctx, Some(dataset), work)
        .await
        .map_err(field_error)
}

/// The arguments both dataset fields take, as the core's typed query.
fn common(ctx: &ResolverContext<'_>) -> GqlResult<(Option<String>, RowQuery)> {
    let municipality = ctx
        .args
        .get("municipality")
        .map(|v| v.string().map(str::to_owned))
        .transpose()?;
    let tree = match ctx.args.get("where") {
        Some(w) if !w.is_null() => Some(super::filter::where_tree(w.as_value(), 0)?),
        _ => None,
    };
    let version = match ctx.args.get("asOfVersion") {
        Some(v) if !v.is_null() => Some(
            v.u64()
                .map_err(|_| invalid("asOfVersion must be a whole number ≥ 0"))?,
        ),
        _ => None,
    };
    let as_of = match ctx.args.get("asOfTimestamp") {
        Some(v) if !v.is_null() => Some(dap_lake::as_of::parse(v.string()?).map_err(|_| {
            invalid(
                "asOfTimestamp must be an RFC 3339 instant (2026-01-31T12:00:00Z) or a date (2026-01-31: the end of that day in Danish time)",
            )
        })?),
        _ => None,
    };
    let query = RowQuery {
        tree,
        version,
        as_of,
        ..RowQuery::default()
    };
    Ok((municipality, query))
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
        let (municipality, mut query) = common(&ctx)?;
        let first = ctx
            .args
            .get("first")
            .map(|v| v.i64())
            .transpose()?
            .unwrap_or(100);
        let limit = u64::try_from(first)
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| invalid(format!("first must be between 1 and {MAX_LIMIT}")))?;
        let select = selected(&ctx, &["nodes"]);
        // Only pageInfo or the version asked for: the core reads one column.
        query.columns = Some(select).filter(|s| !s.is_empty());
        query.order = order_by(&ctx)?;
        query.limit = Some(limit);
        let cursor = match ctx.args.get("after").filter(|v| !v.is_null()) {
            Some(after) => Some(after.string()?.to_owned()),
            None => None,
        };
        let request = PageRequest {
            query,
            cursor,
            surface: "graphql",
        };
        let target = Target {
            dataset: &id,
            municipality: municipality.as_deref(),
        };
        let work = gql.core.read_page(&gql.principal, target, request);
        let page = audited(gql, &field, &id, work).await?;
        Ok(Some(FieldValue::owned_any(page)))
    })
}

fn order_by(ctx: &ResolverContext<'_>) -> GqlResult<Vec<OrderBy>> {
    let Some(list) = ctx.args.get("orderBy").filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let mut order = Vec::new();
    for item in list.list()?.iter() {
        let item = item.object()?;
        let column = item.try_get("column")?.enum_name()?.to_owned();
        let descending = item
            .get("direction")
            .map(|d| d.enum_name().map(|d| d == "DESC"))
            .transpose()?
            .unwrap_or(false);
        order.push(OrderBy { column, descending });
    }
    Ok(order)
}

/// Groups of a dataset with count and measures.
pub fn aggregate(ctx: ResolverContext<'_>, id: String) -> FieldFuture<'_> {
    FieldFuture::new(async move {
        let gql = gql(&ctx)?;
        let field = ctx.ctx.field().name().to_owned();
        let (municipality, query) = common(&ctx)?;
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
        if let Some(column) = selected(&ctx, &["groups", "key"])
            .into_iter()
            .find(|c| !group_by.contains(c))
        {
            return Err(invalid(format!(
                "key.{column} is not grouped; add it to groupBy to read it in key"
            )));
        }
        let mut measures = Vec::new();
        for measure in [Measure::Sum, Measure::Avg, Measure::Min, Measure::Max] {
            for column in selected(&ctx, &["groups", measure.as_str()]) {
                measures.push((measure, column));
            }
        }
        let request = AggregateRequest {
            query,
            group_by,
            measures,
        };
        let target = Target {
            dataset: &id,
            municipality: municipality.as_deref(),
        };
        let work = gql.core.aggregate(&gql.principal, target, request);
        let data = audited(gql, &field, &id, work).await?;
        Ok(Some(FieldValue::owned_any(data)))
    })
}
