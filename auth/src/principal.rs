//! The verified caller.

use std::collections::{BTreeMap, BTreeSet};

use dap_schema::{MunicipalityCode, NsisLevel};
use serde::Serialize;

use crate::Denial;

/// What kind of caller a token represents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallerKind {
    /// A person, via the identity broker or the demo issuer.
    User,
    /// A machine client (client credentials).
    Machine,
}

impl CallerKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Machine => "machine",
        }
    }
}

/// A caller whose token has been verified and whose claims have been mapped.
#[derive(Debug, Clone, Serialize)]
pub struct Principal {
    pub subject: String,
    pub issuer: String,
    pub kind: CallerKind,
    /// Municipalities the caller may act for (usually one).
    pub municipalities: Vec<MunicipalityCode>,
    /// Role short names (see [`crate::roles`]) held in any municipality.
    pub roles: BTreeSet<String>,
    /// The roles held per municipality: a KOMBIT privilege list grants roles per
    /// organisation, so a role in one municipality says nothing about another.
    pub grants: BTreeMap<MunicipalityCode, BTreeSet<String>>,
    pub nsis: NsisLevel,
    /// OAuth client id, when the token says.
    pub client_id: Option<String>,
    /// Datasets the token is limited to (machine clients); `None`: whatever the roles open.
    pub datasets: Option<BTreeSet<String>>,
}

impl Principal {
    /// True when the caller holds the role `name` in some municipality.
    pub fn has_role(&self, name: &str) -> bool {
        self.roles.contains(name)
    }

    /// True when the caller holds the role `name` in `municipality`.
    pub fn has_role_in(&self, municipality: &MunicipalityCode, name: &str) -> bool {
        self.grants
            .get(municipality)
            .is_some_and(|r| r.contains(name))
    }

    /// Builds the per-municipality view from grants (municipalities and the union of roles).
    pub fn from_grants(
        subject: String,
        issuer: String,
        kind: CallerKind,
        grants: BTreeMap<MunicipalityCode, BTreeSet<String>>,
        nsis: NsisLevel,
    ) -> Self {
        Self {
            subject,
            issuer,
            kind,
            municipalities: grants.keys().cloned().collect(),
            roles: grants.values().flatten().cloned().collect(),
            grants,
            nsis,
            client_id: None,
            datasets: None,
        }
    }

    /// The municipality this request acts for: the requested one if granted, the only
    /// one if the caller has one, otherwise the caller must name one.
    pub fn acting_for(&self, requested: Option<&str>) -> Result<MunicipalityCode, Denial> {
        match (requested, self.municipalities.as_slice()) {
            (Some(code), granted) => granted
                .iter()
                .find(|m| m.as_str() == code)
                .cloned()
                .ok_or_else(|| Denial::MunicipalityNotGranted(code.chars().take(8).collect())),
            (None, [only]) => Ok(only.clone()),
            (None, []) => Err(Denial::NotFound),
            (None, several) => Err(Denial::MunicipalityRequired(
                several
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
        }
    }
}
