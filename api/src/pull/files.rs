//! Parquet mode: `snapshot-vV.parquet`, then `changes-vA-vB.parquet` files, and a state
//! file (`.dap-pull.json`) that records the mirror's identity and pulled version. Files are
//! written under temporary names and renamed before the state file moves on.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::delta::{CHANGE_COLUMNS, check_columns, check_versions};
use super::folder::{self, Folder};
use super::identity::{self, MirrorIdentity};
use super::{Detail, PullOptions, PullReport, http};

const STATE_FILE: &str = ".dap-pull.json";

/// What the state file holds.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    #[serde(flatten)]
    identity: MirrorIdentity,
    version: u64,
}

/// Runs one pull into a Parquet mirror.
pub(super) async fn pull(
    client: &http::Http,
    options: &PullOptions,
    detail: &Detail,
    wanted: &MirrorIdentity,
) -> anyhow::Result<PullReport> {
    let dir = &options.into;
    match (read_state(dir), options.replace) {
        (Ok(None), _) => {
            if folder::inspect(dir)? != Folder::New {
                return Err(folder::not_empty(dir, "no dap pull state file"));
            }
            folder::claim(dir)?;
            full(client, options, wanted, detail.table_version).await
        }
        (Ok(Some(_)) | Err(_), true) => {
            // The claim comes first: a run killed while clearing still finds the folder its own.
            folder::claim(dir)?;
            remove_mirror_files(dir)?;
            full(client, options, wanted, detail.table_version).await
        }
        (Err(e), false) => Err(e.context(format!(
            "pass --replace to start the mirror in {} again",
            dir.display()
        ))),
        (Ok(Some(state)), false) => {
            let differences = state.identity.differences(wanted);
            if !differences.is_empty() {
                return Err(identity::refusal(dir, &state.identity, &differences));
            }
            incremental(client, options, wanted, state.version, detail.table_version).await
        }
    }
}

async fn full(
    client: &http::Http,
    options: &PullOptions,
    wanted: &MirrorIdentity,
    target: u64,
) -> anyhow::Result<PullReport> {
    let dir = &options.into;
    let version = target.to_string();
    let query = [("format", "arrow"), ("version", version.as_str())];
    let download = http::download(client, options, "export", &query).await?;
    let path = download.path;
    let name = format!("snapshot-v{target}.parquet");
    let rows = write_parquet(dir, &name, &path, wanted, None)?;
    save_state(dir, wanted, target)?;
    folder::release(dir)?;
    let _ = std::fs::remove_file(&path);
    Ok(PullReport {
        from_version: None,
        to_version: target,
        kind: "full",
        rows,
        estimated_rows: download.estimate,
    })
}

async fn incremental(
    client: &http::Http,
    options: &PullOptions,
    wanted: &MirrorIdentity,
    last: u64,
    target: u64,
) -> anyhow::Result<PullReport> {
    let dir = &options.into;
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
        anyhow::bail!(
            "{} is at version {last}, newer than the server's {target}: was the server's table \
             restored? Pass --replace to pull it again in full.",
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
    let name = format!("changes-v{from}-v{to}.parquet");
    let rows = write_parquet(dir, &name, &path, wanted, Some((last + 1, target)))?;
    save_state(dir, wanted, target)?;
    let _ = std::fs::remove_file(&path);
    Ok(PullReport {
        from_version: Some(last),
        to_version: target,
        kind: "changes",
        rows,
        estimated_rows: download.estimate,
    })
}

fn read_state(dir: &Path) -> anyhow::Result<Option<State>> {
    let path = dir.join(STATE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a state file this dap pull understands (made by an older dap?)",
                path.display()
            )
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn save_state(dir: &Path, identity: &MirrorIdentity, version: u64) -> anyhow::Result<()> {
    let state = State {
        identity: identity.clone(),
        version,
    };
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(&state)?)?;
    std::fs::rename(tmp, dir.join(STATE_FILE))?;
    Ok(())
}

/// The state file first, so that a run killed halfway leaves a claimed folder, not a
/// mirror whose state names files that are gone.
fn remove_mirror_files(dir: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(dir.join(STATE_FILE));
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = (name.starts_with("snapshot-v") || name.starts_with("changes-v"))
            && name.contains(".parquet");
        if ours && entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Streams the downloaded batches into `dir/name` (through a temporary name) after
/// checking the columns and, for changes, each batch's versions against `range`.
fn write_parquet(
    dir: &Path,
    name: &str,
    download: &Path,
    wanted: &MirrorIdentity,
    range: Option<(u64, u64)>,
) -> anyhow::Result<usize> {
    let reader = http::open_stream(download)?;
    let extra = if range.is_some() { CHANGE_COLUMNS } else { &[] };
    check_columns(&reader.schema(), &wanted.columns, extra)?;
    let tmp = dir.join(format!("{name}.part"));
    let written = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, reader.schema(), None)?;
        let mut rows = 0;
        for batch in reader {
            let batch = batch.context("the download is not a complete Arrow stream")?;
            if let Some((from, to)) = range {
                check_versions(std::slice::from_ref(&batch), from, to)?;
            }
            rows += batch.num_rows();
            writer.write(&batch)?;
        }
        writer.close()?;
        anyhow::Ok(rows)
    })();
    match written {
        Ok(rows) => {
            std::fs::rename(tmp, dir.join(name))?;
            Ok(rows)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}
