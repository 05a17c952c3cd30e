//! Delta Sharing as the core sees it, for the sharing surface: one share per platform
//! ([`SHARE`]), schemas are domains and tables are datasets, every listing is
//! [`Core::visible_datasets`]; a table's metadata holds only the caller's visible
//! columns; its files are signed links back to dap ([`files`]), never lake paths.

pub mod changes;
pub mod files;
pub mod links;

use std::sync::Arc;

use dap_auth::Principal;
use dap_openapi::model::identity::{CreateToken, SharingProfile};
use dap_schema::{AccessScope, ColumnType, DatasetDef};
use sha2::{Digest, Sha256};

use super::{AppError, AuditFacts, Core};

pub use changes::{ChangeAction, TableChanges};
pub use files::{FileAction, QueryRequest, TableFiles};
pub use links::Sharing;

/// The one share dap offers: every dataset the caller sees is a table in it.
pub const SHARE: &str = "dap";

/// A table as the protocol names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedTable {
    pub share: String,
    /// The dataset's domain.
    pub schema: String,
    /// The dataset's id without its domain prefix.
    pub name: String,
    /// A stable id of the table (derived from the dataset id).
    pub id: String,
    /// The dataset id.
    pub dataset: String,
}

/// Which table a request names: share, schema, table.
#[derive(Debug, Clone, Copy)]
pub struct TableRef<'a> {
    pub share: &'a str,
    pub schema: &'a str,
    pub table: &'a str,
}

/// A table's metadata for the caller: version, schema of the visible columns.
#[derive(Debug, Clone)]
pub struct TableMetadata {
    pub version: u64,
    pub id: String,
    pub name: String,
    pub description: String,
    /// The Delta schema string (Spark JSON struct) of the visible columns.
    pub schema_string: String,
    /// Whether the change data feed can be read.
    pub change_data_feed: bool,
}

/// A stable, opaque id (UUID-shaped) derived from `parts`.
pub(crate) fn stable_id(parts: &[&str]) -> String {
    let digest = Sha256::digest(parts.join("\u{1f}").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The protocol's name of a dataset.
pub fn shared_table(d: &DatasetDef) -> SharedTable {
    let id = d.id.as_str();
    let name = id
        .strip_prefix(&format!("{}.", d.domain))
        .unwrap_or(id)
        .to_owned();
    SharedTable {
        share: SHARE.to_owned(),
        schema: d.domain.clone(),
        name,
        id: stable_id(&["table", id]),
        dataset: id.to_owned(),
    }
}

/// The Delta (Spark) type name of a catalogue type.
fn delta_type(t: ColumnType) -> String {
    match t {
        ColumnType::String => "string".into(),
        ColumnType::Int32 => "integer".into(),
        ColumnType::Int64 => "long".into(),
        ColumnType::Float64 => "double".into(),
        ColumnType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
        ColumnType::Date => "date".into(),
        ColumnType::Boolean => "boolean".into(),
    }
}

/// The Delta schema string of the columns `scope` shows, in catalogue order.
fn schema_string(scope: &AccessScope) -> String {
    let fields: Vec<serde_json::Value> = scope
        .dataset()
        .columns
        .iter()
        .filter(|c| scope.can_see(&c.name))
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "type": delta_type(c.data_type),
                "nullable": true,
                "metadata": {},
            })
        })
        .collect();
    serde_json::json!({"type": "struct", "fields": fields}).to_string()
}

impl Core {
    /// Where clients reach dap: the configured public URL, else `request_base` (the
    /// scheme and host a request was sent to). No trailing slash.
    pub fn reachable_at(&self, request_base: &str) -> String {
        match &self.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => request_base.trim_end_matches('/').to_owned(),
        }
    }

    /// A Delta Sharing profile: a personal access token limited to the named datasets
    /// ([`Core::create_personal_token`], same rules) and the sharing endpoint.
    pub async fn create_sharing_profile(
        &self,
        principal: &Principal,
        input: CreateToken,
        request_base: &str,
    ) -> Result<(SharingProfile, AuditFacts), AppError> {
        let (created, mut facts) = self.create_personal_token(principal, input).await?;
        facts.columns = facts.columns.map(|c| format!("sharing profile: {c}"));
        let profile = SharingProfile {
            share_credentials_version: 1,
            endpoint: format!("{}{}", self.reachable_at(request_base), self.sharing.prefix),
            bearer_token: created.token,
            expiration_time: created.info.expires_at,
        };
        Ok((profile, facts))
    }

    /// The shares the caller sees: [`SHARE`], always (it may hold no table).
    pub fn sharing_shares(&self) -> Vec<String> {
        vec![SHARE.to_owned()]
    }

    /// The share, if it exists; otherwise the protocol's "not found".
    pub fn sharing_share(&self, share: &str) -> Result<String, AppError> {
        (share == SHARE)
            .then(|| SHARE.to_owned())
            .ok_or(AppError::NotFound)
    }

    /// The tables of the share the caller sees, optionally of one schema (domain):
    /// exactly [`Core::visible_datasets`]. An unknown share is "not found".
    pub fn sharing_tables(
        &self,
        principal: &Principal,
        share: &str,
        schema: Option<&str>,
    ) -> Result<Vec<SharedTable>, AppError> {
        self.sharing_share(share)?;
        Ok(self
            .visible_datasets(principal)
            .iter()
            .map(|d| shared_table(d))
            .filter(|t| schema.is_none_or(|s| t.schema == s))
            .collect())
    }

    /// The schemas (domains) of the caller's visible tables. A schema exists for a
    /// caller only when it holds a table they see.
    pub fn sharing_schemas(
        &self,
        principal: &Principal,
        share: &str,
    ) -> Result<Vec<String>, AppError> {
        let mut schemas: Vec<String> = self
            .sharing_tables(principal, share, None)?
            .into_iter()
            .map(|t| t.schema)
            .collect();
        schemas.dedup();
        schemas.sort();
        schemas.dedup();
        Ok(schemas)
    }

    /// The tables of one schema; a schema the caller sees no table of is "not found",
    /// exactly like one that does not exist.
    pub fn sharing_schema_tables(
        &self,
        principal: &Principal,
        share: &str,
        schema: &str,
    ) -> Result<Vec<SharedTable>, AppError> {
        let tables = self.sharing_tables(principal, share, Some(schema))?;
        if tables.is_empty() {
            return Err(AppError::NotFound);
        }
        Ok(tables)
    }

    /// The dataset a table names, if the caller sees it; otherwise "not found", the
    /// same answer as for a table that does not exist.
    pub fn sharing_dataset(
        &self,
        principal: &Principal,
        table: TableRef<'_>,
    ) -> Result<Arc<DatasetDef>, AppError> {
        self.sharing_share(table.share)?;
        self.visible_datasets(principal)
            .into_iter()
            .find(|d| {
                let t = shared_table(d);
                t.schema == table.schema && t.name == table.table
            })
            .ok_or(AppError::NotFound)
    }

    /// The caller's scope of a table: the one access decision ([`Core::scope`]).
    pub(crate) fn sharing_scope(
        &self,
        principal: &Principal,
        table: TableRef<'_>,
    ) -> Result<AccessScope, AppError> {
        let dataset = self.sharing_dataset(principal, table)?;
        self.scope(principal, dataset.id.as_str(), None)
            .map_err(|e| match e {
                // The protocol has no parameter to name one: the profile must.
                AppError::MunicipalityRequired(_) => AppError::MunicipalityRequired(
                    "your credential acts for several municipalities and Delta Sharing cannot name one: use a sharing profile made for one municipality (POST /api/v1/me/sharing-profiles with \"municipality\": \"0101\", or the console's Connect page while acting for it)".into(),
                ),
                e => e,
            })
    }

    /// The table's current version for the caller.
    pub async fn sharing_version(
        &self,
        principal: &Principal,
        table: TableRef<'_>,
    ) -> Result<(u64, AuditFacts), AppError> {
        let scope = self.sharing_scope(principal, table)?;
        let info = self.lake.table_info(&scope).await?;
        let facts = AuditFacts {
            municipality: Some(scope.municipality().to_string()),
            table_version: Some(info.version),
            ..AuditFacts::default()
        };
        Ok((info.version, facts))
    }

    /// The table's metadata for the caller: only their visible columns.
    pub async fn sharing_metadata(
        &self,
        principal: &Principal,
        table: TableRef<'_>,
    ) -> Result<(TableMetadata, AuditFacts), AppError> {
        let scope = self.sharing_scope(principal, table)?;
        let info = self.lake.table_info(&scope).await?;
        let metadata = metadata_of(&scope, info.version);
        let facts = AuditFacts {
            municipality: Some(scope.municipality().to_string()),
            table_version: Some(info.version),
            columns: Some(scope.visible_columns().join(",")),
            ..AuditFacts::default()
        };
        Ok((metadata, facts))
    }
}

/// The metadata of the scope's view of its table at `version`.
pub(crate) fn metadata_of(scope: &AccessScope, version: u64) -> TableMetadata {
    let dataset = scope.dataset();
    TableMetadata {
        version,
        id: shared_table(dataset).id,
        name: dataset.id.to_string(),
        description: dataset.description_en.clone(),
        schema_string: schema_string(scope),
        change_data_feed: true,
    }
}
