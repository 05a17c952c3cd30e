use sea_orm::entity::prelude::*;

/// Municipality `grantor` lets organisation `grantee_cvr` read `datasets` until `valid_until`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delegations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub grantor: String,
    pub grantee_cvr: String,
    /// Comma-separated dataset ids.
    #[sea_orm(column_type = "Text")]
    pub datasets: String,
    pub valid_until: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub created_by: String,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
