//! Who may administer what, and the administrators' decisions as the access policy sees
//! them: municipality settings (datasets switched off, a higher NSIS level) and
//! delegations, cached from the control plane and refreshed with the catalogue.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::RwLock;

use chrono::Utc;
use dap_auth::{CallerKind, Principal, roles};
use dap_schema::admin::{Delegation, MunicipalitySettings};
use dap_schema::{AccessScope, ControlPlane, DatasetDef, MunicipalityCode, NsisLevel};

use crate::error::ApiError;
use crate::extract::PAT_ISSUER;

/// A platform operator: a person identified by issuer and subject in the settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operator {
    pub issuer: String,
    pub subject: String,
}

/// Administration needs a person's own login: not a machine client, not a personal
/// access token (a BI tool's credential must not manage credentials).
fn person(principal: &Principal) -> Result<(), ApiError> {
    if principal.kind != CallerKind::User || principal.issuer == PAT_ISSUER {
        return Err(ApiError::Forbidden(
            "administration needs a person's sign-in, not a machine client or personal access token".into(),
        ));
    }
    Ok(())
}

/// The municipality a municipal IT administrator acts for: one where the caller holds
/// `it-administration` (named with `municipality=` when there are several).
pub fn administered(
    principal: &Principal,
    requested: Option<&str>,
) -> Result<MunicipalityCode, ApiError> {
    person(principal)?;
    let mine: Vec<&MunicipalityCode> = principal
        .grants
        .iter()
        .filter(|(_, r)| r.contains(roles::IT_ADMIN))
        .map(|(m, _)| m)
        .collect();
    match (requested, mine.as_slice()) {
        (_, []) => Err(ApiError::Forbidden(format!(
            "administration needs the {} role of a municipality",
            roles::role_uri(roles::IT_ADMIN)
        ))),
        (Some(code), mine) => mine
            .iter()
            .find(|m| m.as_str() == code)
            .map(|m| (*m).clone())
            .ok_or_else(|| {
                ApiError::MunicipalityNotGranted(format!(
                    "you do not administer municipality '{}'",
                    code.chars().take(8).collect::<String>()
                ))
            }),
        (None, [only]) => Ok((*only).clone()),
        (None, several) => Err(ApiError::MunicipalityRequired(format!(
            "you administer several municipalities ({}): name one with municipality=",
            several
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Refuses anyone but a configured platform operator.
pub fn operator(operators: &[Operator], principal: &Principal) -> Result<(), ApiError> {
    person(principal)?;
    if operators
        .iter()
        .any(|o| o.issuer == principal.issuer && o.subject == principal.subject)
    {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only platform operators manage the catalogue".into(),
        ))
    }
}

/// Settings and delegations as the policy needs them, refreshed from the control plane.
#[derive(Debug, Default)]
pub struct AdminCache {
    settings: RwLock<HashMap<String, MunicipalitySettings>>,
    delegations: RwLock<Vec<Delegation>>,
}

impl AdminCache {
    /// Reads settings and delegations in force.
    pub async fn reload(&self, control: &ControlPlane) -> dap_schema::Result<()> {
        let settings = control.all_municipality_settings().await?;
        let delegations = control.active_delegations(Utc::now()).await?;
        if let Ok(mut s) = self.settings.write() {
            *s = settings
                .into_iter()
                .map(|m| (m.municipality.clone(), m))
                .collect();
        }
        if let Ok(mut d) = self.delegations.write() {
            *d = delegations;
        }
        Ok(())
    }

    /// The municipality's settings, if it has any.
    pub fn settings_of(&self, municipality: &str) -> Option<MunicipalitySettings> {
        self.settings
            .read()
            .ok()
            .and_then(|s| s.get(municipality).cloned())
    }

    /// Applies the acted-for municipality's settings to a granted scope: a dataset it
    /// switched off is not there; its NSIS requirement applies on top of the dataset's.
    pub fn check(&self, scope: &AccessScope, principal: &Principal) -> Result<(), ApiError> {
        let Some(settings) = self.settings_of(scope.municipality().as_str()) else {
            return Ok(());
        };
        let id = scope.dataset().id.as_str();
        if settings.disabled_datasets.split(',').any(|d| d == id) {
            return Err(ApiError::DatasetNotFound);
        }
        if let Some(required) = settings
            .min_nsis
            .as_deref()
            .and_then(|l| l.parse::<NsisLevel>().ok())
            && principal.nsis < required
        {
            return Err(ApiError::InsufficientAssurance(format!(
                "municipality {} requires NSIS level {required} or higher; the token has {}",
                scope.municipality(),
                principal.nsis
            )));
        }
        Ok(())
    }

    /// True when some municipality delegated `dataset` to an organisation in which the
    /// caller holds its read role (so the dataset is in the caller's GraphQL schema).
    pub fn delegated_to(&self, principal: &Principal, dataset: &DatasetDef) -> bool {
        let now = Utc::now();
        self.delegations.read().is_ok_and(|delegations| {
            delegations
                .iter()
                .any(|d| opens(d, principal, dataset, now))
        })
    }

    /// The caller as a delegate of `municipality` for `dataset`: when `municipality`
    /// delegated the dataset to an organisation (CVR) in whose privilege group the caller
    /// holds the dataset's read role. Only that role, and only for that municipality.
    pub fn delegated(
        &self,
        principal: &Principal,
        dataset: &DatasetDef,
        municipality: &str,
    ) -> Option<Principal> {
        if principal.kind != CallerKind::User {
            return None;
        }
        let now = Utc::now();
        let delegations = self.delegations.read().ok()?;
        let granted = delegations
            .iter()
            .any(|d| d.grantor == municipality && opens(d, principal, dataset, now));
        if !granted {
            return None;
        }
        let code = MunicipalityCode::parse(municipality).ok()?;
        let mut delegate = Principal::from_grants(
            principal.subject.clone(),
            principal.issuer.clone(),
            principal.kind,
            BTreeMap::from([(code, BTreeSet::from([dataset.read_role.clone()]))]),
            principal.nsis,
        );
        delegate.client_id = principal.client_id.clone();
        delegate.datasets = principal.datasets.clone();
        Some(delegate)
    }
}

/// True when delegation `d` is in force and opens `dataset` to an organisation in which
/// the caller holds the dataset's read role.
fn opens(
    d: &Delegation,
    principal: &Principal,
    dataset: &DatasetDef,
    now: chrono::DateTime<Utc>,
) -> bool {
    d.revoked_at.is_none()
        && d.valid_until > now
        && d.datasets.split(',').any(|id| id == dataset.id.as_str())
        && principal
            .organisations
            .get(&d.grantee_cvr)
            .is_some_and(|r| r.contains(&dataset.read_role))
}
