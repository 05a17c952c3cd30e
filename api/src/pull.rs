//! `dap pull`: mirror a dataset into a local Delta table (or Parquet files).
//!
//! The first run downloads a full export at the server's current version V; later runs
//! download only the change feed since the last pulled version and apply it as inserts,
//! updates and deletes (a MERGE on the dataset's key columns). In Delta mode the pulled
//! version is stored in the same commit as the data (a Delta application transaction),
//! so a crash at any point leaves either the old or the new state, and a re-run picks up
//! where the table is. In Parquet mode files are written under temporary names and
//! renamed before the state file moves on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use deltalake::DeltaTableBuilder;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::ipc::reader::StreamReader;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use url::Url;

/// Where the mirror goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorFormat {
    Delta,
    Parquet,
}

/// What to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    pub server: Url,
    pub token: String,
    pub dataset: String,
    pub into: PathBuf,
    pub format: MirrorFormat,
    pub municipality: Option<String>,
    /// Draw progress bars (only on a terminal).
    pub progress: bool,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullReport {
    pub from_version: Option<u64>,
    pub to_version: u64,
    /// `full`, `changes` or `up_to_date`.
    pub kind: &'static str,
    pub rows: usize,
}

#[derive(Debug, Deserialize)]
struct Detail {
    municipality: String,
    table_version: u64,
    key_columns: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ParquetState {
    dataset: String,
    municipality: String,
    version: u64,
}

const STATE_FILE: &str = ".dap-pull.json";

/// Runs one pull.
pub async fn pull(options: &PullOptions) -> anyhow::Result<PullReport> {
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()?;
    let detail: Detail = get_json(
        &client,
        options,
        &format!("api/v1/datasets/{}", options.dataset),
        &[],
    )
    .await?;
    if detail.key_columns.is_empty() {
        bail!(
            "dataset {} declares no key columns, so changes cannot be applied",
            options.dataset
        );
    }
    std::fs::create_dir_all(&options.into)
        .with_context(|| format!("cannot create {}", options.into.display()))?;
    let app_id = format!("dap-pull:{}:{}", options.dataset, detail.municipality);
    let target = detail.table_version;
    let last = match options.format {
        MirrorFormat::Delta => delta_version(&options.into, &app_id).await?,
        MirrorFormat::Parquet => parquet_state(&options.into)?.map(|s| s.version),
    };
    match last {
        Some(v) if v == target => Ok(PullReport {
            from_version: Some(v),
            to_version: target,
            kind: "up_to_date",
            rows: 0,
        }),
        Some(v) if v > target => bail!(
            "the mirror is at version {v}, newer than the server's {target}: was the table restored? Start a new mirror"
        ),
        None => {
            let version = target.to_string();
            let batches = download(
                &client,
                options,
                "export",
                &[("format", "arrow"), ("version", &version)],
            )
            .await?;
            let rows = batches.1.iter().map(RecordBatch::num_rows).sum();
            match options.format {
                MirrorFormat::Delta => write_full(&options.into, batches, &app_id, target).await?,
                MirrorFormat::Parquet => {
                    write_parquet(
                        &options.into,
                        &format!("snapshot-v{target}.parquet"),
                        &batches,
                    )?;
                    save_state(
                        &options.into,
                        &options.dataset,
                        &detail.municipality,
                        target,
                    )?;
                }
            }
            Ok(PullReport {
                from_version: None,
                to_version: target,
                kind: "full",
                rows,
            })
        }
        Some(v) => {
            let (from, to) = ((v + 1).to_string(), target.to_string());
            let changes = download(
                &client,
                options,
                "changes",
                &[
                    ("format", "arrow"),
                    ("from_version", &from),
                    ("to_version", &to),
                ],
            )
            .await?;
            let rows = changes.1.iter().map(RecordBatch::num_rows).sum();
            match options.format {
                MirrorFormat::Delta => {
                    apply_changes(&options.into, changes, &detail.key_columns, &app_id, target)
                        .await?
                }
                MirrorFormat::Parquet => {
                    write_parquet(
                        &options.into,
                        &format!("changes-v{from}-v{to}.parquet"),
                        &changes,
                    )?;
                    save_state(
                        &options.into,
                        &options.dataset,
                        &detail.municipality,
                        target,
                    )?;
                }
            }
            Ok(PullReport {
                from_version: Some(v),
                to_version: target,
                kind: "changes",
                rows,
            })
        }
    }
}

fn endpoint(options: &PullOptions, path: &str, query: &[(&str, &str)]) -> anyhow::Result<Url> {
    let mut base = options.server.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    let mut url = base.join(path)?;
    {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in query {
            pairs.append_pair(k, v);
        }
        if let Some(m) = &options.municipality {
            pairs.append_pair("municipality", m);
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    Ok(url)
}

async fn get_json<T: for<'de> Deserialize<'de>>(
    client: &reqwest::Client,
    options: &PullOptions,
    path: &str,
    query: &[(&str, &str)],
) -> anyhow::Result<T> {
    let response = client
        .get(endpoint(options, path, query)?)
        .bearer_auth(&options.token)
        .send()
        .await?;
    let status = response.status();
    if !status.is_success() {
        bail!(
            "{path}: HTTP {status}: {}",
            response.text().await.unwrap_or_default()
        );
    }
    Ok(response.json().await?)
}

/// Downloads an Arrow IPC stream to a temporary file next to the mirror, then reads it.
async fn download(
    client: &reqwest::Client,
    options: &PullOptions,
    what: &str,
    query: &[(&str, &str)],
) -> anyhow::Result<(SchemaRef, Vec<RecordBatch>)> {
    let url = endpoint(
        options,
        &format!("api/v1/datasets/{}/{what}", options.dataset),
        query,
    )?;
    let response = client.get(url).bearer_auth(&options.token).send().await?;
    let status = response.status();
    if !status.is_success() {
        bail!(
            "{what}: HTTP {status}: {}",
            response.text().await.unwrap_or_default()
        );
    }
    let bar = if options.progress {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(ProgressStyle::with_template(
        "{spinner} {msg} {bytes} ({bytes_per_sec})",
    )?);
    bar.set_message(format!("downloading {what}"));
    let path = options.into.join(format!(".dap-pull-{what}.arrows.part"));
    let mut file = tokio::fs::File::create(&path).await?;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.context("download interrupted")?;
        file.write_all(&chunk).await?;
        bar.inc(chunk.len() as u64);
    }
    file.flush().await?;
    bar.finish_and_clear();
    let reader = StreamReader::try_new(std::io::BufReader::new(std::fs::File::open(&path)?), None)?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .context("the download is not a complete Arrow stream")?;
    let _ = std::fs::remove_file(&path);
    Ok((schema, batches))
}

fn table_url(dir: &Path) -> anyhow::Result<Url> {
    let dir = std::path::absolute(dir)?;
    Url::from_directory_path(&dir)
        .map_err(|_| anyhow::anyhow!("{} is not a directory path", dir.display()))
}

/// The version recorded by the last successful pull into the Delta table at `dir`.
async fn delta_version(dir: &Path, app_id: &str) -> anyhow::Result<Option<u64>> {
    if !dir.join("_delta_log").is_dir() {
        return Ok(None);
    }
    let table = deltalake::open_table(table_url(dir)?).await?;
    let version = table
        .snapshot()?
        .transaction_version(table.log_store().as_ref(), app_id)
        .await?;
    Ok(version.and_then(|v| u64::try_from(v).ok()))
}

fn commit(app_id: &str, version: u64) -> CommitProperties {
    CommitProperties::default().with_application_transaction(Transaction::new(
        app_id,
        i64::try_from(version).unwrap_or(i64::MAX),
    ))
}

async fn write_full(
    dir: &Path,
    (_, batches): (SchemaRef, Vec<RecordBatch>),
    app_id: &str,
    version: u64,
) -> anyhow::Result<()> {
    let table = DeltaTableBuilder::from_url(table_url(dir)?)?.build()?;
    table
        .write(batches)
        .with_save_mode(SaveMode::Overwrite)
        .with_commit_properties(commit(app_id, version))
        .await?;
    Ok(())
}

/// MERGE the last change per key: deletes delete, inserts and post-images upsert.
async fn apply_changes(
    dir: &Path,
    (schema, batches): (SchemaRef, Vec<RecordBatch>),
    keys: &[String],
    app_id: &str,
    version: u64,
) -> anyhow::Result<()> {
    let table = deltalake::open_table(table_url(dir)?).await?;
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| !n.starts_with("_commit_") && n != "_change_type")
        .collect();
    let quote = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
    let ctx = SessionContext::new();
    ctx.register_table(
        "changes",
        Arc::new(MemTable::try_new(schema, vec![batches])?),
    )?;
    let keys_sql = keys.iter().map(|k| quote(k)).collect::<Vec<_>>().join(", ");
    let cols_sql = columns
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ");
    // The last change per key wins. Within one commit an insert or post-image beats a
    // delete (a rewritten row), and a pre-image without a post-image (a row that left the
    // caller's municipality) counts as a delete.
    let latest = ctx
        .sql(&format!(
            "SELECT {cols_sql}, CASE WHEN \"_change_type\" = 'update_preimage' THEN 'delete' ELSE \"_change_type\" END AS \"_change_type\" FROM (\
               SELECT *, row_number() OVER (PARTITION BY {keys_sql} ORDER BY \"_commit_version\" DESC, \
                 CASE \"_change_type\" WHEN 'update_preimage' THEN 2 WHEN 'delete' THEN 1 ELSE 0 END) AS dap_rank \
               FROM changes) WHERE dap_rank = 1"
        ))
        .await?;
    let on = keys
        .iter()
        .map(|k| format!("target.{q} = source.{q}", q = quote(k)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let upsert = "source._change_type <> 'delete'";
    let columns_update = columns.clone();
    let columns_insert = columns.clone();
    table
        .merge(latest, on)
        .with_source_alias("source")
        .with_target_alias("target")
        .when_matched_delete(|d| d.predicate("source._change_type = 'delete'"))?
        .when_matched_update(move |u| {
            columns_update.iter().fold(u.predicate(upsert), |u, c| {
                u.update(c.as_str(), format!("source.{}", quote(c)))
            })
        })?
        .when_not_matched_insert(move |i| {
            columns_insert.iter().fold(i.predicate(upsert), |i, c| {
                i.set(c.as_str(), format!("source.{}", quote(c)))
            })
        })?
        .with_commit_properties(commit(app_id, version))
        .await?;
    Ok(())
}

fn parquet_state(dir: &Path) -> anyhow::Result<Option<ParquetState>> {
    match std::fs::read_to_string(dir.join(STATE_FILE)) {
        Ok(text) => Ok(Some(
            serde_json::from_str(&text).context("the pull state file is corrupt")?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn save_state(dir: &Path, dataset: &str, municipality: &str, version: u64) -> anyhow::Result<()> {
    let state = ParquetState {
        dataset: dataset.into(),
        municipality: municipality.into(),
        version,
    };
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(&state)?)?;
    std::fs::rename(tmp, dir.join(STATE_FILE))?;
    Ok(())
}

fn write_parquet(
    dir: &Path,
    name: &str,
    (schema, batches): &(SchemaRef, Vec<RecordBatch>),
) -> anyhow::Result<()> {
    let tmp = dir.join(format!("{name}.part"));
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&tmp)?,
        Arc::clone(schema),
        None,
    )?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.close()?;
    std::fs::rename(tmp, dir.join(name))?;
    Ok(())
}
