//! [`Lake::benchmark`]: the key figure for every municipality, every slice and category,
//! with municipality and country totals, after suppression.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::compute::cast as cast_array;
use deltalake::arrow::datatypes::{DataType, Float64Type, UInt64Type};
use deltalake::datafusion::functions_aggregate::expr_fn::{avg, count, count_distinct, sum};
use deltalake::datafusion::prelude::{DataFrame, Expr, cast, ident, lit};

use super::suppress::{Grid, Reason};
use super::{Aggregate, BenchmarkScope, Resolved};
use crate::{Lake, Result};

/// What a published cell shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CellValue {
    Value(f64),
    /// Withheld by the disclosure rule; never a value.
    Suppressed(Reason),
    /// The denominator is zero or missing: the ratio is not defined.
    NotDefined,
}

/// One cell of the key figure: a municipality's (or, with `municipality` absent, the
/// country's) value for one slice and one category (or, with `category` absent, the
/// total over the categories).
#[derive(Debug, Clone, PartialEq)]
pub struct BenchmarkCell {
    pub municipality: Option<String>,
    pub slice: Vec<String>,
    pub category: Option<Vec<String>>,
    pub value: CellValue,
}

/// A key figure across all municipalities, suppressed. Holds no rows and no counts.
#[derive(Debug, Clone)]
pub struct BenchmarkTable {
    /// The table version of each dataset read, numerator first.
    pub versions: Vec<(String, u64)>,
    pub cells: Vec<BenchmarkCell>,
}

/// Aggregates by group key (values as text): the value and the contributing units.
type Groups = HashMap<Vec<String>, (Option<f64>, u64)>;

/// The four groupings of a table: cells, municipality totals, country per category,
/// country total. Without categories only the first and third exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Level {
    Cells,
    MunicipalityTotals,
    Country,
    CountryTotal,
}

impl Level {
    const ALL: [Self; 4] = [
        Self::Cells,
        Self::MunicipalityTotals,
        Self::Country,
        Self::CountryTotal,
    ];

    fn per_municipality(self) -> bool {
        matches!(self, Self::Cells | Self::MunicipalityTotals)
    }

    fn with_categories(self) -> bool {
        matches!(self, Self::Cells | Self::Country)
    }
}

impl Lake {
    /// Computes the key figure of `scope` for all municipalities from the current table
    /// versions, and suppresses it. The only read of a [`BenchmarkScope`].
    pub async fn benchmark(self: &Arc<Self>, scope: &BenchmarkScope) -> Result<BenchmarkTable> {
        let lake = Arc::clone(self);
        let scope = scope.clone();
        self.runtime()
            .run(async move { lake.compute(&scope).await })
            .await
    }

    /// The current versions of the tables `scope` reads (numerator first), to tell
    /// whether a computed table is still current.
    pub async fn benchmark_versions(self: &Arc<Self>, scope: &BenchmarkScope) -> Result<Vec<u64>> {
        let lake = Arc::clone(self);
        let datasets: Vec<_> = scope.datasets().into_iter().cloned().collect();
        self.runtime()
            .run(async move {
                let mut out = Vec::new();
                for d in &datasets {
                    out.push(lake.current(d).await?.version().unwrap_or_default());
                }
                Ok(out)
            })
            .await
    }

    async fn compute(self: &Arc<Self>, scope: &BenchmarkScope) -> Result<BenchmarkTable> {
        let def = &scope.definition;
        let slices = def.slice_columns();
        let categories = def.category_columns();
        let dims: Vec<String> = slices.iter().chain(&categories).cloned().collect();
        let tenant = scope.numerator.dataset.tenant_column.clone();
        let unit = def.disclosure.unit_column.clone();
        let levels: Vec<Level> = Level::ALL
            .into_iter()
            .filter(|l| !categories.is_empty() || l.with_categories())
            .collect();
        let level_dims = |level: Level| -> Vec<String> {
            if level.with_categories() {
                dims.clone()
            } else {
                slices.clone()
            }
        };

        let mut needed: Vec<String> = dims.clone();
        needed.extend([tenant.clone(), unit.clone(), scope.numerator.column.clone()]);
        let (version, base) = self.base(&scope.numerator, &dims, &needed).await?;
        let mut versions = vec![(scope.numerator.dataset.id.to_string(), version)];
        let mut numerator = HashMap::new();
        for &level in &levels {
            let mut group = Vec::new();
            if level.per_municipality() {
                group.push(tenant.clone());
            }
            group.extend(level_dims(level));
            let groups = aggregate(base.clone(), &group, &scope.numerator, Some(&unit)).await?;
            numerator.insert(level, groups);
        }

        let mut denominator = HashMap::new();
        if let Some((quantity, follows)) = &scope.denominator {
            let den_tenant = quantity.dataset.tenant_column.clone();
            let columns: Vec<String> = follows.iter().map(|(_, c)| c.clone()).collect();
            let mut needed = columns.clone();
            needed.extend([den_tenant.clone(), quantity.column.clone()]);
            let (version, base) = self.base(quantity, &columns, &needed).await?;
            if quantity.dataset.id != scope.numerator.dataset.id {
                versions.push((quantity.dataset.id.to_string(), version));
            }
            for &level in &levels {
                let mut group = Vec::new();
                if level.per_municipality() {
                    group.push(den_tenant.clone());
                }
                let present = level_dims(level);
                group.extend(
                    follows
                        .iter()
                        .filter(|(d, _)| present.contains(d))
                        .map(|(_, c)| c.clone()),
                );
                denominator.insert(
                    level,
                    aggregate(base.clone(), &group, quantity, None).await?,
                );
            }
        }
        let table = Assembly {
            slices: slices.len(),
            categories: categories.len(),
            dims: &dims,
            follows: scope.denominator.as_ref().map(|(_, f)| f.as_slice()),
            factor: def.factor,
            min_units: def.disclosure.min_units,
        };
        Ok(BenchmarkTable {
            versions,
            cells: table.cells(&numerator, scope.denominator.as_ref().map(|_| &denominator)),
        })
    }

    /// Every municipality's rows of a quantity's dataset at its current version, under
    /// its filters, with the dimension columns present, projected to `needed`.
    async fn base(
        self: &Arc<Self>,
        quantity: &Resolved,
        dims: &[String],
        needed: &[String],
    ) -> Result<(u64, DataFrame)> {
        let table = self.current(&quantity.dataset).await?;
        let version = table.version().unwrap_or_default();
        let provider = table.table_provider().await?;
        let ctx = Self::session();
        table.update_datafusion_session(&ctx.state())?;
        let mut frame = ctx.read_table(provider)?;
        for filter in &quantity.filters {
            frame = frame.filter(filter.to_expr())?;
        }
        // Rows without a dimension value belong to no cell; dropping them here keeps the
        // totals the sums of their cells.
        for column in dims.iter().filter(|c| quantity.dataset.column(c).is_some()) {
            frame = frame.filter(ident(column).is_not_null())?;
        }
        let mut columns: Vec<&String> = Vec::new();
        for c in needed {
            if !columns.contains(&c) {
                columns.push(c);
            }
        }
        let frame = frame.select(columns.into_iter().map(ident).collect::<Vec<_>>())?;
        Ok((version, frame))
    }
}

async fn aggregate(
    frame: DataFrame,
    group: &[String],
    quantity: &Resolved,
    unit: Option<&str>,
) -> Result<Groups> {
    let keys: Vec<Expr> = group
        .iter()
        .map(|c| cast(ident(c), DataType::Utf8).alias(c))
        .collect();
    let column = ident(&quantity.column);
    let value = match quantity.aggregate {
        Aggregate::Sum => sum(column),
        Aggregate::Count => count(column),
        Aggregate::CountDistinct => count_distinct(column),
        Aggregate::Avg => avg(column),
    };
    let units = match unit {
        Some(u) => count_distinct(ident(u)),
        None => count(lit(1)),
    };
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

fn read_groups(batch: &RecordBatch, keys: usize, out: &mut Groups) -> Result<()> {
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

/// The municipalities and the category values present in one slice.
type Members = (BTreeSet<String>, BTreeSet<Vec<String>>);

/// Builds the suppressed cells from the groups of every level.
struct Assembly<'a> {
    slices: usize,
    categories: usize,
    dims: &'a [String],
    follows: Option<&'a [(String, String)]>,
    factor: f64,
    min_units: u64,
}

impl Assembly<'_> {
    fn cells(
        &self,
        numerator: &HashMap<Level, Groups>,
        denominator: Option<&HashMap<Level, Groups>>,
    ) -> Vec<BenchmarkCell> {
        let empty = Groups::new();
        let num = |level: Level| numerator.get(&level).unwrap_or(&empty);
        // Slice → municipalities and categories present in it.
        let mut slices: BTreeMap<Vec<String>, Members> = BTreeMap::new();
        for key in num(Level::Cells).keys() {
            let (slice, category) = key[1..].split_at(self.slices);
            let entry = slices.entry(slice.to_vec()).or_default();
            entry.0.insert(key[0].clone());
            entry.1.insert(category.to_vec());
        }
        let row_totals = self.categories > 0;
        let mut out = Vec::new();
        for (slice, (municipalities, categories)) in slices {
            let municipalities: Vec<String> = municipalities.into_iter().collect();
            let categories: Vec<Vec<String>> = categories.into_iter().collect();
            let (rows, cols) = (municipalities.len(), categories.len());
            let mut grid = Grid::new(rows, cols, row_totals);
            // (row, col) → (level, numerator key)
            let mut keys: HashMap<(usize, usize), (Level, Vec<String>)> = HashMap::new();
            let mut place = |row: usize, col: usize, level: Level, key: Vec<String>| {
                if let Some((_, units)) = num(level).get(&key) {
                    grid.insert(row, col, *units);
                    keys.insert((row, col), (level, key));
                }
            };
            for (c, category) in categories.iter().enumerate() {
                for (r, m) in municipalities.iter().enumerate() {
                    place(
                        r,
                        c,
                        Level::Cells,
                        [vec![m.clone()], slice.clone(), category.clone()].concat(),
                    );
                }
                place(
                    rows,
                    c,
                    Level::Country,
                    [slice.clone(), category.clone()].concat(),
                );
            }
            if row_totals {
                for (r, m) in municipalities.iter().enumerate() {
                    place(
                        r,
                        cols,
                        Level::MunicipalityTotals,
                        [vec![m.clone()], slice.clone()].concat(),
                    );
                }
                place(rows, cols, Level::CountryTotal, slice.clone());
            }
            grid.suppress(self.min_units);
            for (&(row, col), cell) in grid.cells() {
                let Some((level, key)) = keys.get(&(row, col)) else {
                    continue;
                };
                let value = match cell.suppressed {
                    Some(reason) => CellValue::Suppressed(reason),
                    None => self.value(*level, key, num(*level), denominator),
                };
                out.push(BenchmarkCell {
                    municipality: municipalities.get(row).cloned(),
                    slice: slice.clone(),
                    category: categories.get(col).cloned(),
                    value,
                });
            }
        }
        out
    }

    /// The published value of a cell: its numerator over its denominator, times the factor.
    fn value(
        &self,
        level: Level,
        key: &[String],
        numerator: &Groups,
        denominator: Option<&HashMap<Level, Groups>>,
    ) -> CellValue {
        let Some((Some(num), _)) = numerator.get(key) else {
            return CellValue::NotDefined;
        };
        let ratio = match (denominator, self.follows) {
            (Some(den), Some(follows)) => {
                let dims = if level.per_municipality() {
                    &key[1..]
                } else {
                    key
                };
                let mut den_key: Vec<String> = Vec::new();
                if level.per_municipality() {
                    den_key.push(key[0].clone());
                }
                for (dimension, _) in follows {
                    let position = self.dims.iter().position(|d| d == dimension);
                    if let Some(value) = position.and_then(|p| dims.get(p)) {
                        den_key.push(value.clone());
                    }
                }
                match den.get(&level).and_then(|g| g.get(&den_key)) {
                    Some((Some(d), _)) if *d != 0.0 => num / d,
                    _ => return CellValue::NotDefined,
                }
            }
            _ => *num,
        };
        let value = ratio * self.factor;
        if value.is_finite() {
            CellValue::Value(value)
        } else {
            CellValue::NotDefined
        }
    }
}
