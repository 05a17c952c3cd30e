//! Deliveries: who may deliver to which dataset for a municipality, and the receipt of
//! every delivery applied (one per dataset, municipality and delivery id).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DeliveryRights {
    Table,
    Dataset,
    Municipality,
    GranteeIssuer,
    GranteeSubject,
    GrantedAt,
    GrantedBy,
}

#[derive(DeriveIden)]
enum DeliveryReceipts {
    Table,
    Dataset,
    Municipality,
    DeliveryId,
    Mode,
    TableVersion,
    RowsInserted,
    RowsUpdated,
    RowsDeleted,
    DeliveredAt,
    DeliveredBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DeliveryRights::Table)
                    .if_not_exists()
                    .col(string_len(DeliveryRights::Dataset, 130))
                    .col(string_len(DeliveryRights::Municipality, 4))
                    .col(string_len(DeliveryRights::GranteeIssuer, 512))
                    .col(string_len(DeliveryRights::GranteeSubject, 512))
                    .col(timestamp_with_time_zone(DeliveryRights::GrantedAt))
                    .col(string_len(DeliveryRights::GrantedBy, 512))
                    .primary_key(
                        Index::create()
                            .col(DeliveryRights::Dataset)
                            .col(DeliveryRights::Municipality)
                            .col(DeliveryRights::GranteeIssuer)
                            .col(DeliveryRights::GranteeSubject),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DeliveryReceipts::Table)
                    .if_not_exists()
                    .col(string_len(DeliveryReceipts::Dataset, 130))
                    .col(string_len(DeliveryReceipts::Municipality, 4))
                    .col(string_len(DeliveryReceipts::DeliveryId, 128))
                    .col(string_len(DeliveryReceipts::Mode, 16))
                    .col(big_integer(DeliveryReceipts::TableVersion))
                    .col(big_integer(DeliveryReceipts::RowsInserted))
                    .col(big_integer(DeliveryReceipts::RowsUpdated))
                    .col(big_integer(DeliveryReceipts::RowsDeleted))
                    .col(timestamp_with_time_zone(DeliveryReceipts::DeliveredAt))
                    .col(string_len(DeliveryReceipts::DeliveredBy, 512))
                    .primary_key(
                        Index::create()
                            .col(DeliveryReceipts::Dataset)
                            .col(DeliveryReceipts::Municipality)
                            .col(DeliveryReceipts::DeliveryId),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
