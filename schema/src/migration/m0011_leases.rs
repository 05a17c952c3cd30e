//! Leases: a job that one of several replicas should run at a time (table maintenance,
//! audit pruning) is run by the replica holding its lease. A lease expires, so a replica
//! that died does not hold it for ever.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Leases {
    Table,
    Name,
    Holder,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Leases::Table)
                    .if_not_exists()
                    .col(string_len(Leases::Name, 100))
                    .col(string_len(Leases::Holder, 200))
                    .col(timestamp_with_time_zone(Leases::ExpiresAt))
                    .primary_key(Index::create().col(Leases::Name))
                    .to_owned(),
            )
            .await
    }
}
