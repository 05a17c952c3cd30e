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
    /// The audit chain's bookkeeping is missing or inconsistent.
    #[error("audit chain: {0}")]
    AuditChain(String),
    /// A value could not be parsed into a domain type.
    #[error("invalid {what} '{value}': {hint}")]
    Parse {
        what: &'static str,
        value: String,
        hint: &'static str,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
