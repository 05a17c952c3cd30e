//! Audit records: one per data access and per denial, written before the response completes.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Whether the audited request was served or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// Data (or metadata) was returned.
    Allowed,
    /// The caller was refused (bad token, no right, invisible dataset, bad input).
    Denied,
    /// The request failed on our side after it was authorised.
    Failed,
    /// A streamed answer was cut off before it completed: the client went away, did not
    /// read within the send timeout, or the server shut down. The record counts the rows
    /// the client received.
    Interrupted,
}

impl AuditOutcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }
}

/// What happened, by whom, to which data. Built by the API layer, stored by
/// [`crate::ControlPlane::append_audit`].
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    pub occurred_at: DateTime<Utc>,
    pub request_id: String,
    /// What was attempted: `list_datasets`, `describe_dataset`, `read_rows`, `authenticate`.
    pub action: String,
    pub subject: Option<String>,
    /// `user`, `machine`, … (from the token); `None` when the caller is unknown.
    pub caller_kind: Option<String>,
    pub nsis_level: Option<String>,
    /// The municipality the caller acted for.
    pub municipality: Option<String>,
    pub dataset: Option<String>,
    pub table_version: Option<i64>,
    /// Comma-separated column names that were returned.
    pub columns: Option<String>,
    /// The normalised filter, as the lake understood it.
    pub filter: Option<String>,
    pub rows_returned: Option<i64>,
    pub outcome: AuditOutcome,
    /// Stable error code for denials and failures.
    pub reason: Option<String>,
    pub duration_ms: i64,
    pub source_addr: Option<String>,
    /// OAuth client id (machine client, personal token id), when there was one.
    pub client_id: Option<String>,
}

impl AuditRecord {
    /// A record with only the request-level facts filled in.
    pub fn new(
        request_id: impl Into<String>,
        action: impl Into<String>,
        outcome: AuditOutcome,
    ) -> Self {
        Self {
            occurred_at: Utc::now(),
            request_id: request_id.into(),
            action: action.into(),
            subject: None,
            caller_kind: None,
            nsis_level: None,
            municipality: None,
            dataset: None,
            table_version: None,
            columns: None,
            filter: None,
            rows_returned: None,
            outcome,
            reason: None,
            duration_ms: 0,
            source_addr: None,
            client_id: None,
        }
    }
}
