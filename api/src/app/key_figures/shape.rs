//! The wire shape of key figures: the summary of a definition, and a computed table cut
//! to the caller's comparison group and filters, with ranks and quartiles.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dap_lake::benchmark::{
    Area, BenchmarkScope, BenchmarkTable, CellValue, KeyFigureDef, Quantity,
};
use dap_openapi::model::datasets::Localised;
use dap_openapi::model::key_figures::{
    DisclosureRule, DominanceRule, GroupStatistics, KeyFigureCell, KeyFigureDimension,
    KeyFigureSummary, KeyFigureTable, SizeBandInfo,
};
use dap_schema::{MunicipalityCode, Region, municipalities};

use super::{ComparisonGroup, DimensionFilter};
use crate::app::AppError;

/// The disclosure method, as every answer states it.
pub const METHOD: &str = "Primary suppression: a cell with fewer contributing units than min_units is withheld. \
Complementary suppression: further cells are withheld so that no withheld cell can be computed from the published \
cells and the municipality and country totals (every withheld cell lies on a cycle of withheld cells in its table). \
A dominance rule, when set, withholds a cell whose n largest contributors hold more than k per cent of it. \
Suppression is computed once over all municipalities and dimension values, with the totals of the five regions, the size bands \
and the country in the same protected table, so no filter or comparison group changes it and no two requests can be differenced; \
comparison-group statistics use published cells only, and a group of named municipalities gets no total.";

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
            dominance: d
                .disclosure
                .dominance
                .map(|r| DominanceRule { n: r.n, k: r.k }),
        },
        datasets: scope.datasets().iter().map(|x| x.id.to_string()).collect(),
        size_bands: scope
            .size_bands()
            .map(|b| b.bands())
            .unwrap_or_default()
            .into_iter()
            .map(|b| SizeBandInfo {
                id: b.id,
                name: b.name,
            })
            .collect(),
    }
}

/// The computed table for one caller: the group's municipalities, the group's total
/// (region or size band) and the country.
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
    check_values(table, &slices, &categories, filters)?;
    let own_region = acting.municipality().map(|m| m.region);
    let selected: BTreeSet<&str> = match group {
        ComparisonGroup::Selected(codes) => codes.iter().map(MunicipalityCode::as_str).collect(),
        _ => BTreeSet::new(),
    };
    let band_of = |slice: &[String], m: &str| -> Option<&String> {
        table.bands.get(slice).and_then(|b| b.get(m))
    };
    let region_of = |m: &str| {
        MunicipalityCode::parse(m)
            .ok()
            .and_then(|c| c.municipality())
            .map(|x| x.region)
    };
    // Which cells the group shows.
    let shown = |area: &Area, slice: &[String]| -> bool {
        let own_band = band_of(slice, acting.as_str());
        match (group, area) {
            (_, Area::Country) => true,
            (_, Area::Municipality(m)) if m == acting.as_str() => true,
            (ComparisonGroup::All, Area::Municipality(_)) => true,
            (ComparisonGroup::Region, Area::Municipality(m)) => region_of(m) == own_region,
            (ComparisonGroup::Region, Area::Region(code)) => {
                own_region.is_some_and(|r| r.code == *code)
            }
            (ComparisonGroup::Size, Area::Municipality(m)) => {
                own_band.is_some() && band_of(slice, m) == own_band
            }
            (ComparisonGroup::Size, Area::Size(band)) => own_band == Some(band),
            (ComparisonGroup::Selected(_), Area::Municipality(m)) => selected.contains(m.as_str()),
            _ => false,
        }
    };
    let bands = scope.size_bands().map(|b| b.bands()).unwrap_or_default();
    let names: HashMap<&str, &str> = municipalities()
        .iter()
        .map(|m| (m.code.as_str(), m.name.as_str()))
        .collect();
    let mut cells: Vec<KeyFigureCell> = Vec::new();
    let mut group_names: BTreeSet<String> = BTreeSet::new();
    for cell in &table.cells {
        if !shown(&cell.area, &cell.slice) {
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
        // Which rule withheld a cell is told for the caller's own cells only: on another
        // municipality's, `too_few_units` would say it has between one and the minimum
        // less one units (a small count told by its class), and telling primary from
        // complementary cells shows an attacker which cell to solve for. Primary and
        // secondary suppression are flagged alike, as statistical offices flag them.
        let mine = matches!(&cell.area, Area::Municipality(m) if m.as_str() == acting.as_str());
        let (value, status, reason) = match cell.value {
            CellValue::Value(v) => (Some(v), "published", None),
            CellValue::Suppressed(r) => (None, "suppressed", mine.then(|| r.as_str())),
            CellValue::NotDefined => (None, "not_defined", None),
        };
        let (municipality, area, area_id, name) = match &cell.area {
            Area::Municipality(m) => (
                Some(m.clone()),
                "municipality",
                None,
                names
                    .get(m.as_str())
                    .copied()
                    .unwrap_or(m.as_str())
                    .to_owned(),
            ),
            Area::Region(code) => (
                None,
                "region",
                Some(code.to_string()),
                Region::from_code(*code).map_or_else(|| code.to_string(), |r| r.name.to_owned()),
            ),
            Area::Size(band) => (
                None,
                "size",
                Some(band.clone()),
                bands
                    .iter()
                    .find(|b| b.id == *band)
                    .map_or_else(|| band.clone(), |b| b.name.clone()),
            ),
            Area::Country => (None, "country", None, COUNTRY.to_owned()),
        };
        if area == "region" || area == "size" {
            group_names.insert(name.clone());
        }
        cells.push(KeyFigureCell {
            own: municipality.as_deref() == Some(acting.as_str()),
            name,
            municipality,
            area,
            area_id,
            total: cell.category.is_none(),
            dimensions,
            value,
            status,
            reason,
            rank: None,
        });
    }
    let order = |c: &KeyFigureCell| match c.area {
        "municipality" => 0,
        "country" => 2,
        _ => 1,
    };
    cells.sort_by(|a, b| {
        (
            &a.dimensions,
            a.total,
            order(a),
            &a.municipality,
            &a.area_id,
        )
            .cmp(&(
                &b.dimensions,
                b.total,
                order(b),
                &b.municipality,
                &b.area_id,
            ))
    });
    let statistics = rank(&mut cells);
    let group_name = match group {
        ComparisonGroup::Region => own_region.map(|r| r.name.to_owned()),
        ComparisonGroup::Size if !group_names.is_empty() => {
            Some(group_names.into_iter().collect::<Vec<_>>().join(", "))
        }
        _ => None,
    };
    Ok(KeyFigureTable {
        summary: summary(scope),
        municipality: acting.to_string(),
        group: group.as_str(),
        group_name,
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
