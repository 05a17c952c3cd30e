use sea_orm::entity::prelude::*;

/// What a municipality's IT administration decided for its own municipality.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "municipality_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub municipality: String,
    /// Comma-separated dataset ids switched off for the municipality.
    #[sea_orm(column_type = "Text")]
    pub disabled_datasets: String,
    /// NSIS level required for every dataset of the municipality, when higher than the
    /// dataset's own.
    pub min_nsis: Option<String>,
    pub updated_at: DateTimeUtc,
    pub updated_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
