//! The 98 Danish municipalities: four-digit code, CVR number and name.

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
                let mut parts = line.splitn(3, ',');
                let code = parts.next()?.trim().to_owned();
                let cvr = parts.next()?.trim().to_owned();
                let name = parts.next()?.trim().to_owned();
                Some(Municipality {
                    code: MunicipalityCode(code),
                    cvr,
                    name,
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
