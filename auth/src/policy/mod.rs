//! The access policy: which datasets a principal sees and with which columns.
//!
//! Deny wins: a dataset the caller's roles do not open is reported exactly like a
//! dataset that does not exist. Unknown shapes close: a role whose constraints a dataset
//! cannot honour opens nothing of it, neither rows nor columns.

use std::sync::Arc;

use dap_schema::{AccessScope, DatasetDef, MunicipalityCode, RowConstraint};

use crate::principal::ConstraintSet;
use crate::{Denial, Principal};

mod columns;

/// True when the principal's roles open the dataset in some municipality (ignoring
/// assurance level): the read role is held there in a group whose constraints, if any,
/// the dataset can apply. A dataset no group can open is not listed, as it answers 404.
pub fn can_list(principal: &Principal, dataset: &DatasetDef) -> bool {
    let allowed = principal
        .datasets
        .as_ref()
        .is_none_or(|d| d.contains(dataset.id.as_str()));
    allowed
        && principal.municipalities.iter().any(|m| {
            principal.has_role_in(m, &dataset.read_role)
                && scope_rows(principal, dataset, m).is_none_or(|rows| !rows.is_empty())
        })
}

/// Columns the principal may read of the dataset in `municipality`, in table order:
/// those the scope [`authorize`] grants would show (see [`columns`] for the rule).
pub fn visible_columns(
    principal: &Principal,
    dataset: &DatasetDef,
    municipality: &MunicipalityCode,
) -> Vec<String> {
    let rows = scope_rows(principal, dataset, municipality);
    columns::columns_for(principal, dataset, municipality, rows.as_deref())
}

/// The rows the read role opens in `municipality`: `None` for all of them, otherwise
/// the row constraints of the groups whose constraints the dataset can apply (empty:
/// none can, so nothing is open).
fn scope_rows(
    principal: &Principal,
    dataset: &DatasetDef,
    municipality: &MunicipalityCode,
) -> Option<Vec<RowConstraint>> {
    principal
        .constraints_on(municipality, &dataset.read_role)
        .map(|sets| row_constraints(dataset, sets))
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
    let municipality = principal.acting_for(requested)?;
    // The role must be held in the municipality acted for, not just somewhere.
    if !principal.has_role_in(&municipality, &dataset.read_role) {
        return Err(Denial::NotFound);
    }
    let rows = scope_rows(principal, dataset, &municipality);
    // Every group holding the read role carries a constraint this dataset does not know:
    // nothing is visible, so the dataset is not there for this caller.
    if rows.as_ref().is_some_and(Vec::is_empty) {
        return Err(Denial::NotFound);
    }
    // Deny wins: the assurance level is judged only once the dataset is there for the
    // caller, so a dataset they may not see never answers "insufficient assurance".
    if principal.nsis < dataset.min_nsis {
        return Err(Denial::InsufficientAssurance {
            required: dataset.min_nsis.to_string(),
            actual: principal.nsis.to_string(),
        });
    }
    // Columns from the same rows as the scope: a column opened by a role that does not
    // open every one of these rows stays hidden (see `columns`).
    let columns = columns::columns_for(principal, dataset, &municipality, rows.as_deref());
    let scope = AccessScope::granted_by_policy(
        Arc::clone(dataset),
        municipality,
        columns,
        principal.subject.clone(),
    );
    Ok(match rows {
        None => scope,
        Some(rows) => scope.restricted_to(rows),
    })
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
mod column_tests;
#[cfg(test)]
mod tests;
