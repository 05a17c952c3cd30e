//! Key figures: aggregates across all municipalities, with small groups suppressed.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::datasets::Localised;

/// A dimension a key figure is broken down by.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyFigureDimension {
    #[schema(example = "aar")]
    pub column: String,
    /// `slice`: separate tables (e.g. the year); `category`: the columns of one table,
    /// with municipality totals (e.g. the function).
    #[schema(example = "slice")]
    pub kind: &'static str,
}

/// The disclosure rule a key figure is published under.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DisclosureRule {
    /// A cell is published only with at least this many contributing units.
    #[schema(example = 3)]
    pub min_units: u64,
    /// The column whose distinct values are the contributing units.
    #[schema(example = "omkostningssted")]
    pub unit_column: String,
    /// How suppression works, in words.
    pub method: String,
    /// The dominance rule, when the key figure has one.
    pub dominance: Option<DominanceRule>,
}

/// The (n, k) dominance rule: a cell is withheld when its `n` largest contributing units
/// hold more than `k` per cent of it (contributions in absolute value).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DominanceRule {
    #[schema(example = 1)]
    pub n: u32,
    #[schema(example = 80.0)]
    pub k: f64,
}

/// A size band of the `size` comparison group.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SizeBandInfo {
    #[schema(example = "20000-39999")]
    pub id: String,
    #[schema(example = "20.000–39.999 indbyggere")]
    pub name: String,
}

/// A key figure as listed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyFigureSummary {
    #[schema(example = "nettoudgift-pr-indbygger")]
    pub id: String,
    pub title: Localised,
    pub description: Localised,
    /// `sum`, `count`, `count_distinct` or `avg` of the numerator column.
    #[schema(example = "sum(oekonomi.posteringer.beloeb) / sum(borger.befolkning.antal)")]
    pub measure: String,
    #[schema(example = "kr. pr. indbygger")]
    pub unit: String,
    /// Decimals to show.
    #[schema(example = 0)]
    pub decimals: u8,
    pub dimensions: Vec<KeyFigureDimension>,
    pub disclosure: DisclosureRule,
    /// The datasets it is computed from (the population, for the size bands, included).
    pub datasets: Vec<String>,
    /// The size bands of the `size` comparison group: population (`borger.befolkning`,
    /// sum of `antal` in the fourth quarter) of the key figure's year, or of the latest
    /// year when it has no year dimension. Empty without population data.
    pub size_bands: Vec<SizeBandInfo>,
}

/// The key figures a caller may see.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyFigureList {
    /// The municipality the caller acts for.
    #[schema(example = "0101")]
    pub municipality: String,
    pub key_figures: Vec<KeyFigureSummary>,
}

/// One cell: a municipality's (or the country's) value for one set of dimension values.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyFigureCell {
    /// Municipality code; absent for a group total (region, size band, country).
    #[schema(example = "0101")]
    pub municipality: Option<String>,
    /// `municipality`, `region` (a region's total), `size` (a size band's total) or
    /// `country` (the country total).
    #[schema(example = "municipality")]
    pub area: &'static str,
    /// The region code (`1081`–`1085`) or size band id of a group total.
    #[schema(example = "1084")]
    pub area_id: Option<String>,
    /// The municipality's, region's or band's name; `Hele landet` for the country.
    #[schema(example = "Københavns Kommune")]
    pub name: String,
    /// True for the caller's own municipality.
    pub own: bool,
    /// Dimension values; a category dimension is absent in a total over the categories.
    pub dimensions: BTreeMap<String, String>,
    /// True when the cell is the total over the categories.
    pub total: bool,
    /// The value; absent when suppressed or not defined (see `status`).
    pub value: Option<f64>,
    /// `published`, `suppressed` or `not_defined` (denominator zero or missing).
    #[schema(example = "published")]
    pub status: &'static str,
    /// Why a cell of the caller's own municipality is suppressed: `too_few_units`,
    /// `dominance` or `complementary`. `null` on every other cell: primary and
    /// complementary suppression are flagged alike there, so that the rule does not tell
    /// a small count or which cell to solve for.
    pub reason: Option<&'static str>,
    /// Rank within the comparison group among published values (1 = highest).
    pub rank: Option<usize>,
}

/// The distribution of published values in the comparison group, per dimension values.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupStatistics {
    pub dimensions: BTreeMap<String, String>,
    pub total: bool,
    /// Municipalities with a published value.
    pub published: usize,
    /// Municipalities with a suppressed or undefined value (not in the statistics).
    pub withheld: usize,
    pub min: Option<f64>,
    pub q1: Option<f64>,
    pub median: Option<f64>,
    pub q3: Option<f64>,
    pub max: Option<f64>,
}

/// A key figure across municipalities, after disclosure control.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyFigureTable {
    #[serde(flatten)]
    pub summary: KeyFigureSummary,
    /// The municipality the caller acts for.
    #[schema(example = "0101")]
    pub municipality: String,
    /// `all`, `region` (the caller's region), `size` (the caller's size band),
    /// `country` (the caller and the country total) or `selected` (the municipalities
    /// named in `group`, plus the caller's).
    #[schema(example = "region")]
    pub group: &'static str,
    /// The caller's region or size band(s), for `region` and `size`.
    #[schema(example = "Region Hovedstaden")]
    pub group_name: Option<String>,
    /// The table version of each dataset it was computed from.
    pub table_versions: BTreeMap<String, u64>,
    /// The group's municipalities, the group's total (region or size band) and the
    /// country, cells in dimension order.
    pub cells: Vec<KeyFigureCell>,
    /// Rank and quartiles over the group's published values.
    pub statistics: Vec<GroupStatistics>,
}

/// The stored key-figure definitions (platform operators). Each is a JSON object:
/// `id`, `title_da`, `title_en`, `description_da`, `description_en`, `numerator`
/// (`dataset`, `aggregate`: sum|count|count_distinct|avg, `column`, `filters`:
/// [{`column`, `operator`, `values`}]), `denominator` (`quantity`, `follows`:
/// [[dimension, column]]) or null, `factor`, `dimensions` ([{`column`, `slice`}]),
/// `unit`, `decimals`, `disclosure` (`min_units` ≥ 3, `unit_column`, optional
/// `dominance`: {`n` ≥ 1, `k` in (0, 100)}).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyFigureDefinitions {
    #[schema(value_type = Vec<Object>)]
    pub key_figures: Vec<serde_json::Value>,
}
