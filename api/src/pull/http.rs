//! The few requests dap pull makes, and downloads streamed to a file next to the mirror.

use std::io::BufReader;
use std::path::PathBuf;

use anyhow::{Context, bail};
use deltalake::arrow::ipc::reader::StreamReader;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use url::Url;

use super::PullOptions;

/// An HTTP client for one run.
pub(super) fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()?)
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

/// GETs `path` (relative to the server's base URL) as JSON.
pub(super) async fn get_json<T: for<'de> Deserialize<'de>>(
    client: &reqwest::Client,
    options: &PullOptions,
    path: &str,
) -> anyhow::Result<T> {
    let response = client
        .get(endpoint(options, path, &[])?)
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

/// Streams the dataset's `what` (export or changes) as an Arrow IPC stream into a
/// temporary file in the mirror folder, and returns its path. Nothing is held in memory
/// beyond one network chunk.
pub(super) async fn download(
    client: &reqwest::Client,
    options: &PullOptions,
    what: &str,
    query: &[(&str, &str)],
) -> anyhow::Result<PathBuf> {
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
    Ok(path)
}

/// Reads a downloaded Arrow IPC stream one batch at a time.
pub(super) fn open_stream(
    path: &std::path::Path,
) -> anyhow::Result<StreamReader<BufReader<std::fs::File>>> {
    StreamReader::try_new(BufReader::new(std::fs::File::open(path)?), None)
        .context("the download is not an Arrow stream")
}
