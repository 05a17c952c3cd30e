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
