//! The resolved access scope: the only ticket the lake accepts for a read.

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
}

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
        }
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
