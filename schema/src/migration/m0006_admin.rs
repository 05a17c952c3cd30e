//! IT administration: per-municipality settings and delegations between organisations.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MunicipalitySettings {
    Table,
    Municipality,
    DisabledDatasets,
    MinNsis,
    UpdatedAt,
    UpdatedBy,
}

#[derive(DeriveIden)]
enum Delegations {
    Table,
    Id,
    Grantor,
    GranteeCvr,
    Datasets,
    ValidUntil,
    CreatedAt,
    CreatedBy,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MunicipalitySettings::Table)
                    .if_not_exists()
                    .col(string_len(MunicipalitySettings::Municipality, 4).primary_key())
                    .col(text(MunicipalitySettings::DisabledDatasets))
                    .col(string_len_null(MunicipalitySettings::MinNsis, 16))
                    .col(timestamp_with_time_zone(MunicipalitySettings::UpdatedAt))
                    .col(string_len(MunicipalitySettings::UpdatedBy, 512))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Delegations::Table)
                    .if_not_exists()
                    .col(string_len(Delegations::Id, 32).primary_key())
                    .col(string_len(Delegations::Grantor, 4))
                    .col(string_len(Delegations::GranteeCvr, 8))
                    .col(text(Delegations::Datasets))
                    .col(timestamp_with_time_zone(Delegations::ValidUntil))
                    .col(timestamp_with_time_zone(Delegations::CreatedAt))
                    .col(string_len(Delegations::CreatedBy, 512))
                    .col(timestamp_with_time_zone_null(Delegations::RevokedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
