//! Which columns a scope shows. Columns follow the rule rows follow: a role opens
//! nothing of a dataset that cannot honour its constraints, and what it opens it opens
//! only for the rows its constraints admit.
//!
//! A scope has one set of columns for all its rows (there is no per-row column
//! visibility), so a column is shown only when the role that opens it opens **every**
//! row the scope admits: a role held without constraints always does; a role held only
//! under constraints the dataset cannot apply never does; a role held under constraints
//! the dataset can apply does when each of the scope's row constraints lies within one
//! of that role's row constraints. Otherwise the column stays hidden and the rows stay
//! as the read role made them: adding a role never narrows what a caller sees.

use dap_schema::{Classification, DatasetDef, MunicipalityCode, RowConstraint};

use super::row_constraints;
use crate::{Principal, roles};

/// The columns of `dataset` a scope with `rows` (from the read role; `None`: all of the
/// municipality's rows) shows, in table order.
pub(super) fn columns_for(
    principal: &Principal,
    dataset: &DatasetDef,
    municipality: &MunicipalityCode,
    rows: Option<&[RowConstraint]>,
) -> Vec<String> {
    let sensitive_ok = opens_every_row(principal, dataset, municipality, roles::SENSITIVE, rows);
    dataset
        .columns
        .iter()
        .filter(|c| c.classification != Classification::Sensitive || sensitive_ok)
        .map(|c| c.name.clone())
        .collect()
}

/// True when `role`, held in `municipality`, opens every row that `rows` admits.
fn opens_every_row(
    principal: &Principal,
    dataset: &DatasetDef,
    municipality: &MunicipalityCode,
    role: &str,
    rows: Option<&[RowConstraint]>,
) -> bool {
    if !principal.has_role_in(municipality, role) {
        return false;
    }
    let Some(sets) = principal.constraints_on(municipality, role) else {
        return true;
    };
    // Only the constraint sets this dataset can apply open anything of it.
    let opened = row_constraints(dataset, sets);
    // All rows: one row constraint with no columns.
    let all = [RowConstraint::new()];
    rows.unwrap_or(&all)
        .iter()
        .all(|wanted| admits_nothing(wanted) || opened.iter().any(|o| within(wanted, o)))
}

/// True when every row `inner` admits is admitted by `outer`: each column `outer`
/// restricts is restricted by `inner` to values `outer` allows.
fn within(inner: &RowConstraint, outer: &RowConstraint) -> bool {
    outer.iter().all(|(column, allowed)| {
        inner
            .get(column)
            .is_some_and(|values| values.iter().all(|v| allowed.contains(v)))
    })
}

/// True when the row constraint admits no row (a column restricted to no values).
fn admits_nothing(constraint: &RowConstraint) -> bool {
    constraint.values().any(Vec::is_empty)
}
