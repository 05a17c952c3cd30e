//! Machine clients of the administrator's municipality. The same operations serve the
//! `dap client` command on the server ([`register_for`], [`list_within`],
//! [`rotate_within`], [`change_within`]), which has no principal: it acts as the local
//! operator, for any municipality ([`Within::Any`]).

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
/// Longest name and description of a client, in characters.
pub const MAX_NAME: usize = 100;
pub const MAX_DESCRIPTION: usize = 1000;

/// Whose clients an operation may touch: one municipality's (an administrator acts
/// within the municipality they administer) or any (the server's own CLI).
#[derive(Debug, Clone, Copy)]
pub enum Within<'a> {
    Municipality(&'a str),
    Any,
}

impl Within<'_> {
    /// The municipality `id` belongs to, if it is within reach: another municipality's
    /// client is [`AppError::NotFound`], like one that does not exist.
    async fn client(self, control: &ControlPlane, id: &str) -> Result<MachineClient, AppError> {
        let found = control.machine_client(id).await?.map(|(c, _)| c);
        match (self, found) {
            (Within::Municipality(m), Some(c)) if c.municipality == m => Ok(c),
            (Within::Any, Some(c)) => Ok(c),
            _ => Err(AppError::NotFound),
        }
    }
}

/// A client's name: trimmed, 1 to [`MAX_NAME`] characters, no control characters.
fn client_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "name",
            format!(
                "name must be 1 to {MAX_NAME} characters without control characters and say what the \
             client is for, e.g. \"name\": \"Nightly load into the data warehouse\""
            ),
        ));
    }
    Ok(name.to_owned())
}

fn client_description(description: Option<&str>) -> Result<Option<String>, AppError> {
    let Some(text) = description.map(str::trim).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(AppError::invalid(
            "description",
            format!("description must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(Some(text.to_owned()))
}

/// A machine client as administrators see it (never its secret).
pub fn client_info(c: &MachineClient, created_at: Option<DateTime<Utc>>) -> ClientInfo {
    ClientInfo {
        client_id: c.client_id.clone(),
        name: c.name.clone(),
        description: c.description.clone(),
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
/// that they may): a name no other client of the municipality has, datasets in the
/// catalogue (`is_known`), 1 to 730 days, a secret or a public key. The secret is returned once; only its hash is stored. `input.municipality`
/// is not looked at here.
pub async fn register_for(
    control: &ControlPlane,
    is_known: impl Fn(&str) -> bool,
    municipality: &MunicipalityCode,
    input: NewClient,
) -> Result<(CreatedClient, AuditFacts), AppError> {
    let name = client_name(&input.name)?;
    let description = client_description(input.description.as_deref())?;
    let datasets = known_datasets("datasets", is_known, &input.datasets)?;
    let days = input.expires_in_days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(AppError::invalid(
            "expires_in_days",
            format!("field 'expires_in_days' must be between 1 and {MAX_DAYS}"),
        ));
    }
    let public_key = match &input.public_key {
        Some(jwk) => Some(
            dap_auth::client_assertion::public_jwk(&jwk.to_string()).map_err(|e| {
                let why = match &e {
                    dap_auth::Error::Claims(why) => why.trim_start_matches("public key: ").to_owned(),
                    other => other.to_string(),
                };
                AppError::invalid("public_key", format!(
                    "field 'public_key': {why}; give the client's public key as a JWK object, e.g. {{\"kty\": \"OKP\", \"crv\": \"Ed25519\", \"x\": \"...\"}}"
                ))
            })?,
        ),
        None => None,
    };
    if control
        .client_named(municipality.as_str(), &name)
        .await?
        .is_some()
    {
        return Err(AppError::invalid(
            "name",
            format!(
                "{municipality} already has a client named '{name}': names are unique within a \
             municipality; choose another, e.g. '{name} 2'"
            ),
        ));
    }
    let client = MachineClient {
        client_id: new_id("dap-"),
        municipality: municipality.to_string(),
        name,
        description,
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
            "registered machine client {} ('{}') for {}",
            client.client_id,
            client.name,
            client.datasets.join(",")
        ),
    );
    let created = CreatedClient {
        client: client_info(&client, Some(Utc::now())),
        client_secret: secret,
    };
    Ok((created, facts))
}

/// The machine clients `within` reach, newest first (by municipality for
/// [`Within::Any`]).
pub async fn list_within(
    control: &ControlPlane,
    within: Within<'_>,
) -> Result<(ClientList, AuditFacts), AppError> {
    let (clients, facts) = match within {
        Within::Municipality(m) => {
            let clients = control.clients_of(m).await?;
            let facts = listed(m, clients.len());
            (clients, facts)
        }
        Within::Any => {
            let clients = control.all_clients().await?;
            let facts = AuditFacts {
                rows_returned: Some(clients.len()),
                ..AuditFacts::default()
            };
            (clients, facts)
        }
    };
    let clients = clients
        .iter()
        .map(|(c, at)| client_info(c, Some(*at)))
        .collect();
    Ok((ClientList { clients }, facts))
}

/// Gives a client a new secret; the old one stops working at once. A client with a
/// public key (`private_key_jwt`) has no secret to rotate.
pub async fn rotate_within(
    control: &ControlPlane,
    within: Within<'_>,
    id: &str,
) -> Result<(RotatedSecret, AuditFacts), AppError> {
    let client = within.client(control, id).await?;
    if client.public_key.is_some() {
        return Err(AppError::InvalidParameter(
            "this client authenticates with private_key_jwt; register a new key instead".into(),
        ));
    }
    let secret = new_secret();
    let hash = hash_secret(&secret).map_err(AppError::internal)?;
    if !control
        .set_client_secret(&client.municipality, id, &hash)
        .await?
    {
        return Err(AppError::NotFound);
    }
    let facts = changed(
        &client.municipality,
        format!("rotated the secret of machine client {id}"),
    );
    let rotated = RotatedSecret {
        client_id: id.to_owned(),
        client_secret: secret,
    };
    Ok((rotated, facts))
}

/// Disables (`delete == false`) or deletes a client; its tokens are refused from the
/// next request on, on every replica.
pub async fn change_within(
    control: &ControlPlane,
    within: Within<'_>,
    id: &str,
    delete: bool,
) -> Result<AuditFacts, AppError> {
    let client = within.client(control, id).await?;
    let m = client.municipality.as_str();
    let done = if delete {
        control.delete_client_of(m, id).await?
    } else {
        control.disable_client_of(m, id).await?
    };
    if !done {
        return Err(AppError::NotFound);
    }
    let verb = if delete { "deleted" } else { "disabled" };
    Ok(changed(m, format!("{verb} machine client {id}")))
}

impl Core {
    /// The machine clients of the administered municipality.
    pub async fn list_clients(
        &self,
        principal: &Principal,
        acting: Option<&str>,
    ) -> Result<(ClientList, AuditFacts), AppError> {
        let m = administered(principal, acting)?;
        list_within(&self.control, Within::Municipality(m.as_str())).await
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
        rotate_within(&self.control, Within::Municipality(m.as_str()), id).await
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
        let facts =
            change_within(&self.control, Within::Municipality(m.as_str()), id, delete).await?;
        Ok(((), facts))
    }
}
