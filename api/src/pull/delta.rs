//! Delta mode: the mirror is a Delta table whose properties record its identity and whose
//! application transaction records the pulled version, both in the commit that wrote the
//! rows. A full pull replaces the whole table in one commit; a later pull MERGEs the
//! change feed, but only into a table whose identity and history say it is this mirror.

use std::path::Path;

use anyhow::{Context, bail};
use deltalake::DeltaTable;
use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Int64Type, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::{Action, StructType, Transaction};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::SaveMode;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use futures::StreamExt;
use url::Url;

use super::folder::{self, Folder};
use super::identity::{self, Column, MirrorIdentity};
use super::{Detail, PullOptions, PullReport, http, merge};

/// The commit-info key that marks dap pull's own commits: `{"version": V, "kind": ...}`.
const COMMIT_KEY: &str = "dap.mirror.pull";
/// Commits that rewrite files without changing rows; another tool may run them on a mirror.
const MAINTENANCE: &[&str] = &["OPTIMIZE", "VACUUM START", "VACUUM END"];
/// The change feed's own columns, next to the dataset's.
pub(super) const CHANGE_COLUMNS: &[&str] =
    &["_change_type", "_commit_version", "_commit_timestamp"];
/// Data files roll over at this size, so a large export never sits in one writer buffer.
const TARGET_FILE_SIZE: u64 = 128 * 1024 * 1024;

/// Runs one pull into a Delta mirror.
pub(super) async fn pull(
    client: &http::Http,
    options: &PullOptions,
    detail: &Detail,
    wanted: &MirrorIdentity,
) -> anyhow::Result<PullReport> {
    let dir = &options.into;
    match folder::inspect(dir)? {
        Folder::Other => Err(folder::not_empty(dir, "no Delta table")),
        Folder::New => {
            folder::claim(dir)?;
            // ErrorIfExists: a table another process created meanwhile is not overwritten.
            let mode = SaveMode::ErrorIfExists;
            full(client, options, wanted, detail.table_version, mode).await
        }
        Folder::Delta => {
            let table = deltalake::open_table(table_url(dir)?).await?;
            let checked = recorded_version(&table, dir, wanted).await;
            if options.replace {
                let mode = SaveMode::Overwrite;
                return full(client, options, wanted, detail.table_version, mode).await;
            }
            let version = checked?;
            incremental(client, options, detail, wanted, table, version).await
        }
    }
}

pub(super) fn table_url(dir: &Path) -> anyhow::Result<Url> {
    let dir = std::path::absolute(dir)?;
    Url::from_directory_path(&dir)
        .map_err(|_| anyhow::anyhow!("{} is not a directory path", dir.display()))
}

/// The version the mirror was last pulled to, after checking that the table is this
/// mirror: its identity matches `wanted` and no other writer changed rows since.
async fn recorded_version(
    table: &DeltaTable,
    dir: &Path,
    wanted: &MirrorIdentity,
) -> anyhow::Result<u64> {
    let snapshot = table.snapshot()?;
    let recorded = match MirrorIdentity::from_properties(snapshot.metadata().configuration()) {
        None => return Err(not_ours(dir, "it records no dap.mirror.* table properties")),
        Some(Err(e)) => return Err(not_ours(dir, &e.to_string())),
        Some(Ok(recorded)) => recorded,
    };
    let differences = recorded.differences(wanted);
    if !differences.is_empty() {
        return Err(identity::refusal(dir, &recorded, &differences));
    }
    let version = snapshot
        .transaction_version(table.log_store().as_ref(), recorded.app_id())
        .await?
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| not_ours(dir, "it records no pulled version"))?;
    check_history(table, dir, version).await?;
    Ok(version)
}

fn not_ours(dir: &Path, why: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{} holds a Delta table not made by dap pull ({why}). Refusing to write into it: pull \
         into another folder, or pass --replace to replace its contents with the mirror (one commit).",
        dir.display()
    )
}

/// Newest first, every commit after dap pull's last one must be maintenance that keeps
/// the rows; anything else (a write, delete, merge, restore…) means the rows may no longer
/// be the server's, and applying changes on top would only hide that.
async fn check_history(table: &DeltaTable, dir: &Path, version: u64) -> anyhow::Result<()> {
    let mut history = table.history(None);
    while let Some(info) = history.next().await {
        let info = info?;
        let operation = info.operation.clone().unwrap_or_default();
        if let Some(pulled) = info.info.get(COMMIT_KEY) {
            if pulled.get("version").and_then(serde_json::Value::as_u64) == Some(version) {
                return Ok(());
            }
        } else if MAINTENANCE.contains(&operation.as_str()) {
            continue;
        }
        bail!(
            "{} was changed by another writer after dap pull's last commit (a {operation} \
             commit), so its rows may no longer be the server's. Pass --replace to replace its \
             contents with a full pull (one commit), or pull into another folder.",
            dir.display()
        );
    }
    Ok(())
}

/// Downloads the export at `target` and makes it the table's whole contents in one commit
/// (`mode`: create a new table, or overwrite the existing one).
async fn full(
    client: &http::Http,
    options: &PullOptions,
    wanted: &MirrorIdentity,
    target: u64,
    mode: SaveMode,
) -> anyhow::Result<PullReport> {
    let dir = &options.into;
    let version = target.to_string();
    let query = [("format", "arrow"), ("version", version.as_str())];
    let download = http::download(client, options, "export", &query).await?;
    let path = download.path;
    let rows = write_snapshot(dir, &path, wanted, target, mode).await?;
    let _ = std::fs::remove_file(&path);
    folder::release(dir)?;
    Ok(PullReport {
        from_version: None,
        to_version: target,
        kind: "full",
        rows,
        estimated_rows: download.estimate,
    })
}

/// Streams the downloaded batches into data files (bounded memory: files roll over at
/// [`TARGET_FILE_SIZE`]), then commits them with the identity as table properties, the
/// pulled version as application transaction and a remove for every file the table held
/// before: one overwrite commit, so a reader sees the old table or the new, never a mix.
async fn write_snapshot(
    dir: &Path,
    download: &Path,
    wanted: &MirrorIdentity,
    version: u64,
    mode: SaveMode,
) -> anyhow::Result<usize> {
    let reader = http::open_stream(download)?;
    check_columns(&reader.schema(), &wanted.columns, &[])?;
    let url = table_url(dir)?;
    let mut writer = RecordBatchWriter::try_new(url.as_str(), reader.schema(), None, None)?
        .with_target_file_size(TARGET_FILE_SIZE);
    let mut rows = 0;
    for batch in reader {
        let batch = batch.context("the download is not a complete Arrow stream")?;
        rows += batch.num_rows();
        writer.write(batch).await?;
    }
    let adds = writer.flush().await?;
    let schema: StructType = writer.arrow_schema().as_ref().try_into_kernel()?;
    let properties = wanted.to_properties()?;
    CreateBuilder::new()
        .with_location(url.as_str())
        .with_columns(schema.fields().cloned())
        .with_configuration(properties.into_iter().map(|(k, v)| (k, Some(v))))
        .with_raise_if_key_not_exists(false)
        .with_save_mode(mode)
        .with_actions(adds.into_iter().map(Action::Add))
        .with_commit_properties(commit(wanted, version, "full"))
        .await?;
    Ok(rows)
}

/// Applies the change feed from the mirror's version to the server's.
async fn incremental(
    client: &http::Http,
    options: &PullOptions,
    detail: &Detail,
    wanted: &MirrorIdentity,
    table: DeltaTable,
    last: u64,
) -> anyhow::Result<PullReport> {
    let (dir, target) = (&options.into, detail.table_version);
    folder::release(dir)?; // a first pull killed between its commit and dropping the claim
    if last == target {
        return Ok(PullReport {
            from_version: Some(last),
            to_version: target,
            kind: "up_to_date",
            rows: 0,
            estimated_rows: Some(0),
        });
    }
    if last > target {
        bail!(
            "{} is at version {last}, newer than the server's {target}: was the server's table \
             restored? Pass --replace to pull it again in full (one commit).",
            dir.display()
        );
    }
    let (from, to) = ((last + 1).to_string(), target.to_string());
    let query = [
        ("format", "arrow"),
        ("from_version", from.as_str()),
        ("to_version", to.as_str()),
    ];
    let download = http::download(client, options, "changes", &query).await?;
    let path = download.path;
    let reader = http::open_stream(&path)?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .context("the download is not a complete Arrow stream")?;
    check_columns(&schema, &wanted.columns, CHANGE_COLUMNS)?;
    check_versions(&batches, last + 1, target)?;
    let rows = batches.iter().map(RecordBatch::num_rows).sum();
    let properties = commit(wanted, target, "changes");
    merge::apply_changes(table, schema, batches, &detail.key_columns, properties).await?;
    let _ = std::fs::remove_file(&path);
    Ok(PullReport {
        from_version: Some(last),
        to_version: target,
        kind: "changes",
        rows,
        estimated_rows: download.estimate,
    })
}

/// The download's columns (without the change feed's own) are the ones the identity
/// records, in order: a dataset that changed between describing and sending is not mixed in.
pub(super) fn check_columns(
    schema: &SchemaRef,
    columns: &[Column],
    extra: &[&str],
) -> anyhow::Result<()> {
    let sent: Vec<&str> = schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|n| !extra.contains(n))
        .collect();
    let described: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    if sent != described {
        bail!(
            "the server sent the columns {} but describes {}: the dataset changed during the \
             pull. Nothing was written; run the pull again.",
            sent.join(", "),
            described.join(", ")
        );
    }
    Ok(())
}

/// Every change lies in `from..=to`: a change from before would be applied twice, one from
/// after would run ahead of the version recorded with it.
pub(super) fn check_versions(batches: &[RecordBatch], from: u64, to: u64) -> anyhow::Result<()> {
    for batch in batches {
        let column = batch
            .column_by_name("_commit_version")
            .context("the change feed has no _commit_version column")?;
        let versions = cast(column, &DataType::Int64)?;
        let versions = versions.as_primitive::<Int64Type>();
        if versions.null_count() > 0 {
            bail!("the change feed has changes without a _commit_version");
        }
        if let Some(v) = versions
            .values()
            .iter()
            .find(|v| u64::try_from(**v).map_or(true, |v| !(from..=to).contains(&v)))
        {
            bail!(
                "the server's change feed for versions {from} to {to} holds a change of version \
                 {v}: applying it would repeat or skip changes, so nothing was written. Pass \
                 --replace to pull in full (one commit)."
            );
        }
    }
    Ok(())
}

/// The commit marks: the pulled version as application transaction, and a commit-info
/// entry that says dap pull wrote this commit.
fn commit(identity: &MirrorIdentity, version: u64, kind: &str) -> CommitProperties {
    CommitProperties::default()
        .with_application_transaction(Transaction::new(
            identity.app_id(),
            i64::try_from(version).unwrap_or(i64::MAX),
        ))
        .with_metadata([(
            COMMIT_KEY.to_owned(),
            serde_json::json!({ "version": version, "kind": kind }),
        )])
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltalake::arrow::array::{Int64Array, StringArray};
    use deltalake::arrow::datatypes::{Field, Schema};

    use super::*;

    fn changes(versions: &[i64]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("_change_type", DataType::Utf8, false),
            Field::new("_commit_version", DataType::Int64, false),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(vec![1; versions.len()])),
                Arc::new(StringArray::from(vec!["insert"; versions.len()])),
                Arc::new(Int64Array::from(versions.to_vec())),
            ],
        )
        .expect("batch")
    }

    #[test]
    fn changes_outside_the_asked_range_are_refused() {
        assert!(check_versions(&[changes(&[3, 4, 5])], 3, 5).is_ok());
        assert!(check_versions(&[], 3, 5).is_ok());
        let overlap = check_versions(&[changes(&[2, 3])], 3, 5).expect_err("overlap");
        assert!(overlap.to_string().contains("version 2"), "{overlap}");
        let ahead = check_versions(&[changes(&[4]), changes(&[6])], 3, 5).expect_err("ahead");
        assert!(ahead.to_string().contains("version 6"), "{ahead}");
    }

    #[test]
    fn columns_must_be_the_described_ones_in_order() {
        let col = |n: &str| Column {
            name: n.into(),
            data_type: "int64".into(),
        };
        let schema = changes(&[1]).schema();
        assert!(check_columns(&schema, &[col("id")], CHANGE_COLUMNS).is_ok());
        let error =
            check_columns(&schema, &[col("id"), col("x")], CHANGE_COLUMNS).expect_err("missing x");
        assert!(error.to_string().contains("describes id, x"), "{error}");
    }
}
