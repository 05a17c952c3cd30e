use sea_orm::entity::prelude::*;

/// Where a retention prune cut the chain: the last pruned record's `seq` and hash, so
/// the first remaining record still verifies.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_checkpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub hash: String,
    pub pruned_at: DateTimeUtc,
    pub records_pruned: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
