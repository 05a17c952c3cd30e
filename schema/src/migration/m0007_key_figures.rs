//! Key-figure definitions: declarative benchmarks across municipalities.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum KeyFigures {
    Table,
    Id,
    Definition,
    UpdatedAt,
    UpdatedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KeyFigures::Table)
                    .if_not_exists()
                    .col(string_len(KeyFigures::Id, 64).primary_key())
                    .col(text(KeyFigures::Definition))
                    .col(timestamp_with_time_zone(KeyFigures::UpdatedAt))
                    .col(string_len(KeyFigures::UpdatedBy, 512))
                    .to_owned(),
            )
            .await
    }
}
