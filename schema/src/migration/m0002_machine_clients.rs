use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MachineClients {
    Table,
    ClientId,
    Municipality,
    Datasets,
    SecretHash,
    ExpiresAt,
    Disabled,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    PrivateKey,
    CreatedAt,
    RetiredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MachineClients::Table)
                    .if_not_exists()
                    .col(string_len(MachineClients::ClientId, 64).primary_key())
                    .col(string_len(MachineClients::Municipality, 8))
                    .col(text(MachineClients::Datasets))
                    .col(string_len(MachineClients::SecretHash, 256))
                    .col(timestamp_with_time_zone(MachineClients::ExpiresAt))
                    .col(boolean(MachineClients::Disabled))
                    .col(timestamp_with_time_zone(MachineClients::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .if_not_exists()
                    .col(string_len(SigningKeys::Kid, 64).primary_key())
                    .col(text(SigningKeys::PrivateKey))
                    .col(timestamp_with_time_zone(SigningKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(SigningKeys::RetiredAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
