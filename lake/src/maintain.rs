//! Table maintenance: what keeps a table that grows by 98 small deliveries a day fast to
//! read, and its storage bounded.
//!
//! - **Compaction per partition**: the small files of each municipality's partition are
//!   rewritten into few large ones (Delta OPTIMIZE, one partition at a time, so a
//!   concurrent delivery conflicts at most with its own partition's compaction and
//!   retries). Compaction changes no data (`dataChange = false`): readers' versions and
//!   the change feed do not move.
//! - **Checkpoint** of the log at the newest version, so opening the table reads one
//!   Parquet checkpoint instead of every commit.
//! - **Vacuum** of files no version younger than the retention references.
//!
//! Retention (the time-travel promise): table versions stay readable (`version=`,
//! `as_of=`, the change feed) for [`MaintenancePolicy::keep_versions_days`] (30 days by
//! default; Delta's log retention is the same 30 days). Older versions may answer
//! `version_not_available`. Ten years of history are kept as *data* (rows with their
//! periods: `aar`, `maaned`, dates), never as old table versions.

use std::num::NonZeroU64;
use std::sync::Arc;

use dap_schema::DatasetDef;
use deltalake::{DeltaTable, FilterOp, FilterValue};

use crate::{Lake, Result};

/// How tables are maintained.
#[derive(Debug, Clone)]
pub struct MaintenancePolicy {
    /// Days old versions stay readable; vacuum removes files only older versions need.
    pub keep_versions_days: u32,
    /// Compaction's target file size in bytes.
    pub target_file_bytes: u64,
}

impl Default for MaintenancePolicy {
    fn default() -> Self {
        Self {
            keep_versions_days: 30,
            target_file_bytes: 128 * 1024 * 1024,
        }
    }
}

/// What one table's maintenance did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MaintenanceReport {
    pub dataset: String,
    pub version_before: u64,
    pub version_after: u64,
    pub files_before: usize,
    pub files_after: usize,
    pub partitions_compacted: u64,
    pub files_vacuumed: usize,
    /// The version checkpointed.
    pub checkpoint: u64,
}

impl Lake {
    /// Compacts each of `partitions` (tenant values), checkpoints and vacuums the table of
    /// `dataset` by `policy`.
    pub async fn maintain(
        self: &Arc<Self>,
        dataset: &DatasetDef,
        partitions: Vec<String>,
        policy: MaintenancePolicy,
    ) -> Result<MaintenanceReport> {
        let lake = Arc::clone(self);
        let def = dataset.clone();
        self.runtime()
            .run(async move {
                let url = lake.location(&def)?;
                let mut table = crate::storage::open_table(url, &lake.storage).await?;
                let version_before = table.version().unwrap_or_default();
                let files_before = file_count(&table)?;
                let target = NonZeroU64::new(policy.target_file_bytes.max(1024 * 1024))
                    .unwrap_or(NonZeroU64::MIN);
                let mut partitions_compacted = 0;
                for value in &partitions {
                    let filters = [(
                        def.tenant_column.as_str(),
                        FilterOp::Eq,
                        FilterValue::Scalar(value.as_str()),
                    )];
                    let (compacted, metrics) = table
                        .clone()
                        .optimize()
                        .with_filters(&filters)
                        .with_target_size(target)
                        .await?;
                    if metrics.num_files_removed > 0 {
                        partitions_compacted += 1;
                    }
                    table = compacted;
                }
                deltalake::checkpoints::create_checkpoint(&table, None).await?;
                let checkpoint = table.version().unwrap_or_default();
                let (table, vacuumed) = table
                    .vacuum()
                    .with_retention_period(chrono::Duration::days(i64::from(
                        policy.keep_versions_days,
                    )))
                    .await?;
                Ok(MaintenanceReport {
                    dataset: def.id.to_string(),
                    version_before,
                    version_after: table.version().unwrap_or_default(),
                    files_before,
                    files_after: file_count(&table)?,
                    partitions_compacted,
                    files_vacuumed: vacuumed.files_deleted.len(),
                    checkpoint,
                })
            })
            .await
    }
}

fn file_count(table: &DeltaTable) -> Result<usize> {
    Ok(table.snapshot()?.log_data().num_files())
}
