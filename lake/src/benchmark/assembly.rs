//! Builds the suppressed cells of a key figure from the aggregates of every level: one
//! [`Grid`] per slice, with the municipalities, the country and the groups as rows.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::compute::{Area, BenchmarkCell, CellValue, Groups, Lead, Level, Membership};
use super::suppress::Grid;

/// The municipalities and the category values present in one slice.
type Members = (BTreeSet<String>, BTreeSet<Vec<String>>);

/// Builds the suppressed cells from the groups of every level.
pub(super) struct Assembly<'a> {
    pub slices: usize,
    pub categories: usize,
    pub dims: &'a [String],
    pub follows: Option<&'a [(String, String)]>,
    pub factor: f64,
    pub min_units: u64,
    pub membership: &'a Membership,
}

pub(super) type Bands = BTreeMap<Vec<String>, HashMap<String, String>>;

impl Assembly<'_> {
    pub fn cells(
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
