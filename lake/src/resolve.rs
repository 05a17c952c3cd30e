//! Which table version a read is answered at, and which version the caller is told.
//!
//! A caller's version is the newest table version, at or below the one asked about,
//! whose commit changed rows the caller may see: its municipality's partition, under
//! its row constraints. Other municipalities' commits are their business (invariant 8),
//! so "the current version" of a read without `version`/`as_of` is the caller's
//! version, and reading there gives the same rows as reading the current table.
//!
//! Cost: for a caller without row constraints the answer comes from the Delta log alone
//! (which commits changed which partitions, [`CommitLog`]). Under row constraints a
//! commit to the partition may have changed only rows the caller cannot see; then the
//! change data feed of that one commit, pruned to the partition, decides, newest
//! candidate first. Those answers are cached per (table version, row predicate).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use dap_schema::{AccessScope, DatasetDef};
use deltalake::DeltaTable;
use deltalake::datafusion::prelude::Expr;
use deltalake::delta_datafusion::DeltaCdfTableProvider;
use tokio::sync::OwnedMutexGuard;

use crate::commits::CommitLog;
use crate::error::Requested;
use crate::lake::row_predicate;
use crate::{Error, Lake, Result};

/// Cached constrained answers kept before the cache is emptied: bounds memory when many
/// distinct constraint sets read while tables move.
const OWN_VERSION_CACHE: usize = 4096;

/// The parts of a scope a read needs, owned so they can move onto the lake runtime.
#[derive(Debug, Clone)]
pub(crate) struct Reader {
    pub(crate) dataset: DatasetDef,
    pub(crate) tenant: String,
    /// The rows the scope admits ([`row_predicate`]).
    pub(crate) rows: Expr,
    /// Row constraints narrow the partition, so a commit to the partition may not have
    /// changed any row this reader sees.
    pub(crate) constrained: bool,
}

impl Reader {
    pub(crate) fn of(scope: &AccessScope) -> Self {
        Self {
            dataset: scope.dataset().clone(),
            tenant: scope.municipality().as_str().to_owned(),
            rows: row_predicate(scope),
            constrained: scope.row_constraints().is_some(),
        }
    }
}

/// The table a read runs on and the version the caller is told.
pub(crate) struct Target {
    pub(crate) table: DeltaTable,
    pub(crate) version: u64,
    /// The open table `table` was taken from.
    pub(crate) current: Arc<DeltaTable>,
}

/// Per table: its commit log; per (table, table version, row predicate): the answer for
/// constrained readers; per (table, row predicate): the rows each commit changed.
#[derive(Debug, Default)]
pub(crate) struct VersionCache {
    logs: Mutex<HashMap<String, Arc<tokio::sync::Mutex<CommitLog>>>>,
    constrained: Mutex<HashMap<(String, u64, String), u64>>,
    pub(crate) counts: crate::history::CountsCache,
}

impl VersionCache {
    fn log(&self, key: &str, tenant_column: &str) -> Arc<tokio::sync::Mutex<CommitLog>> {
        let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        let log = logs
            .entry(key.to_owned())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(CommitLog::new(tenant_column))));
        Arc::clone(log)
    }

    /// Forgets everything about the table at `key` (it was removed or re-registered).
    pub(crate) fn forget(&self, key: &str) {
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        self.constrained
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(table, _, _), _| table != key);
        self.counts.forget(key);
    }

    fn cached(&self, key: &(String, u64, String)) -> Option<u64> {
        let cache = self.constrained.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(key).copied()
    }

    fn remember(&self, key: (String, u64, String), version: u64) {
        let mut cache = self.constrained.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= OWN_VERSION_CACHE {
            cache.clear();
        }
        cache.insert(key, version);
    }
}

impl Lake {
    /// The table's commit log, locked: commits are read into it on demand.
    pub(crate) async fn commit_log(
        &self,
        dataset: &DatasetDef,
    ) -> Result<OwnedMutexGuard<CommitLog>> {
        let key = self.location(dataset)?.to_string();
        let log = self.versions_cache().log(&key, &dataset.tenant_column);
        Ok(log.lock_owned().await)
    }

    /// The reader's version at or below `upto`: the newest version whose commit changed
    /// rows the reader sees, or the earliest version the log holds when none did.
    pub(crate) async fn own_version(
        &self,
        table: &DeltaTable,
        reader: &Reader,
        upto: u64,
    ) -> Result<u64> {
        let store = table.log_store();
        let store = store.as_ref();
        let tenant = reader.tenant.as_str();
        // Without a change data feed the partition-level answer is the best there is.
        let constrained = reader.constrained && change_data_enabled(table);
        let key = match constrained {
            true => Some((
                self.location(&reader.dataset)?.to_string(),
                upto,
                reader.rows.to_string(),
            )),
            false => None,
        };
        if let Some(version) = key.as_ref().and_then(|k| self.versions_cache().cached(k)) {
            return Ok(version);
        }
        let (earliest, mut candidate) = {
            let mut log = self.commit_log(&reader.dataset).await?;
            log.at_latest(table.version().unwrap_or_default());
            let earliest = log.earliest(store).await?.unwrap_or(upto);
            (earliest, log.last_change(store, tenant, upto).await?)
        };
        let Some(key) = key else {
            return Ok(candidate.unwrap_or(earliest));
        };
        let own = loop {
            let Some(version) = candidate else {
                break earliest;
            };
            // A feed that cannot be read counts as a change: telling a newer version is
            // safe (same rows), skipping a real change would not be.
            if admits_changes(table, &reader.rows, version)
                .await
                .unwrap_or(true)
            {
                break version;
            }
            let Some(below) = version.checked_sub(1) else {
                break earliest;
            };
            let mut log = self.commit_log(&reader.dataset).await?;
            candidate = log.last_change(store, tenant, below).await?;
        };
        self.versions_cache().remember(key, own);
        Ok(own)
    }

    /// Resolves a read's `version` or `as_of` (neither: the current version) to the table
    /// to read and the version to report. Wherever no commit after the resolved version
    /// changed the reader's rows, the current table is read: the rows are the same, and
    /// no older snapshot has to be loaded.
    pub(crate) async fn target(
        &self,
        reader: &Reader,
        version: Option<u64>,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Target> {
        let current = self.current(&reader.dataset).await?;
        let latest = current.version().unwrap_or_default();
        let earliest = self.earliest(&current, &reader.dataset, latest).await?;
        let own_now = self.own_version(&current, reader, latest).await?;
        // The reader's history ends at its own version: a later commit changed only rows
        // it may not see, so neither asking for it nor a refusal tells it exists.
        let (at, report) = match (version, as_of) {
            (Some(v), _) if v > own_now || v < earliest => {
                return Err(version_error(Requested::Version(v), earliest, own_now));
            }
            (Some(v), _) => (v, v),
            (None, Some(instant)) => {
                let at = self
                    .version_at(&current, &reader.dataset, instant, (earliest, latest))
                    .await
                    .map_err(|e| e.told_up_to(own_now))?;
                (at, self.own_version(&current, reader, at).await?)
            }
            (None, None) => (latest, own_now),
        };
        let mut table = (*current).clone();
        if at < own_now {
            table
                .load_version(at)
                .await
                .map_err(|_| version_error(Requested::Version(at), earliest, own_now))?;
        }
        Ok(Target {
            table,
            version: report,
            current,
        })
    }

    /// The newest version committed at or before `instant`, by the commit times that
    /// `/versions` reports; `version_not_available` with the range before the first.
    async fn version_at(
        &self,
        current: &DeltaTable,
        dataset: &DatasetDef,
        instant: DateTime<Utc>,
        (earliest, latest): (u64, u64),
    ) -> Result<u64> {
        let store = current.log_store();
        let mut log = self.commit_log(dataset).await?;
        if let Some(version) = log.version_at(store.as_ref(), instant, latest).await? {
            return Ok(version);
        }
        let first_commit = log
            .commit(store.as_ref(), earliest)
            .await?
            .and_then(|c| c.timestamp());
        let requested = Requested::Instant {
            at: instant,
            first_commit,
        };
        Err(version_error(requested, earliest, latest))
    }

    /// The first version the log holds.
    pub(crate) async fn earliest(
        &self,
        current: &DeltaTable,
        dataset: &DatasetDef,
        latest: u64,
    ) -> Result<u64> {
        let store = current.log_store();
        let mut log = self.commit_log(dataset).await?;
        log.at_latest(latest);
        Ok(log.earliest(store.as_ref()).await?.unwrap_or(latest))
    }

    /// The commit time of `version`, as `/versions` reports it.
    pub(crate) async fn commit_time(
        &self,
        current: &DeltaTable,
        dataset: &DatasetDef,
        version: u64,
    ) -> Result<Option<DateTime<Utc>>> {
        let store = current.log_store();
        let mut log = self.commit_log(dataset).await?;
        Ok(log
            .commit(store.as_ref(), version)
            .await?
            .and_then(|c| c.timestamp()))
    }
}

/// True when the change data feed of `version` has a row that `rows` admits. The tenant
/// predicate in `rows` prunes other municipalities' change files before any is read.
async fn admits_changes(table: &DeltaTable, rows: &Expr, version: u64) -> Result<bool> {
    let cdf = table
        .clone()
        .scan_cdf()
        .with_starting_version(version)
        .with_ending_version(version);
    let frame = Lake::session()
        .read_table(Arc::new(DeltaCdfTableProvider::try_new(cdf)?))?
        .filter(rows.clone())?
        .limit(0, Some(1))?;
    Ok(frame.count().await? > 0)
}

/// True when the table records a change data feed.
pub(crate) fn change_data_enabled(table: &DeltaTable) -> bool {
    table
        .snapshot()
        .ok()
        .and_then(|s| {
            s.metadata()
                .configuration()
                .get("delta.enableChangeDataFeed")
                .map(|v| v.eq_ignore_ascii_case("true"))
        })
        .unwrap_or(false)
}

pub(crate) fn version_error(requested: Requested, earliest: u64, latest: u64) -> Error {
    Error::VersionNotAvailable {
        requested,
        earliest,
        latest,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::RowQuery;
    use crate::testing::{commit, lake, population, scope};

    use super::*;

    /// v0: 0101 K + 0751 K; v1: 0751 K; v2: 0101 M; v3: 0751 M.
    async fn history(root: &std::path::Path) {
        commit(root, "t", &[("0101", "K"), ("0751", "K")]).await;
        commit(root, "t", &[("0751", "K")]).await;
        commit(root, "t", &[("0101", "M")]).await;
        commit(root, "t", &[("0751", "M")]).await;
    }

    fn sex(value: &str) -> Option<Vec<dap_schema::RowConstraint>> {
        Some(vec![BTreeMap::from([(
            "koen".to_owned(),
            vec![value.to_owned()],
        )])])
    }

    #[tokio::test]
    async fn each_caller_is_told_the_last_version_that_changed_its_rows() {
        let root = tempfile::tempdir().expect("tempdir");
        history(root.path()).await;
        let lake = lake(root.path());
        let def = population("t");
        let cases = [
            ("0101", None, 2),
            ("0751", None, 3),
            // No rows at all: the first version, where nothing of it existed either.
            ("0147", None, 0),
            // Under a constraint, v2 changed only rows the caller cannot see.
            ("0101", sex("K"), 0),
            ("0101", sex("M"), 2),
        ];
        for (code, rows, expected) in cases {
            let scope = scope(&def, code, rows.clone());
            let info = lake.table_info(&scope).await.expect("info");
            let versions = lake.versions(&scope).await.expect("versions");
            let query = RowQuery::default().resolve(&scope).expect("query");
            let scan = lake.scan(&scope, &query).await.expect("scan");
            assert_eq!(info.version, expected, "{code} {rows:?}");
            assert_eq!(scan.version, expected, "{code} {rows:?}");
            if let Some(head) = versions.first() {
                assert_eq!(
                    (head.version, head.timestamp),
                    (info.version, info.timestamp)
                );
            }
        }
    }

    #[tokio::test]
    async fn an_instant_reads_the_version_committed_then() {
        let root = tempfile::tempdir().expect("tempdir");
        history(root.path()).await;
        let lake = lake(root.path());
        let def = population("t");
        let scope = scope(&def, "0751", None);
        let versions = lake.versions(&scope).await.expect("versions");
        assert_eq!(versions.len(), 3, "{versions:?}");
        for listed in &versions {
            let at = listed.timestamp.expect("time");
            let query = RowQuery {
                as_of: Some(at),
                ..RowQuery::default()
            };
            let query = query.resolve(&scope).expect("query");
            let scan = lake.scan(&scope, &query).await.expect("scan");
            assert_eq!(scan.version, listed.version);
        }
        let first = versions.last().and_then(|v| v.timestamp).expect("first");
        let query = RowQuery {
            as_of: Some(first - chrono::TimeDelta::milliseconds(1)),
            ..RowQuery::default()
        };
        let query = query.resolve(&scope).expect("query");
        let error = lake.scan(&scope, &query).await.expect_err("too early");
        assert!(
            matches!(
                &error,
                Error::VersionNotAvailable {
                    requested: Requested::Instant { first_commit: Some(f), .. },
                    earliest: 0,
                    latest: 3,
                } if *f == first
            ),
            "{error:?}"
        );
    }
}
