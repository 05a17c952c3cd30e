//! The 98 Danish municipalities: four-digit code, CVR number, name and region.
//!
//! The region is the municipality's administrative region since 2007 (DAGI/Danmarks
//! Statistik region codes 1081–1085); Bornholm belongs to Region Hovedstaden, and
//! Christiansø, which is no municipality, is not listed.

use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

const KOMMUNER_CSV: &str = include_str!("../data/kommuner.csv");

/// One municipality as listed in `data/kommuner.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Municipality {
    /// Four-digit municipality code, e.g. `0101`.
    pub code: MunicipalityCode,
    /// The municipality's CVR number (eight digits).
    pub cvr: String,
    /// Official name, e.g. `Københavns Kommune`.
    pub name: String,
    /// The region the municipality belongs to.
    pub region: Region,
}

/// One of the five Danish regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region {
    /// Four-digit region code: 1081 Nordjylland … 1085 Sjælland.
    pub code: u16,
    /// Official name, e.g. `Region Hovedstaden`.
    pub name: &'static str,
}

/// The five regions, by code.
pub const REGIONS: [Region; 5] = [
    Region {
        code: 1081,
        name: "Region Nordjylland",
    },
    Region {
        code: 1082,
        name: "Region Midtjylland",
    },
    Region {
        code: 1083,
        name: "Region Syddanmark",
    },
    Region {
        code: 1084,
        name: "Region Hovedstaden",
    },
    Region {
        code: 1085,
        name: "Region Sjælland",
    },
];

impl Region {
    /// The region with code `code` (e.g. `1084`).
    pub fn from_code(code: u16) -> Option<Self> {
        REGIONS.iter().copied().find(|r| r.code == code)
    }
}

/// All 98 municipalities, in the order of the reference table.
pub fn municipalities() -> &'static [Municipality] {
    static ALL: OnceLock<Vec<Municipality>> = OnceLock::new();
    ALL.get_or_init(|| {
        KOMMUNER_CSV
            .lines()
            .skip(1)
            .filter(|line| !line.trim().is_empty())
            .filter_map(|line| {
                let mut parts = line.split(',');
                let code = parts.next()?.trim().to_owned();
                let cvr = parts.next()?.trim().to_owned();
                let name = parts.next()?.trim().to_owned();
                let region = Region::from_code(parts.next()?.trim().parse().ok()?)?;
                // The region's name is in the table for people; the code decides.
                Some(Municipality {
                    code: MunicipalityCode(code),
                    cvr,
                    name,
                    region,
                })
            })
            .collect()
    })
}

/// A validated four-digit municipality code (`0101` … `0860`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MunicipalityCode(String);

impl MunicipalityCode {
    /// Parses a code and checks that it names one of the 98 municipalities.
    pub fn parse(value: &str) -> Result<Self> {
        let value = value.trim();
        municipalities()
            .iter()
            .find(|m| m.code.0 == value)
            .map(|m| m.code.clone())
            .ok_or_else(|| Error::UnknownMunicipality(value.to_owned()))
    }

    /// Parses a code (`0101`) or a name as people write it: `København`, `Københavns
    /// Kommune`, `frederiksberg` (case does not matter; ` Kommune` and the genitive `s`
    /// may be left out). An unknown name says which forms are accepted.
    pub fn from_code_or_name(value: &str) -> Result<Self> {
        let value = value.trim();
        if value.bytes().all(|b| b.is_ascii_digit()) {
            return Self::parse(value);
        }
        let wanted = value.to_lowercase();
        let found: Vec<&Municipality> = municipalities()
            .iter()
            .filter(|m| name_forms(&m.name).contains(&wanted))
            .collect();
        match found.as_slice() {
            [one] => Ok(one.code.clone()),
            _ => Err(Error::UnknownMunicipalityName(value.to_owned())),
        }
    }

    /// Looks a municipality up by its CVR number; `None` when the CVR is no municipality's.
    pub fn from_cvr(cvr: &str) -> Option<Self> {
        let cvr = cvr.trim();
        municipalities()
            .iter()
            .find(|m| m.cvr == cvr)
            .map(|m| m.code.clone())
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The municipality this code names.
    pub fn municipality(&self) -> Option<&'static Municipality> {
        municipalities().iter().find(|m| m.code == *self)
    }
}

/// The lower-case forms a municipality's name is written in: `københavns kommune`,
/// `københavns`, `københavn`.
fn name_forms(name: &str) -> Vec<String> {
    let full = name.to_lowercase();
    let short = full
        .strip_suffix(" regionskommune")
        .or_else(|| full.strip_suffix(" kommune"))
        .unwrap_or(&full)
        .to_owned();
    let mut forms = vec![full.clone(), short.clone()];
    if let Some(stem) = short.strip_suffix('s') {
        forms.push(stem.to_owned());
    }
    forms
}

impl fmt::Display for MunicipalityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for MunicipalityCode {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        Self::parse(&value)
    }
}

impl From<MunicipalityCode> for String {
    fn from(value: MunicipalityCode) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn municipalities_are_found_by_code_or_by_name() {
        let code = |v: &str| MunicipalityCode::from_code_or_name(v).map(|c| c.to_string());
        assert_eq!(code("0101").unwrap(), "0101");
        assert_eq!(code("København").unwrap(), "0101");
        assert_eq!(code("københavns kommune").unwrap(), "0101");
        assert_eq!(code("Frederiksberg").unwrap(), "0147");
        assert_eq!(code("Bornholm").unwrap(), "0400");
        let unknown = code("Gotham").unwrap_err().to_string();
        assert!(
            unknown.contains("Gotham") && unknown.contains("0101"),
            "{unknown}"
        );
        assert!(code("9999").is_err());
        // Every municipality is found by its own name, and by its short form.
        for m in municipalities() {
            assert_eq!(
                MunicipalityCode::from_code_or_name(&m.name).ok(),
                Some(m.code.clone())
            );
        }
    }

    #[test]
    fn the_reference_table_has_98_distinct_municipalities() {
        let all = municipalities();
        assert_eq!(all.len(), 98);
        let mut codes: Vec<_> = all.iter().map(|m| m.code.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), 98);
        assert!(
            all.iter()
                .all(|m| m.cvr.len() == 8 && m.code.as_str().len() == 4)
        );
    }

    #[test]
    fn every_municipality_has_its_region() {
        // Arrange: the number of municipalities per region (Danmarks Statistik, since 2007).
        let expected = [(1081, 11), (1082, 19), (1083, 22), (1084, 29), (1085, 17)];

        // Act
        let count = |code: u16| {
            municipalities()
                .iter()
                .filter(|m| m.region.code == code)
                .count()
        };

        // Assert: the counts, the names in the table, and a few known borders.
        for (code, n) in expected {
            assert_eq!(count(code), n, "region {code}");
        }
        for line in KOMMUNER_CSV.lines().skip(1) {
            let code = line.split(',').nth(3).and_then(|c| c.parse().ok());
            let region = code.and_then(Region::from_code).map(|r| r.name);
            assert_eq!(line.split(',').nth(4), region, "{line}");
        }
        let region = |code: &str| {
            MunicipalityCode::parse(code)
                .ok()
                .and_then(|c| c.municipality())
                .map(|m| m.region.name)
        };
        assert_eq!(region("0400"), Some("Region Hovedstaden")); // Bornholm
        assert_eq!(region("0253"), Some("Region Sjælland")); // Greve
        assert_eq!(region("0607"), Some("Region Syddanmark")); // Fredericia
        assert_eq!(region("0615"), Some("Region Midtjylland")); // Horsens
        assert_eq!(region("0773"), Some("Region Nordjylland")); // Morsø
    }

    #[test]
    fn codes_and_cvrs_resolve() {
        assert_eq!(
            MunicipalityCode::parse("0101").map(|c| c.to_string()).ok(),
            Some("0101".into())
        );
        assert_eq!(
            MunicipalityCode::from_cvr("29189129").map(|c| c.to_string()),
            Some("0250".into())
        );
        assert!(MunicipalityCode::parse("9999").is_err());
        assert!(MunicipalityCode::from_cvr("12345678").is_none());
    }
}
