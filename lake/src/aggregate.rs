//! Aggregates over a scoped read: count, and sum/avg/min/max of numeric columns, grouped
//! by visible columns. Built on the same frame as [`crate::Lake::scan`] (tenant files,
//! the scope's row predicate, then the caller's filters), so an aggregate sees exactly
//! the rows a scan would.

use std::fmt;
use std::sync::Arc;

use dap_schema::{AccessScope, ColumnType};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::functions_aggregate::expr_fn::{avg, count, max, min, sum};
use deltalake::datafusion::prelude::{ident, lit};

use crate::predicate::Clause;
use crate::query::ResolvedQuery;
use crate::resolve::Reader;
use crate::{Error, Lake, Result};

/// Most groups one aggregate returns.
pub const MAX_GROUPS: usize = 10_000;
/// Name of the row-count column in an [`Aggregation`].
pub const COUNT_COLUMN: &str = "count";

/// An aggregate function over one numeric column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Measure {
    Sum,
    Avg,
    Min,
    Max,
}

impl Measure {
    /// The function's name, as written in queries.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sum => "sum",
            Self::Avg => "avg",
            Self::Min => "min",
            Self::Max => "max",
        }
    }

    /// The result column of this measure over `column`, e.g. `sum(beloeb)`.
    pub fn output(self, column: &str) -> String {
        format!("{}({column})", self.as_str())
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of an aggregate: one row per group, the group columns first, then
/// [`COUNT_COLUMN`], then one column per measure named by [`Measure::output`]. Groups are
/// sorted by the group columns.
#[derive(Debug)]
pub struct Aggregation {
    pub version: u64,
    pub batches: Vec<RecordBatch>,
}

impl Lake {
    /// Aggregates the rows `query` selects within `scope`. `query`'s projection, order
    /// and page are ignored; its filters, version and instant apply. Group and measure
    /// columns must be visible to the caller; measures apply to numeric columns only.
    pub async fn aggregate(
        self: &Arc<Self>,
        scope: &AccessScope,
        query: &ResolvedQuery,
        group_by: &[String],
        measures: &[(Measure, String)],
    ) -> Result<Aggregation> {
        self.check(scope, query)?;
        let dataset = scope.dataset();
        let unknown = |parameter: &'static str, column: &str| Error::UnknownColumn {
            parameter,
            column: column.chars().take(64).collect(),
            valid: scope.visible_columns().join(", "),
        };
        for column in group_by {
            if !scope.can_see(column) {
                return Err(unknown(Clause::Group.as_str(), column));
            }
        }
        for (measure, column) in measures {
            let def = dataset
                .column(column)
                .filter(|_| scope.can_see(column))
                .ok_or_else(|| unknown(Clause::Measure.as_str(), column))?;
            if !is_numeric(def.data_type) {
                return Err(Error::InvalidParameter {
                    parameter: "measure",
                    reason: format!(
                        "{measure} applies to numeric columns only; {column} is {}",
                        def.data_type
                    ),
                });
            }
        }
        let mut select: Vec<String> = Vec::new();
        for c in group_by.iter().chain(measures.iter().map(|(_, c)| c)) {
            if !select.contains(c) {
                select.push(c.clone());
            }
        }
        if select.is_empty() {
            // A count needs some column to read; the tenant column is always in the plan.
            select.push(dataset.tenant_column.clone());
        }
        let mut plain = query.clone();
        plain.select = select;
        plain.order.clear();
        plain.offset = 0;
        plain.limit = None;
        let lake = Arc::clone(self);
        let reader = Reader::of(scope);
        let group_by = group_by.to_vec();
        let measures = measures.to_vec();
        self.runtime()
            .run(async move {
                let (version, _, frame) = lake.frame(&reader, &plain).await?;
                let groups: Vec<_> = group_by.iter().map(ident).collect();
                let mut aggregates = vec![count(lit(1)).alias(COUNT_COLUMN)];
                for (measure, column) in &measures {
                    let expr = match measure {
                        Measure::Sum => sum(ident(column)),
                        Measure::Avg => avg(ident(column)),
                        Measure::Min => min(ident(column)),
                        Measure::Max => max(ident(column)),
                    };
                    aggregates.push(expr.alias(measure.output(column)));
                }
                let order: Vec<_> = group_by.iter().map(|c| ident(c).sort(true, true)).collect();
                let mut frame = frame.aggregate(groups, aggregates)?;
                if !order.is_empty() {
                    frame = frame.sort(order)?;
                }
                let batches = frame.limit(0, Some(MAX_GROUPS + 1))?.collect().await?;
                let n: usize = batches.iter().map(RecordBatch::num_rows).sum();
                if n > MAX_GROUPS {
                    return Err(Error::InvalidParameter {
                        parameter: "grouping",
                        reason: format!(
                            "more than {MAX_GROUPS} groups; group by fewer columns or narrow the filter"
                        ),
                    });
                }
                Ok(Aggregation { version, batches })
            })
            .await
    }
}

/// True for the column types sum/avg/min/max apply to.
pub fn is_numeric(data_type: ColumnType) -> bool {
    matches!(
        data_type,
        ColumnType::Int32 | ColumnType::Int64 | ColumnType::Float64 | ColumnType::Decimal { .. }
    )
}
