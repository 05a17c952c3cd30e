use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "machine_clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    pub municipality: String,
    /// What the client is for; unique within the municipality.
    pub name: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    /// Comma-separated dataset ids the client may read.
    #[sea_orm(column_type = "Text")]
    pub datasets: String,
    /// Argon2id PHC string of the client secret; the secret itself is never stored.
    pub secret_hash: String,
    pub expires_at: DateTimeUtc,
    pub disabled: bool,
    pub created_at: DateTimeUtc,
    /// Public key (JWK JSON) for `private_key_jwt` client authentication.
    #[sea_orm(column_type = "Text", nullable)]
    pub public_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
