use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "personal_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// SHA-256 of the token (hex); the token itself is never stored.
    #[sea_orm(unique)]
    pub token_hash: String,
    pub issuer: String,
    pub subject: String,
    pub name: String,
    /// JSON: municipality code → role short names, as the owner held them at creation.
    #[sea_orm(column_type = "Text")]
    pub grants: String,
    pub nsis_level: String,
    /// Comma-separated dataset ids the token may read.
    #[sea_orm(column_type = "Text")]
    pub datasets: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    /// JSON: the owner's data constraints at creation (see `dap_auth::Principal`).
    #[sea_orm(column_type = "Text", nullable)]
    pub constraints: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
