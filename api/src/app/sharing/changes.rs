//! A table's change data feed for one caller: one `cdf` file per commit that changed
//! the caller's rows ([`dap_lake::Lake::versions`] gives exactly those), holding those
//! changed rows with the visible columns and `_change_type`, behind a signed link like
//! every other file ([`super::files`]).

use dap_auth::Principal;

use super::files::FileAction;
use super::{TableMetadata, TableRef, metadata_of};
use crate::app::{AppError, AuditFacts, Core};

/// One commit's changes to the caller's rows.
#[derive(Debug, Clone)]
pub struct ChangeAction {
    pub file: FileAction,
    pub version: u64,
    /// Commit time, milliseconds since the epoch.
    pub timestamp: i64,
}

/// The caller's change feed between two versions.
#[derive(Debug, Clone)]
pub struct TableChanges {
    pub metadata: TableMetadata,
    pub changes: Vec<ChangeAction>,
}

impl Core {
    /// The caller's changes from version `from` to `to` (inclusive; the latest when
    /// absent), as signed links under `base`.
    pub async fn sharing_changes(
        &self,
        principal: &Principal,
        table: TableRef<'_>,
        from: u64,
        to: Option<u64>,
        base: &str,
    ) -> Result<(TableChanges, AuditFacts), AppError> {
        let scope = self.sharing_scope(principal, table)?;
        let latest = self.lake.table_info(&scope).await?.version;
        // The log's first commit: changes before it are gone (a range reaching before it
        // is refused, never answered in part).
        let first = self.lake.first_version(&scope).await?;
        let to = to.unwrap_or(latest);
        if from < first || from > to || to > latest {
            return Err(AppError::VersionNotAvailable(format!(
                "startingVersion {from} to endingVersion {to} is not a range of this table's versions ({first} to {latest})"
            )));
        }
        let mut versions = self.lake.versions(&scope).await?;
        versions.retain(|v| (from..=to).contains(&v.version));
        versions.sort_by_key(|v| v.version);
        let mut changes = Vec::new();
        let mut rows = 0u64;
        for v in versions {
            let encoded = self.lake.scoped_changes(&scope, v.version).await?;
            if encoded.rows == 0 {
                continue;
            }
            let (file, _) = self.issue_link(
                principal,
                &scope,
                "",
                true,
                (v.version, None),
                encoded,
                base,
            )?;
            rows += file.num_records;
            changes.push(ChangeAction {
                file,
                version: v.version,
                timestamp: v.timestamp.map_or(0, |t| t.timestamp_millis()),
            });
        }
        let facts = AuditFacts {
            municipality: Some(scope.municipality().to_string()),
            table_version: Some(to),
            columns: Some(scope.visible_columns().join(",")),
            filter: Some(format!("changes from version {from} to version {to}")),
            rows_returned: usize::try_from(rows).ok(),
        };
        let metadata = metadata_of(&scope, to);
        Ok((TableChanges { metadata, changes }, facts))
    }
}
