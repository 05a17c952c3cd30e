use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// SHA-256 of the session cookie value (hex); the value itself is never stored.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_hash: String,
    pub issuer: String,
    pub subject: String,
    /// JSON: municipality code → role short names, from the login's access token.
    #[sea_orm(column_type = "Text")]
    pub grants: String,
    /// JSON: data constraints from the login's access token.
    #[sea_orm(column_type = "Text", nullable)]
    pub constraints: Option<String>,
    pub nsis_level: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// When the session was last used (its start until then): the idle timeout counts
    /// from here.
    pub last_seen_at: Option<DateTimeUtc>,
    /// JSON: organisation (CVR) → role short names, from the login's privilege list (a
    /// delegation to an organisation opens datasets by these).
    #[sea_orm(column_type = "Text", nullable)]
    pub organisations: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
