//! Applying a staged delivery: one Delta commit on the caller's partition, with an
//! application transaction (`txn` action) named after the delivery, so that the same
//! delivery is applied at most once however often it is retried, and even when the
//! process died between the commit and the receipt.
//!
//! Upsert and delete are a MERGE on the key columns *and* the tenant column: the merge
//! reads and rewrites only files of the caller's partition, and Delta's conflict check
//! compares exactly that partition, so deliveries of different municipalities to the
//! same table commit concurrently (a conflict with a concurrent commit is retried on
//! the new version). Replace is an overwrite with `replaceWhere` on the partition and
//! the period. With the change data feed on, each commit records its inserts, updates
//! and deletes.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use dap_schema::AccessScope;
use deltalake::DeltaTable;
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
use deltalake::datafusion::common::{Column, ScalarValue};
use deltalake::datafusion::logical_expr::{BinaryExpr, JoinType, Operator};
use deltalake::datafusion::prelude::{Expr, ParquetReadOptions, col, lit};
use deltalake::kernel::Action;
use deltalake::kernel::transaction::{CommitProperties, TransactionError};
use deltalake::logstore::get_actions;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTableError, kernel::Transaction};
use serde_json::json;

use super::{Delivery, Mode};
use crate::{Error, Lake, Result};

/// Attempts at committing when concurrent commits conflict (another delivery of the
/// same municipality, or maintenance rewriting its files).
const ATTEMPTS: usize = 20;
/// The commit metadata key that names the delivery.
const METADATA_KEY: &str = "dap.delivery";

/// What a delivery did: the table version it committed (or, for a delivery applied
/// before, the version that applied it) and the rows it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub version: u64,
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
    pub committed_at: DateTime<Utc>,
    /// True when the delivery had been applied before: nothing was written now.
    pub replayed: bool,
    /// The mode and fingerprint the applying commit recorded ([`Delivery::fingerprint`]);
    /// `None` where it recorded none (committed before fingerprints were kept, or the
    /// commit is no longer in the log).
    pub mode: Option<String>,
    pub fingerprint: Option<String>,
}

/// The application transaction id of a delivery: per municipality and delivery id (the
/// table is the dataset). Delivery ids are `[A-Za-z0-9._-]`, checked by the core.
pub fn app_id(tenant: &str, delivery_id: &str) -> String {
    format!("dap-delivery/{tenant}/{delivery_id}")
}

impl Lake {
    /// Applies a staged delivery to the scope's municipality partition, once. The scope
    /// says which table and which municipality: nothing else can be written.
    pub async fn deliver(
        self: &Arc<Self>,
        scope: &AccessScope,
        delivery: Delivery,
    ) -> Result<Applied> {
        let lake = Arc::clone(self);
        let def = scope.dataset().clone();
        let tenant = scope.municipality().as_str().to_owned();
        self.runtime()
            .run(async move {
                let key = lake.location(&def)?.to_string();
                let app = app_id(&tenant, &delivery.id);
                let mut last_conflict = None;
                for attempt in 0..ATTEMPTS {
                    let mut table = (*lake.current(&def).await?).clone();
                    table.update_incremental(None).await?;
                    let store = table.log_store();
                    if table
                        .snapshot()?
                        .transaction_version(store.as_ref(), &app)
                        .await?
                        .is_some()
                    {
                        return replayed(&table, &app).await;
                    }
                    match commit(table, &def, &tenant, &delivery, &app).await {
                        Ok((table, applied)) => {
                            lake.keep(&key, table);
                            return Ok(applied);
                        }
                        Err(Error::Delta(e)) if is_conflict(&e) => {
                            tracing::info!(dataset = %def.id, %tenant, attempt, error = %e, "delivery commit conflicted; retrying on the new version");
                            last_conflict = Some(e);
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(last_conflict.map_or_else(
                    || Error::Runtime("delivery did not commit".into()),
                    Error::Delta,
                ))
            })
            .await
    }

    /// Keeps `table` as the open table at `key` when it is newer than the one held, so
    /// this replica reads its own delivery at once.
    fn keep(&self, key: &str, table: DeltaTable) {
        if let Ok(mut tables) = self.tables.write() {
            let newer = tables
                .get(key)
                .is_none_or(|held| held.version() < table.version());
            if newer {
                tables.insert(key.to_owned(), Arc::new(table));
            }
        }
    }
}

/// A conflict with a concurrent commit: worth retrying on the newer version.
fn is_conflict(error: &DeltaTableError) -> bool {
    matches!(
        error,
        DeltaTableError::Transaction {
            source: TransactionError::CommitConflict(_) | TransactionError::MaxCommitAttempts(_)
        } | DeltaTableError::VersionAlreadyExists(_)
    )
}

/// One attempt at the delivery's commit.
async fn commit(
    table: DeltaTable,
    def: &dap_schema::DatasetDef,
    tenant: &str,
    delivery: &Delivery,
    app: &str,
) -> Result<(DeltaTable, Applied)> {
    let ctx = Lake::session();
    let staged = delivery.staged.to_string_lossy().to_string();
    let source = ctx
        .read_parquet(staged.as_str(), ParquetReadOptions::default())
        .await?;
    let mut metadata = json!({
        "id": delivery.id, "municipality": tenant, "mode": delivery.mode.name(),
        "rows": delivery.rows, "by": delivery.by, "fingerprint": delivery.fingerprint,
    });
    let state = Arc::new(ctx.state());
    let (table, inserted, updated, deleted) = match &delivery.mode {
        Mode::Upsert | Mode::Delete => {
            let target = |c: &str| qualified("t", c);
            let from = |c: &str| qualified("s", c);
            let tenant_column = def.tenant_column.as_str();
            let mut on = target(tenant_column)
                .eq(lit(tenant))
                .and(target(tenant_column).eq(from(tenant_column)));
            for k in &def.key_columns {
                on = on.and(target(k.as_str()).eq(from(k.as_str())));
            }
            let props = properties(app, metadata);
            let merge = table
                .merge(source, on)
                .with_source_alias("s")
                .with_target_alias("t")
                .with_session_state(state)
                .with_commit_properties(props);
            let merge = if delivery.mode == Mode::Delete {
                merge.when_matched_delete(|d| d)?
            } else {
                let values: Vec<&str> = def
                    .columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .filter(|c| *c != def.tenant_column && !def.key_columns.iter().any(|k| k == c))
                    .collect();
                // Only rows whose values change are updates: a re-delivered unchanged row
                // is not a change in the feed.
                let changed = values.iter().fold(None::<Expr>, |acc, c| {
                    let differs = Expr::BinaryExpr(BinaryExpr::new(
                        Box::new(target(c)),
                        Operator::IsDistinctFrom,
                        Box::new(from(c)),
                    ));
                    Some(acc.map_or(differs.clone(), |a| a.or(differs)))
                });
                let merge = match changed {
                    Some(changed) => merge.when_matched_update(|u| {
                        values
                            .iter()
                            .fold(u.predicate(changed), |u, c| u.update(*c, from(c)))
                    })?,
                    None => merge,
                };
                merge.when_not_matched_insert(|i| {
                    def.columns
                        .iter()
                        .fold(i, |i, c| i.set(c.name.as_str(), from(c.name.as_str())))
                })?
            };
            let (table, metrics) = merge.await?;
            (
                table,
                count(metrics.num_target_rows_inserted),
                count(metrics.num_target_rows_updated),
                count(metrics.num_target_rows_deleted),
            )
        }
        Mode::Replace(period) => {
            let date = |d: i32| lit(ScalarValue::Date32(Some(d)));
            let predicate = col(def.tenant_column.as_str())
                .eq(lit(tenant))
                .and(col(period.column.as_str()).gt_eq(date(period.first_day())))
                .and(col(period.column.as_str()).lt_eq(date(period.last_day())));
            table.update_datafusion_session(&ctx.state())?;
            let provider = table.table_provider().await?;
            let before = {
                let frame = ctx.read_table(Arc::clone(&provider))?;
                count(frame.filter(predicate.clone())?.count().await?)
            };
            // A replace rewrites the period only: a row of the file whose key the
            // municipality already has outside the period (the source system moved its
            // date) would be there twice.
            let outside = col(def.tenant_column.as_str()).eq(lit(tenant)).and(
                col(period.column.as_str())
                    .lt(date(period.first_day()))
                    .or(col(period.column.as_str()).gt(date(period.last_day())))
                    .or(col(period.column.as_str()).is_null()),
            );
            let keys: Vec<&str> = def.key_columns.iter().map(String::as_str).collect();
            let existing = ctx
                .read_table(provider)?
                .filter(outside)?
                .select_columns(&keys)?
                .alias("t")?;
            let incoming = source.clone().select_columns(&keys)?.alias("s")?;
            let same = keys.iter().map(|k| qualified("t", k).eq(qualified("s", k)));
            let clashes = existing
                .join_on(incoming, JoinType::LeftSemi, same)?
                .limit(0, Some(1))?
                .collect()
                .await?;
            if let Some(batch) = clashes.iter().find(|b| b.num_rows() > 0) {
                let options = FormatOptions::default();
                let key = keys
                    .iter()
                    .zip(batch.columns())
                    .map(|(name, array)| {
                        let value = ArrayFormatter::try_new(array.as_ref(), &options)
                            .map(|f| f.value(0).to_string())
                            .unwrap_or_default();
                        format!("{name} {value}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(Error::InvalidParameter {
                    parameter: "period",
                    reason: format!(
                        "the file holds a row whose key your municipality already has dated outside {period} ({key}); a replace rewrites only the period, so that row would be there twice: deliver it with mode=upsert, or replace a period that covers both dates"
                    ),
                });
            }
            metadata["deleted"] = json!(before);
            let plan = source.into_unoptimized_plan();
            let table = table
                .write(Vec::new())
                // delta-rs's own session: the write plans a node only its planner knows.
                .with_input_plan(plan)
                .with_save_mode(SaveMode::Overwrite)
                .with_replace_where(predicate)
                .with_commit_properties(properties(app, metadata))
                .await?;
            (table, delivery.rows, 0, before)
        }
    };
    let version = table.version().unwrap_or_default();
    let committed_at = commit_time(&table, version).await?;
    Ok((
        table,
        Applied {
            version,
            inserted,
            updated,
            deleted,
            committed_at,
            replayed: false,
            mode: Some(delivery.mode.name().to_owned()),
            fingerprint: Some(delivery.fingerprint.clone()),
        },
    ))
}

/// Column `c` of the merge's target (`t`) or source (`s`).
fn qualified(alias: &str, c: &str) -> Expr {
    Expr::Column(Column::new(Some(alias), c))
}

fn properties(app: &str, metadata: serde_json::Value) -> CommitProperties {
    CommitProperties::default()
        .with_application_transaction(Transaction::new(app, 1))
        .with_metadata([(METADATA_KEY.to_owned(), metadata)])
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The time of commit `version`, from its commit info.
async fn commit_time(table: &DeltaTable, version: u64) -> Result<DateTime<Utc>> {
    let store = table.log_store();
    let ms = match store.read_commit_entry(version).await? {
        Some(bytes) => get_actions(version, &bytes)?.iter().find_map(|a| match a {
            Action::CommitInfo(info) => info.in_commit_timestamp.or(info.timestamp),
            _ => None,
        }),
        None => None,
    };
    Ok(ms
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        .unwrap_or_else(Utc::now))
}

/// The answer for a delivery applied before: the commit carrying its application
/// transaction, found by reading the log backwards, and the counts it recorded.
async fn replayed(table: &DeltaTable, app: &str) -> Result<Applied> {
    let store = table.log_store();
    let mut version = table.version().unwrap_or_default();
    loop {
        if let Some(bytes) = store.read_commit_entry(version).await? {
            let actions = get_actions(version, &bytes)?;
            let ours = actions
                .iter()
                .any(|a| matches!(a, Action::Txn(t) if t.app_id == app));
            if ours {
                return Ok(recorded(&actions, version));
            }
        } else {
            break;
        }
        let Some(before) = version.checked_sub(1) else {
            break;
        };
        version = before;
    }
    // The log before the commit was cleaned up: the delivery is known applied, but its
    // commit no longer says what it did.
    Ok(Applied {
        version: table.version().unwrap_or_default(),
        inserted: 0,
        updated: 0,
        deleted: 0,
        committed_at: Utc::now(),
        replayed: true,
        mode: None,
        fingerprint: None,
    })
}

/// What a delivery's commit recorded: the merge's metrics, or for a replace the rows
/// written and the rows counted in the period before.
fn recorded(actions: &[Action], version: u64) -> Applied {
    let info = actions.iter().find_map(|a| match a {
        Action::CommitInfo(info) => Some(info),
        _ => None,
    });
    let number = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_u64).unwrap_or(0);
    let (mut inserted, mut updated, mut deleted) = (0, 0, 0);
    let mut committed_at = Utc::now();
    let (mut mode, mut fingerprint) = (None, None);
    if let Some(info) = info {
        if let Some(ms) = info.in_commit_timestamp.or(info.timestamp)
            && let Some(at) = Utc.timestamp_millis_opt(ms).single()
        {
            committed_at = at;
        }
        let metrics = info.info.get("operationMetrics");
        let ours = info.info.get(METADATA_KEY);
        let text = |key: &str| {
            ours.and_then(|m| m.get(key))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        (mode, fingerprint) = (text("mode"), text("fingerprint"));
        if ours.and_then(|m| m.get("mode")).and_then(|m| m.as_str()) == Some("replace") {
            inserted = number(ours.and_then(|m| m.get("rows")));
            deleted = number(ours.and_then(|m| m.get("deleted")));
        } else {
            inserted = number(metrics.and_then(|m| m.get("num_target_rows_inserted")));
            updated = number(metrics.and_then(|m| m.get("num_target_rows_updated")));
            deleted = number(metrics.and_then(|m| m.get("num_target_rows_deleted")));
        }
    }
    Applied {
        version,
        inserted,
        updated,
        deleted,
        committed_at,
        replayed: true,
        mode,
        fingerprint,
    }
}
