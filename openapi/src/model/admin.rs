//! The bodies of `/api/v1/admin/…`: municipal IT administration (machine clients,
//! personal tokens, settings, delegations, the audit log) and the platform operators'
//! catalogue.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A machine client as administrators see it (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientInfo {
    pub client_id: String,
    /// What the client is for; unique within its municipality.
    #[schema(example = "Nightly load into the data warehouse")]
    pub name: String,
    pub description: Option<String>,
    pub municipality: String,
    pub datasets: Vec<String>,
    pub expires_at: DateTime<Utc>,
    pub disabled: bool,
    /// `client_secret_basic` or `private_key_jwt`.
    pub auth_method: String,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList {
    pub clients: Vec<ClientInfo>,
}

/// Registers a client for an integrator.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// What the client is for (1 to 100 characters), unique within the municipality.
    #[schema(example = "Nightly load into the data warehouse")]
    pub name: String,
    /// Optional: more about the client (who runs it, where), at most 1000 characters.
    pub description: Option<String>,
    /// Datasets the client may read.
    #[schema(example = json!(["oekonomi.posteringer"]))]
    pub datasets: Vec<String>,
    /// Days until the client expires (default 365, at most 730).
    pub expires_in_days: Option<u32>,
    /// A public JWK: the client authenticates with `private_key_jwt` and gets no secret.
    #[schema(value_type = Option<Object>)]
    pub public_key: Option<serde_json::Value>,
    /// Optional; must be the municipality you administer.
    pub municipality: Option<String>,
}

/// A registered client; the secret is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: ClientInfo,
    pub client_secret: Option<String>,
}

/// A new secret for a client.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    pub client_id: String,
    /// Shown once; the old secret stops working now.
    pub client_secret: String,
}

/// A personal access token as administrators see it (never the token).
#[derive(Debug, Serialize, ToSchema)]
pub struct MunicipalToken {
    pub id: String,
    /// The person who created it.
    pub subject: String,
    pub name: String,
    pub datasets: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MunicipalTokenList {
    pub tokens: Vec<MunicipalToken>,
}

/// A municipality's settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct Settings {
    pub municipality: String,
    /// Datasets switched off for the municipality: nobody reads them for it.
    pub disabled_datasets: Vec<String>,
    /// NSIS level required for all of the municipality's data, on top of each dataset's.
    #[schema(example = "High")]
    pub min_nsis: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
}

/// New settings (replace the old ones).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSettings {
    #[serde(default)]
    pub disabled_datasets: Vec<String>,
    /// `Low`, `Substantial`, `High`, or absent for the platform's defaults.
    pub min_nsis: Option<String>,
    /// Optional; must be the municipality you administer.
    pub municipality: Option<String>,
}

/// A delegation, seen from either side.
#[derive(Debug, Serialize, ToSchema)]
pub struct DelegationInfo {
    pub id: String,
    /// The municipality whose data is delegated.
    pub grantor: String,
    /// The organisation (CVR) that may read it.
    pub grantee_cvr: String,
    pub datasets: Vec<String>,
    pub valid_until: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// `granted` (by the municipality you administer) or `received` (by its CVR).
    pub direction: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DelegationList {
    pub delegations: Vec<DelegationInfo>,
}

/// A new delegation from the municipality you administer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDelegation {
    /// The organisation's CVR number (8 digits).
    #[schema(example = "12345678")]
    pub grantee_cvr: String,
    pub datasets: Vec<String>,
    /// Until when (at most three years ahead): RFC 3339, or a date for the end of that
    /// day in Danish time.
    #[schema(value_type = String, format = DateTime, example = "2027-06-30")]
    pub valid_until: String,
    /// Optional; must be the municipality you administer.
    pub grantor: Option<String>,
}

/// Every dataset with its full definition.
// The definitions are `dap_schema::DatasetDef`, serialised (this crate does not depend
// on the schema crate).
#[derive(Debug, Serialize, ToSchema)]
pub struct Catalogue {
    #[schema(value_type = Vec<Object>)]
    pub datasets: Vec<serde_json::Value>,
}

/// Filters and format of an audit query.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct AuditParams {
    /// Municipality: the one you administer (when several), or any for platform operators.
    pub municipality: Option<String>,
    /// From this time (inclusive): RFC 3339, or a date for the start of that day in
    /// Danish time.
    #[param(value_type = Option<String>, format = DateTime, example = "2026-12-01")]
    pub from: Option<String>,
    /// Until this time (RFC 3339, exclusive).
    #[param(value_type = Option<String>, format = DateTime, example = "2026-12-02T00:00:00+01:00")]
    pub to: Option<String>,
    pub subject: Option<String>,
    pub dataset: Option<String>,
    /// `allowed`, `denied`, `failed` or `interrupted` (a streamed answer cut off).
    #[param(value_type = Option<String>, pattern = "^(allowed|denied|failed|interrupted)$", example = "denied")]
    pub outcome: Option<String>,
    /// `json` (default, paged), `ndjson` or `csv` (everything selected, streamed).
    #[param(value_type = Option<String>, pattern = "^(json|ndjson|csv)$", example = "csv")]
    pub format: Option<String>,
    /// Page size for `json` (default 100, at most 1000).
    pub limit: Option<u64>,
    /// Continue after this record id (`next_after` of the previous page).
    pub after: Option<i64>,
}

/// One audit record.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub request_id: String,
    pub action: String,
    pub subject: Option<String>,
    pub caller_kind: Option<String>,
    pub client_id: Option<String>,
    pub nsis_level: Option<String>,
    pub municipality: Option<String>,
    pub dataset: Option<String>,
    pub table_version: Option<i64>,
    pub columns: Option<String>,
    pub filter: Option<String>,
    pub rows_returned: Option<i64>,
    pub outcome: String,
    pub reason: Option<String>,
    pub duration_ms: i64,
    pub source_addr: Option<String>,
}

/// A page of audit records.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub records: Vec<AuditEntry>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<i64>,
}
