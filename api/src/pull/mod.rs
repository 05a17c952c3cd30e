//! `dap pull`: mirror a dataset into a local Delta table (or Parquet files).
//!
//! The first run downloads a full export at the server's current version V; later runs
//! download only the change feed since the last pulled version and apply it as inserts,
//! updates and deletes (a MERGE on the dataset's key columns). In Delta mode the pulled
//! version is stored in the same commit as the data (a Delta application transaction),
//! so a crash at any point leaves either the old or the new state, and a re-run picks up
//! where the table is. In Parquet mode files are written under temporary names and
//! renamed before the state file moves on.
//!
//! A mirror records what it mirrors (server, dataset, municipality, columns; see
//! [`identity`]). A pull whose source differs, into a table dap pull did not make or that
//! another writer changed, or into a folder holding other files, refuses before writing;
//! with `replace` it pulls in full and swaps the table's contents in one commit.

mod auth;
mod delta;
mod files;
mod folder;
mod http;
mod identity;
mod merge;
mod progress;

use std::path::PathBuf;

use anyhow::bail;
use serde::{Deserialize, Serialize};
use url::Url;

pub use auth::Credentials;
use identity::{Column, MirrorIdentity};

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
    /// A bearer token, or a machine client's id and secret (dap pull then gets and
    /// renews its tokens itself).
    pub credentials: Credentials,
    pub dataset: String,
    pub into: PathBuf,
    pub format: MirrorFormat,
    pub municipality: Option<String>,
    /// Replace whatever mirror or Delta table the folder holds with a full pull (one
    /// commit), instead of refusing when it is not this pull's mirror. A folder holding
    /// other files is refused either way.
    pub replace: bool,
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
    /// The rows the server's history promised for the download (see the progress bar);
    /// `None` when it could not say.
    pub estimated_rows: Option<u64>,
}

/// The part of `GET /api/v1/datasets/{id}` a pull needs.
#[derive(Debug, Deserialize)]
struct Detail {
    municipality: String,
    table_version: u64,
    key_columns: Vec<String>,
    columns: Vec<Column>,
}

/// Runs one pull.
pub async fn pull(options: &PullOptions) -> anyhow::Result<PullReport> {
    let client = http::Http::new(options)?;
    let detail: Detail = http::get_json(
        &client,
        options,
        &format!("api/v1/datasets/{}", options.dataset),
    )
    .await?;
    if detail.key_columns.is_empty() {
        bail!(
            "dataset {} declares no key columns, so changes cannot be applied",
            options.dataset
        );
    }
    let wanted = MirrorIdentity::new(
        &options.server,
        &options.dataset,
        &detail.municipality,
        detail.columns.clone(),
    );
    match options.format {
        MirrorFormat::Delta => delta::pull(&client, options, &detail, &wanted).await,
        MirrorFormat::Parquet => files::pull(&client, options, &detail, &wanted).await,
    }
}
