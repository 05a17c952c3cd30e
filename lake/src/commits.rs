//! What each commit of a table did, read from the Delta log alone: when it was committed
//! and which municipality partitions it changed. This is the one notion of a version's
//! time (`/versions`, describe, `as_of`) and the cheap half of "the caller's version".
//!
//! The rules follow the change data feed, so the partitions a commit changed are exactly
//! those the feed has rows for: a commit with `cdc` actions changed the partitions of
//! those files; otherwise the partitions of its `add`/`remove` actions with
//! `dataChange = true` (an OPTIMIZE rewrites files without changing data, and is no
//! change). A commit's time is its in-commit timestamp, else its `commitInfo.timestamp`
//! (what the feed reports as `_commit_timestamp`), else the log file's modification time.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, TimeZone, Utc};
use deltalake::kernel::Action;
use deltalake::logstore::{
    LogStore, commit_uri_from_version, extract_version_from_filename, get_actions,
};
use futures::StreamExt;

use crate::Result;

/// The partitions one commit changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Touched {
    /// These tenant values (sorted).
    Partitions(Vec<String>),
    /// Possibly every partition: a data file without a readable tenant value.
    All,
}

impl Touched {
    /// True when the commit changed `tenant`'s partition.
    pub(crate) fn includes(&self, tenant: &str) -> bool {
        match self {
            Self::Partitions(values) => values.binary_search_by(|v| v.as_str().cmp(tenant)).is_ok(),
            Self::All => true,
        }
    }
}

/// One commit's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Commit {
    pub(crate) version: u64,
    pub(crate) timestamp_ms: i64,
    pub(crate) touched: Touched,
}

impl Commit {
    /// The commit time as an instant.
    pub(crate) fn timestamp(&self) -> Option<DateTime<Utc>> {
        Utc.timestamp_millis_opt(self.timestamp_ms).single()
    }
}

/// The commits of one table read so far. Commits are read on demand, newest first as a
/// rule (a caller's version is usually among the last few commits), and each commit file
/// is read once per process: a long history costs nothing until someone asks about it.
#[derive(Debug)]
pub(crate) struct CommitLog {
    tenant_column: String,
    /// The first version whose commit file the log holds, once known.
    earliest: Option<u64>,
    /// The table's latest version when `earliest` was read.
    earliest_at: Option<u64>,
    commits: BTreeMap<u64, Commit>,
}

impl CommitLog {
    /// An empty log of a table partitioned by `tenant_column`.
    pub(crate) fn new(tenant_column: &str) -> Self {
        Self {
            tenant_column: tenant_column.to_owned(),
            earliest: None,
            earliest_at: None,
            commits: BTreeMap::new(),
        }
    }

    /// Notes the table's latest version: once it moved, the earliest commit is read
    /// again. Old commit files are cleaned up only by a commit (delta-rs removes those
    /// past `delta.logRetentionDuration` when it writes a checkpoint), here or on another
    /// replica, so an earliest read at the current version stays right until the next.
    pub(crate) fn at_latest(&mut self, latest: u64) {
        if self.earliest_at != Some(latest) {
            self.earliest = None;
            self.earliest_at = Some(latest);
        }
    }

    /// The first version whose commit file the log holds (`None`: no commit at all).
    pub(crate) async fn earliest(&mut self, store: &dyn LogStore) -> Result<Option<u64>> {
        if self.earliest.is_none() {
            self.earliest = earliest_commit(store).await?;
        }
        Ok(self.earliest)
    }

    /// The commit of `version`, read on first use; `None` before the earliest commit.
    pub(crate) async fn commit(
        &mut self,
        store: &dyn LogStore,
        version: u64,
    ) -> Result<Option<&Commit>> {
        if !self.commits.contains_key(&version) {
            if self.earliest(store).await?.is_none_or(|e| version < e) {
                return Ok(None);
            }
            let Some(bytes) = store.read_commit_entry(version).await? else {
                return Err(deltalake::DeltaTableError::InvalidVersion(version).into());
            };
            let actions = get_actions(version, &bytes)?;
            let timestamp_ms = match commit_time(&actions) {
                Some(ms) => ms,
                None => file_time(store, version).await?,
            };
            let touched = touched(&actions, &self.tenant_column);
            self.commits.insert(
                version,
                Commit {
                    version,
                    timestamp_ms,
                    touched,
                },
            );
        }
        Ok(self.commits.get(&version))
    }

    /// The newest version at or below `upto` that changed `tenant`'s partition, reading
    /// commits backwards from `upto` until one did.
    pub(crate) async fn last_change(
        &mut self,
        store: &dyn LogStore,
        tenant: &str,
        upto: u64,
    ) -> Result<Option<u64>> {
        let earliest = self.earliest(store).await?.unwrap_or(upto);
        let mut version = upto;
        while version >= earliest {
            if self
                .commit(store, version)
                .await?
                .is_some_and(|c| c.touched.includes(tenant))
            {
                return Ok(Some(version));
            }
            let Some(before) = version.checked_sub(1) else {
                break;
            };
            version = before;
        }
        Ok(None)
    }

    /// The newest version at or below `upto` committed at or before `instant`. Commit
    /// times grow with versions (writers commit in order), so a binary search reads
    /// only a logarithmic number of commits.
    pub(crate) async fn version_at(
        &mut self,
        store: &dyn LogStore,
        instant: DateTime<Utc>,
        upto: u64,
    ) -> Result<Option<u64>> {
        let ms = instant.timestamp_millis();
        let Some(earliest) = self.earliest(store).await? else {
            return Ok(None);
        };
        let (mut low, mut high) = (earliest, upto);
        let mut found = None;
        while low <= high {
            let middle = low + (high - low) / 2;
            let time = self.commit(store, middle).await?.map(|c| c.timestamp_ms);
            if time.is_some_and(|t| t <= ms) {
                found = Some(middle);
                low = middle + 1;
            } else {
                let Some(below) = middle.checked_sub(1) else {
                    break;
                };
                high = below;
            }
        }
        Ok(found)
    }
}

/// The lowest version whose commit file the log holds.
async fn earliest_commit(store: &dyn LogStore) -> Result<Option<u64>> {
    if store.read_commit_entry(0).await?.is_some() {
        return Ok(Some(0));
    }
    let objects = store.object_store(None);
    let mut listing = objects.list(Some(store.log_path()));
    let mut earliest: Option<u64> = None;
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(deltalake::DeltaTableError::from)?;
        if let Some(v) = extract_version_from_filename(meta.location.as_ref()) {
            earliest = Some(earliest.map_or(v, |e| e.min(v)));
        }
    }
    Ok(earliest)
}

/// The commit's own time: in-commit timestamp first, as the change data feed does.
fn commit_time(actions: &[Action]) -> Option<i64> {
    actions.iter().find_map(|a| match a {
        Action::CommitInfo(info) => info.in_commit_timestamp.or(info.timestamp),
        _ => None,
    })
}

/// The commit file's modification time, for commits without `commitInfo` (rare: every
/// writer dap knows records one), so a listing of the log is affordable.
async fn file_time(store: &dyn LogStore, version: u64) -> Result<i64> {
    let wanted = commit_uri_from_version(Some(version));
    let mut listing = store.object_store(None).list(Some(store.log_path()));
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(deltalake::DeltaTableError::from)?;
        if meta.location == wanted {
            return Ok(meta.last_modified.timestamp_millis());
        }
    }
    Err(deltalake::DeltaTableError::InvalidVersion(version).into())
}

/// The tenant partitions a commit's actions changed, by the change data feed's rules.
pub(crate) fn touched(actions: &[Action], tenant_column: &str) -> Touched {
    let has_cdc = actions.iter().any(|a| matches!(a, Action::Cdc(_)));
    let mut values = BTreeSet::new();
    for action in actions {
        let value = match action {
            Action::Cdc(f) if has_cdc => {
                tenant_value(Some(&f.partition_values), &f.path, tenant_column)
            }
            Action::Add(f) if !has_cdc && f.data_change => {
                tenant_value(Some(&f.partition_values), &f.path, tenant_column)
            }
            Action::Remove(f) if !has_cdc && f.data_change => {
                tenant_value(f.partition_values.as_ref(), &f.path, tenant_column)
            }
            _ => continue,
        };
        match value {
            Some(v) => values.insert(v),
            None => return Touched::All,
        };
    }
    Touched::Partitions(values.into_iter().collect())
}

/// A data file's tenant value: from its partition values, else from a Hive-style path
/// segment (`kommunekode=0101/…`). `None` when neither says.
fn tenant_value(
    partition_values: Option<&HashMap<String, Option<String>>>,
    path: &str,
    tenant_column: &str,
) -> Option<String> {
    if let Some(value) = partition_values.and_then(|p| p.get(tenant_column)) {
        return value.clone();
    }
    let prefix = format!("{tenant_column}=");
    path.split('/')
        .find_map(|segment| segment.strip_prefix(&prefix))
        .map(percent_decode)
}

/// Hive paths escape special characters as `%XX`; municipality codes have none, but a
/// wrong decode must not match another tenant, so undecodable input stays as is.
fn percent_decode(value: &str) -> String {
    url::form_urlencoded::parse(format!("v={value}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::kernel::{Add, AddCDCFile, CommitInfo, Remove};

    fn values(code: &str) -> HashMap<String, Option<String>> {
        HashMap::from([("kommunekode".to_owned(), Some(code.to_owned()))])
    }

    fn add(code: &str, data_change: bool) -> Action {
        Action::Add(Add {
            path: format!("kommunekode={code}/part-1.parquet"),
            partition_values: values(code),
            data_change,
            ..Default::default()
        })
    }

    fn remove(path: &str, partition_values: Option<HashMap<String, Option<String>>>) -> Action {
        Action::Remove(Remove {
            path: path.to_owned(),
            partition_values,
            data_change: true,
            ..Default::default()
        })
    }

    fn cdc(code: &str) -> Action {
        Action::Cdc(AddCDCFile {
            path: format!("_change_data/kommunekode={code}/cdc-1.parquet"),
            partition_values: values(code),
            data_change: false,
            ..Default::default()
        })
    }

    fn partitions(codes: &[&str]) -> Touched {
        Touched::Partitions(codes.iter().map(|c| (*c).to_owned()).collect())
    }

    #[test]
    fn data_changing_files_name_the_partitions_a_commit_changed() {
        let appended = [add("0751", true), add("0101", true), add("0751", true)];
        assert_eq!(
            touched(&appended, "kommunekode"),
            partitions(&["0101", "0751"])
        );
        // OPTIMIZE: files rewritten, no data changed.
        let compacted = [add("0101", false)];
        assert_eq!(touched(&compacted, "kommunekode"), partitions(&[]));
    }

    #[test]
    fn cdc_files_decide_when_a_commit_has_them() {
        // An update rewrites a 0101 file, but its change data says only 0751 changed rows.
        let update = [add("0101", true), cdc("0751")];
        assert_eq!(touched(&update, "kommunekode"), partitions(&["0751"]));
    }

    #[test]
    fn a_remove_without_partition_values_is_read_from_its_path_or_touches_all() {
        let with_path = [remove("kommunekode=0147/part-9.parquet", None)];
        assert_eq!(touched(&with_path, "kommunekode"), partitions(&["0147"]));
        let unknown = [remove("part-9.parquet", None)];
        assert_eq!(touched(&unknown, "kommunekode"), Touched::All);
        assert!(Touched::All.includes("0101"));
    }

    #[test]
    fn commit_time_prefers_the_in_commit_timestamp() {
        let info = |ict: Option<i64>, ts: Option<i64>| {
            Action::CommitInfo(CommitInfo {
                in_commit_timestamp: ict,
                timestamp: ts,
                ..Default::default()
            })
        };
        assert_eq!(commit_time(&[info(Some(5), Some(9))]), Some(5));
        assert_eq!(
            commit_time(&[add("0101", true), info(None, Some(9))]),
            Some(9)
        );
        assert_eq!(commit_time(&[add("0101", true)]), None);
    }
}
