use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PersonalTokens {
    Table,
    Id,
    TokenHash,
    Issuer,
    Subject,
    Name,
    Grants,
    NsisLevel,
    Datasets,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PersonalTokens::Table)
                    .if_not_exists()
                    .col(string_len(PersonalTokens::Id, 32).primary_key())
                    .col(string_len_uniq(PersonalTokens::TokenHash, 64))
                    .col(string_len(PersonalTokens::Issuer, 512))
                    .col(string_len(PersonalTokens::Subject, 512))
                    .col(string_len(PersonalTokens::Name, 128))
                    .col(text(PersonalTokens::Grants))
                    .col(string_len(PersonalTokens::NsisLevel, 16))
                    .col(text(PersonalTokens::Datasets))
                    .col(timestamp_with_time_zone(PersonalTokens::CreatedAt))
                    .col(timestamp_with_time_zone(PersonalTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(PersonalTokens::RevokedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
