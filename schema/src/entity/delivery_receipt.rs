use sea_orm::entity::prelude::*;

/// A delivery applied to a dataset's table: what it changed and at which version.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery_receipts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub dataset: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub municipality: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub delivery_id: String,
    pub mode: String,
    pub table_version: i64,
    pub rows_inserted: i64,
    pub rows_updated: i64,
    pub rows_deleted: i64,
    pub delivered_at: DateTimeUtc,
    pub delivered_by: String,
    /// SHA-256 (hex) of the file with the mode and period; `None` for receipts written
    /// before it was kept.
    pub fingerprint: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
