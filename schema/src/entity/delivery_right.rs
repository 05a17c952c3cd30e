use sea_orm::entity::prelude::*;

/// The caller (`grantee_issuer`, `grantee_subject`) may deliver `dataset` for `municipality`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery_rights")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub dataset: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub municipality: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub grantee_issuer: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub grantee_subject: String,
    pub granted_at: DateTimeUtc,
    pub granted_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
