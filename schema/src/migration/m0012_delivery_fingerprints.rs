//! A delivery receipt keeps the fingerprint of what was delivered (the file's SHA-256
//! with the mode and period), so that another delivery sent under a used delivery id is
//! refused instead of answered with the first one's receipt. Receipts of before have
//! none; for them the mode stored beside the id is compared.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DeliveryReceipts {
    Table,
    Fingerprint,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(DeliveryReceipts::Table)
                    .add_column(string_len_null(DeliveryReceipts::Fingerprint, 64))
                    .to_owned(),
            )
            .await
    }
}
