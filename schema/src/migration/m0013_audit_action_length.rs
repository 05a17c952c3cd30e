//! An audit record's action is `METHOD /route/{pattern}`, and routes of the Delta Sharing
//! protocol are longer than the 64 characters the column first had (`POST
//! /delta-sharing/shares/{share}/schemas/{schema}/tables/{table}/query` is 71): on
//! PostgreSQL such a record could not be written, so the request failed. The column
//! takes 255 now, and every bounded field is also cut to its column's length before it
//! is hashed and written (see `audit_chain`). SQLite does not enforce lengths, and cannot
//! change a column's type: nothing to do there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Action,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .modify_column(string_len(AuditEvents::Action, 255))
                    .to_owned(),
            )
            .await
    }
}
