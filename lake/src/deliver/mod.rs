//! The write path: deliveries of one municipality's rows to a dataset's table.
//!
//! A delivery is first staged ([`stage()`]): read whole, checked against the catalogue
//! definition (columns, types, required values, keys unique, the municipality), and
//! written as one Parquet file in the table's types; a file with any problem is refused
//! whole. Then it is applied ([`crate::Lake::deliver`]) as one Delta commit that touches
//! only the caller's partition, carrying an application transaction named after the
//! delivery id, so a retried delivery is applied once.

mod apply;
mod stage;
mod values;

use std::fmt;

use chrono::NaiveDate;
use serde::Serialize;

pub use apply::Applied;
pub use stage::{Staging, stage};

/// Problems reported of a refused delivery, at most.
pub const MAX_PROBLEMS: usize = 100;

/// The file format of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CSV with a header line, `,` or `;` separated, UTF-8.
    Csv,
    /// Newline-delimited JSON objects.
    Ndjson,
    Parquet,
}

/// What a delivery does to the municipality's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Insert new keys, update existing ones (MERGE on the key columns).
    Upsert,
    /// Every row of the municipality in the period is replaced by the file's rows.
    Replace(Period),
    /// The rows with the file's keys are deleted.
    Delete,
}

impl Mode {
    /// The stable name (`upsert`, `replace`, `delete`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Upsert => "upsert",
            Self::Replace(_) => "replace",
            Self::Delete => "delete",
        }
    }
}

/// A range of days of one date column, both ends included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub column: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    pub(crate) fn first_day(&self) -> i32 {
        values::days_since_epoch(self.from)
    }

    pub(crate) fn last_day(&self) -> i32 {
        values::days_since_epoch(self.to)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}..{}", self.column, self.from, self.to)
    }
}

/// One thing wrong with a delivery: where (line from 1, the header being line 1 of a
/// CSV file; row number for Parquet; 0 for the file as a whole) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub message: String,
}

/// Why a delivery was refused: its first problems, and whether there are more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub problems: Vec<Problem>,
    /// True when reading stopped after [`MAX_PROBLEMS`] problems.
    pub more: bool,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the delivery was refused whole and nothing was written: {} problem{}{}",
            self.problems.len(),
            if self.problems.len() == 1 { "" } else { "s" },
            if self.more {
                " (reading stopped there)"
            } else {
                ""
            }
        )?;
        if let Some(first) = self.problems.first() {
            write!(f, "; the first: line {}", first.line)?;
            if let Some(column) = &first.column {
                write!(f, ", column {column}")?;
            }
            write!(f, ": {}", first.message)?;
        }
        Ok(())
    }
}

/// A staged delivery, ready to apply.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The delivery id (client-chosen, or the file's content hash).
    pub id: String,
    pub mode: Mode,
    /// The staged Parquet file ([`stage()`]'s output).
    pub staged: std::path::PathBuf,
    /// Rows in the staged file.
    pub rows: u64,
    /// Who delivered (for the commit's metadata).
    pub by: String,
    /// What was delivered (the file's hash with the mode and period), recorded in the
    /// commit so that a retry can be told from another delivery under the same id.
    pub fingerprint: String,
}
