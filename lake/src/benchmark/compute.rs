//! [`Lake::benchmark`]: the key figure for every municipality, every slice and category,
//! with municipality and country totals, after suppression.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use dap_schema::{REGIONS, municipalities};
use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::compute::cast as cast_array;
use deltalake::arrow::datatypes::{DataType, Float64Type, UInt64Type};
use deltalake::datafusion::functions_aggregate::expr_fn::{count, count_distinct, sum};
use deltalake::datafusion::logical_expr::when;
use deltalake::datafusion::prelude::{DataFrame, Expr, abs, cast, ident, in_list, lit};
use deltalake::datafusion::scalar::ScalarValue;

use super::bands::Placement;
use super::suppress::{Grid, Reason};
use super::{Aggregate, BenchmarkScope, Dominance, Resolved};
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

/// Whose value a cell is: one municipality's, or the total of a group of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Area {
    Municipality(String),
    /// A region, by its code (1081–1085).
    Region(u16),
    /// A size band, by its id (see [`super::SizeBands`]).
    Size(String),
    Country,
}

/// One cell of the key figure: an area's value for one slice and one category (or, with
/// `category` absent, the total over the categories).
#[derive(Debug, Clone, PartialEq)]
pub struct BenchmarkCell {
    pub area: Area,
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
    /// Per slice, each municipality's size band id (empty without population data).
    pub bands: BTreeMap<Vec<String>, HashMap<String, String>>,
}

/// Aggregates by group key (values as text): the value and the contributing units.
type Groups = HashMap<Vec<String>, (Option<f64>, u64)>;

/// Whose rows a grouping adds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Lead {
    Municipality,
    Region,
    Size,
    Country,
}

const REGION_KEY: &str = "__dap_region";
const SIZE_KEY: &str = "__dap_size";

impl Lead {
    fn column(self, tenant: &str) -> Option<String> {
        match self {
            Self::Municipality => Some(tenant.to_owned()),
            Self::Region => Some(REGION_KEY.to_owned()),
            Self::Size => Some(SIZE_KEY.to_owned()),
            Self::Country => None,
        }
    }
}

/// A grouping of a table: whose rows, and per category or over all categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Level {
    lead: Lead,
    categories: bool,
}

/// How municipalities map to the groups with published totals.
struct Membership {
    placement: Option<Placement>,
    /// Size bands follow the slice's year (the position of the year among the slices).
    year: Option<usize>,
}

impl Membership {
    fn band(&self, municipality: &str, slice: &[String]) -> Option<&String> {
        let year = self.year.and_then(|i| slice.get(i)).map(String::as_str);
        self.placement.as_ref()?.band(municipality, year)
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

        // Size bands: the population per municipality and year, and which year decides.
        let mut versions: Vec<(String, u64)> = Vec::new();
        let mut population_version = None;
        let mut membership = Membership {
            placement: None,
            year: None,
        };
        let mut den_year: Option<String> = None;
        if let Some((bands, population)) = &scope.bands {
            let pop_tenant = population.dataset.tenant_column.clone();
            let keys = [pop_tenant.clone(), bands.year_column.clone()];
            let needed = [
                pop_tenant,
                bands.year_column.clone(),
                population.column.clone(),
            ];
            let (version, base) = self.base(population, &keys, &needed).await?;
            population_version = Some((population.dataset.id.to_string(), version));
            let groups = aggregate_rows(base, &keys, sum(ident(&population.column)), None).await?;
            let placement = Placement::new(bands, &groups);
            if !placement.latest.is_empty() {
                let year_slice = slices.iter().position(|s| *s == bands.year_column);
                den_year = scope.denominator.as_ref().and_then(|(_, follows)| {
                    follows
                        .iter()
                        .find(|(d, _)| *d == bands.year_column)
                        .map(|(_, c)| c.clone())
                });
                // Per year only when the denominator (if any) follows the year too, so
                // numerator and denominator group the same municipalities.
                if scope.denominator.is_none() || den_year.is_some() {
                    membership.year = year_slice;
                }
                membership.placement = Some(placement);
            }
        }
        let year_column = |own: Option<String>| membership.year.and(own);

        let mut leads = vec![Lead::Municipality, Lead::Country, Lead::Region];
        if membership.placement.is_some() {
            leads.push(Lead::Size);
        }
        let levels: Vec<Level> = leads
            .iter()
            .flat_map(|&lead| {
                [true, false].map(|c| Level {
                    lead,
                    categories: c,
                })
            })
            .filter(|l| l.categories || !categories.is_empty())
            .collect();
        let level_dims = |level: Level| -> Vec<String> {
            if level.categories {
                dims.clone()
            } else {
                slices.clone()
            }
        };

        let mut needed: Vec<String> = dims.clone();
        needed.extend([tenant.clone(), unit.clone(), scope.numerator.column.clone()]);
        let (version, base) = self.base(&scope.numerator, &dims, &needed).await?;
        let numerator_year = membership.year.and_then(|i| slices.get(i)).cloned();
        let base = with_groups(base, &tenant, numerator_year.as_deref(), &membership)?;
        let finest = |tenant: &str, columns: &[String]| -> Vec<String> {
            let mut keys: Vec<String> = [Lead::Municipality, Lead::Region, Lead::Size]
                .into_iter()
                .filter(|l| *l != Lead::Size || membership.placement.is_some())
                .filter_map(|l| l.column(tenant))
                .collect();
            for c in columns {
                if !keys.contains(c) {
                    keys.push(c.clone());
                }
            }
            keys
        };
        let mut columns = dims.clone();
        columns.push(unit.clone());
        let base = partials(base, &finest(&tenant, &columns), &scope.numerator).await?;
        versions.push((scope.numerator.dataset.id.to_string(), version));
        let mut numerator = HashMap::new();
        let mut dominated = HashMap::new();
        for &level in &levels {
            let group = group_of(level, &tenant, level_dims(level));
            let frame = lead_present(base.clone(), level, &tenant)?;
            let groups = aggregate(frame.clone(), &group, &scope.numerator, Some(&unit)).await?;
            numerator.insert(level, groups);
            if let Some(rule) = &def.disclosure.dominance {
                let found = dominance(frame, &group, &scope.numerator, &unit, rule).await?;
                dominated.insert(level, found);
            }
        }

        let mut denominator = HashMap::new();
        if let Some((quantity, follows)) = &scope.denominator {
            let den_tenant = quantity.dataset.tenant_column.clone();
            let columns: Vec<String> = follows.iter().map(|(_, c)| c.clone()).collect();
            let mut needed = columns.clone();
            needed.extend([den_tenant.clone(), quantity.column.clone()]);
            let (version, base) = self.base(quantity, &columns, &needed).await?;
            if !versions
                .iter()
                .any(|(d, _)| *d == quantity.dataset.id.to_string())
            {
                versions.push((quantity.dataset.id.to_string(), version));
            }
            let base = with_groups(
                base,
                &den_tenant,
                year_column(den_year.clone()).as_deref(),
                &membership,
            )?;
            let base = partials(base, &finest(&den_tenant, &columns), quantity).await?;
            for &level in &levels {
                let present = level_dims(level);
                let following: Vec<String> = follows
                    .iter()
                    .filter(|(d, _)| present.contains(d))
                    .map(|(_, c)| c.clone())
                    .collect();
                let group = group_of(level, &den_tenant, following);
                let frame = lead_present(base.clone(), level, &den_tenant)?;
                denominator.insert(level, aggregate(frame, &group, quantity, None).await?);
            }
        }
        // In the order of `BenchmarkScope::datasets`, so the cache can compare them.
        if let Some((id, version)) = population_version
            && !versions.iter().any(|(d, _)| *d == id)
        {
            versions.push((id, version));
        }
        let table = Assembly {
            slices: slices.len(),
            categories: categories.len(),
            dims: &dims,
            follows: scope.denominator.as_ref().map(|(_, f)| f.as_slice()),
            factor: def.factor,
            min_units: def.disclosure.min_units,
            membership: &membership,
        };
        let (cells, bands) = table.cells(
            &numerator,
            &dominated,
            scope.denominator.as_ref().map(|_| &denominator),
        );
        Ok(BenchmarkTable {
            versions,
            cells,
            bands,
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

/// The grouping columns of `level`: its lead's column, then the dimensions.
fn group_of(level: Level, tenant: &str, dims: Vec<String>) -> Vec<String> {
    let mut group: Vec<String> = level.lead.column(tenant).into_iter().collect();
    group.extend(dims);
    group
}

/// Rows that belong to a group of the level's lead (a municipality outside every band,
/// for want of population data, is in no size group).
fn lead_present(frame: DataFrame, level: Level, tenant: &str) -> Result<DataFrame> {
    Ok(match level.lead {
        Lead::Region | Lead::Size => {
            frame.filter(ident(level.lead.column(tenant).unwrap_or_default()).is_not_null())?
        }
        _ => frame,
    })
}

/// Adds each row's region and size band as columns, from its municipality (and year).
fn with_groups(
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
fn case(branches: Vec<(Expr, Expr)>) -> Result<Expr> {
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
async fn dominance(
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
    let mut cells: HashMap<Vec<String>, (f64, Vec<f64>)> = HashMap::new();
    for (key, (value, _)) in per_unit {
        let share = value.unwrap_or_default();
        let entry = cells.entry(key[..group.len()].to_vec()).or_default();
        entry.0 += share;
        entry.1.push(share);
    }
    let n = rule.n as usize;
    Ok(cells
        .into_iter()
        .filter_map(|(key, (total, mut shares))| {
            shares.sort_by(|a, b| b.total_cmp(a));
            let top: f64 = shares.iter().take(n).sum();
            (total > 0.0 && top > rule.k / 100.0 * total).then_some(key)
        })
        .collect())
}

/// Columns of the partial aggregates.
const PART_SUM: &str = "__dap_sum";
const PART_COUNT: &str = "__dap_count";
const PART_ABS: &str = "__dap_abs";

/// One scan of `frame`: the partial aggregates of the quantity per finest group (`keys`:
/// municipality, its groups, the dimensions and the unit; plus the column itself for a
/// distinct count), held in memory. Every level is computed from them, so a key figure
/// reads its tables once. They are as many as the cells times their contributing units,
/// not as many as the rows.
async fn partials(frame: DataFrame, keys: &[String], quantity: &Resolved) -> Result<DataFrame> {
    let mut group: Vec<String> = keys.to_vec();
    if quantity.aggregate == Aggregate::CountDistinct && !group.contains(&quantity.column) {
        group.push(quantity.column.clone());
    }
    let value = || cast(ident(&quantity.column), DataType::Float64);
    let mut parts = vec![count(ident(&quantity.column)).alias(PART_COUNT)];
    // Sums only of the numeric quantities (a count may count text).
    if matches!(quantity.aggregate, Aggregate::Sum | Aggregate::Avg) {
        parts.push(sum(value()).alias(PART_SUM));
        parts.push(sum(abs(value())).alias(PART_ABS));
    }
    let frame = frame.aggregate(group.iter().map(ident).collect(), parts)?;
    Ok(frame.cache().await?)
}

/// The quantity per `group`, from its partial aggregates.
async fn aggregate(
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
    aggregate_rows(partials, group, value, unit).await
}

/// A quantity aggregated directly over rows (the population of the size bands).
async fn aggregate_rows(
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
async fn aggregate_exprs(
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
    membership: &'a Membership,
}

type Bands = BTreeMap<Vec<String>, HashMap<String, String>>;

impl Assembly<'_> {
    fn cells(
        &self,
        numerator: &HashMap<Level, Groups>,
        dominated: &HashMap<Level, HashSet<Vec<String>>>,
        denominator: Option<&HashMap<Level, Groups>>,
    ) -> (Vec<BenchmarkCell>, Bands) {
        let empty = Groups::new();
        let num = |level: Level| numerator.get(&level).unwrap_or(&empty);
        let cells_level = Level {
            lead: Lead::Municipality,
            categories: true,
        };
        // Slice → municipalities and categories present in it.
        let mut slices: BTreeMap<Vec<String>, Members> = BTreeMap::new();
        for key in num(cells_level).keys() {
            let (slice, category) = key[1..].split_at(self.slices);
            let entry = slices.entry(slice.to_vec()).or_default();
            entry.0.insert(key[0].clone());
            entry.1.insert(category.to_vec());
        }
        let row_totals = self.categories > 0;
        let mut out = Vec::new();
        let mut bands = Bands::new();
        for (slice, (municipalities, categories)) in slices {
            let municipalities: Vec<String> = municipalities.into_iter().collect();
            let categories: Vec<Vec<String>> = categories.into_iter().collect();
            let (rows, cols) = (municipalities.len(), categories.len());
            let mut grid = Grid::new(rows, cols, row_totals);
            // Rows: municipalities, the country, then the groups with published totals.
            let mut areas: Vec<(Area, Option<String>)> = municipalities
                .iter()
                .map(|m| (Area::Municipality(m.clone()), Some(m.clone())))
                .collect();
            areas.push((Area::Country, None));
            let mut slice_bands = HashMap::new();
            for m in &municipalities {
                if let Some(band) = self.membership.band(m, &slice) {
                    slice_bands.insert(m.clone(), band.clone());
                }
            }
            let mut groups: BTreeMap<Area, Vec<usize>> = BTreeMap::new();
            for (r, m) in municipalities.iter().enumerate() {
                let region = dap_schema::MunicipalityCode::parse(m)
                    .ok()
                    .and_then(|c| c.municipality())
                    .map(|x| x.region.code);
                if let Some(code) = region {
                    groups.entry(Area::Region(code)).or_default().push(r);
                }
                if let Some(band) = slice_bands.get(m) {
                    groups.entry(Area::Size(band.clone())).or_default().push(r);
                }
            }
            for (area, members) in groups {
                let key = match &area {
                    Area::Region(code) => Some(code.to_string()),
                    Area::Size(band) => Some(band.clone()),
                    _ => None,
                };
                grid.add_group(members);
                areas.push((area, key));
            }
            // (row, col) → (level, numerator key)
            let mut keys: HashMap<(usize, usize), (Level, Vec<String>)> = HashMap::new();
            let lead_of = |area: &Area| match area {
                Area::Municipality(_) => Lead::Municipality,
                Area::Region(_) => Lead::Region,
                Area::Size(_) => Lead::Size,
                Area::Country => Lead::Country,
            };
            for (r, (area, lead_key)) in areas.iter().enumerate() {
                let lead = lead_of(area);
                let head: Vec<String> = lead_key.iter().cloned().collect();
                let mut place = |col: usize, categories: bool, key: Vec<String>| {
                    let level = Level { lead, categories };
                    if let Some((_, units)) = num(level).get(&key) {
                        let is_dominated = dominated.get(&level).is_some_and(|d| d.contains(&key));
                        grid.insert_cell(r, col, *units, is_dominated);
                        keys.insert((r, col), (level, key));
                    }
                };
                for (c, category) in categories.iter().enumerate() {
                    place(
                        c,
                        true,
                        [head.clone(), slice.clone(), category.clone()].concat(),
                    );
                }
                if row_totals {
                    place(cols, false, [head.clone(), slice.clone()].concat());
                }
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
                    area: areas[row].0.clone(),
                    slice: slice.clone(),
                    category: categories.get(col).cloned(),
                    value,
                });
            }
            if !slice_bands.is_empty() {
                bands.insert(slice.clone(), slice_bands);
            }
        }
        (out, bands)
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
        let led = level.lead != Lead::Country;
        let ratio = match (denominator, self.follows) {
            (Some(den), Some(follows)) => {
                let dims = if led { &key[1..] } else { key };
                let mut den_key: Vec<String> = Vec::new();
                if led {
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
