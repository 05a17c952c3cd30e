use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "datasets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub domain: String,
    pub title_da: String,
    pub title_en: String,
    #[sea_orm(column_type = "Text")]
    pub description_da: String,
    #[sea_orm(column_type = "Text")]
    pub description_en: String,
    pub location: String,
    pub tenant_column: String,
    pub read_role: String,
    pub min_nsis: String,
    /// Comma-separated key column names.
    pub key_columns: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::dataset_column::Entity")]
    Columns,
}

impl Related<super::dataset_column::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Columns.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
