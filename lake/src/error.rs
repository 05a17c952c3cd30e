use std::fmt;

use chrono::{DateTime, Utc};
use thiserror::Error;

/// Errors of the lake layer. `Query*` variants are the caller's fault (HTTP 400);
/// the rest are ours.
#[derive(Debug, Error)]
pub enum Error {
    /// A column name the caller may not use: unknown or not visible to them.
    #[error("unknown column '{column}' in {parameter}; valid columns: {valid}")]
    UnknownColumn {
        parameter: &'static str,
        column: String,
        valid: String,
    },
    /// A filter whose operator or value does not fit its column.
    #[error("invalid filter on column '{column}': {reason}")]
    InvalidFilter { column: String, reason: String },
    /// Any other part of a query that cannot be answered as asked.
    #[error("invalid {parameter}: {reason}")]
    InvalidParameter {
        parameter: &'static str,
        reason: String,
    },
    /// The requested table version does not exist (yet, or any more), or no version was
    /// committed at or before the requested instant.
    #[error("{requested}; the table has versions {earliest} to {latest}")]
    VersionNotAvailable {
        requested: Requested,
        earliest: u64,
        latest: u64,
    },
    /// A change-feed range the table cannot answer.
    #[error(
        "the change range from version {from} to version {to} cannot be answered: the table has versions {first} to {latest} and change data from version {earliest}; ask for a range within those"
    )]
    ChangeRangeNotAvailable {
        from: u64,
        to: u64,
        /// The first version the log still holds.
        first: u64,
        earliest: u64,
        latest: u64,
    },
    /// The dataset's table is missing or cannot be read (deleted, moved, storage down):
    /// not the caller's fault, and not a bug in dap either; see [`Error::is_unavailable`].
    #[error("the table of dataset {dataset} cannot be read: {reason}")]
    TableUnavailable { dataset: String, reason: String },
    /// A table that does not match the catalogue definition that names it. Each entry
    /// says what differs and how to fix it.
    #[error("the table at {location} does not match the definition of {dataset}: {}", .differences.join("; "))]
    TableMismatch {
        dataset: String,
        location: String,
        differences: Vec<String>,
    },
    #[error("delta table error: {0}")]
    Delta(#[from] deltalake::DeltaTableError),
    #[error("query engine error: {0}")]
    DataFusion(#[from] deltalake::datafusion::error::DataFusionError),
    #[error("arrow error: {0}")]
    Arrow(#[from] deltalake::arrow::error::ArrowError),
    #[error("table location '{0}' is not a valid URL or path")]
    Location(String),
    /// The lake's object store cannot be used as configured (scheme, account, bucket,
    /// credentials); the message names what is missing.
    #[error("the lake's object store cannot be used: {0}")]
    Storage(String),
    #[error("encoding the result failed: {0}")]
    Encode(String),
    /// An XLSX export would not fit in one sheet.
    #[error(
        "the result has {rows} rows, more than an XLSX sheet holds ({max} including the header); export as CSV or Parquet instead, or narrow the filter"
    )]
    TooLargeForXlsx { rows: u64, max: u64 },
    #[error("lake runtime: {0}")]
    Runtime(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// A refusal of a version as the reader is told it: the range ends at `own`, the
    /// reader's own version, not at a later commit of rows it may not see.
    pub(crate) fn told_up_to(self, own: u64) -> Self {
        match self {
            Self::VersionNotAvailable {
                requested,
                earliest,
                latest,
            } => Self::VersionNotAvailable {
                requested,
                earliest,
                latest: latest.min(own),
            },
            Self::ChangeRangeNotAvailable {
                from,
                to,
                first,
                earliest,
                latest,
            } => Self::ChangeRangeNotAvailable {
                from,
                to,
                first,
                earliest,
                latest: latest.min(own),
            },
            other => other,
        }
    }

    /// True for errors caused by the caller's input.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::UnknownColumn { .. }
                | Self::InvalidFilter { .. }
                | Self::InvalidParameter { .. }
                | Self::VersionNotAvailable { .. }
                | Self::ChangeRangeNotAvailable { .. }
                | Self::TooLargeForXlsx { .. }
                | Self::TableMismatch { .. }
        )
    }

    /// True when a dataset's table is missing or unreadable at read time: a temporary or
    /// operational condition (HTTP 503 `dataset_unavailable`), not the caller's fault.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::TableUnavailable { .. })
    }
}

/// What a caller asked for that the table does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// An explicit table version.
    Version(u64),
    /// The version current at an instant (`as_of`), with the first commit's time.
    Instant {
        at: DateTime<Utc>,
        first_commit: Option<DateTime<Utc>>,
    },
}

impl fmt::Display for Requested {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = dap_schema::time::rfc3339;
        match self {
            Self::Version(v) => write!(f, "table version {v} is not available"),
            Self::Instant { at, first_commit } => {
                write!(
                    f,
                    "no table version was committed at or before {}",
                    time(at)
                )?;
                if let Some(first) = first_commit {
                    write!(
                        f,
                        " (the first was committed at {}; ask for that instant or later, see /versions)",
                        time(first)
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
