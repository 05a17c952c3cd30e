use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Datasets {
    Table,
    Id,
    Domain,
    TitleDa,
    TitleEn,
    DescriptionDa,
    DescriptionEn,
    Location,
    TenantColumn,
    ReadRole,
    MinNsis,
    KeyColumns,
}

#[derive(DeriveIden)]
enum DatasetColumns {
    Table,
    DatasetId,
    Name,
    Position,
    DataType,
    Classification,
    Description,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    OccurredAt,
    RequestId,
    Action,
    Subject,
    CallerKind,
    NsisLevel,
    Municipality,
    Dataset,
    TableVersion,
    Columns,
    Filter,
    RowsReturned,
    Outcome,
    Reason,
    DurationMs,
    SourceAddr,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Datasets::Table)
                    .if_not_exists()
                    .col(string_len(Datasets::Id, 130).primary_key())
                    .col(string_len(Datasets::Domain, 64))
                    .col(string(Datasets::TitleDa))
                    .col(string(Datasets::TitleEn))
                    .col(text(Datasets::DescriptionDa))
                    .col(text(Datasets::DescriptionEn))
                    .col(string_len(Datasets::Location, 1024))
                    .col(string_len(Datasets::TenantColumn, 128))
                    .col(string_len(Datasets::ReadRole, 128))
                    .col(string_len(Datasets::MinNsis, 16))
                    .col(string_len(Datasets::KeyColumns, 1024))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DatasetColumns::Table)
                    .if_not_exists()
                    .col(string_len(DatasetColumns::DatasetId, 130))
                    .col(string_len(DatasetColumns::Name, 128))
                    .col(integer(DatasetColumns::Position))
                    .col(string_len(DatasetColumns::DataType, 32))
                    .col(string_len(DatasetColumns::Classification, 16))
                    .col(text(DatasetColumns::Description))
                    .primary_key(
                        Index::create()
                            .col(DatasetColumns::DatasetId)
                            .col(DatasetColumns::Name),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DatasetColumns::Table, DatasetColumns::DatasetId)
                            .to(Datasets::Table, Datasets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .if_not_exists()
                    .col(big_pk_auto(AuditEvents::Id))
                    .col(timestamp_with_time_zone(AuditEvents::OccurredAt))
                    .col(string_len(AuditEvents::RequestId, 64))
                    .col(string_len(AuditEvents::Action, 64))
                    .col(string_null(AuditEvents::Subject))
                    .col(string_len_null(AuditEvents::CallerKind, 32))
                    .col(string_len_null(AuditEvents::NsisLevel, 16))
                    .col(string_len_null(AuditEvents::Municipality, 8))
                    .col(string_len_null(AuditEvents::Dataset, 130))
                    .col(big_integer_null(AuditEvents::TableVersion))
                    .col(text_null(AuditEvents::Columns))
                    .col(text_null(AuditEvents::Filter))
                    .col(big_integer_null(AuditEvents::RowsReturned))
                    .col(string_len(AuditEvents::Outcome, 16))
                    .col(string_len_null(AuditEvents::Reason, 64))
                    .col(big_integer(AuditEvents::DurationMs))
                    .col(string_len_null(AuditEvents::SourceAddr, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_events_municipality_time")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::Municipality)
                    .col(AuditEvents::OccurredAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
