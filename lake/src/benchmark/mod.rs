//! Key figures: the one sanctioned read across municipalities (DESIGN invariant 9).
//!
//! A [`KeyFigureDef`] is declarative: a quantity over a dataset (sum, count, count of
//! distinct values or average of a column, under typed filters), an optional denominator
//! from another (or the same) dataset, the dimensions it is broken down by and a
//! disclosure rule. [`BenchmarkScope::for_key_figure`] checks a definition against the
//! catalogue; [`crate::Lake::benchmark`] is the only read a benchmark scope permits. It
//! reads every municipality's partition, but only the definition's columns, aggregates
//! in the query engine, and returns values after primary and complementary suppression
//! ([`suppress`]): never rows, never a contributor count, never an unsuppressed small
//! cell. A row scope ([`dap_schema::AccessScope`]) cannot reach this path and a benchmark
//! scope cannot reach the row paths: they are different types.

mod assembly;
mod bands;
mod compute;
mod frames;
pub mod seeded;
pub mod suppress;

use dap_schema::{Classification, ColumnDef, DatasetDef};
use serde::{Deserialize, Serialize};

use crate::predicate::{Filter, FilterSpec, names};
use crate::{Error, Result};

pub use bands::{SizeBand, SizeBands};
pub use compute::{Area, BenchmarkCell, BenchmarkTable, CellValue};
pub use suppress::Reason;

/// The smallest minimum of contributing units a definition may set.
pub const MIN_UNITS_FLOOR: u64 = 3;

/// How a quantity aggregates its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    Sum,
    /// Rows where the column is not null.
    Count,
    CountDistinct,
    Avg,
}

impl Aggregate {
    /// The name used in definitions and answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sum => "sum",
            Self::Count => "count",
            Self::CountDistinct => "count_distinct",
            Self::Avg => "avg",
        }
    }
}

/// An aggregate of one column of one dataset, under filters (ANDed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quantity {
    pub dataset: String,
    pub aggregate: Aggregate,
    pub column: String,
    pub filters: Vec<FilterSpec>,
}

/// The denominator of a ratio, and which of the key figure's dimensions it follows:
/// `(dimension, column of the denominator's dataset)`. Dimensions it does not follow
/// share one denominator (e.g. population per year for every function).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Denominator {
    pub quantity: Quantity,
    pub follows: Vec<(String, String)>,
}

/// A dimension: a column of the numerator's dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    pub column: String,
    /// A slice dimension (e.g. the year) gives separate tables; a category dimension
    /// (e.g. the function) gives the columns of one table, with municipality totals.
    pub slice: bool,
}

/// The disclosure rule: a cell is published only if at least `min_units` distinct
/// values of `unit_column` (in the numerator's rows) contribute to it, and, with a
/// dominance rule, if its largest contributors do not hold too large a share of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disclosure {
    pub min_units: u64,
    pub unit_column: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dominance: Option<Dominance>,
}

/// The (n, k) dominance rule: a cell is withheld when its `n` largest contributing units
/// (values of the unit column) hold more than `k` per cent of it. Contributions are
/// taken in absolute value, so a sum of mixed signs (postings) cannot hide a dominant
/// contributor. Applies to sums and counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dominance {
    pub n: u32,
    pub k: f64,
}

/// A key figure, as the catalogue holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFigureDef {
    pub id: String,
    pub title_da: String,
    pub title_en: String,
    pub description_da: String,
    pub description_en: String,
    pub numerator: Quantity,
    pub denominator: Option<Denominator>,
    /// The ratio is multiplied by this (100 for per cent).
    pub factor: f64,
    pub dimensions: Vec<Dimension>,
    /// Unit of the value, e.g. `kr. pr. indbygger`.
    pub unit: String,
    /// Decimals to show.
    pub decimals: u8,
    pub disclosure: Disclosure,
}

impl KeyFigureDef {
    /// The slice dimensions' columns, in order.
    pub fn slice_columns(&self) -> Vec<String> {
        self.dimensions
            .iter()
            .filter(|d| d.slice)
            .map(|d| d.column.clone())
            .collect()
    }

    /// The category dimensions' columns, in order.
    pub fn category_columns(&self) -> Vec<String> {
        self.dimensions
            .iter()
            .filter(|d| !d.slice)
            .map(|d| d.column.clone())
            .collect()
    }
}

/// A quantity checked against its dataset: typed filters over non-sensitive columns.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub dataset: DatasetDef,
    pub aggregate: Aggregate,
    pub column: String,
    pub filters: Vec<Filter>,
}

/// The right to compute one key figure across all municipalities. It holds only the
/// definition's columns; the only read it permits is [`crate::Lake::benchmark`], which
/// returns suppressed aggregates. Created from a definition and the catalogue.
#[derive(Debug, Clone)]
pub struct BenchmarkScope {
    pub(crate) definition: KeyFigureDef,
    pub(crate) numerator: Resolved,
    pub(crate) denominator: Option<(Resolved, Vec<(String, String)>)>,
    /// The population that places municipalities in size bands, when the catalogue
    /// holds its dataset.
    pub(crate) bands: Option<(SizeBands, Resolved)>,
}

impl BenchmarkScope {
    /// Checks `definition` against the datasets `lookup` finds: every column exists and
    /// is not sensitive, filters type-check, and the disclosure rule is at least
    /// [`MIN_UNITS_FLOOR`] units of a column of the numerator's dataset. A definition
    /// that would allow small groups is refused with the reason.
    pub fn for_key_figure(
        definition: &KeyFigureDef,
        lookup: impl Fn(&str) -> Option<DatasetDef>,
    ) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidParameter {
            parameter: "key figure definition",
            reason,
        };
        if definition.disclosure.min_units < MIN_UNITS_FLOOR {
            return Err(invalid(format!(
                "the disclosure rule's minimum is {}; it must be at least {MIN_UNITS_FLOOR} contributing units",
                definition.disclosure.min_units
            )));
        }
        if let Some(rule) = &definition.disclosure.dominance {
            check_dominance(rule, definition.numerator.aggregate).map_err(invalid)?;
        }
        let numerator = resolve(&definition.numerator, &lookup)?;
        let dataset = &numerator.dataset;
        for column in definition
            .dimensions
            .iter()
            .map(|d| d.column.as_str())
            .chain([definition.disclosure.unit_column.as_str()])
        {
            column_of(dataset, column)?;
        }
        let denominator = match &definition.denominator {
            None => None,
            Some(d) => {
                let resolved = resolve(&d.quantity, &lookup)?;
                for (dimension, column) in &d.follows {
                    if !definition.dimensions.iter().any(|x| &x.column == dimension) {
                        return Err(invalid(format!(
                            "the denominator follows '{dimension}', which is not a dimension of the key figure"
                        )));
                    }
                    column_of(&resolved.dataset, column)?;
                }
                Some((resolved, d.follows.clone()))
            }
        };
        let bands = SizeBands::danish();
        // Without the population dataset there are no size bands (the group is refused).
        let population = resolve(&bands.population, &lookup).ok();
        Ok(Self {
            definition: definition.clone(),
            numerator,
            denominator,
            bands: population.map(|p| (bands, p)),
        })
    }

    /// The size bands, when the population dataset is in the catalogue.
    pub fn size_bands(&self) -> Option<&SizeBands> {
        self.bands.as_ref().map(|(b, _)| b)
    }

    /// The definition this scope computes.
    pub fn definition(&self) -> &KeyFigureDef {
        &self.definition
    }

    /// The datasets it reads (numerator first).
    pub fn datasets(&self) -> Vec<&DatasetDef> {
        let mut out = vec![&self.numerator.dataset];
        let others = self
            .denominator
            .iter()
            .map(|(d, _)| &d.dataset)
            .chain(self.bands.iter().map(|(_, p)| &p.dataset));
        for dataset in others {
            if !out.iter().any(|d| d.id == dataset.id) {
                out.push(dataset);
            }
        }
        out
    }
}

/// A dominance rule is refused unless it can withhold something and apply: at least one
/// contributor, a share strictly between 0 and 100 per cent, on a sum or a count.
fn check_dominance(rule: &Dominance, aggregate: Aggregate) -> std::result::Result<(), String> {
    if rule.n == 0 {
        return Err("the dominance rule's n must be at least 1 (e.g. {\"n\": 1, \"k\": 50}: no single unit holds more than 50 per cent)".into());
    }
    if !(rule.k > 0.0 && rule.k < 100.0) {
        return Err(format!(
            "the dominance rule's k is a share in per cent strictly between 0 and 100; got {}",
            rule.k
        ));
    }
    if !matches!(aggregate, Aggregate::Sum | Aggregate::Count) {
        return Err(format!(
            "a dominance rule applies to sum and count key figures; this one is {}",
            aggregate.as_str()
        ));
    }
    Ok(())
}

/// Columns a key figure may name: every column but the sensitive ones.
fn usable(dataset: &DatasetDef) -> Vec<&ColumnDef> {
    dataset
        .columns
        .iter()
        .filter(|c| c.classification != Classification::Sensitive)
        .collect()
}

fn column_of<'a>(dataset: &'a DatasetDef, column: &str) -> Result<&'a ColumnDef> {
    let usable = usable(dataset);
    usable
        .iter()
        .find(|c| c.name == column)
        .copied()
        .ok_or_else(|| Error::UnknownColumn {
            parameter: "key figure definition",
            column: column.chars().take(64).collect(),
            valid: names(&usable),
        })
}

fn resolve(quantity: &Quantity, lookup: &impl Fn(&str) -> Option<DatasetDef>) -> Result<Resolved> {
    let dataset = lookup(&quantity.dataset).ok_or_else(|| Error::InvalidParameter {
        parameter: "key figure definition",
        reason: format!("no dataset '{}' in the catalogue", quantity.dataset),
    })?;
    let column = column_of(&dataset, &quantity.column)?;
    if matches!(quantity.aggregate, Aggregate::Sum | Aggregate::Avg)
        && !crate::aggregate::is_numeric(column.data_type)
    {
        return Err(Error::InvalidParameter {
            parameter: "key figure definition",
            reason: format!(
                "{} applies to numeric columns only; {} is {}",
                quantity.aggregate.as_str(),
                column.name,
                column.data_type
            ),
        });
    }
    let visible = usable(&dataset);
    let filters = quantity
        .filters
        .iter()
        .map(|f| Filter::typed(f, &visible))
        .collect::<Result<Vec<_>>>()?;
    Ok(Resolved {
        column: quantity.column.clone(),
        aggregate: quantity.aggregate,
        filters,
        dataset,
    })
}

#[cfg(test)]
mod tests {
    use super::seeded::demo_key_figures;
    use super::*;

    fn lookup(id: &str) -> Option<DatasetDef> {
        crate::demo::datasets()
            .into_iter()
            .find(|d| d.id.as_str() == id)
    }

    #[test]
    fn every_seeded_definition_resolves_against_the_demo_catalogue() {
        for definition in demo_key_figures() {
            let scope = BenchmarkScope::for_key_figure(&definition, lookup);
            assert!(scope.is_ok(), "{}: {:?}", definition.id, scope.err());
        }
    }

    #[test]
    fn definitions_that_would_allow_small_groups_or_sensitive_columns_are_refused() {
        let base = demo_key_figures().remove(2);
        let mut small = base.clone();
        small.disclosure.min_units = 2;
        let mut sensitive = base.clone();
        sensitive.disclosure.unit_column = "cpr".into();
        let mut unknown = base.clone();
        unknown.dimensions.push(Dimension {
            column: "nope".into(),
            slice: false,
        });
        let mut no_n = base.clone();
        no_n.disclosure.dominance = Some(Dominance { n: 0, k: 50.0 });
        let mut all_k = base.clone();
        all_k.disclosure.dominance = Some(Dominance { n: 1, k: 100.0 });
        let mut on_distinct = demo_key_figures().remove(3);
        on_distinct.disclosure.dominance = Some(Dominance { n: 2, k: 80.0 });
        let mut text_sum = base;
        text_sum.numerator.column = "leverandoer".into();
        for (what, definition) in [
            ("n must be at least 1", no_n),
            ("strictly between 0 and 100", all_k),
            ("sum and count", on_distinct),
            ("at least 3", small),
            ("cpr", sensitive),
            ("nope", unknown),
            ("numeric", text_sum),
        ] {
            let error = BenchmarkScope::for_key_figure(&definition, lookup)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.contains(what), "{what}: {error}");
        }
    }
}
