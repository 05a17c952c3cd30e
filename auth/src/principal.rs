//! The verified caller.

use std::collections::{BTreeMap, BTreeSet};

use dap_schema::{MunicipalityCode, NsisLevel};
use serde::{Deserialize, Serialize};

use crate::Denial;

/// What kind of caller a token represents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Data constraints per municipality and role (BPP `Constraint`s). A role with no
    /// entry is held without constraints; otherwise each set is one privilege group's
    /// constraints, and a row is visible when any one set admits it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub constraints: Constraints,
    /// Roles per organisation (CVR) from the privilege list, municipalities or not: an
    /// organisation a municipality delegated datasets to is found here.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub organisations: BTreeMap<String, BTreeSet<String>>,
}

/// A privilege group's data constraints: constraint name (URI) → allowed values.
pub type ConstraintSet = BTreeMap<String, BTreeSet<String>>;
/// Municipality → role → the constraint sets it is held under.
pub type Constraints = BTreeMap<MunicipalityCode, BTreeMap<String, Vec<ConstraintSet>>>;

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
            constraints: BTreeMap::new(),
            organisations: BTreeMap::new(),
        }
    }

    /// The caller acting for `municipality` only: its roles and constraints there, none
    /// elsewhere; `None` when it holds no role there.
    pub fn narrowed_to(&self, municipality: &MunicipalityCode) -> Option<Self> {
        let roles = self.grants.get(municipality)?.clone();
        let mut narrowed = self.clone();
        narrowed.municipalities = vec![municipality.clone()];
        narrowed.roles = roles.clone();
        narrowed.grants = BTreeMap::from([(municipality.clone(), roles)]);
        narrowed.constraints.retain(|code, _| code == municipality);
        Some(narrowed)
    }

    /// The constraint sets `role` is held under in `municipality`; `None` when it is held
    /// without constraints (or not at all).
    pub fn constraints_on(
        &self,
        municipality: &MunicipalityCode,
        role: &str,
    ) -> Option<&[ConstraintSet]> {
        self.constraints
            .get(municipality)
            .and_then(|r| r.get(role))
            .map(Vec::as_slice)
    }

    /// The roles per municipality as stored with a personal token or session (JSON:
    /// municipality code → role short names).
    pub fn grants_json(&self) -> String {
        let plain: BTreeMap<&str, &BTreeSet<String>> =
            self.grants.iter().map(|(m, r)| (m.as_str(), r)).collect();
        serde_json::to_string(&plain).unwrap_or_else(|_| "{}".into())
    }

    /// The data constraints as stored with a personal token or session; `None` when the
    /// caller has none.
    pub fn constraints_json(&self) -> Option<String> {
        if self.constraints.is_empty() {
            return None;
        }
        let plain: BTreeMap<&str, &BTreeMap<String, Vec<ConstraintSet>>> = self
            .constraints
            .iter()
            .map(|(m, r)| (m.as_str(), r))
            .collect();
        serde_json::to_string(&plain).ok()
    }

    /// Restores stored data constraints (see [`Self::constraints_json`]).
    pub fn restore_constraints(&mut self, json: Option<&str>) -> Result<(), crate::Error> {
        let Some(json) = json else {
            return Ok(());
        };
        let plain: BTreeMap<String, BTreeMap<String, Vec<ConstraintSet>>> =
            serde_json::from_str(json)
                .map_err(|_| crate::Error::Claims("stored constraints are corrupt".into()))?;
        for (m, roles) in plain {
            let code = MunicipalityCode::parse(&m)
                .map_err(|_| crate::Error::Claims("stored constraints are corrupt".into()))?;
            self.constraints.insert(code, roles);
        }
        Ok(())
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
