use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub occurred_at: DateTimeUtc,
    pub request_id: String,
    pub action: String,
    pub subject: Option<String>,
    pub caller_kind: Option<String>,
    pub nsis_level: Option<String>,
    pub municipality: Option<String>,
    pub dataset: Option<String>,
    pub table_version: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub columns: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub filter: Option<String>,
    pub rows_returned: Option<i64>,
    pub outcome: String,
    pub reason: Option<String>,
    pub duration_ms: i64,
    pub source_addr: Option<String>,
    /// OAuth client id (machine client, personal token id), when there was one.
    pub client_id: Option<String>,
    /// Position in the hash chain (1, 2, …); gaps mean removed records.
    #[sea_orm(unique)]
    pub seq: i64,
    /// The previous record's hash (or the checkpoint's, or all zeros for the first).
    pub prev_hash: String,
    /// SHA-256 over `prev_hash`, `seq` and the record's canonical form (hex).
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
