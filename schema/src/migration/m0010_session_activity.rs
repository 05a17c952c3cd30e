//! Browser sessions remember when they were last used, so a session left idle ends
//! before its absolute lifetime does (sessions started before have no last use yet: their
//! start counts), and the organisations (CVR → roles) of the login, so a delegation to the
//! person's organisation opens the same in the browser as with their token.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    LastSeenAt,
    Organisations,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        let columns = [
            timestamp_with_time_zone_null(Sessions::LastSeenAt),
            text_null(Sessions::Organisations),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
