//! The open tables: opened on first use, kept by location, moved to new versions by
//! [`Lake::refresh`], and dropped when they cannot be read or leave the catalogue.

use std::collections::HashSet;
use std::sync::Arc;

use dap_schema::DatasetDef;
use deltalake::DeltaTable;

use crate::resolve::VersionCache;
use crate::{Error, Lake, Result};

impl Lake {
    /// The table as currently cached, opening it on first use. A table that cannot be
    /// opened is [`Error::TableUnavailable`].
    pub(crate) async fn current(&self, dataset: &DatasetDef) -> Result<Arc<DeltaTable>> {
        let url = self.location(dataset)?;
        let key = url.to_string();
        if let Some(table) = self.cached(&key) {
            return Ok(table);
        }
        let table = crate::storage::open_table(url, &self.storage)
            .await
            .map_err(|e| unavailable(dataset, &e))?;
        let table = Arc::new(table);
        self.stats.current(&key);
        if let Ok(mut tables) = self.tables.write() {
            tables.entry(key).or_insert_with(|| Arc::clone(&table));
        }
        Ok(table)
    }

    /// The table at version `read`, one this lake listed files of (the current one, or
    /// an older one still in the log). Not a caller's choice: callers' versions are
    /// resolved by `target`, which keeps each caller within its own history.
    pub(crate) async fn table_at(&self, dataset: &DatasetDef, read: u64) -> Result<DeltaTable> {
        let current = self.current(dataset).await?;
        let mut table = (*current).clone();
        if current.version() != Some(read) {
            table
                .load_version(read)
                .await
                .map_err(|_| Error::InvalidParameter {
                    parameter: "version",
                    reason: format!(
                        "table version {read}, which these files were listed from, can no \
                         longer be read; ask for the table again"
                    ),
                })?;
        }
        Ok(table)
    }

    fn cached(&self, key: &str) -> Option<Arc<DeltaTable>> {
        self.tables.read().ok()?.get(key).cloned()
    }

    pub(crate) fn versions_cache(&self) -> &VersionCache {
        &self.versions
    }

    /// Drops what the lake holds of `dataset`'s table (the open table, its commit log),
    /// e.g. after the dataset was deleted or moved; the next read opens it afresh.
    pub fn forget(&self, dataset: &DatasetDef) {
        if let Ok(url) = self.location(dataset) {
            let key = url.to_string();
            if let Ok(mut tables) = self.tables.write() {
                tables.remove(&key);
            }
            self.stats.closed(&key);
            self.versions.forget(&key);
            self.partitions.forget(&key);
        }
    }

    /// Keeps only the tables of `datasets` open (call after the catalogue changed, so a
    /// deleted dataset's table is no longer refreshed on any replica).
    pub fn retain(&self, datasets: &[DatasetDef]) {
        let keep: HashSet<String> = datasets
            .iter()
            .filter_map(|d| self.location(d).ok().map(|u| u.to_string()))
            .collect();
        let dropped: Vec<String> = match self.tables.write() {
            Ok(mut tables) => {
                let dropped = tables
                    .keys()
                    .filter(|k| !keep.contains(*k))
                    .cloned()
                    .collect();
                tables.retain(|k, _| keep.contains(k));
                dropped
            }
            Err(_) => Vec::new(),
        };
        self.stats.retain(|k| keep.contains(k));
        for key in dropped {
            self.versions.forget(&key);
            self.partitions.forget(&key);
        }
    }

    /// Moves every open table to its latest version if it has a newer one. Only the new
    /// commits are read. Returns how many tables moved.
    ///
    /// One table that cannot be refreshed does not stop the others. A table that is gone
    /// (its log cannot be listed) is dropped from the cache, so the next read reports it
    /// unavailable. A table whose newer commit cannot be read (a corrupt or half-written
    /// commit file) keeps serving its last good version and is reported by
    /// [`Lake::stale_tables`] until a refresh succeeds.
    pub async fn refresh(self: &Arc<Self>) -> Result<usize> {
        let lake = Arc::clone(self);
        self.runtime()
            .run(async move {
                let open: Vec<(String, Arc<DeltaTable>)> = match lake.tables.read() {
                    Ok(tables) => tables.iter().map(|(k, v)| (k.clone(), Arc::clone(v))).collect(),
                    Err(_) => Vec::new(),
                };
                let mut moved = 0;
                for (key, table) in open {
                    match refreshed(&table).await {
                        Ok(fresh) => {
                            lake.mark_fresh(&key);
                            lake.stats.current(&key);
                            if let Some(fresh) = fresh {
                                tracing::info!(table = %key, version = ?fresh.version(), "table has a new version");
                                if let Ok(mut tables) = lake.tables.write() {
                                    tables.insert(key, Arc::new(fresh));
                                    moved += 1;
                                }
                            }
                        }
                        Err(Refresh::Gone(error)) => {
                            tracing::warn!(table = %key, %error, "table cannot be read; dropped from the cache");
                            lake.mark_fresh(&key);
                            lake.stats.closed(&key);
                            if let Ok(mut tables) = lake.tables.write() {
                                tables.remove(&key);
                            }
                            lake.versions.forget(&key);
                            lake.partitions.forget(&key);
                        }
                        Err(Refresh::Stuck { latest, error }) => {
                            tracing::error!(table = %key, latest, %error, "the table's newer commit cannot be read; serving its last good version");
                            if let Ok(mut stale) = lake.stale.write() {
                                let since = stale
                                    .get(&key)
                                    .map_or_else(chrono::Utc::now, |s| s.since);
                                stale.insert(
                                    key,
                                    StaleTable {
                                        serving: table.version(),
                                        latest,
                                        since,
                                    },
                                );
                            }
                        }
                    }
                }
                Ok(moved)
            })
            .await
    }

    fn mark_fresh(&self, key: &str) {
        if let Ok(mut stale) = self.stale.write() {
            stale.remove(key);
        }
    }

    /// Tables that keep their last good version because a newer commit cannot be read,
    /// by location.
    pub fn stale_tables(&self) -> Vec<(String, StaleTable)> {
        self.stale
            .read()
            .map(|s| s.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }
}

/// A table served at an older version than its log has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleTable {
    /// The version served.
    pub serving: Option<u64>,
    /// The newest version in the log.
    pub latest: u64,
    /// When it was first found stale.
    pub since: chrono::DateTime<chrono::Utc>,
}

enum Refresh {
    /// The log cannot be listed: the table is gone or storage is unreachable.
    Gone(deltalake::DeltaTableError),
    /// The log has a newer version that cannot be read.
    Stuck {
        latest: u64,
        error: deltalake::DeltaTableError,
    },
}

/// The table at its latest version, or `None` when it has no newer one.
async fn refreshed(table: &DeltaTable) -> std::result::Result<Option<DeltaTable>, Refresh> {
    let latest = table.get_latest_version().await.map_err(Refresh::Gone)?;
    if Some(latest) == table.version() {
        return Ok(None);
    }
    let mut fresh = table.clone();
    fresh
        .update_incremental(None)
        .await
        .map_err(|error| Refresh::Stuck { latest, error })?;
    Ok(Some(fresh))
}

/// A table that cannot be opened: missing, not a Delta table, or storage unreachable.
/// The cause goes to the log; the caller gets a stable, opaque error.
pub(crate) fn unavailable(dataset: &DatasetDef, error: &deltalake::DeltaTableError) -> Error {
    tracing::warn!(dataset = %dataset.id, location = %dataset.location, %error, "table cannot be opened");
    Error::TableUnavailable {
        dataset: dataset.id.to_string(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::RowQuery;
    use crate::testing::{commit, lake, population, scope};

    #[tokio::test]
    async fn one_unreadable_table_does_not_stop_the_refresh_of_the_others() {
        // Arrange: two open tables.
        let root = tempfile::tempdir().expect("tempdir");
        commit(root.path(), "a", &[("0101", "K")]).await;
        commit(root.path(), "b", &[("0101", "K")]).await;
        let lake = lake(root.path());
        let (a, b) = (population("a"), population("b"));
        lake.table_info(&scope(&a, "0101", None))
            .await
            .expect("a opens");
        lake.table_info(&scope(&b, "0101", None))
            .await
            .expect("b opens");

        // Act: table a disappears, table b gets a new version.
        std::fs::remove_dir_all(root.path().join("a")).expect("remove a");
        commit(root.path(), "b", &[("0101", "M")]).await;
        let moved = lake.refresh().await;

        // Assert: b moved; a answers "unavailable", not an internal error.
        assert_eq!(moved.ok(), Some(1));
        let info = lake.table_info(&scope(&b, "0101", None)).await.expect("b");
        assert_eq!(info.version, 1);
        let error = lake
            .table_info(&scope(&a, "0101", None))
            .await
            .expect_err("a is gone");
        assert!(error.is_unavailable(), "{error:?}");
        assert!(!error.is_client_error());
        assert!(
            !root.path().join("a").exists(),
            "reading must not create the table"
        );
    }

    #[tokio::test]
    async fn a_corrupt_newer_commit_keeps_the_last_good_version_and_is_reported() {
        // Arrange: two open tables at version 0.
        let root = tempfile::tempdir().expect("tempdir");
        commit(root.path(), "a", &[("0101", "K")]).await;
        commit(root.path(), "b", &[("0101", "K")]).await;
        let lake = lake(root.path());
        let (a, b) = (population("a"), population("b"));
        lake.table_info(&scope(&a, "0101", None))
            .await
            .expect("a opens");
        lake.table_info(&scope(&b, "0101", None))
            .await
            .expect("b opens");

        // Act: a's next commit file is garbage; b gets a good new version.
        std::fs::write(
            root.path().join("a/_delta_log/00000000000000000001.json"),
            b"{not json",
        )
        .expect("corrupt commit");
        commit(root.path(), "b", &[("0101", "M")]).await;
        let moved = lake.refresh().await.expect("refresh runs");

        // Assert: b moved; a still answers at version 0 and is reported stale.
        assert_eq!(moved, 1);
        let info = lake.table_info(&scope(&b, "0101", None)).await.expect("b");
        assert_eq!(info.version, 1);
        let info = lake
            .table_info(&scope(&a, "0101", None))
            .await
            .expect("a keeps serving its last good version");
        assert_eq!(info.version, 0);
        let stale = lake.stale_tables();
        assert_eq!(stale.len(), 1, "{stale:?}");
        assert!(stale[0].0.ends_with("/a/"), "{stale:?}");
        assert_eq!((stale[0].1.serving, stale[0].1.latest), (Some(0), 1));

        // A repaired log clears the report at the next refresh.
        std::fs::remove_file(root.path().join("a/_delta_log/00000000000000000001.json"))
            .expect("remove the bad commit");
        commit(root.path(), "a", &[("0101", "M")]).await;
        lake.refresh().await.expect("refresh runs");
        assert!(lake.stale_tables().is_empty());
        let info = lake.table_info(&scope(&a, "0101", None)).await.expect("a");
        assert_eq!(info.version, 1);
    }

    #[tokio::test]
    async fn a_dataset_moved_to_another_location_reads_the_new_table() {
        let root = tempfile::tempdir().expect("tempdir");
        commit(root.path(), "old", &[("0101", "K")]).await;
        commit(root.path(), "new", &[("0101", "K")]).await;
        commit(root.path(), "new", &[("0101", "M")]).await;
        let lake = lake(root.path());
        let info = lake
            .table_info(&scope(&population("old"), "0101", None))
            .await;
        assert_eq!(info.expect("old").version, 0);

        // The same dataset id, re-registered at another location.
        let info = lake
            .table_info(&scope(&population("new"), "0101", None))
            .await;
        assert_eq!(info.expect("new").version, 1);
    }

    #[tokio::test]
    async fn a_table_deleted_under_the_cached_snapshot_is_unavailable_at_once() {
        let root = tempfile::tempdir().expect("tempdir");
        commit(root.path(), "a", &[("0101", "K")]).await;
        let lake = lake(root.path());
        let scope = scope(&population("a"), "0101", None);
        lake.table_info(&scope).await.expect("opens");

        // Deleted before the next refresh: the cached snapshot still names its files.
        std::fs::remove_dir_all(root.path().join("a")).expect("remove");
        let query = RowQuery::default().resolve(&scope).expect("query");
        let read = match lake.scan(&scope, &query).await {
            Ok(scan) => scan.collect_page().await.map(|_| ()),
            Err(error) => Err(error),
        };

        let error = read.expect_err("the files are gone");
        assert!(error.is_unavailable(), "{error:?}");
    }

    #[tokio::test]
    async fn a_missing_table_is_unavailable_on_first_use() {
        let root = tempfile::tempdir().expect("tempdir");
        let lake = lake(root.path());
        let error = lake
            .table_info(&scope(&population("nope"), "0101", None))
            .await
            .expect_err("no table");
        assert!(error.is_unavailable(), "{error:?}");
        assert!(error.to_string().contains("borger.befolkning"), "{error}");
    }
}
