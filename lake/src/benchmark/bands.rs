//! Municipalities of similar size: population bands.
//!
//! A municipality's size is its population in `borger.befolkning` (the sum of `antal` in
//! the fourth quarter) of the key figure's year: per year when the key figure is broken
//! down by year (and its denominator follows the year), otherwise of the latest year
//! with a fourth quarter. The bands are fixed, so a municipality controller knows them:
//! under 20,000, 20,000–39,999, 40,000–59,999, 60,000–99,999 and 100,000 inhabitants or
//! more. A year without population data places its municipalities by the latest year.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::Quantity;
use super::seeded::eq;

/// The size bands and the population that places municipalities in them.
#[derive(Debug, Clone, PartialEq)]
pub struct SizeBands {
    /// Population per municipality and year.
    pub population: Quantity,
    /// The population's year column; a key-figure dimension of that name is the year.
    pub year_column: String,
    /// Lower bounds of the bands above the first, ascending.
    pub bounds: Vec<u64>,
}

/// One band, as answers name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SizeBand {
    /// Stable id, e.g. `20000-39999`.
    pub id: String,
    /// Danish label, e.g. `20.000–39.999 indbyggere`.
    pub name: String,
}

impl SizeBands {
    /// The bands dap uses: population in the fourth quarter, split at 20,000, 40,000,
    /// 60,000 and 100,000 inhabitants.
    pub fn danish() -> Self {
        Self {
            population: Quantity {
                dataset: "borger.befolkning".into(),
                aggregate: super::Aggregate::Sum,
                column: "antal".into(),
                filters: vec![eq("kvartal", "4")],
            },
            year_column: "aar".into(),
            bounds: vec![20_000, 40_000, 60_000, 100_000],
        }
    }

    /// Every band, smallest first.
    pub fn bands(&self) -> Vec<SizeBand> {
        (0..=self.bounds.len()).map(|i| self.band(i)).collect()
    }

    /// The band a population falls in.
    pub fn band_of(&self, population: f64) -> SizeBand {
        self.band(
            self.bounds
                .iter()
                .filter(|b| population >= **b as f64)
                .count(),
        )
    }

    fn band(&self, index: usize) -> SizeBand {
        let thousands = |n: u64| {
            let s = n.to_string();
            let mut out = String::new();
            for (i, c) in s.chars().enumerate() {
                if i > 0 && (s.len() - i).is_multiple_of(3) {
                    out.push('.');
                }
                out.push(c);
            }
            out
        };
        match (
            index.checked_sub(1).map(|i| self.bounds[i]),
            self.bounds.get(index),
        ) {
            (None, Some(&upper)) => SizeBand {
                id: format!("0-{}", upper - 1),
                name: format!("under {} indbyggere", thousands(upper)),
            },
            (Some(lower), Some(&upper)) => SizeBand {
                id: format!("{lower}-{}", upper - 1),
                name: format!("{}–{} indbyggere", thousands(lower), thousands(upper - 1)),
            },
            (Some(lower), None) => SizeBand {
                id: format!("{lower}-"),
                name: format!("{} indbyggere og derover", thousands(lower)),
            },
            (None, None) => SizeBand {
                id: "all".into(),
                name: "alle".into(),
            },
        }
    }
}

/// Which band each municipality is in, per year (as text) and for the latest year.
#[derive(Debug, Clone, Default)]
pub(crate) struct Placement {
    pub per_year: BTreeMap<String, HashMap<String, String>>,
    pub latest: HashMap<String, String>,
}

impl Placement {
    /// From population per (municipality, year as text).
    pub fn new(bands: &SizeBands, population: &HashMap<Vec<String>, (Option<f64>, u64)>) -> Self {
        let mut per_year: BTreeMap<String, HashMap<String, String>> = BTreeMap::new();
        for (key, (value, _)) in population {
            if let ([m, year], Some(p)) = (key.as_slice(), value) {
                per_year
                    .entry(year.clone())
                    .or_default()
                    .insert(m.clone(), bands.band_of(*p).id);
            }
        }
        let latest = per_year
            .iter()
            .max_by_key(|(y, _)| (y.parse::<i64>().unwrap_or(i64::MIN), (*y).clone()))
            .map(|(_, m)| m.clone())
            .unwrap_or_default();
        Self { per_year, latest }
    }

    /// The band of `municipality` in `year` (or the latest year).
    pub fn band(&self, municipality: &str, year: Option<&str>) -> Option<&String> {
        year.and_then(|y| self.per_year.get(y))
            .and_then(|m| m.get(municipality))
            .or_else(|| self.latest.get(municipality))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_are_named_and_placed_at_their_bounds() {
        let bands = SizeBands::danish();
        let names: Vec<String> = bands.bands().into_iter().map(|b| b.name).collect();
        assert_eq!(
            names,
            [
                "under 20.000 indbyggere",
                "20.000–39.999 indbyggere",
                "40.000–59.999 indbyggere",
                "60.000–99.999 indbyggere",
                "100.000 indbyggere og derover"
            ]
        );
        assert_eq!(bands.band_of(19_999.0).id, "0-19999");
        assert_eq!(bands.band_of(20_000.0).id, "20000-39999");
        assert_eq!(bands.band_of(660_000.0).id, "100000-");
    }
}
