//! The access policy: which datasets a principal sees and with which columns.
//!
//! Deny wins: a dataset the caller's roles do not open is reported exactly like a
//! dataset that does not exist.

use std::sync::Arc;

use dap_schema::{AccessScope, Classification, DatasetDef, MunicipalityCode, RowConstraint};

use crate::principal::ConstraintSet;
use crate::{Denial, Principal, roles};

/// True when the principal's roles open the dataset (ignoring assurance level).
pub fn can_list(principal: &Principal, dataset: &DatasetDef) -> bool {
    let allowed = principal
        .datasets
        .as_ref()
        .is_none_or(|d| d.contains(dataset.id.as_str()));
    allowed && principal.has_role(&dataset.read_role) && !principal.municipalities.is_empty()
}

/// Columns the principal may read of the dataset in `municipality`, in table order.
pub fn visible_columns(
    principal: &Principal,
    dataset: &DatasetDef,
    municipality: &MunicipalityCode,
) -> Vec<String> {
    let sensitive_ok = principal.has_role_in(municipality, roles::SENSITIVE);
    dataset
        .columns
        .iter()
        .filter(|c| c.classification != Classification::Sensitive || sensitive_ok)
        .map(|c| c.name.clone())
        .collect()
}

/// Decides whether `principal` may read `dataset` for the municipality it acts for
/// (`requested` names one when the caller has several).
pub fn authorize(
    principal: &Principal,
    dataset: &Arc<DatasetDef>,
    requested: Option<&str>,
) -> Result<AccessScope, Denial> {
    if !can_list(principal, dataset) {
        return Err(Denial::NotFound);
    }
    if principal.nsis < dataset.min_nsis {
        return Err(Denial::InsufficientAssurance {
            required: dataset.min_nsis.to_string(),
            actual: principal.nsis.to_string(),
        });
    }
    let municipality = principal.acting_for(requested)?;
    // The role must be held in the municipality acted for, not just somewhere.
    if !principal.has_role_in(&municipality, &dataset.read_role) {
        return Err(Denial::NotFound);
    }
    let columns = visible_columns(principal, dataset, &municipality);
    let constraints = principal
        .constraints_on(&municipality, &dataset.read_role)
        .map(|sets| row_constraints(dataset, sets));
    let scope = AccessScope::granted_by_policy(
        Arc::clone(dataset),
        municipality,
        columns,
        principal.subject.clone(),
    );
    match constraints {
        None => Ok(scope),
        // Every group holding the role carries a constraint this dataset does not know:
        // nothing is visible, so the dataset is not there for this caller.
        Some(rows) if rows.is_empty() => Err(Denial::NotFound),
        Some(rows) => Ok(scope.restricted_to(rows)),
    }
}

/// Turns the data constraints on the caller's role into row constraints on the columns
/// that declare them. A group with a constraint the dataset does not declare opens
/// nothing of it (fail closed): dap cannot honour a restriction it does not understand.
pub fn row_constraints(dataset: &DatasetDef, sets: &[ConstraintSet]) -> Vec<RowConstraint> {
    sets.iter()
        .filter_map(|set| {
            set.iter()
                .map(|(name, values)| {
                    let column = dataset
                        .columns
                        .iter()
                        .find(|c| c.constraint.as_deref() == Some(name.as_str()))?;
                    Some((column.name.clone(), values.iter().cloned().collect()))
                })
                .collect::<Option<RowConstraint>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use dap_schema::{ColumnDef, ColumnType, DatasetId, NsisLevel};

    use super::*;
    use crate::CallerKind;

    fn dataset() -> Arc<DatasetDef> {
        let col = |name: &str, classification| ColumnDef {
            name: name.into(),
            data_type: ColumnType::String,
            classification,
            description: String::new(),
            constraint: None,
        };
        Arc::new(DatasetDef {
            id: DatasetId::parse("aeldre.hjemmepleje").unwrap_or_else(|e| panic!("{e}")),
            domain: "aeldre".into(),
            title_da: "t".into(),
            title_en: "t".into(),
            description_da: String::new(),
            description_en: String::new(),
            location: "aeldre/hjemmepleje".into(),
            tenant_column: "kommunekode".into(),
            read_role: "laes-aeldre".into(),
            min_nsis: NsisLevel::Substantial,
            key_columns: vec!["id".into()],
            columns: vec![
                col("kommunekode", Classification::Public),
                col("borger_id", Classification::Personal),
                col("cpr", Classification::Sensitive),
            ],
        })
    }

    fn principal(roles: &[&str], nsis: NsisLevel, municipalities: &[&str]) -> Principal {
        let roles: BTreeSet<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        let grants = municipalities
            .iter()
            .filter_map(|m| MunicipalityCode::parse(m).ok())
            .map(|m| (m, roles.clone()))
            .collect();
        Principal::from_grants("s".into(), "i".into(), CallerKind::User, grants, nsis)
    }

    #[test]
    fn sensitive_columns_need_the_sensitive_role() {
        let ds = dataset();
        let plain = authorize(
            &principal(&["laes-aeldre"], NsisLevel::High, &["0101"]),
            &ds,
            None,
        );
        assert_eq!(
            plain.map(|s| s.visible_columns().to_vec()).ok(),
            Some(vec!["kommunekode".to_owned(), "borger_id".to_owned()])
        );
        let full = authorize(
            &principal(
                &["laes-aeldre", roles::SENSITIVE],
                NsisLevel::High,
                &["0101"],
            ),
            &ds,
            None,
        );
        assert_eq!(full.map(|s| s.visible_columns().len()).ok(), Some(3));
    }

    #[test]
    fn deny_wins_and_looks_like_not_found() {
        let ds = dataset();
        assert_eq!(
            authorize(
                &principal(&["laes-oekonomi"], NsisLevel::High, &["0101"]),
                &ds,
                None
            )
            .err(),
            Some(Denial::NotFound)
        );
        assert!(matches!(
            authorize(
                &principal(&["laes-aeldre"], NsisLevel::Low, &["0101"]),
                &ds,
                None
            ),
            Err(Denial::InsufficientAssurance { .. })
        ));
        assert_eq!(
            authorize(
                &principal(&["laes-aeldre"], NsisLevel::High, &["0101", "0147"]),
                &ds,
                None
            )
            .err(),
            Some(Denial::MunicipalityRequired("0101, 0147".into()))
        );
        assert_eq!(
            authorize(
                &principal(&["laes-aeldre"], NsisLevel::High, &["0101"]),
                &ds,
                Some("0751")
            )
            .err(),
            Some(Denial::MunicipalityNotGranted("0751".into()))
        );
        assert_eq!(
            authorize(
                &principal(&["laes-aeldre"], NsisLevel::High, &[]),
                &ds,
                None
            )
            .err(),
            Some(Denial::NotFound)
        );
    }
}

#[cfg(test)]
mod grant_tests {
    use std::collections::{BTreeMap, BTreeSet};

    use dap_schema::{ColumnDef, ColumnType, DatasetId, NsisLevel};

    use super::*;
    use crate::CallerKind;

    #[test]
    fn a_role_held_in_one_municipality_opens_nothing_in_another() {
        let dataset = Arc::new(DatasetDef {
            id: DatasetId::parse("oekonomi.posteringer").unwrap_or_else(|e| panic!("{e}")),
            domain: "oekonomi".into(),
            title_da: String::new(),
            title_en: String::new(),
            description_da: String::new(),
            description_en: String::new(),
            location: "x".into(),
            tenant_column: "kommunekode".into(),
            read_role: "laes-oekonomi".into(),
            min_nsis: NsisLevel::Low,
            key_columns: vec![],
            columns: vec![ColumnDef {
                name: "kommunekode".into(),
                data_type: ColumnType::String,
                classification: Classification::Public,
                description: String::new(),
                constraint: None,
            }],
        });
        let code = |c: &str| MunicipalityCode::parse(c).unwrap_or_else(|e| panic!("{e}"));
        let grants = BTreeMap::from([
            (code("0250"), BTreeSet::from(["laes-oekonomi".to_owned()])),
            (code("0101"), BTreeSet::from(["laes-borger".to_owned()])),
        ]);
        let p = Principal::from_grants(
            "s".into(),
            "i".into(),
            CallerKind::User,
            grants,
            NsisLevel::High,
        );
        assert!(can_list(&p, &dataset));
        assert!(authorize(&p, &dataset, Some("0250")).is_ok());
        assert_eq!(
            authorize(&p, &dataset, Some("0101")).err(),
            Some(Denial::NotFound)
        );
        assert!(matches!(
            authorize(&p, &dataset, None),
            Err(Denial::MunicipalityRequired(_))
        ));
    }
}
