//! The wire shape of key figures: the summary of a definition, and a computed table cut
//! to the caller's comparison group and filters, with ranks and quartiles.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dap_lake::benchmark::{BenchmarkScope, BenchmarkTable, CellValue, KeyFigureDef, Quantity};
use dap_openapi::model::datasets::Localised;
use dap_openapi::model::key_figures::{
    DisclosureRule, GroupStatistics, KeyFigureCell, KeyFigureDimension, KeyFigureSummary,
    KeyFigureTable,
};
use dap_schema::{MunicipalityCode, municipalities};

use super::{ComparisonGroup, DimensionFilter};
use crate::app::AppError;

/// The disclosure method, as every answer states it.
pub const METHOD: &str = "Primary suppression: a cell with fewer contributing units than min_units is withheld. \
Complementary suppression: further cells are withheld so that no withheld cell can be computed from the published \
cells and the municipality and country totals (every withheld cell lies on a cycle of withheld cells in its table). \
Suppression is computed once over all municipalities and dimension values, so no filter or comparison group changes it; \
comparison-group statistics use published cells only, and no group totals are published.";

const COUNTRY: &str = "Hele landet";

fn quantity(q: &Quantity) -> String {
    let mut text = format!("{}({}.{})", q.aggregate.as_str(), q.dataset, q.column);
    if !q.filters.is_empty() {
        let filters: Vec<String> = q
            .filters
            .iter()
            .map(|f| format!("{} {} {}", f.column, f.operator.name(), f.values.join(",")))
            .collect();
        text.push_str(&format!(" where {}", filters.join(" and ")));
    }
    text
}

/// A definition as listed.
pub fn summary(scope: &BenchmarkScope) -> KeyFigureSummary {
    let d: &KeyFigureDef = scope.definition();
    let mut measure = quantity(&d.numerator);
    if let Some(den) = &d.denominator {
        measure = format!("{measure} / {}", quantity(&den.quantity));
    }
    if d.factor != 1.0 {
        measure = format!("{measure} × {}", d.factor);
    }
    KeyFigureSummary {
        id: d.id.clone(),
        title: Localised {
            da: d.title_da.clone(),
            en: d.title_en.clone(),
        },
        description: Localised {
            da: d.description_da.clone(),
            en: d.description_en.clone(),
        },
        measure,
        unit: d.unit.clone(),
        decimals: d.decimals,
        dimensions: d
            .dimensions
            .iter()
            .map(|x| KeyFigureDimension {
                column: x.column.clone(),
                kind: if x.slice { "slice" } else { "category" },
            })
            .collect(),
        disclosure: DisclosureRule {
            min_units: d.disclosure.min_units,
            unit_column: d.disclosure.unit_column.clone(),
            method: METHOD.into(),
        },
        datasets: scope.datasets().iter().map(|x| x.id.to_string()).collect(),
    }
}

/// The computed table for one caller: the group's municipalities and the country.
pub fn table(
    scope: &BenchmarkScope,
    table: &BenchmarkTable,
    acting: &MunicipalityCode,
    group: &ComparisonGroup,
    filters: &[DimensionFilter],
) -> Result<KeyFigureTable, AppError> {
    let def = scope.definition();
    let slices = def.slice_columns();
    let categories = def.category_columns();
    let members: Option<BTreeSet<&str>> = match group {
        ComparisonGroup::All => None,
        ComparisonGroup::Selected(codes) => Some(
            codes
                .iter()
                .map(MunicipalityCode::as_str)
                .chain([acting.as_str()])
                .collect(),
        ),
    };
    check_values(table, &slices, &categories, filters)?;
    let names: HashMap<&str, &str> = municipalities()
        .iter()
        .map(|m| (m.code.as_str(), m.name.as_str()))
        .collect();
    let mut cells: Vec<KeyFigureCell> = Vec::new();
    for cell in &table.cells {
        if let (Some(m), Some(members)) = (&cell.municipality, &members)
            && !members.contains(m.as_str())
        {
            continue;
        }
        let mut dimensions: BTreeMap<String, String> = slices
            .iter()
            .cloned()
            .zip(cell.slice.iter().cloned())
            .collect();
        if let Some(category) = &cell.category {
            dimensions.extend(categories.iter().cloned().zip(category.iter().cloned()));
        }
        let keep = filters.iter().all(|f| match dimensions.get(&f.column) {
            Some(v) => f.values.contains(v),
            None => true, // a total over the categories
        });
        if !keep {
            continue;
        }
        let (value, status, reason) = match cell.value {
            CellValue::Value(v) => (Some(v), "published", None),
            CellValue::Suppressed(r) => (None, "suppressed", Some(r.as_str())),
            CellValue::NotDefined => (None, "not_defined", None),
        };
        let name = match &cell.municipality {
            Some(m) => names.get(m.as_str()).copied().unwrap_or(m.as_str()),
            None => COUNTRY,
        };
        cells.push(KeyFigureCell {
            own: cell.municipality.as_deref() == Some(acting.as_str()),
            name: name.to_owned(),
            municipality: cell.municipality.clone(),
            total: cell.category.is_none(),
            dimensions,
            value,
            status,
            reason,
            rank: None,
        });
    }
    cells.sort_by(|a, b| {
        (
            &a.dimensions,
            a.total,
            a.municipality.is_none(),
            &a.municipality,
        )
            .cmp(&(
                &b.dimensions,
                b.total,
                b.municipality.is_none(),
                &b.municipality,
            ))
    });
    let statistics = rank(&mut cells);
    Ok(KeyFigureTable {
        summary: summary(scope),
        municipality: acting.to_string(),
        group: match group {
            ComparisonGroup::All => "all",
            ComparisonGroup::Selected(_) => "selected",
        },
        table_versions: table.versions.iter().cloned().collect(),
        cells,
        statistics,
    })
}

/// A filter value that names no dimension value is a 400 that lists the values.
fn check_values(
    table: &BenchmarkTable,
    slices: &[String],
    categories: &[String],
    filters: &[DimensionFilter],
) -> Result<(), AppError> {
    for filter in filters {
        let known: BTreeSet<&str> = table
            .cells
            .iter()
            .filter_map(|c| match slices.iter().position(|s| *s == filter.column) {
                Some(i) => c.slice.get(i),
                None => {
                    let i = categories.iter().position(|s| *s == filter.column)?;
                    c.category.as_ref()?.get(i)
                }
            })
            .map(String::as_str)
            .collect();
        if let Some(unknown) = filter.values.iter().find(|v| !known.contains(v.as_str())) {
            let listed: Vec<&str> = known.iter().take(50).copied().collect();
            return Err(AppError::InvalidParameter(format!(
                "'{}' is not a value of dimension {}; its values: {}",
                unknown.chars().take(64).collect::<String>(),
                filter.column,
                listed.join(", ")
            )));
        }
    }
    Ok(())
}

/// Ranks the group's published values per dimension values (1 = highest) and gives
/// their quartiles. Withheld cells get no rank and are not in the statistics.
fn rank(cells: &mut [KeyFigureCell]) -> Vec<GroupStatistics> {
    let mut groups: BTreeMap<(BTreeMap<String, String>, bool), Vec<usize>> = BTreeMap::new();
    for (i, c) in cells.iter().enumerate() {
        if c.municipality.is_some() {
            groups
                .entry((c.dimensions.clone(), c.total))
                .or_default()
                .push(i);
        }
    }
    let mut out = Vec::new();
    for ((dimensions, total), members) in groups {
        let mut values: Vec<f64> = members.iter().filter_map(|&i| cells[i].value).collect();
        values.sort_by(|a, b| a.total_cmp(b));
        for &i in &members {
            if let Some(v) = cells[i].value {
                cells[i].rank = Some(1 + values.iter().filter(|x| **x > v).count());
            }
        }
        out.push(GroupStatistics {
            dimensions,
            total,
            published: values.len(),
            withheld: members.len() - values.len(),
            min: values.first().copied(),
            q1: quantile(&values, 0.25),
            median: quantile(&values, 0.5),
            q3: quantile(&values, 0.75),
            max: values.last().copied(),
        });
    }
    out
}

/// Linear interpolation between the closest ranks of sorted `values`.
fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let last = values.len().checked_sub(1)?;
    let position = q * last as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let fraction = position - below as f64;
    Some(values[below] + (values[above.min(last)] - values[below]) * fraction)
}
