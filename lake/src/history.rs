//! Table history and the change data feed, both limited to the scope's municipality.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dap_schema::AccessScope;
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
                let counts = lake.change_counts(&table, rows, earliest, latest).await?;
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
    /// feed: the table cannot tell.
    async fn change_counts(
        self: &Arc<Self>,
        table: &deltalake::DeltaTable,
        rows: Expr,
        earliest: u64,
        latest: u64,
    ) -> Result<BTreeMap<u64, Counts>> {
        if !change_data_enabled(table) {
            return Ok(BTreeMap::new());
        }
        let ctx = Lake::session();
        let cdf = table
            .clone()
            .scan_cdf()
            .with_starting_version(earliest)
            .with_ending_version(latest);
        let frame = ctx
            .read_table(Arc::new(DeltaCdfTableProvider::try_new(cdf)?))?
            .filter(rows)?
            .aggregate(
                vec![col("_commit_version"), col("_change_type")],
                vec![count(lit(1)).alias("n")],
            )?;
        let mut counts: BTreeMap<u64, Counts> = BTreeMap::new();
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
        Ok(counts)
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

/// One version's changes to one municipality's rows.
#[derive(Debug, Default)]
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
