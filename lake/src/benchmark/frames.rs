//! The DataFrame side of [`super::compute`]: each row's region and size band, the
//! partial aggregates a key figure is computed from (one scan per table), the levels'
//! aggregates and the dominance rule's contributors.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use dap_schema::{REGIONS, municipalities};
use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::compute::cast as cast_array;
use deltalake::arrow::datatypes::{DataType, Float64Type, UInt64Type};
use deltalake::arrow::ipc::writer::FileWriter;
use deltalake::datafusion::datasource::file_format::options::ArrowReadOptions;
use deltalake::datafusion::functions_aggregate::expr_fn::{count, count_distinct, sum};
use deltalake::datafusion::logical_expr::when;
use deltalake::datafusion::prelude::{DataFrame, Expr, abs, cast, ident, in_list, lit};
use deltalake::datafusion::scalar::ScalarValue;
use futures::StreamExt as _;

use super::compute::{Groups, Lead, Level, Membership, REGION_KEY, SIZE_KEY};
use super::{Aggregate, Dominance, Resolved};
use crate::Result;
use crate::stored::blocking;

/// The grouping columns of `level`: its lead's column, then the dimensions.
pub(super) fn group_of(level: Level, tenant: &str, dims: Vec<String>) -> Vec<String> {
    let mut group: Vec<String> = level.lead.column(tenant).into_iter().collect();
    group.extend(dims);
    group
}

/// Rows that belong to a group of the level's lead (a municipality outside every band,
/// for want of population data, is in no size group).
pub(super) fn lead_present(frame: DataFrame, level: Level, tenant: &str) -> Result<DataFrame> {
    Ok(match level.lead {
        Lead::Region | Lead::Size => {
            frame.filter(ident(level.lead.column(tenant).unwrap_or_default()).is_not_null())?
        }
        _ => frame,
    })
}

/// Adds each row's region and size band as columns, from its municipality (and year).
pub(super) fn with_groups(
    frame: DataFrame,
    tenant: &str,
    year: Option<&str>,
    membership: &Membership,
) -> Result<DataFrame> {
    let code = || cast(ident(tenant), DataType::Utf8);
    let regions: Vec<(Expr, Expr)> = REGIONS
        .iter()
        .map(|region| {
            let codes: Vec<Expr> = municipalities()
                .iter()
                .filter(|m| m.region == *region)
                .map(|m| lit(m.code.as_str()))
                .collect();
            (in_list(code(), codes, false), lit(region.code.to_string()))
        })
        .collect();
    let mut frame = frame.with_column(REGION_KEY, case(regions)?)?;
    if let Some(placement) = &membership.placement {
        let by_band = |members: &HashMap<String, String>| {
            let mut out: BTreeMap<String, Vec<Expr>> = BTreeMap::new();
            for (m, band) in members {
                out.entry(band.clone()).or_default().push(lit(m.as_str()));
            }
            out
        };
        let mut branches = Vec::new();
        if let Some(year) = year {
            for (value, members) in &placement.per_year {
                for (band, codes) in by_band(members) {
                    let condition = in_list(code(), codes, false)
                        .and(cast(ident(year), DataType::Utf8).eq(lit(value.as_str())));
                    branches.push((condition, lit(band)));
                }
            }
        }
        for (band, codes) in by_band(&placement.latest) {
            branches.push((in_list(code(), codes, false), lit(band)));
        }
        frame = frame.with_column(SIZE_KEY, case(branches)?)?;
    }
    Ok(frame)
}

/// `CASE WHEN c1 THEN v1 … ELSE NULL END` (NULL without branches).
pub(super) fn case(branches: Vec<(Expr, Expr)>) -> Result<Expr> {
    let null = lit(ScalarValue::Utf8(None));
    let mut branches = branches.into_iter();
    let Some((condition, then)) = branches.next() else {
        return Ok(null);
    };
    let mut builder = when(condition, then);
    for (condition, then) in branches {
        builder = builder.when(condition, then);
    }
    Ok(builder.otherwise(null)?)
}

/// The groups (keys of `group`) in which the rule's `n` largest contributing units hold
/// more than `k` per cent of the absolute contributions.
pub(super) async fn dominance(
    frame: DataFrame,
    group: &[String],
    quantity: &Resolved,
    unit: &str,
    rule: &Dominance,
) -> Result<HashSet<Vec<String>>> {
    let mut by_unit: Vec<String> = group.to_vec();
    by_unit.push(unit.to_owned());
    let contribution = match quantity.aggregate {
        Aggregate::Count => sum(ident(PART_COUNT)),
        _ => sum(ident(PART_ABS)),
    };
    let per_unit = aggregate_exprs(frame, &by_unit, contribution, count(lit(1))).await?;
    let mut cells: HashMap<Vec<String>, Vec<f64>> = HashMap::new();
    for (key, (value, _)) in per_unit {
        let share = value.unwrap_or_default();
        cells
            .entry(key[..group.len()].to_vec())
            .or_default()
            .push(share);
    }
    let n = rule.n as usize;
    Ok(cells
        .into_iter()
        .filter_map(|(key, mut shares)| {
            // Added up largest first, whatever order the units came in: the same total
            // on every computation.
            shares.sort_by(|a, b| b.total_cmp(a));
            let total: f64 = shares.iter().sum();
            let top: f64 = shares.iter().take(n).sum();
            (total > 0.0 && top > rule.k / 100.0 * total).then_some(key)
        })
        .collect())
}

/// Columns of the partial aggregates.
const PART_SUM: &str = "__dap_sum";
const PART_COUNT: &str = "__dap_count";
const PART_ABS: &str = "__dap_abs";

/// The partial aggregates of one table, kept in a temporary Arrow IPC file for as long
/// as the key figure is computed (the directory goes when this is dropped).
pub(super) struct Partials {
    frame: DataFrame,
    _dir: tempfile::TempDir,
}

impl Partials {
    /// The partial aggregates, read from their file.
    pub(super) fn frame(&self) -> DataFrame {
        self.frame.clone()
    }
}

/// One scan of `frame`: the partial aggregates of the quantity per finest group (`keys`:
/// municipality, its groups, the dimensions and the unit; plus the column itself for a
/// distinct count). Every level is computed from them, so a key figure reads its tables
/// once. They are as many as the cells times their contributing units: with a person as
/// the unit, about one per person in the country. So they are written to a temporary
/// file in `dir` as they are aggregated (the aggregation itself runs in the query's
/// memory pool, spilling beyond it) and read from there, never held in memory whole.
pub(super) async fn partials(
    frame: DataFrame,
    keys: &[String],
    quantity: &Resolved,
    dir: &Path,
) -> Result<Partials> {
    let mut group: Vec<String> = keys.to_vec();
    if quantity.aggregate == Aggregate::CountDistinct && !group.contains(&quantity.column) {
        group.push(quantity.column.clone());
    }
    // Summed in the column's own type: integers and decimals exactly, so a figure does
    // not depend on the order its rows were added in (threads, replicas, restarts); the
    // value becomes a float only once summed. A float column's sums can still differ in
    // the last digit between computations.
    let value = || ident(&quantity.column);
    let mut parts = vec![count(ident(&quantity.column)).alias(PART_COUNT)];
    // Sums only of the numeric quantities (a count may count text).
    if matches!(quantity.aggregate, Aggregate::Sum | Aggregate::Avg) {
        // An integer's absolute value as a wide decimal: `abs(-128)` of an Int8 (or any
        // type's minimum) overflows its own type.
        let integer = frame
            .schema()
            .field_with_unqualified_name(&quantity.column)
            .is_ok_and(|f| f.data_type().is_integer());
        let absolute = match integer {
            true => abs(cast(value(), DataType::Decimal128(38, 0))),
            false => abs(value()),
        };
        parts.push(sum(value()).alias(PART_SUM));
        parts.push(sum(absolute).alias(PART_ABS));
    }
    let frame = frame.aggregate(group.iter().map(ident).collect(), parts)?;
    // An IPC file holds one dictionary per column: dictionary-encoded keys (the
    // partition column) are written as their values.
    let columns: Vec<Expr> = frame
        .schema()
        .fields()
        .iter()
        .map(|field| match field.data_type() {
            DataType::Dictionary(_, values) => {
                cast(ident(field.name()), values.as_ref().clone()).alias(field.name())
            }
            _ => ident(field.name()),
        })
        .collect();
    let frame = frame.select(columns)?;
    let dir = tempfile::tempdir_in(dir)?;
    let path = dir.path().join("partials.arrow");
    let mut batches = frame.execute_stream().await?;
    let file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut writer = FileWriter::try_new(file, &batches.schema())?;
    while let Some(batch) = batches.next().await {
        let batch = batch?;
        writer = blocking(move || {
            writer.write(&batch)?;
            Ok(writer)
        })
        .await?;
    }
    blocking(move || Ok(writer.finish()?)).await?;
    let location = path.to_string_lossy().into_owned();
    let frame = crate::Lake::session()
        .read_arrow(location, ArrowReadOptions::default())
        .await?;
    Ok(Partials { frame, _dir: dir })
}

/// The quantity per `group`, from its partial aggregates.
pub(super) async fn aggregate(
    partials: DataFrame,
    group: &[String],
    quantity: &Resolved,
    unit: Option<&str>,
) -> Result<Groups> {
    let float = |c: &str| cast(sum(ident(c)), DataType::Float64);
    let value = match quantity.aggregate {
        Aggregate::Sum => sum(ident(PART_SUM)),
        Aggregate::Count => sum(ident(PART_COUNT)),
        Aggregate::CountDistinct => count_distinct(ident(&quantity.column)),
        Aggregate::Avg => float(PART_SUM) / float(PART_COUNT),
    };
    // A unit counts towards the threshold only if it contributes to the value: some
    // non-null quantity, and for a sum one that is not zero. Units with nothing (a NULL
    // measure, or amounts of 0 only) would otherwise lift a cell of one contributor past
    // the threshold, and its published value would be that contributor's.
    let contributes = match quantity.aggregate {
        Aggregate::Sum => ident(PART_COUNT)
            .gt(lit(0_i64))
            .and(ident(PART_ABS).gt(lit(0.0_f64))),
        _ => ident(PART_COUNT).gt(lit(0_i64)),
    };
    let units = match unit {
        Some(u) => count_distinct(when(contributes, ident(u)).end()?),
        None => count(when(contributes, lit(1)).end()?),
    };
    aggregate_exprs(partials, group, value, units).await
}

/// A quantity aggregated directly over rows (the population of the size bands).
pub(super) async fn aggregate_rows(
    frame: DataFrame,
    group: &[String],
    value: Expr,
    unit: Option<&str>,
) -> Result<Groups> {
    let units = match unit {
        Some(u) => count_distinct(ident(u)),
        None => count(lit(1)),
    };
    aggregate_exprs(frame, group, value, units).await
}

/// Groups `frame` by `group` (as text) and computes `value` and `units` per group.
pub(super) async fn aggregate_exprs(
    frame: DataFrame,
    group: &[String],
    value: Expr,
    units: Expr,
) -> Result<Groups> {
    let keys: Vec<Expr> = group
        .iter()
        .map(|c| cast(ident(c), DataType::Utf8).alias(c))
        .collect();
    let batches = frame
        .aggregate(
            keys,
            vec![
                cast(value, DataType::Float64).alias("value"),
                cast(units, DataType::UInt64).alias("units"),
            ],
        )?
        .collect()
        .await?;
    let mut out = Groups::new();
    for batch in &batches {
        read_groups(batch, group.len(), &mut out)?;
    }
    Ok(out)
}

pub(super) fn read_groups(batch: &RecordBatch, keys: usize, out: &mut Groups) -> Result<()> {
    let mut key_columns = Vec::with_capacity(keys);
    for i in 0..keys {
        key_columns.push(cast_array(batch.column(i), &DataType::Utf8)?);
    }
    let values = cast_array(batch.column(keys), &DataType::Float64)?;
    let values = values.as_primitive::<Float64Type>();
    let units = cast_array(batch.column(keys + 1), &DataType::UInt64)?;
    let units = units.as_primitive::<UInt64Type>();
    for row in 0..batch.num_rows() {
        let key = key_columns
            .iter()
            .map(|c| c.as_string::<i32>().value(row).to_owned())
            .collect();
        let value = (!values.is_null(row)).then(|| values.value(row));
        out.insert(key, (value, units.value(row)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltalake::arrow::array::{Int8Array, StringArray};
    use deltalake::arrow::datatypes::{Field, Schema};
    use deltalake::datafusion::prelude::SessionContext;

    use super::*;

    /// The partial aggregates are written to a file in the given directory and read from
    /// there (gone with them), and an integer quantity's minimum, whose absolute value
    /// its own type cannot hold, is summed exactly.
    #[tokio::test]
    async fn partials_are_kept_in_a_file_and_sum_an_integers_minimum() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("u", DataType::Utf8, false),
            Field::new("v", DataType::Int8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["a", "a", "a", "b"])),
                Arc::new(StringArray::from(vec!["x", "x", "y", "x"])),
                Arc::new(Int8Array::from(vec![Some(-128), Some(-1), Some(7), None])),
            ],
        )
        .expect("batch");
        let frame = SessionContext::new().read_batch(batch).expect("frame");
        let quantity = Resolved {
            dataset: crate::testing::population("t"),
            aggregate: Aggregate::Sum,
            column: "v".into(),
            filters: Vec::new(),
        };
        let dir = tempfile::tempdir().expect("dir");
        let keys = ["k".to_owned(), "u".to_owned()];
        let kept = partials(frame, &keys, &quantity, dir.path())
            .await
            .expect("partials");
        let files: Vec<_> = walk(dir.path());
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(files[0].ends_with("partials.arrow"), "{files:?}");

        let group = ["k".to_owned()];
        let sums = aggregate_exprs(kept.frame(), &group, sum(ident(PART_SUM)), lit(0))
            .await
            .expect("sums");
        let absolute = aggregate_exprs(kept.frame(), &group, sum(ident(PART_ABS)), lit(0))
            .await
            .expect("absolute sums");
        let a = vec!["a".to_owned()];
        assert_eq!(sums[&a].0, Some(-122.0));
        assert_eq!(absolute[&a].0, Some(136.0));
        assert_eq!(sums[&vec!["b".to_owned()]].0, None);
        drop(kept);
        assert!(
            walk(dir.path()).is_empty(),
            "the file goes with the partials"
        );
    }

    fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).expect("dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }
}
