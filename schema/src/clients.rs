//! Machine clients and dap's own signing keys in the control plane.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};

use crate::entity::{machine_client, signing_key};
use crate::{ControlPlane, Result};

/// A registered machine client (the secret hash is not part of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineClient {
    pub client_id: String,
    pub municipality: String,
    /// What the client is for; unique within the municipality.
    pub name: String,
    pub description: Option<String>,
    pub datasets: Vec<String>,
    pub expires_at: DateTime<Utc>,
    pub disabled: bool,
    /// Public key (JWK JSON) when the client authenticates with `private_key_jwt`.
    pub public_key: Option<String>,
}

impl From<&machine_client::Model> for MachineClient {
    fn from(m: &machine_client::Model) -> Self {
        Self {
            client_id: m.client_id.clone(),
            municipality: m.municipality.clone(),
            name: m.name.clone(),
            description: m.description.clone(),
            datasets: m
                .datasets
                .split(',')
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect(),
            expires_at: m.expires_at,
            disabled: m.disabled,
            public_key: m.public_key.clone(),
        }
    }
}

impl MachineClient {
    /// True when the client may get and use tokens at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        !self.disabled && self.expires_at > now
    }
}

impl ControlPlane {
    /// Registers a client with an already hashed secret (a client that authenticates
    /// only with `private_key_jwt` gets a hash nothing verifies against).
    pub async fn insert_machine_client(
        &self,
        client: &MachineClient,
        secret_hash: &str,
    ) -> Result<()> {
        machine_client::ActiveModel {
            client_id: Set(client.client_id.clone()),
            municipality: Set(client.municipality.clone()),
            name: Set(client.name.clone()),
            description: Set(client.description.clone()),
            datasets: Set(client.datasets.join(",")),
            secret_hash: Set(secret_hash.to_owned()),
            expires_at: Set(client.expires_at),
            disabled: Set(client.disabled),
            created_at: Set(Utc::now()),
            public_key: Set(client.public_key.clone()),
        }
        .insert(self.connection())
        .await?;
        Ok(())
    }

    /// The client and its secret hash.
    pub async fn machine_client(&self, client_id: &str) -> Result<Option<(MachineClient, String)>> {
        Ok(machine_client::Entity::find_by_id(client_id.to_owned())
            .one(self.connection())
            .await?
            .map(|m| (MachineClient::from(&m), m.secret_hash)))
    }

    /// The client of `municipality` called `name`, if any.
    pub async fn client_named(
        &self,
        municipality: &str,
        name: &str,
    ) -> Result<Option<MachineClient>> {
        Ok(machine_client::Entity::find()
            .filter(machine_client::Column::Municipality.eq(municipality))
            .filter(machine_client::Column::Name.eq(name))
            .one(self.connection())
            .await?
            .map(|m| MachineClient::from(&m)))
    }

    /// Every municipality's machine clients (the server's own CLI), newest first, with
    /// their creation time.
    pub async fn all_clients(&self) -> Result<Vec<(MachineClient, DateTime<Utc>)>> {
        Ok(machine_client::Entity::find()
            .order_by_asc(machine_client::Column::Municipality)
            .order_by_desc(machine_client::Column::CreatedAt)
            .all(self.connection())
            .await?
            .iter()
            .map(|m| (MachineClient::from(m), m.created_at))
            .collect())
    }

    /// Disables a client: its tokens stop working at their next use.
    pub async fn disable_machine_client(&self, client_id: &str) -> Result<bool> {
        let result = machine_client::Entity::update_many()
            .col_expr(
                machine_client::Column::Disabled,
                sea_orm::sea_query::Expr::value(true),
            )
            .filter(machine_client::Column::ClientId.eq(client_id))
            .exec(self.connection())
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// Signing keys still in use (newest first).
    pub async fn signing_keys(&self) -> Result<Vec<signing_key::Model>> {
        Ok(signing_key::Entity::find()
            .order_by_desc(signing_key::Column::CreatedAt)
            .all(self.connection())
            .await?)
    }

    /// Adds a signing key and retires the previous ones (they still verify).
    pub async fn rotate_signing_key(&self, kid: &str, private_key: &str) -> Result<()> {
        let txn = self.connection().begin().await?;
        let now = Utc::now();
        signing_key::Entity::update_many()
            .col_expr(
                signing_key::Column::RetiredAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(signing_key::Column::RetiredAt.is_null())
            .exec(&txn)
            .await?;
        signing_key::ActiveModel {
            kid: Set(kid.to_owned()),
            private_key: Set(private_key.to_owned()),
            created_at: Set(now),
            retired_at: Set(None),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(())
    }
}
