//! Machine clients get a name (unique within their municipality) and an optional
//! description, so listings say what each client is for. Existing clients are named
//! after their id.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MachineClients {
    Table,
    ClientId,
    Municipality,
    Name,
    Description,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement; a NOT NULL column needs a default.
        let columns = [
            string_len(MachineClients::Name, 100).default("").to_owned(),
            text_null(MachineClients::Description),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(MachineClients::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .exec_stmt(
                Query::update()
                    .table(MachineClients::Table)
                    .value(MachineClients::Name, Expr::col(MachineClients::ClientId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("machine_clients_municipality_name")
                    .table(MachineClients::Table)
                    .col(MachineClients::Municipality)
                    .col(MachineClients::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Database, Statement};
    use sea_orm_migration::MigratorTrait;

    use crate::migration::Migrator;

    #[tokio::test]
    async fn clients_registered_before_get_their_id_as_name_and_names_are_unique() {
        let db = Database::connect("sqlite::memory:").await.expect("sqlite");
        Migrator::up(&db, Some(7)).await.expect("up to m0007");
        db.execute_unprepared(
            "INSERT INTO machine_clients (client_id, municipality, datasets, secret_hash, \
             expires_at, disabled, created_at) VALUES ('dap-old', '0101', 'oekonomi.posteringer', \
             'x', '2030-01-01T00:00:00Z', false, '2026-01-01T00:00:00Z')",
        )
        .await
        .expect("a client of before");
        Migrator::up(&db, None).await.expect("m0008");
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT name, description FROM machine_clients WHERE client_id = 'dap-old'",
            ))
            .await
            .expect("query")
            .expect("row");
        assert_eq!(row.try_get::<String>("", "name").expect("name"), "dap-old");
        assert_eq!(
            row.try_get::<Option<String>>("", "description")
                .expect("description"),
            None
        );
        let duplicate = db
            .execute_unprepared(
                "INSERT INTO machine_clients (client_id, municipality, name, datasets, secret_hash, \
                 expires_at, disabled, created_at) VALUES ('dap-new', '0101', 'dap-old', 'x', 'x', \
                 '2030-01-01T00:00:00Z', false, '2026-01-01T00:00:00Z')",
            )
            .await;
        assert!(duplicate.is_err(), "a name is unique within a municipality");
    }
}
