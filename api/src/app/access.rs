//! The access decision, in one place for every surface: which datasets a caller sees
//! ([`Core::visible_datasets`]) and the scope of one read ([`Core::scope`]), both from
//! the policy, delegations and the municipality's settings (datasets switched off, a
//! higher NSIS level), which are cached from the control plane and refreshed with the
//! catalogue. Also who may administer what.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use chrono::Utc;
use dap_auth::{CallerKind, Denial, Principal, policy, roles};
use dap_schema::admin::{Delegation, MunicipalitySettings};
use dap_schema::{AccessScope, ControlPlane, DatasetDef, MunicipalityCode, NsisLevel};

use super::identity::PAT_ISSUER;
use super::{AppError, Core};

/// A platform operator: a person identified by issuer and subject in the settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operator {
    pub issuer: String,
    pub subject: String,
}

/// Administration needs a person's own login: not a machine client, not a personal
/// access token (a BI tool's credential must not manage credentials).
fn person(principal: &Principal) -> Result<(), AppError> {
    if principal.kind != CallerKind::User || principal.issuer == PAT_ISSUER {
        return Err(AppError::Forbidden(
            "administration needs a person's sign-in, not a machine client or personal access token".into(),
        ));
    }
    Ok(())
}

/// The municipality a municipal IT administrator acts for: one where the caller holds
/// `it-administration` without data constraints (named with `municipality=` when there
/// are several). Administration cannot honour a data constraint (a machine client it
/// registers, a delegation, the audit log are the whole municipality's), so a role held
/// only under constraints opens none of it.
pub fn administered(
    principal: &Principal,
    requested: Option<&str>,
) -> Result<MunicipalityCode, AppError> {
    person(principal)?;
    let held: Vec<&MunicipalityCode> = principal
        .grants
        .iter()
        .filter(|(_, r)| r.contains(roles::IT_ADMIN))
        .map(|(m, _)| m)
        .collect();
    let mine: Vec<&MunicipalityCode> = held
        .iter()
        .copied()
        .filter(|m| principal.constraints_on(m, roles::IT_ADMIN).is_none())
        .collect();
    match (requested, mine.as_slice()) {
        (_, []) if !held.is_empty() => Err(AppError::Forbidden(format!(
            "administration needs the {} role without data constraints; yours is held under constraints, which administration cannot honour",
            roles::role_uri(roles::IT_ADMIN)
        ))),
        (_, []) => Err(AppError::Forbidden(format!(
            "administration needs the {} role of a municipality",
            roles::role_uri(roles::IT_ADMIN)
        ))),
        (Some(code), mine) => mine
            .iter()
            .find(|m| m.as_str() == code)
            .map(|m| (*m).clone())
            .ok_or_else(|| {
                AppError::MunicipalityNotGranted(format!(
                    "you do not administer municipality '{}'",
                    code.chars().take(8).collect::<String>()
                ))
            }),
        (None, [only]) => Ok((*only).clone()),
        (None, several) => Err(AppError::MunicipalityRequired(format!(
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
pub fn operator(operators: &[Operator], principal: &Principal) -> Result<(), AppError> {
    person(principal)?;
    if operators
        .iter()
        .any(|o| o.issuer == principal.issuer && o.subject == principal.subject)
    {
        Ok(())
    } else {
        Err(AppError::Forbidden(
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

    /// True when `municipality` switched dataset `id` off.
    pub fn switched_off(&self, municipality: &str, id: &str) -> bool {
        self.settings_of(municipality)
            .is_some_and(|s| s.disabled_datasets.split(',').any(|d| d == id))
    }

    /// Applies the acted-for municipality's settings to a granted scope: a dataset it
    /// switched off is not there; its NSIS requirement applies on top of the dataset's.
    pub fn check(&self, scope: &AccessScope, principal: &Principal) -> Result<(), AppError> {
        let municipality = scope.municipality().as_str();
        if self.switched_off(municipality, scope.dataset().id.as_str()) {
            return Err(AppError::DatasetNotFound);
        }
        let Some(settings) = self.settings_of(municipality) else {
            return Ok(());
        };
        if let Some(required) = settings
            .min_nsis
            .as_deref()
            .and_then(|l| l.parse::<NsisLevel>().ok())
            && principal.nsis < required
        {
            return Err(AppError::InsufficientAssurance(format!(
                "municipality {} requires NSIS level {required} or higher; the token has {}",
                scope.municipality(),
                principal.nsis
            )));
        }
        Ok(())
    }

    /// Municipalities that delegated `dataset` to an organisation in which the caller
    /// holds its read role.
    fn grantors(&self, principal: &Principal, dataset: &DatasetDef) -> Vec<String> {
        let now = Utc::now();
        self.delegations.read().map_or_else(
            |_| Vec::new(),
            |delegations| {
                delegations
                    .iter()
                    .filter(|d| opens(d, principal, dataset, now))
                    .map(|d| d.grantor.clone())
                    .collect()
            },
        )
    }

    /// Municipalities that delegated at least one dataset of `datasets` to an
    /// organisation in which the caller holds its read role.
    fn delegating(&self, principal: &Principal, datasets: &[Arc<DatasetDef>]) -> Vec<String> {
        datasets
            .iter()
            .flat_map(|d| self.grantors(principal, d))
            .collect()
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

impl Core {
    /// Resolves the caller's access scope for one dataset, acting for `municipality`
    /// (required when the caller has several): the policy, then a delegation to the
    /// caller's organisation, then the municipality's settings. A dataset the caller may
    /// not see is [`AppError::DatasetNotFound`], exactly like one that does not exist.
    pub fn scope(
        &self,
        principal: &Principal,
        id: &str,
        municipality: Option<&str>,
    ) -> Result<AccessScope, AppError> {
        let dataset: Arc<DatasetDef> = self.catalogue.get(id).ok_or(AppError::DatasetNotFound)?;
        // Deny wins: a dataset the municipality switched off is not there, whatever the
        // caller's assurance level (the policy judges assurance only once the dataset is
        // there for the caller; this settles the municipality's own switch).
        let assurance = |denial: Denial, acting: &Principal| match denial {
            Denial::InsufficientAssurance { .. }
                if acting
                    .acting_for(municipality)
                    .is_ok_and(|m| self.admin.switched_off(m.as_str(), id)) =>
            {
                AppError::DatasetNotFound
            }
            denial => denial.into(),
        };
        let (scope, acting) = match policy::authorize(principal, &dataset, municipality) {
            Ok(scope) => (scope, None),
            Err(denial @ (Denial::NotFound | Denial::MunicipalityNotGranted(_))) => {
                // A municipality may have delegated the dataset to the caller's organisation.
                let delegate = municipality
                    .and_then(|m| self.admin.delegated(principal, &dataset, m))
                    .ok_or(denial)?;
                let scope = policy::authorize(&delegate, &dataset, municipality)
                    .map_err(|denial| assurance(denial, &delegate))?;
                (scope, Some(delegate))
            }
            Err(denial) => return Err(assurance(denial, principal)),
        };
        self.admin
            .check(&scope, acting.as_ref().unwrap_or(principal))?;
        Ok(scope)
    }

    /// The municipalities the caller may act for, their own first: those of their grants,
    /// then those that delegated a dataset to the caller's organisation. A surface that
    /// lets a person choose offers exactly these; the choice is checked again by
    /// [`Self::scope`] (and, for administration, [`administered`]) on every request.
    pub fn acting_choices(&self, principal: &Principal) -> Vec<MunicipalityCode> {
        let mut out: Vec<MunicipalityCode> = principal.municipalities.to_vec();
        let mut delegating = self.admin.delegating(principal, &self.catalogue.all());
        delegating.sort_unstable();
        for code in delegating {
            if let Ok(code) = MunicipalityCode::parse(&code)
                && !out.contains(&code)
            {
                out.push(code);
            }
        }
        out
    }

    /// The municipality a person chose to act for, if it is one of
    /// [`Self::acting_choices`].
    pub fn choose_municipality(
        &self,
        principal: &Principal,
        requested: &str,
    ) -> Result<MunicipalityCode, AppError> {
        self.acting_choices(principal)
            .into_iter()
            .find(|m| m.as_str() == requested)
            .ok_or_else(|| {
                AppError::MunicipalityNotGranted(format!(
                    "you cannot act for municipality '{}'",
                    requested.chars().take(8).collect::<String>()
                ))
            })
    }

    /// The datasets the caller sees, on every surface: those for which [`Self::scope`]
    /// does not answer "not found" for at least one municipality the caller could act
    /// for (their own, or one that delegated the dataset to their organisation). A
    /// dataset every such municipality switched off is not listed; one the caller may
    /// see but not read yet (e.g. a higher NSIS level needed) is listed, and reading it
    /// says why not.
    /// `dataset` as the caller may know its shape: only the columns they may see in
    /// some municipality they may act for (a surface that describes a dataset's columns
    /// ahead of any read, the GraphQL schema, shows no other, so a column they may not
    /// see looks exactly like one that does not exist). Where no scope is granted yet (an
    /// assurance level too low) only its municipality column and public columns.
    pub fn dataset_as_seen(
        &self,
        principal: &Principal,
        dataset: &Arc<DatasetDef>,
    ) -> Arc<DatasetDef> {
        let id = dataset.id.as_str();
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for municipality in self.acting_choices(principal) {
            if let Ok(scope) = self.scope(principal, id, Some(municipality.as_str())) {
                seen.extend(
                    dataset
                        .columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .filter(|c| scope.can_see(c)),
                );
            }
        }
        if seen.is_empty() {
            // The municipality column at least: a type with no fields is no schema.
            seen.insert(dataset.tenant_column.as_str());
            seen.extend(
                dataset
                    .columns
                    .iter()
                    .filter(|c| c.classification == dap_schema::Classification::Public)
                    .map(|c| c.name.as_str()),
            );
        }
        if dataset
            .columns
            .iter()
            .all(|c| seen.contains(c.name.as_str()))
        {
            return Arc::clone(dataset);
        }
        let mut shown = dataset.as_ref().clone();
        shown.columns.retain(|c| seen.contains(c.name.as_str()));
        Arc::new(shown)
    }

    pub fn visible_datasets(&self, principal: &Principal) -> Vec<Arc<DatasetDef>> {
        self.catalogue
            .all()
            .iter()
            .filter(|d| {
                let mut candidates: Vec<String> = principal
                    .municipalities
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                candidates.extend(self.admin.grantors(principal, d));
                candidates.iter().any(|m| {
                    !matches!(
                        self.scope(principal, d.id.as_str(), Some(m)),
                        Err(AppError::DatasetNotFound | AppError::MunicipalityNotGranted(_))
                    )
                })
            })
            .cloned()
            .collect()
    }
}
