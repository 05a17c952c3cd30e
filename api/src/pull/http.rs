//! The few requests dap pull makes, and downloads streamed to a file next to the mirror.

use std::io::BufReader;
use std::path::PathBuf;

use anyhow::{Context, bail};
use deltalake::arrow::ipc::reader::StreamReader;
use futures::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use url::Url;

use super::PullOptions;
use super::auth::Session;
use super::progress::{self, RowCounter};

/// The HTTP client of one run and its credentials.
pub(super) struct Http {
    client: reqwest::Client,
    session: Session,
}

impl Http {
    pub(super) fn new(options: &PullOptions) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(10))
                .build()?,
            session: Session::new(options.credentials.clone(), &options.server)?,
        })
    }

    /// GETs `url` with the session's token; a 401 with renewable credentials gets a new
    /// token and tries once more.
    async fn get(&self, url: Url) -> anyhow::Result<reqwest::Response> {
        let token = self.session.bearer(&self.client).await?;
        let response = self
            .client
            .get(url.clone())
            .bearer_auth(token)
            .send()
            .await?;
        if response.status() != reqwest::StatusCode::UNAUTHORIZED || !self.session.renewable() {
            return Ok(response);
        }
        self.session.refused().await;
        let token = self.session.bearer(&self.client).await?;
        Ok(self.client.get(url).bearer_auth(token).send().await?)
    }
}

/// A finished download: the file, and the server's estimate of its rows.
pub(super) struct Downloaded {
    pub path: PathBuf,
    pub estimate: Option<u64>,
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
    client: &Http,
    options: &PullOptions,
    path: &str,
) -> anyhow::Result<T> {
    let response = client.get(endpoint(options, path, &[])?).await?;
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
/// beyond one network chunk and the batch being counted. On a terminal the progress shows
/// the rows received and the server's estimate of the total (from the table's history).
pub(super) async fn download(
    client: &Http,
    options: &PullOptions,
    what: &str,
    query: &[(&str, &str)],
) -> anyhow::Result<Downloaded> {
    let estimate = match get_json::<progress::Versions>(
        client,
        options,
        &format!("api/v1/datasets/{}/versions", options.dataset),
    )
    .await
    {
        Ok(versions) => progress::estimate(&versions, query),
        Err(_) => None, // only a progress hint: the pull goes on without it
    };
    let url = endpoint(
        options,
        &format!("api/v1/datasets/{}/{what}", options.dataset),
        query,
    )?;
    let response = client.get(url).await?;
    let status = response.status();
    if !status.is_success() {
        bail!(
            "{what}: HTTP {status}: {}",
            response.text().await.unwrap_or_default()
        );
    }
    let bar = progress::bar(options.progress, what, estimate)?;
    let path = options.into.join(format!(".dap-pull-{what}.arrows.part"));
    let mut file = tokio::fs::File::create(&path).await?;
    let mut body = response.bytes_stream();
    let mut rows = RowCounter::default();
    let mut bytes = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.context("download interrupted")?;
        file.write_all(&chunk).await?;
        bytes += chunk.len() as u64;
        bar.set_position(rows.feed(&chunk));
        bar.set_prefix(indicatif::HumanBytes(bytes).to_string());
    }
    file.flush().await?;
    bar.finish_and_clear();
    Ok(Downloaded { path, estimate })
}

/// Reads a downloaded Arrow IPC stream one batch at a time.
pub(super) fn open_stream(
    path: &std::path::Path,
) -> anyhow::Result<StreamReader<BufReader<std::fs::File>>> {
    StreamReader::try_new(BufReader::new(std::fs::File::open(path)?), None)
        .context("the download is not an Arrow stream")
}
