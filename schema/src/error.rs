use thiserror::Error;

/// Errors of the catalogue and control-plane store.
#[derive(Debug, Error)]
pub enum Error {
    /// The relational database refused or failed an operation.
    #[error("control-plane database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// A stored catalogue row does not describe a valid dataset.
    #[error("catalogue entry {dataset} is invalid: {reason}")]
    InvalidCatalogue { dataset: String, reason: String },
    /// A value that should be a municipality code is not one of the 98.
    #[error("'{0}' is not a municipality code: use the four-digit code, e.g. 0101 for København")]
    UnknownMunicipality(String),
    /// A value that should name a municipality names none of the 98 (or several).
    #[error(
        "'{0}' names no municipality: use its four-digit code or its name, e.g. 0101, København or Københavns Kommune"
    )]
    UnknownMunicipalityName(String),
    /// The audit chain's bookkeeping is missing or inconsistent.
    #[error("audit chain: {0}")]
    AuditChain(String),
    /// A prune was refused because the records it would remove (or their link to the
    /// first record kept) do not verify: removing them would hide the tampering.
    #[error(
        "audit prune refused, nothing was removed: record {seq}{} {kind}; investigate with `dap audit verify` before pruning",
        database_id(.id)
    )]
    AuditPruneRefused {
        kind: crate::audit_chain::Break,
        seq: i64,
        id: Option<i64>,
    },
    /// A prune would keep less than the minimum retention.
    #[error(
        "refusing to prune audit records up to {cutoff}: keep at least {minimum_days} day(s) of records (--keep-days, audit_retention_days); less would remove the records of requests still being answered and leave nothing to verify against the last anchored head"
    )]
    RetentionTooShort {
        cutoff: chrono::DateTime<chrono::Utc>,
        minimum_days: u32,
    },
    /// A value could not be parsed into a domain type.
    #[error("invalid {what} '{value}': {hint}")]
    Parse {
        what: &'static str,
        value: String,
        hint: &'static str,
    },
}

impl Error {
    /// A failure that says nothing about the request and may pass by itself: the
    /// database is busy or locked (SQLite), the pool has no free connection, or the
    /// connection to the server broke. Callers answer these as "try again" (503).
    pub fn is_transient(&self) -> bool {
        use sea_orm::{DbErr, RuntimeErr};
        let Self::Database(error) = self else {
            return false;
        };
        match error {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
            DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
                match e.as_ref() {
                    sea_orm::sqlx::Error::Database(db) => {
                        // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes;
                        // PostgreSQL: serialization failure, deadlock, too many connections,
                        // shutting down (SQLSTATE classes 40 and 53, 57P01-57P03).
                        let code = db.code().unwrap_or_default();
                        let sqlite_busy =
                            code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6));
                        sqlite_busy
                            || code.starts_with("40")
                            || code.starts_with("53")
                            || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
                    }
                    sea_orm::sqlx::Error::PoolTimedOut
                    | sea_orm::sqlx::Error::PoolClosed
                    | sea_orm::sqlx::Error::Io(_) => true,
                    _ => false,
                }
            }
            _ => false,
        }
    }
}

fn database_id(id: &Option<i64>) -> String {
    id.map(|id| format!(" (database id {id})"))
        .unwrap_or_default()
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
