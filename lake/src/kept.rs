//! Pages in key order answered from kept rows without planning a query.
//!
//! A page of a partition the page cache keeps (see `page_cache`) in the order the rows
//! are kept in (the dataset's key columns, ascending: the order of every page a caller
//! gives no order for) needs no sort: it is the first rows, in kept order, that meet the
//! read's conditions. Planning that as a DataFusion query (a session, the optimizer, the
//! physical planner) cost several times the work of the page itself (BENCHMARKS.md), so
//! such a page evaluates the same conditions, compiled to the same physical expressions
//! with the same type coercion, on the kept batches directly, and stops at its last row.
//!
//! The conditions are the ones every read applies ([`crate::lake::conditions`]: the
//! scope's row predicate first, then the caller's filters, filter tree and keyset
//! position), and a row is in the page exactly when all of them are true (a NULL is not
//! true), as in a filter of the plan. A keyset position in key order is a boundary in the
//! kept rows: rows before it fail the position and rows after it pass, so the page starts
//! at a binary search instead of testing every earlier row. Any other order, and reads
//! without a limit, are planned as before.

use std::sync::{Arc, LazyLock};

use deltalake::arrow::array::{
    Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions, UInt32Array,
};
use deltalake::arrow::compute::take_record_batch;
use deltalake::arrow::datatypes::{Field, Schema, SchemaRef};
use deltalake::datafusion::common::DFSchema;
use deltalake::datafusion::execution::SessionState;
use deltalake::datafusion::physical_expr::PhysicalExpr;
use deltalake::datafusion::prelude::{Expr, SessionContext, lit};

use crate::Result;
use crate::query::OrderBy;

/// Compiles expressions only (no query runs in it): its configuration is the default,
/// as the planner's coercion of a filter uses.
static COMPILER: LazyLock<SessionState> = LazyLock::new(|| SessionContext::new().state());

/// Rows whose conditions are tested at once: a page of 100 rows over unfiltered kept
/// rows tests one chunk, not a whole batch.
const CHUNK_ROWS: usize = 2048;

/// Kept rows: batches in key order, one schema.
pub(crate) struct KeptRows<'a> {
    pub(crate) schema: &'a SchemaRef,
    pub(crate) batches: &'a [RecordBatch],
    pub(crate) keys: &'a [String],
}

/// What a page asks of kept rows.
pub(crate) struct PageAsk<'a> {
    /// All must hold (see the module documentation).
    pub(crate) conditions: Vec<Expr>,
    /// The keyset position, when the page starts after a row's key.
    pub(crate) seek: Option<Expr>,
    pub(crate) order: &'a [OrderBy],
    pub(crate) offset: usize,
    pub(crate) limit: usize,
    /// The output columns: names and the expressions giving them.
    pub(crate) columns: Vec<(String, Expr)>,
}

/// True when `order` sorts exactly as the kept rows are kept: the key columns,
/// ascending (a column named again later changes nothing).
pub(crate) fn in_kept_order(order: &[OrderBy], keys: &[String]) -> bool {
    let mut seen: Vec<&str> = Vec::with_capacity(keys.len());
    for o in order {
        if o.descending {
            return false;
        }
        if !seen.contains(&o.column.as_str()) {
            seen.push(&o.column);
        }
    }
    seen.len() == keys.len() && seen.iter().zip(keys).all(|(a, b)| *a == b)
}

/// The page `ask` selects from `kept`; `None` when its order is not the kept order (the
/// caller plans the read instead).
pub(crate) fn page(
    kept: &KeptRows<'_>,
    ask: PageAsk<'_>,
) -> Result<Option<(SchemaRef, Vec<RecordBatch>)>> {
    if !in_kept_order(ask.order, kept.keys) {
        return Ok(None);
    }
    let input = kept.schema;
    let df_schema = DFSchema::try_from(input.as_ref().clone())?;
    let compile = |expr: Expr| COMPILER.create_physical_expr(expr, &df_schema);
    let mut conditions = ask.conditions;
    conditions.extend(ask.seek.clone());
    let test = compile(
        conditions
            .into_iter()
            .reduce(Expr::and)
            .unwrap_or(lit(true)),
    )?;
    let mut fields = Vec::with_capacity(ask.columns.len());
    let mut outputs = Vec::with_capacity(ask.columns.len());
    for (name, expr) in ask.columns {
        let expr = compile(expr)?;
        let field = expr.return_field(input)?;
        fields.push(Field::clone(&field).with_name(name));
        outputs.push(expr);
    }
    let schema = Arc::new(Schema::new(fields));

    let (mut skip, mut want) = (ask.offset, ask.limit);
    let mut start = match &ask.seek {
        Some(seek) => first_passing(kept.batches, &compile(seek.clone())?)?,
        None => (0, 0),
    };
    let mut out = Vec::new();
    while want > 0 && start.0 < kept.batches.len() {
        let batch = &kept.batches[start.0];
        if start.1 >= batch.num_rows() {
            start = (start.0 + 1, 0);
            continue;
        }
        let len = CHUNK_ROWS.min(batch.num_rows() - start.1);
        let chunk = batch.slice(start.1, len);
        start.1 += len;
        let passed = truth(&test, &chunk)?;
        let mut rows = Vec::new();
        for row in passed
            .iter()
            .enumerate()
            .filter_map(|(i, t)| (t == Some(true)).then_some(i))
        {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            rows.push(u32::try_from(row).unwrap_or(u32::MAX));
            want -= 1;
            if want == 0 {
                break;
            }
        }
        if rows.is_empty() {
            continue;
        }
        let taken = take_record_batch(&chunk, &UInt32Array::from(rows))?;
        let columns = outputs
            .iter()
            .map(|e| e.evaluate(&taken)?.into_array(taken.num_rows()))
            .collect::<std::result::Result<Vec<ArrayRef>, _>>()?;
        // The row count too: a projection may have no columns.
        let options = RecordBatchOptions::new().with_row_count(Some(taken.num_rows()));
        out.push(RecordBatch::try_new_with_options(
            Arc::clone(&schema),
            columns,
            &options,
        )?);
    }
    Ok(Some((schema, out)))
}

/// Whether each row of `batch` meets `test`.
fn truth(test: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> Result<BooleanArray> {
    let value = test.evaluate(batch)?.into_array(batch.num_rows())?;
    value
        .as_any()
        .downcast_ref::<BooleanArray>()
        .cloned()
        .ok_or_else(|| crate::Error::Runtime("a page condition is not a truth value".into()))
}

/// The position (batch, row) of the first kept row that meets `seek`, a keyset position
/// in the kept order: every row before it fails and every row from it on passes.
fn first_passing(batches: &[RecordBatch], seek: &Arc<dyn PhysicalExpr>) -> Result<(usize, usize)> {
    let passes = |batch: &RecordBatch, row: usize| -> Result<bool> {
        let passed = truth(seek, &batch.slice(row, 1))?;
        Ok(passed.is_valid(0) && passed.value(0))
    };
    // The first batch whose last row passes holds the boundary.
    let (mut low, mut high) = (0, batches.len());
    while low < high {
        let mid = low + (high - low) / 2;
        let batch = &batches[mid];
        if batch.num_rows() == 0 || !passes(batch, batch.num_rows() - 1)? {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    let Some(batch) = batches.get(low) else {
        return Ok((batches.len(), 0));
    };
    let (mut first, mut last) = (0, batch.num_rows());
    while first < last {
        let mid = first + (last - first) / 2;
        if passes(batch, mid)? {
            last = mid;
        } else {
            first = mid + 1;
        }
    }
    Ok((low, first))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltalake::arrow::array::{
        Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    };
    use deltalake::arrow::compute::concat_batches;
    use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use deltalake::datafusion::catalog::MemTable;
    use deltalake::datafusion::common::DFSchema;
    use deltalake::datafusion::functions::expr_fn::starts_with;
    use deltalake::datafusion::prelude::{Expr, ident, lit};
    use proptest::prelude::*;

    use super::{KeptRows, PageAsk, in_kept_order, page};
    use crate::keyset;
    use crate::lake::{Lake, plain_projection};
    use crate::page_cache::PageCache;
    use crate::query::OrderBy;

    type Row = (i64, Option<String>, Option<i32>, Option<String>, i64);

    fn rows() -> impl Strategy<Value = Vec<Row>> {
        proptest::collection::vec(
            (
                0i64..40,
                proptest::option::of("[ab]{0,2}"),
                proptest::option::of(-5i32..5),
                proptest::option::of("[xy5.]{0,4}"),
                0i64..1_000_000,
            ),
            0..300,
        )
    }

    fn provider(rows: &[Row], batch_rows: usize) -> Arc<MemTable> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k1", DataType::Int64, false),
            Field::new("k2", DataType::Utf8, true),
            Field::new("v", DataType::Int32, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), false),
        ]));
        let batches = rows
            .chunks(batch_rows)
            .map(|chunk| {
                RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![
                        Arc::new(Int64Array::from_iter_values(chunk.iter().map(|r| r.0))),
                        Arc::new(StringArray::from_iter(chunk.iter().map(|r| r.1.clone()))),
                        Arc::new(Int32Array::from_iter(chunk.iter().map(|r| r.2))),
                        Arc::new(StringArray::from_iter(chunk.iter().map(|r| r.3.clone()))),
                        Arc::new(TimestampMicrosecondArray::from_iter_values(
                            chunk.iter().map(|r| r.4),
                        )),
                    ],
                )
                .expect("batch")
            })
            .collect();
        Arc::new(MemTable::try_new(schema, vec![batches]).expect("table"))
    }

    /// Conditions a read may carry: a row predicate and the kinds of caller filters.
    fn condition(which: u8, n: i32) -> Expr {
        match which % 7 {
            0 => ident("v").gt(lit(n)),
            1 => starts_with(ident("s"), lit("5.")),
            2 => ident("k2").is_null(),
            3 => ident("v").in_list(vec![lit(n), lit(n + 2)], false),
            4 => ident("s").not_eq(lit("x")).or(ident("v").lt(lit(0))),
            5 => deltalake::datafusion::prelude::cast(ident("k1"), DataType::Utf8)
                .in_list(vec![lit("3"), lit("17"), lit("21")], true),
            _ => ident("t").gt_eq(lit(
                deltalake::datafusion::scalar::ScalarValue::TimestampMicrosecond(
                    Some(i64::from(n + 5) * 100_000),
                    None,
                ),
            )),
        }
    }

    fn key_order(descending_first: bool) -> Vec<OrderBy> {
        let by = |column: &str, descending| OrderBy {
            column: column.into(),
            descending,
        };
        let mut order = Vec::new();
        if descending_first {
            order.push(by("v", true));
        }
        order.extend([by("k1", false), by("k2", false)]);
        order
    }

    #[test]
    fn the_kept_order_is_the_keys_ascending() {
        let keys = ["k1".to_owned(), "k2".to_owned()];
        let by = |column: &str, descending| OrderBy {
            column: column.into(),
            descending,
        };
        assert!(in_kept_order(&key_order(false), &keys));
        assert!(in_kept_order(
            &[by("k1", false), by("k1", false), by("k2", false)],
            &keys
        ));
        assert!(!in_kept_order(&key_order(true), &keys));
        assert!(!in_kept_order(&[by("k1", false)], &keys));
        assert!(!in_kept_order(&[by("k2", false), by("k1", false)], &keys));
        assert!(!in_kept_order(&[by("k1", true), by("k2", false)], &keys));
        assert!(in_kept_order(&[], &[]));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(120))]

        /// A page from kept rows has exactly the rows, columns and types of the same page
        /// planned as a query over them (filters, keyset position, offset, limit and the
        /// plain-type projection), and pages in another order are left to the plan.
        #[test]
        fn a_kept_page_is_the_planned_page(
            rows in rows(),
            batch_rows in 1usize..70,
            conditions in proptest::collection::vec((0u8..7, -4i32..4), 0..3),
            seek_at in proptest::option::of(0usize..300),
            offset in prop_oneof![Just(0usize), 0usize..20],
            limit in 1usize..40,
            descending_first in proptest::bool::weighted(0.2),
            select in proptest::sample::subsequence(vec!["k1", "k2", "v", "s", "t"], 0..=5),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            runtime.block_on(async {
                let keys = ["k1".to_owned(), "k2".to_owned()];
                let ctx = Lake::session_with(1);
                let cache = PageCache::new(1 << 30);
                let kept = cache
                    .get("t".into(), provider(&rows, batch_rows), || Ok(ctx.clone()), &keys)
                    .await
                    .expect("decoded")
                    .expect("kept");
                let order = key_order(descending_first);
                let mut filters: Vec<Expr> =
                    conditions.iter().map(|(w, n)| condition(*w, *n)).collect();
                // A keyset position: the key of a row of the planned order.
                let all = concat_batches(&kept.schema, &kept.batches).expect("all");
                let seek = seek_at
                    .filter(|at| *at < all.num_rows() && !descending_first)
                    .and_then(|at| keyset::key_of(&all, at, &order))
                    .map(|key| keyset::after(&order, &key).expect("fits"));
                let select: Vec<String> = select.iter().map(|s| (*s).to_owned()).collect();
                let schema = DFSchema::try_from(kept.schema.as_ref().clone()).expect("schema");
                let ask = PageAsk {
                    conditions: filters.clone(),
                    seek: seek.clone(),
                    order: &order,
                    offset,
                    limit,
                    columns: plain_projection(&schema, &select),
                };
                let rows_kept = KeptRows {
                    schema: &kept.schema,
                    batches: &kept.batches,
                    keys: &keys,
                };
                let fast = page(&rows_kept, ask).expect("page");

                filters.extend(seek);
                let mut frame = ctx.read_table(Arc::clone(&kept.table) as _).expect("read");
                for filter in filters {
                    frame = frame.filter(filter).expect("filter");
                }
                let frame = frame
                    .sort(order.iter().map(|o| ident(&o.column).sort(!o.descending, o.descending)).collect())
                    .expect("sort")
                    .limit(offset, Some(limit))
                    .expect("limit");
                let projection = plain_projection(frame.schema(), &select);
                let planned = frame
                    .select(projection.into_iter().map(|(_, e)| e))
                    .expect("select")
                    .collect()
                    .await
                    .expect("planned");
                match fast {
                    None => prop_assert!(descending_first, "a page in key order is answered"),
                    Some((schema, batches)) => {
                        prop_assert!(!descending_first);
                        let fast = concat_batches(&schema, &batches).expect("fast");
                        let planned_schema = planned
                            .first()
                            .map(|b| b.schema())
                            .unwrap_or_else(|| Arc::clone(&schema));
                        let planned = concat_batches(&planned_schema, &planned).expect("planned");
                        prop_assert_eq!(fast.schema(), planned.schema());
                        prop_assert_eq!(fast, planned);
                    }
                }
                Ok(())
            })?;
        }
    }
}
