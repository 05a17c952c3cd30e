//! Catalogue types: what a dataset is, which columns it has and how they are classified.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Dataset identifier, `<domain>.<name>`, e.g. `oekonomi.posteringer`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DatasetId(String);

impl DatasetId {
    /// Accepts lower-case ASCII letters, digits and `_`, in exactly two dot-separated parts.
    pub fn parse(value: &str) -> Result<Self> {
        let valid_part = |p: &str| {
            !p.is_empty()
                && p.len() <= 64
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        let mut parts = value.split('.');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), None) if valid_part(a) && valid_part(b) => {
                Ok(Self(value.to_owned()))
            }
            _ => Err(Error::Parse {
                what: "dataset id",
                value: value.chars().take(80).collect(),
                hint: "use <domain>.<name> in lower case, e.g. oekonomi.posteringer",
            }),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain part (before the dot).
    pub fn domain(&self) -> &str {
        self.0.split('.').next().unwrap_or_default()
    }
}

impl fmt::Display for DatasetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How sensitive a column is. Decides which role a caller needs to see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// Aggregate or organisational data.
    Public,
    /// Data about a person that is not sensitive in the GDPR sense (pseudonymous ids, age).
    Personal,
    /// Directly identifying or special-category data (CPR numbers); needs the sensitive role.
    Sensitive,
}

impl Classification {
    /// The stable wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Personal => "personal",
            Self::Sensitive => "sensitive",
        }
    }
}

impl FromStr for Classification {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "public" => Ok(Self::Public),
            "personal" => Ok(Self::Personal),
            "sensitive" => Ok(Self::Sensitive),
            _ => Err(Error::Parse {
                what: "classification",
                value: s.to_owned(),
                hint: "use public, personal or sensitive",
            }),
        }
    }
}

/// NSIS assurance level of an authentication, ordered `Low < Substantial < High`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum NsisLevel {
    Low,
    Substantial,
    High,
}

impl NsisLevel {
    /// The name used in tokens and in the catalogue.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "Low",
            Self::Substantial => "Substantial",
            Self::High => "High",
        }
    }
}

impl FromStr for NsisLevel {
    type Err = Error;
    /// Accepts `Low`/`Substantial`/`High` in any case, also as the last segment of a URI
    /// (`https://data.gov.dk/concept/core/nsis/loa/Substantial`).
    fn from_str(s: &str) -> Result<Self> {
        let last = s.trim().rsplit(['/', '#', ':']).next().unwrap_or_default();
        match last.to_ascii_lowercase().as_str() {
            "low" => Ok(Self::Low),
            "substantial" => Ok(Self::Substantial),
            "high" => Ok(Self::High),
            _ => Err(Error::Parse {
                what: "NSIS level",
                value: s.chars().take(120).collect(),
                hint: "use Low, Substantial or High",
            }),
        }
    }
}

impl fmt::Display for NsisLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Logical type of a column. The lake maps these to Arrow types; the filter language
/// parses literals by them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    String,
    Int32,
    Int64,
    Float64,
    /// Exact decimal, e.g. amounts in DKK: `decimal(18,2)`.
    Decimal {
        precision: u8,
        scale: i8,
    },
    /// Calendar date (`YYYY-MM-DD`).
    Date,
    Boolean,
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String => f.write_str("string"),
            Self::Int32 => f.write_str("int32"),
            Self::Int64 => f.write_str("int64"),
            Self::Float64 => f.write_str("float64"),
            Self::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            Self::Date => f.write_str("date"),
            Self::Boolean => f.write_str("boolean"),
        }
    }
}

impl FromStr for ColumnType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let err = || Error::Parse {
            what: "column type",
            value: s.to_owned(),
            hint: "use string, int32, int64, float64, decimal(p,s), date or boolean",
        };
        Ok(match s {
            "string" => Self::String,
            "int32" => Self::Int32,
            "int64" => Self::Int64,
            "float64" => Self::Float64,
            "date" => Self::Date,
            "boolean" => Self::Boolean,
            other => {
                let inner = other
                    .strip_prefix("decimal(")
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(err)?;
                let (p, s) = inner.split_once(',').ok_or_else(err)?;
                Self::Decimal {
                    precision: p.trim().parse().map_err(|_| err())?,
                    scale: s.trim().parse().map_err(|_| err())?,
                }
            }
        })
    }
}

impl Serialize for ColumnType {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ColumnType {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One column of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDef {
    pub name: String,
    pub data_type: ColumnType,
    pub classification: Classification,
    pub description: String,
    /// A BPP data constraint (its `Name` URI, e.g.
    /// `http://sts.kombit.dk/constraints/orgenhed/1`) whose values, when a caller's role
    /// carries it, restrict the rows to those where this column holds one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
}

/// A dataset in the catalogue: where its Delta table lives and who may read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetDef {
    pub id: DatasetId,
    pub domain: String,
    pub title_da: String,
    pub title_en: String,
    pub description_da: String,
    pub description_en: String,
    /// Table location: a URL (`file:///…`, `az://…`, `s3://…`) or a path relative to the lake root.
    pub location: String,
    /// The partition column holding the municipality code (`kommunekode`).
    pub tenant_column: String,
    /// Short name of the user system role that opens the dataset, e.g. `laes-oekonomi`.
    pub read_role: String,
    /// Lowest NSIS level a caller must have authenticated with.
    pub min_nsis: NsisLevel,
    /// Columns that identify a row; used as the stable tie-break for paging.
    pub key_columns: Vec<String>,
    pub columns: Vec<ColumnDef>,
}

impl DatasetDef {
    /// The column with this name, if the dataset declares it.
    pub fn column(&self, name: &str) -> Option<&ColumnDef> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// True when any column holds personal or sensitive data.
    pub fn has_personal_data(&self) -> bool {
        self.columns
            .iter()
            .any(|c| c.classification != Classification::Public)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsis_levels_parse_plain_and_as_uri_and_order() {
        assert_eq!(
            "Substantial".parse::<NsisLevel>().ok(),
            Some(NsisLevel::Substantial)
        );
        assert_eq!(
            "https://data.gov.dk/concept/core/nsis/loa/High"
                .parse::<NsisLevel>()
                .ok(),
            Some(NsisLevel::High)
        );
        assert!("medium".parse::<NsisLevel>().is_err());
        assert!(
            NsisLevel::Low < NsisLevel::Substantial && NsisLevel::Substantial < NsisLevel::High
        );
    }

    #[test]
    fn column_types_round_trip_through_text() {
        for t in [
            ColumnType::String,
            ColumnType::Int32,
            ColumnType::Int64,
            ColumnType::Float64,
            ColumnType::Decimal {
                precision: 18,
                scale: 2,
            },
            ColumnType::Date,
            ColumnType::Boolean,
        ] {
            assert_eq!(t.to_string().parse::<ColumnType>().ok(), Some(t));
        }
        assert!("decimal(18)".parse::<ColumnType>().is_err());
    }

    #[test]
    fn dataset_ids_are_two_lower_case_parts() {
        assert!(DatasetId::parse("oekonomi.posteringer").is_ok());
        for bad in [
            "oekonomi",
            "a.b.c",
            "Oekonomi.x",
            "a.",
            "../x.y",
            "a.b;drop",
        ] {
            assert!(DatasetId::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
