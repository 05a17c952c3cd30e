//! The control-plane store: catalogue and audit log in SQLite or PostgreSQL via sea-orm.

use std::collections::HashMap;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectOptions, Database, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::entity::{audit_event, dataset, dataset_column};
use crate::migration::Migrator;
use crate::{ColumnDef, DatasetDef, DatasetId, Error, Result};

/// Handle on the control-plane database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ControlPlane {
    db: DatabaseConnection,
}

impl ControlPlane {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://…`) and runs pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let mut options = ConnectOptions::new(url.to_owned());
        // SQL statements can carry filter values; keep them out of the logs.
        options.sqlx_logging(false).max_connections(16);
        let db = Database::connect(options).await?;
        Migrator::up(&db, None).await?;
        Ok(Self { db })
    }

    /// The underlying connection, for tests and tools.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        Ok(self.db.ping().await?)
    }

    /// Inserts or replaces a dataset and its columns in one transaction.
    pub async fn upsert_dataset(&self, def: &DatasetDef) -> Result<()> {
        let txn = self.db.begin().await?;
        dataset_column::Entity::delete_many()
            .filter(dataset_column::Column::DatasetId.eq(def.id.as_str()))
            .exec(&txn)
            .await?;
        dataset::Entity::delete_by_id(def.id.as_str().to_owned())
            .exec(&txn)
            .await?;
        dataset::Entity::insert(dataset::ActiveModel {
            id: Set(def.id.as_str().to_owned()),
            domain: Set(def.domain.clone()),
            title_da: Set(def.title_da.clone()),
            title_en: Set(def.title_en.clone()),
            description_da: Set(def.description_da.clone()),
            description_en: Set(def.description_en.clone()),
            location: Set(def.location.clone()),
            tenant_column: Set(def.tenant_column.clone()),
            read_role: Set(def.read_role.clone()),
            min_nsis: Set(def.min_nsis.as_str().to_owned()),
            key_columns: Set(def.key_columns.join(",")),
        })
        .exec(&txn)
        .await?;
        let columns = def
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| dataset_column::ActiveModel {
                dataset_id: Set(def.id.as_str().to_owned()),
                name: Set(c.name.clone()),
                position: Set(i32::try_from(i).unwrap_or(i32::MAX)),
                data_type: Set(c.data_type.to_string()),
                classification: Set(c.classification.as_str().to_owned()),
                description: Set(c.description.clone()),
                constraint_uri: Set(c.constraint.clone()),
            });
        dataset_column::Entity::insert_many(columns)
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Removes a dataset and its columns in one transaction. Returns whether it existed.
    /// Grants that name the dataset (machine clients, personal tokens, delegations,
    /// settings) are left as they are: they open nothing while no dataset has the id.
    pub async fn delete_dataset(&self, id: &DatasetId) -> Result<bool> {
        let txn = self.db.begin().await?;
        // Columns first: SQLite enforces the foreign key only with `PRAGMA foreign_keys`.
        dataset_column::Entity::delete_many()
            .filter(dataset_column::Column::DatasetId.eq(id.as_str()))
            .exec(&txn)
            .await?;
        let deleted = dataset::Entity::delete_by_id(id.as_str().to_owned())
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(deleted.rows_affected > 0)
    }

    /// Loads the whole catalogue, datasets ordered by id and columns by position.
    pub async fn load_catalogue(&self) -> Result<Vec<DatasetDef>> {
        let datasets = dataset::Entity::find()
            .order_by_asc(dataset::Column::Id)
            .all(&self.db)
            .await?;
        let mut columns: HashMap<String, Vec<dataset_column::Model>> = HashMap::new();
        for c in dataset_column::Entity::find()
            .order_by_asc(dataset_column::Column::Position)
            .all(&self.db)
            .await?
        {
            columns.entry(c.dataset_id.clone()).or_default().push(c);
        }
        datasets
            .into_iter()
            .map(|d| {
                let cols = columns.remove(&d.id).unwrap_or_default();
                to_def(d, cols)
            })
            .collect()
    }

    /// Audit records with the given request id, oldest first.
    pub async fn audit_by_request(&self, request_id: &str) -> Result<Vec<audit_event::Model>> {
        Ok(audit_event::Entity::find()
            .filter(audit_event::Column::RequestId.eq(request_id))
            .order_by_asc(audit_event::Column::Id)
            .all(&self.db)
            .await?)
    }
}

fn to_def(d: dataset::Model, cols: Vec<dataset_column::Model>) -> Result<DatasetDef> {
    let invalid = |reason: String| Error::InvalidCatalogue {
        dataset: d.id.clone(),
        reason,
    };
    let columns = cols
        .into_iter()
        .map(|c| {
            Ok(ColumnDef {
                data_type: c
                    .data_type
                    .parse()
                    .map_err(|e: Error| invalid(e.to_string()))?,
                classification: c
                    .classification
                    .parse()
                    .map_err(|e: Error| invalid(e.to_string()))?,
                name: c.name,
                description: c.description,
                constraint: c.constraint_uri,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(DatasetDef {
        id: DatasetId::parse(&d.id)?,
        min_nsis: d
            .min_nsis
            .parse()
            .map_err(|e: Error| invalid(e.to_string()))?,
        key_columns: d
            .key_columns
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        domain: d.domain,
        title_da: d.title_da,
        title_en: d.title_en,
        description_da: d.description_da,
        description_en: d.description_en,
        location: d.location,
        tenant_column: d.tenant_column,
        read_role: d.read_role,
        columns,
    })
}
