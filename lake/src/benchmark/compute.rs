//! [`Lake::benchmark`]: the key figure for every municipality, every slice and category,
//! with municipality and country totals, after suppression.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use deltalake::datafusion::functions_aggregate::expr_fn::sum;
use deltalake::datafusion::prelude::{DataFrame, ident};

use super::assembly::Assembly;
use super::bands::Placement;
use super::frames::{
    aggregate, aggregate_rows, dominance, group_of, lead_present, partials, with_groups,
};
use super::suppress::Reason;
use super::{BenchmarkScope, Resolved};
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
pub(super) type Groups = HashMap<Vec<String>, (Option<f64>, u64)>;

/// Whose rows a grouping adds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Lead {
    Municipality,
    Region,
    Size,
    Country,
}

pub(super) const REGION_KEY: &str = "__dap_region";
pub(super) const SIZE_KEY: &str = "__dap_size";

impl Lead {
    pub(super) fn column(self, tenant: &str) -> Option<String> {
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
pub(super) struct Level {
    pub lead: Lead,
    pub categories: bool,
}

/// How municipalities map to the groups with published totals.
pub(super) struct Membership {
    pub placement: Option<Placement>,
    /// Size bands follow the slice's year (the position of the year among the slices).
    pub year: Option<usize>,
}

impl Membership {
    pub(super) fn band(&self, municipality: &str, slice: &[String]) -> Option<&String> {
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
        let keys = finest(&tenant, &columns);
        let kept = partials(base, &keys, &scope.numerator, &self.storing.dir);
        let kept = kept.await?;
        let base = kept.frame();
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
            let keys = finest(&den_tenant, &columns);
            let kept = partials(base, &keys, quantity, &self.storing.dir);
            let kept = kept.await?;
            let base = kept.frame();
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
        // Every municipality's partition is read: none pruned.
        let files = table.snapshot()?.log_data().num_files();
        self.stats
            .scanned(quantity.dataset.id.as_str(), files, files);
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
