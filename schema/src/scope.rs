//! The resolved access scope: the only ticket the lake accepts for a read.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::{DatasetDef, MunicipalityCode};

/// What one caller may read of one dataset, decided by the policy in `dap-auth`.
///
/// The lake's scan API takes an `AccessScope` as a required argument, so no read can
/// happen without one. Only the policy (`dap_auth::policy::authorize`) constructs it;
/// the constructor is public because the policy lives in another crate.
#[derive(Debug, Clone)]
pub struct AccessScope {
    dataset: Arc<DatasetDef>,
    municipality: MunicipalityCode,
    visible_columns: Vec<String>,
    subject: String,
    rows: Option<Vec<RowConstraint>>,
}

/// Rows a data constraint leaves visible: for every column, one of its values (all
/// columns must match). A scope with several admits a row when any one admits it.
pub type RowConstraint = BTreeMap<String, Vec<String>>;

impl AccessScope {
    /// Records a policy decision. Call only from the access policy.
    pub fn granted_by_policy(
        dataset: Arc<DatasetDef>,
        municipality: MunicipalityCode,
        visible_columns: Vec<String>,
        subject: String,
    ) -> Self {
        Self {
            dataset,
            municipality,
            visible_columns,
            subject,
            rows: None,
        }
    }

    /// Narrows the scope to rows that one of `constraints` admits (from the data
    /// constraints on the caller's role). Call only from the access policy.
    pub fn restricted_to(mut self, constraints: Vec<RowConstraint>) -> Self {
        self.rows = Some(constraints);
        self
    }

    /// The row constraints, if the caller's role carries data constraints; `None`: all
    /// of the municipality's rows.
    pub fn row_constraints(&self) -> Option<&[RowConstraint]> {
        self.rows.as_deref()
    }

    /// The dataset this scope opens.
    pub fn dataset(&self) -> &DatasetDef {
        &self.dataset
    }

    /// The one municipality whose rows may be read.
    pub fn municipality(&self) -> &MunicipalityCode {
        &self.municipality
    }

    /// Columns the caller may read, filter and sort on, in table order.
    pub fn visible_columns(&self) -> &[String] {
        &self.visible_columns
    }

    /// True when the caller may see `column`.
    pub fn can_see(&self, column: &str) -> bool {
        self.visible_columns.iter().any(|c| c == column)
    }

    /// The caller's subject, used to bind cursors to the caller.
    pub fn subject(&self) -> &str {
        &self.subject
    }
}
