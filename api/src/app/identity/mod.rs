//! Identity operations: who a credential belongs to ([`Core::authenticate`]: bearer
//! tokens, personal access tokens, browser sessions, machine clients), personal access
//! tokens ([`personal`]), browser sessions ([`sessions`]) and tokens for machine clients
//! ([`client_credentials`]). The surfaces read the credential off their protocol and
//! hand it here; no rule about credentials lives in a surface.

pub mod client_credentials;
pub mod personal;
pub mod refusal;
pub mod sessions;

use std::collections::{BTreeMap, BTreeSet};

use dap_auth::{CallerKind, Principal};
use dap_openapi::model::identity::Me;
use dap_schema::MunicipalityCode;

use super::{AppError, Core};

pub use client_credentials::{ClientRefusal, TokenGrant};
pub use refusal::TokenRefusal;
pub use sessions::SESSION_PREFIX;

/// The `iss` of principals that came with a personal access token.
pub const PAT_ISSUER: &str = "urn:dap:personal-token";

/// A credential as a surface found it, before it is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A bearer token: a JWT (a broker's or dap's own) or a personal access token.
    Bearer(String),
    /// The password of HTTP Basic (the user name is ignored), for tools that cannot send
    /// a bearer header (Excel's and Power BI's "From OData feed" offer Basic, not
    /// Bearer). Only a personal access token is accepted this way, never a broker's or
    /// dap's own JWT nor any password: a PAT is limited to named datasets, lives at most
    /// as long as its owner chose and is revoked at once.
    BasicPassword(String),
    /// The value of a browser session cookie.
    Session(String),
    /// No credential at all.
    Missing,
    /// A credential that cannot even be read; says why.
    Malformed(&'static str),
    /// A credential the surface refuses to use here; says why (e.g. a session cookie on
    /// a cross-site write).
    Refused(&'static str),
}

impl Core {
    /// The principal a credential belongs to. A machine token stops working as soon as
    /// its client is disabled or expires; a personal token or session as soon as it is
    /// revoked, ends or expires: each is checked in the shared control plane every time.
    pub async fn authenticate(&self, credential: Credential) -> Result<Principal, dap_auth::Error> {
        let principal = match credential {
            Credential::Bearer(token) if token.starts_with(dap_auth::secrets::PAT_PREFIX) => {
                self.personal_token_principal(&token).await
            }
            Credential::Bearer(token) => self.verifier.verify(&token).await,
            Credential::BasicPassword(token)
                if token.starts_with(dap_auth::secrets::PAT_PREFIX) =>
            {
                self.personal_token_principal(&token).await
            }
            Credential::BasicPassword(_) => Err(dap_auth::Error::Claims(
                "HTTP Basic takes a personal access token (dap_pat_…) as the password".into(),
            )),
            Credential::Session(value) => self.session_principal(&value).await,
            Credential::Missing => Err(dap_auth::Error::MissingToken),
            Credential::Malformed(why) => Err(dap_auth::Error::Malformed(why.into())),
            Credential::Refused(why) => Err(dap_auth::Error::Claims(why.into())),
        }?;
        self.still_active(principal).await
    }

    /// Whether the credential behind a principal authenticated earlier (the caller a
    /// handed-out file link remembers) still stands, so that revoking works at once for
    /// what was handed out too: a personal access token not revoked or expired, a
    /// machine client still active. A broker's bearer token has no state to re-check; it
    /// was valid when the link was issued, and links are short-lived.
    pub async fn still_valid(&self, principal: &Principal) -> Result<(), AppError> {
        if principal.issuer == PAT_ISSUER {
            let id = principal.client_id.as_deref().unwrap_or_default();
            let token = self.control.personal_token_by_id(id).await?;
            let now = chrono::Utc::now();
            if !token.is_some_and(|t| t.revoked_at.is_none() && t.expires_at > now) {
                return Err(AppError::InvalidToken(dap_auth::Error::Revoked(
                    "the personal token this link was issued to is revoked or expired".into(),
                )));
            }
        }
        self.still_active(principal.clone())
            .await
            .map(|_| ())
            .map_err(AppError::InvalidToken)
    }

    /// A machine token's client must still be active; its municipality, datasets and
    /// roles come from the client's record, not from the token, so a change to the client
    /// applies to tokens already handed out.
    async fn still_active(&self, principal: Principal) -> Result<Principal, dap_auth::Error> {
        if principal.issuer != dap_auth::dap_issuer::DAP_ISSUER {
            return Ok(principal);
        }
        let client_id = principal.client_id.clone().unwrap_or_default();
        if principal.subject != client_id {
            return Err(dap_auth::Error::Claims(
                "machine token subject and client differ".into(),
            ));
        }
        let client = match self.control.machine_client(&client_id).await {
            Ok(Some((client, _))) if client.is_active(chrono::Utc::now()) => client,
            Ok(Some((client, _))) if !client.disabled => {
                return Err(dap_auth::Error::Expired(
                    "the machine client has expired".into(),
                ));
            }
            Ok(_) => {
                return Err(dap_auth::Error::Revoked(
                    "the machine client is disabled or deleted".into(),
                ));
            }
            Err(e) => {
                return Err(dap_auth::Error::Claims(format!(
                    "client state unavailable: {e}"
                )));
            }
        };
        let municipality = MunicipalityCode::parse(&client.municipality)
            .map_err(|e| dap_auth::Error::Claims(e.to_string()))?;
        let roles = client
            .datasets
            .iter()
            .filter_map(|id| self.catalogue.get(id))
            .map(|d| d.read_role.clone())
            .collect();
        let mut rebuilt = Principal::from_grants(
            principal.subject,
            principal.issuer,
            CallerKind::Machine,
            BTreeMap::from([(municipality, roles)]),
            principal.nsis,
        );
        rebuilt.client_id = Some(client.client_id);
        rebuilt.datasets = Some(client.datasets.into_iter().collect());
        Ok(rebuilt)
    }
}

/// Rebuilds a principal kept in the control plane (personal token or session).
fn stored_principal(
    subject: String,
    issuer: String,
    grants: &str,
    nsis: &str,
    constraints: Option<&str>,
) -> Result<Principal, dap_auth::Error> {
    let corrupt = || dap_auth::Error::Claims("stored grants are corrupt".into());
    let grants: BTreeMap<String, BTreeSet<String>> =
        serde_json::from_str(grants).map_err(|_| corrupt())?;
    let grants = grants
        .into_iter()
        .filter_map(|(m, r)| MunicipalityCode::parse(&m).ok().map(|m| (m, r)))
        .collect();
    let nsis = nsis.parse().map_err(|_| corrupt())?;
    let mut principal = Principal::from_grants(subject, issuer, CallerKind::User, grants, nsis);
    principal.restore_constraints(constraints)?;
    Ok(principal)
}

/// The caller as dap shows it to them.
pub fn me(principal: &Principal) -> Me {
    Me {
        grants: principal
            .grants
            .iter()
            .map(|(m, r)| (m.to_string(), r.clone()))
            .collect(),
        kind: principal.kind.as_str().into(),
        assurance_level: principal.nsis.to_string(),
        datasets: principal.datasets.clone(),
        subject: principal.subject.clone(),
        issuer: principal.issuer.clone(),
    }
}
