//! Identity: data constraints on columns and tokens, public keys of machine clients
//! (`private_key_jwt`), browser sessions, and used client-assertion ids (replay guard).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DatasetColumns {
    Table,
    ConstraintUri,
}

#[derive(DeriveIden)]
enum PersonalTokens {
    Table,
    Constraints,
}

#[derive(DeriveIden)]
enum MachineClients {
    Table,
    PublicKey,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    IdHash,
    Issuer,
    Subject,
    Grants,
    Constraints,
    NsisLevel,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum UsedAssertions {
    Table,
    Digest,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(DatasetColumns::Table)
                    .add_column(string_len_null(DatasetColumns::ConstraintUri, 512))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PersonalTokens::Table)
                    .add_column(text_null(PersonalTokens::Constraints))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(MachineClients::Table)
                    .add_column(text_null(MachineClients::PublicKey))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .if_not_exists()
                    .col(string_len(Sessions::IdHash, 64).primary_key())
                    .col(string_len(Sessions::Issuer, 512))
                    .col(string_len(Sessions::Subject, 512))
                    .col(text(Sessions::Grants))
                    .col(text_null(Sessions::Constraints))
                    .col(string_len(Sessions::NsisLevel, 16))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UsedAssertions::Table)
                    .if_not_exists()
                    .col(string_len(UsedAssertions::Digest, 64).primary_key())
                    .col(timestamp_with_time_zone(UsedAssertions::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
