//! Table history and the change data feed, both limited to the scope's municipality.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use dap_schema::{AccessScope, DatasetDef};
use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Int64Type};
use deltalake::datafusion::functions_aggregate::expr_fn::count;
use deltalake::datafusion::prelude::{Expr, col, ident, lit};
use deltalake::delta_datafusion::DeltaCdfTableProvider;
use serde::Serialize;

use crate::lake::Source;
use crate::resolve::{Reader, change_data_enabled};
use crate::{Error, Lake, Result, Scan};

/// Change-feed metadata columns added to every changed row.
pub const CHANGE_COLUMNS: [&str; 3] = ["_change_type", "_commit_version", "_commit_timestamp"];

/// One commit of a table, with the caller's municipality's row counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    pub version: u64,
    pub timestamp: Option<DateTime<Utc>>,
    /// What the version did to the caller's rows: `insert`, `update`, `delete` or `merge`.
    pub operation: Option<String>,
    /// Rows of the caller's municipality inserted, updated and deleted by this commit
    /// (from the change data feed; `None` where the table has none for the version).
    pub rows_inserted: Option<u64>,
    pub rows_updated: Option<u64>,
    pub rows_deleted: Option<u64>,
}

impl Lake {
    /// The versions that changed the scope's municipality's rows, newest first, with the
    /// row counts. Commits that touched only other municipalities are not listed: their
    /// existence, time and kind are other municipalities' business.
    pub async fn versions(self: &Arc<Self>, scope: &AccessScope) -> Result<Vec<VersionInfo>> {
        let lake = Arc::clone(self);
        let dataset = scope.dataset().clone();
        let rows = crate::lake::row_predicate(scope);
        self.runtime()
            .run(async move {
                let table = lake.current(&dataset).await?;
                let latest = table.version().unwrap_or_default();
                let earliest = lake.earliest(&table, &dataset, latest).await?;
                let counts = lake
                    .change_counts(&table, &dataset, rows, earliest, latest)
                    .await?;
                // One notion of a version's time everywhere: the commit's own timestamp
                // from the log, as describe and `as_of` use it.
                let mut times: BTreeMap<u64, Option<DateTime<Utc>>> = BTreeMap::new();
                for version in counts.keys() {
                    let time = lake.commit_time(&table, &dataset, *version).await?;
                    times.insert(*version, time);
                }
                Ok(counts
                    .into_iter()
                    .rev()
                    .map(|(version, c)| VersionInfo {
                        version,
                        timestamp: times.get(&version).copied().flatten(),
                        operation: Some(c.operation().to_owned()),
                        rows_inserted: Some(c.inserted),
                        rows_updated: Some(c.updated),
                        rows_deleted: Some(c.deleted),
                    })
                    .collect())
            })
            .await
    }

    /// Per version from `earliest` (the first commit the log still holds) to `latest`:
    /// (inserted, updated, deleted) rows that `rows` admits. None without a change data
    /// feed: the table cannot tell. What a commit changed never changes, so the counts
    /// are kept per table and predicate, and a later call reads the feed of the newer
    /// commits only (a history page, shown on every console dataset page, would
    /// otherwise read every commit file the log holds each time).
    async fn change_counts(
        self: &Arc<Self>,
        table: &deltalake::DeltaTable,
        dataset: &DatasetDef,
        rows: Expr,
        earliest: u64,
        latest: u64,
    ) -> Result<BTreeMap<u64, Counts>> {
        if !change_data_enabled(table) {
            return Ok(BTreeMap::new());
        }
        let key = (self.location(dataset)?.to_string(), rows.to_string());
        let cache = &self.versions_cache().counts;
        let (from, mut counts) = match cache.known(&key, latest) {
            Some((through, known)) => (through + 1, known),
            None => (earliest, BTreeMap::new()),
        };
        counts.retain(|version, _| *version >= earliest);
        let from = from.max(earliest);
        if from <= latest {
            self.read_counts(table, rows, from, latest, &mut counts)
                .await?;
        }
        cache.remember(key, latest, &counts);
        Ok(counts)
    }

    /// Adds the counts of versions `from` to `to` to `counts`.
    async fn read_counts(
        &self,
        table: &deltalake::DeltaTable,
        rows: Expr,
        from: u64,
        to: u64,
        counts: &mut BTreeMap<u64, Counts>,
    ) -> Result<()> {
        self.stats.change_feed_read(to - from + 1);
        let ctx = Lake::session();
        let cdf = table
            .clone()
            .scan_cdf()
            .with_starting_version(from)
            .with_ending_version(to);
        let frame = ctx
            .read_table(Arc::new(DeltaCdfTableProvider::try_new(cdf)?))?
            .filter(rows)?
            .aggregate(
                vec![col("_commit_version"), col("_change_type")],
                vec![count(lit(1)).alias("n")],
            )?;
        for batch in frame.collect().await? {
            // Cast first: the feed's column types differ between delta-rs versions.
            let versions = cast(batch.column(0), &DataType::Int64)?;
            let versions = versions.as_primitive::<Int64Type>();
            let kinds = cast(batch.column(1), &DataType::Utf8)?;
            let kinds = kinds.as_string::<i32>();
            let n = cast(batch.column(2), &DataType::Int64)?;
            let n = n.as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                if versions.is_null(i) {
                    continue;
                }
                let entry = counts
                    .entry(u64::try_from(versions.value(i)).unwrap_or_default())
                    .or_default();
                let rows = u64::try_from(n.value(i)).unwrap_or_default();
                match kinds.value(i) {
                    "insert" => entry.inserted += rows,
                    "update_postimage" => entry.updated += rows,
                    "delete" => entry.deleted += rows,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The scope's municipality's changed rows between two versions (inclusive), with
    /// [`CHANGE_COLUMNS`], ordered by commit version. Other municipalities' change files
    /// are pruned by partition before rows are read, and rows are filtered again.
    pub async fn changes(
        self: &Arc<Self>,
        scope: &AccessScope,
        from: u64,
        to: Option<u64>,
        select: &[String],
    ) -> Result<Scan> {
        self.changes_with(scope, from, to, select, &CHANGE_COLUMNS)
            .await
    }

    /// [`Self::changes`] with only the `change` columns of [`CHANGE_COLUMNS`] added.
    pub(crate) async fn changes_with(
        self: &Arc<Self>,
        scope: &AccessScope,
        from: u64,
        to: Option<u64>,
        select: &[String],
        change: &[&str],
    ) -> Result<Scan> {
        if let Some(column) = select.iter().find(|c| !scope.can_see(c)) {
            return Err(Error::UnknownColumn {
                parameter: "select",
                column: column.clone(),
                valid: scope.visible_columns().join(", "),
            });
        }
        let lake = Arc::clone(self);
        let reader = Reader::of(scope);
        let mut columns: Vec<String> = if select.is_empty() {
            scope.visible_columns().to_vec()
        } else {
            select.to_vec()
        };
        columns.extend(change.iter().map(|c| (*c).to_owned()));
        // A column named twice is selected once (as `/rows` and exports do): a plan
        // cannot project one name twice.
        let mut seen = std::collections::HashSet::new();
        columns.retain(|c| seen.insert(c.clone()));
        self.runtime()
            .run(async move {
                let table = lake.current(&reader.dataset).await?;
                let latest = table.version().unwrap_or_default();
                // Change data reaches back to the first commit the log still holds.
                let first = lake.earliest(&table, &reader.dataset, latest).await?;
                // The caller's history ends at its own version: later commits changed
                // only rows it cannot see, and neither their number nor their existence is
                // its business. So the default end is its version, an end after it is
                // refused with its version as the last, and a start after it (a client
                // that kept a version its data has since gone back before, or any number)
                // has nothing for it: an empty feed, never a refusal that would tell
                // where the table ends.
                let own = lake.own_version(&table, &reader, latest).await?;
                let nothing = to.is_none() && from > own;
                let (scan, told) = match to {
                    _ if nothing => ((latest, latest), from),
                    Some(to) => ((from, to), to),
                    None => ((from, own), own),
                };
                let earliest = if change_data_enabled(&table) {
                    first
                } else {
                    u64::MAX
                };
                if from < earliest || (!nothing && (from > told || told > own)) {
                    return Err(Error::ChangeRangeNotAvailable {
                        from,
                        to: told,
                        first,
                        earliest,
                        latest: own,
                    });
                }
                let ctx = Lake::session();
                let cdf = (*table)
                    .clone()
                    .scan_cdf()
                    .with_starting_version(scan.0)
                    .with_ending_version(scan.1);
                let mut order = vec![col("_commit_version").sort(true, false)];
                order.extend(
                    reader
                        .dataset
                        .key_columns
                        .iter()
                        .filter(|k| columns.contains(k))
                        .map(|k| ident(k).sort(true, false)),
                );
                // Within a commit: update_preimage before update_postimage.
                order.push(col("_change_type").sort(false, false));
                let rows = if nothing {
                    lit(false)
                } else {
                    reader.rows.clone()
                };
                let frame = ctx
                    .read_table(Arc::new(DeltaCdfTableProvider::try_new(cdf)?))?
                    .filter(rows)?
                    .sort(order)?;
                let projection = crate::lake::plain_columns(&frame, &columns);
                let frame = frame.select(projection)?;
                let source = Source::of(&reader.dataset, &table);
                Ok(Scan::start(told, source, frame.execute_stream().await?))
            })
            .await
    }
}

/// Change counts kept per (table location, row predicate), through a table version.
#[derive(Debug, Default)]
pub(crate) struct CountsCache {
    known: Mutex<HashMap<(String, String), Known>>,
}

#[derive(Debug)]
struct Known {
    through: u64,
    counts: BTreeMap<u64, Counts>,
}

/// Predicates (callers' scopes of one table) whose counts are kept at most; beyond it
/// all are forgotten and read again on demand.
const COUNTS_KEPT: usize = 4096;

impl CountsCache {
    /// The counts kept for `key` and the version they run through, when that is not
    /// after `latest` (a table made anew at the same place starts its versions again).
    fn known(&self, key: &(String, String), latest: u64) -> Option<(u64, BTreeMap<u64, Counts>)> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let entry = known.get(key).filter(|k| k.through <= latest)?;
        Some((entry.through, entry.counts.clone()))
    }

    fn remember(&self, key: (String, String), through: u64, counts: &BTreeMap<u64, Counts>) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() >= COUNTS_KEPT && !known.contains_key(&key) {
            known.clear();
        }
        // A slower call that read less must not replace what a faster one kept.
        if known.get(&key).is_some_and(|k| k.through > through) {
            return;
        }
        let counts = counts.clone();
        known.insert(key, Known { through, counts });
    }

    /// Forgets the table at `location` (removed or re-registered).
    pub(crate) fn forget(&self, location: &str) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.retain(|(table, _), _| table != location);
    }
}

/// One version's changes to one municipality's rows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    inserted: u64,
    updated: u64,
    deleted: u64,
}

impl Counts {
    /// What the version did to these rows.
    fn operation(&self) -> &'static str {
        match (self.inserted > 0, self.updated > 0, self.deleted > 0) {
            (true, false, false) => "insert",
            (false, true, false) => "update",
            (false, false, true) => "delete",
            _ => "merge",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{commit, lake, population, scope};

    /// `/versions` reads each commit's change feed once per table and predicate: asked
    /// again it reads none, after one more commit only that one; and it answers what a
    /// lake that never counted before answers, for a whole partition and a constrained
    /// scope alike.
    #[tokio::test]
    async fn each_commit_is_counted_once_and_the_counts_are_a_fresh_count() {
        let root = tempfile::tempdir().expect("tempdir");
        let rows = [("0101", "K"), ("0101", "M"), ("0101", "K"), ("0751", "K")];
        commit(root.path(), "t", &rows).await;
        commit(root.path(), "t", &[("0751", "M")]).await;
        let lake = lake(root.path());
        let def = population("t");
        let women = BTreeMap::from([("koen".to_owned(), vec!["K".to_owned()])]);
        let scopes = [
            scope(&def, "0101", None),
            scope(&def, "0101", Some(vec![women])),
        ];
        let read = || lake.stats.change_feed_commits();
        for scope in &scopes {
            let before = read();
            let first = lake.versions(scope).await.expect("versions");
            assert_eq!(read() - before, 2, "both commits read once");
            assert_eq!(lake.versions(scope).await.expect("again"), first);
            assert_eq!(read() - before, 2, "nothing read again");
        }
        commit(root.path(), "t", &[("0101", "K"), ("0101", "M")]).await;
        lake.refresh().await.expect("refresh");
        for (scope, inserted) in scopes.iter().zip([2, 1]) {
            let before = read();
            let after = lake.versions(scope).await.expect("versions");
            assert_eq!(read() - before, 1, "the new commit only");
            let fresh = crate::testing::lake(root.path())
                .versions(scope)
                .await
                .expect("fresh");
            assert_eq!(after, fresh);
            let versions: Vec<u64> = after.iter().map(|v| v.version).collect();
            assert_eq!(
                versions,
                [2, 0],
                "the other municipality's commit is not listed"
            );
            assert_eq!(after[0].rows_inserted, Some(inserted));
        }
    }
}
