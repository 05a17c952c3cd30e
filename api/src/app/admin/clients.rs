//! Machine clients of the administrator's municipality. Registration is also open to the
//! `dap client` command on the server ([`register_for`], [`disable_any`]), which has no
//! principal: it acts as the local operator.

use chrono::{DateTime, Utc};
use dap_auth::Principal;
use dap_auth::secrets::{NO_SECRET, hash_secret, new_id, new_secret};
use dap_openapi::model::admin::{ClientInfo, ClientList, CreatedClient, NewClient, RotatedSecret};
use dap_schema::{ControlPlane, MachineClient, MunicipalityCode};

use super::{changed, known_datasets, listed, same_municipality};
use crate::app::access::administered;
use crate::app::{AppError, AuditFacts, Core};

/// Longest a client may live, in days; and its default lifetime.
pub const MAX_DAYS: u32 = 730;
pub const DEFAULT_DAYS: u32 = 365;

/// A machine client as administrators see it (never its secret).
pub fn client_info(c: &MachineClient, created_at: Option<DateTime<Utc>>) -> ClientInfo {
    ClientInfo {
        client_id: c.client_id.clone(),
        municipality: c.municipality.clone(),
        datasets: c.datasets.clone(),
        expires_at: c.expires_at,
        disabled: c.disabled,
        auth_method: if c.public_key.is_some() {
            "private_key_jwt".into()
        } else {
            "client_secret_basic".into()
        },
        created_at,
    }
}

/// Registers a machine client of `municipality`, whoever asks (the caller has decided
/// that they may): datasets in the catalogue (`is_known`), 1 to 730 days, a secret or a
/// public key. The secret is returned once; only its hash is stored. `input.municipality`
/// is not looked at here.
pub async fn register_for(
    control: &ControlPlane,
    is_known: impl Fn(&str) -> bool,
    municipality: &MunicipalityCode,
    input: NewClient,
) -> Result<(CreatedClient, AuditFacts), AppError> {
    let datasets = known_datasets(is_known, &input.datasets)?;
    let days = input.expires_in_days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(AppError::InvalidParameter(format!(
            "field 'expires_in_days' must be between 1 and {MAX_DAYS}"
        )));
    }
    let public_key = match &input.public_key {
        Some(jwk) => Some(
            dap_auth::client_assertion::public_jwk(&jwk.to_string()).map_err(|e| {
                let why = match &e {
                    dap_auth::Error::Claims(why) => why.trim_start_matches("public key: ").to_owned(),
                    other => other.to_string(),
                };
                AppError::InvalidParameter(format!(
                    "field 'public_key': {why}; give the client's public key as a JWK object, e.g. {{\"kty\": \"OKP\", \"crv\": \"Ed25519\", \"x\": \"...\"}}"
                ))
            })?,
        ),
        None => None,
    };
    let client = MachineClient {
        client_id: new_id("dap-"),
        municipality: municipality.to_string(),
        datasets,
        expires_at: Utc::now() + chrono::Duration::days(i64::from(days)),
        disabled: false,
        public_key,
    };
    let (secret, hash) = if client.public_key.is_some() {
        (None, NO_SECRET.to_owned())
    } else {
        let secret = new_secret();
        let hash = hash_secret(&secret).map_err(AppError::internal)?;
        (Some(secret), hash)
    };
    control.insert_machine_client(&client, &hash).await?;
    let facts = changed(
        &client.municipality,
        format!(
            "registered machine client {} for {}",
            client.client_id,
            client.datasets.join(",")
        ),
    );
    let created = CreatedClient {
        client: client_info(&client, Some(Utc::now())),
        client_secret: secret,
    };
    Ok((created, facts))
}

/// Disables any municipality's client (the server's own CLI): [`AppError::NotFound`]
/// when there is no such client.
pub async fn disable_any(control: &ControlPlane, client_id: &str) -> Result<AuditFacts, AppError> {
    if !control.disable_machine_client(client_id).await? {
        return Err(AppError::NotFound);
    }
    Ok(AuditFacts {
        columns: Some(format!("disabled machine client {client_id}")),
        ..AuditFacts::default()
    })
}

impl Core {
    /// The machine clients of the administered municipality.
    pub async fn list_clients(
        &self,
        principal: &Principal,
        acting: Option<&str>,
    ) -> Result<(ClientList, AuditFacts), AppError> {
        let m = administered(principal, acting)?;
        let clients = self.control.clients_of(m.as_str()).await?;
        let facts = listed(m.as_str(), clients.len());
        let clients = clients
            .iter()
            .map(|(c, at)| client_info(c, Some(*at)))
            .collect();
        Ok((ClientList { clients }, facts))
    }

    /// Registers a machine client bound to the administered municipality.
    pub async fn register_client(
        &self,
        principal: &Principal,
        acting: Option<&str>,
        input: NewClient,
    ) -> Result<(CreatedClient, AuditFacts), AppError> {
        let m = administered(principal, acting)?;
        same_municipality(input.municipality.as_deref(), m.as_str())?;
        let is_known = |id: &str| self.catalogue.get(id).is_some();
        register_for(&self.control, is_known, &m, input).await
    }

    /// Gives a client of the administered municipality a new secret; the old one stops
    /// working at once.
    pub async fn rotate_client_secret(
        &self,
        principal: &Principal,
        acting: Option<&str>,
        id: &str,
    ) -> Result<(RotatedSecret, AuditFacts), AppError> {
        let m = administered(principal, acting)?;
        let found = self.control.machine_client(id).await?;
        let Some((client, _)) = found.filter(|(c, _)| c.municipality == m.as_str()) else {
            return Err(AppError::NotFound);
        };
        if client.public_key.is_some() {
            return Err(AppError::InvalidParameter(
                "this client authenticates with private_key_jwt; register a new key instead".into(),
            ));
        }
        let secret = new_secret();
        let hash = hash_secret(&secret).map_err(AppError::internal)?;
        if !self
            .control
            .set_client_secret(m.as_str(), id, &hash)
            .await?
        {
            return Err(AppError::NotFound);
        }
        let facts = changed(
            m.as_str(),
            format!("rotated the secret of machine client {id}"),
        );
        let rotated = RotatedSecret {
            client_id: id.to_owned(),
            client_secret: secret,
        };
        Ok((rotated, facts))
    }

    /// Disables (`delete == false`) or deletes a client of the administered
    /// municipality; its tokens are refused from the next request on, on every replica.
    pub async fn change_client(
        &self,
        principal: &Principal,
        acting: Option<&str>,
        id: &str,
        delete: bool,
    ) -> Result<((), AuditFacts), AppError> {
        let m = administered(principal, acting)?;
        let done = if delete {
            self.control.delete_client_of(m.as_str(), id).await?
        } else {
            self.control.disable_client_of(m.as_str(), id).await?
        };
        if !done {
            return Err(AppError::NotFound);
        }
        let verb = if delete { "deleted" } else { "disabled" };
        Ok((
            (),
            changed(m.as_str(), format!("{verb} machine client {id}")),
        ))
    }
}
