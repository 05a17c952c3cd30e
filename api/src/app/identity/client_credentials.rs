//! Tokens for machine clients: the OAuth 2 client-credentials grant (RFC 6749 §4.4) with
//! a client secret or a signed assertion (`private_key_jwt`, RFC 7523 §2.2). Every
//! answer is audited, refusals included; without the record there is no token. How a
//! refusal is written on the wire (RFC 6749 §5.2) is the surface's business.

use chrono::Utc;
use dap_auth::client_assertion::ASSERTION_TYPE;
use dap_auth::dap_issuer::MACHINE_TOKEN_SECONDS;
use dap_auth::secrets::verify_secret;
use dap_openapi::model::identity::{TokenRequest, TokenResponse};
use dap_schema::{AuditOutcome, MachineClient};

use crate::app::{Core, RequestContext};

/// A token request as the surface received it.
#[derive(Debug)]
pub struct TokenGrant {
    /// The request's parameters; `None` when they could not be read.
    pub request: Option<TokenRequest>,
    /// Client id and secret from HTTP Basic authentication, if sent.
    pub basic: Option<(String, String)>,
}

/// Why a token request was refused: the OAuth error code, a description for the client,
/// and the reason audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientRefusal {
    /// `invalid_request`, `unsupported_grant_type`, `invalid_client` or `server_error`.
    pub error: &'static str,
    pub description: &'static str,
    pub reason: &'static str,
}

const fn refuse(error: &'static str, description: &'static str) -> ClientRefusal {
    ClientRefusal {
        error,
        description,
        reason: error,
    }
}

const SERVER_ERROR: ClientRefusal = refuse("server_error", "internal error");
const BAD_CLIENT: ClientRefusal = refuse(
    "invalid_client",
    "unknown client, wrong secret, or the client is disabled or expired",
);
const BAD_ASSERTION_REQUEST: ClientRefusal = refuse(
    "invalid_request",
    "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer with a client_assertion, and no other client authentication",
);

/// A refusal for `reason`; every reason but the request's form is an unknown client to
/// the caller (the audit record tells them apart).
fn refusal_for(reason: &'static str) -> ClientRefusal {
    match reason {
        "server_error" => SERVER_ERROR,
        "invalid_request" => BAD_ASSERTION_REQUEST,
        reason => ClientRefusal {
            reason,
            ..BAD_CLIENT
        },
    }
}

/// How the client authenticated.
enum Proof<'a> {
    Secret(&'a str),
    Assertion(&'a str),
}

/// A token and the client's municipality, or why not; with the client id the request
/// named (for the audit record).
type Exchange = (Option<String>, Result<(String, String), ClientRefusal>);

impl Core {
    /// Audiences a client assertion (`private_key_jwt`) may name: dap's issuer
    /// identifier, and the token endpoint's URL when dap knows its public address.
    pub fn assertion_audiences(&self) -> Vec<String> {
        let mut audiences = vec![dap_auth::dap_issuer::DAP_ISSUER.to_owned()];
        if let Some(url) = &self.public_url
            && let Ok(endpoint) = url.join("oauth/token")
        {
            audiences.push(endpoint.to_string());
        }
        audiences
    }

    /// Exchanges client credentials for a short-lived access token scoped to the
    /// client's municipality and datasets, and audits the answer.
    pub async fn client_token(
        &self,
        ctx: &RequestContext,
        grant: TokenGrant,
    ) -> Result<TokenResponse, ClientRefusal> {
        let (client_id, outcome) = self.exchange(grant).await;
        let audited = if outcome.is_ok() {
            AuditOutcome::Allowed
        } else {
            AuditOutcome::Denied
        };
        let mut record = ctx.record(None, audited);
        record.subject = client_id.map(|id| id.chars().take(64).collect());
        record.caller_kind = Some("machine".into());
        match &outcome {
            Ok((_, municipality)) => record.municipality = Some(municipality.clone()),
            Err(refusal) => record.reason = Some(refusal.reason.into()),
        }
        if self.append_audit(&record).await.is_err() {
            return Err(SERVER_ERROR);
        }
        outcome.map(|(access_token, _)| TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: MACHINE_TOKEN_SECONDS,
        })
    }

    /// Checks the request's form and authenticates the client.
    async fn exchange(&self, grant: TokenGrant) -> Exchange {
        let Some(form) = grant.request else {
            let r = refuse(
                "invalid_request",
                "send grant_type=client_credentials as application/x-www-form-urlencoded",
            );
            return (None, Err(r));
        };
        if form.grant_type != "client_credentials" {
            let r = refuse(
                "unsupported_grant_type",
                "only grant_type=client_credentials is supported",
            );
            return (form.client_id, Err(r));
        }
        if form.client_assertion.is_some() || form.client_assertion_type.is_some() {
            return self.assertion_exchange(form, grant.basic.is_some()).await;
        }
        let (client_id, secret) = match (grant.basic, form.client_id, form.client_secret) {
            (Some((id, _)), Some(_), _) | (Some((id, _)), _, Some(_)) => {
                let r = refuse(
                    "invalid_request",
                    "authenticate with one method: HTTP Basic or client_id/client_secret in the body",
                );
                return (Some(id), Err(r));
            }
            (Some(pair), None, None) => pair,
            (None, Some(id), Some(secret)) => (id, secret),
            (None, id, _) => {
                let r = refuse("invalid_client", "client authentication is required");
                return (id, Err(r));
            }
        };
        let outcome = self
            .issue(&client_id, Proof::Secret(&secret))
            .await
            .map_err(refusal_for);
        (Some(client_id), outcome)
    }

    /// `private_key_jwt`: the client proves itself with an assertion signed by its key.
    async fn assertion_exchange(&self, form: TokenRequest, basic: bool) -> Exchange {
        let (Some(kind), Some(assertion)) = (form.client_assertion_type, form.client_assertion)
        else {
            return (form.client_id, Err(BAD_ASSERTION_REQUEST));
        };
        if kind != ASSERTION_TYPE || form.client_secret.is_some() || basic {
            return (form.client_id, Err(BAD_ASSERTION_REQUEST));
        }
        let Ok(client_id) = dap_auth::client_assertion::claimed_client(&assertion) else {
            return (form.client_id, Err(refusal_for("invalid_assertion")));
        };
        if form.client_id.as_ref().is_some_and(|id| *id != client_id) {
            return (Some(client_id), Err(refusal_for("invalid_assertion")));
        }
        let outcome = self
            .issue(&client_id, Proof::Assertion(&assertion))
            .await
            .map_err(refusal_for);
        (Some(client_id), outcome)
    }

    /// Checks the client and signs a token; the error is the audited reason.
    async fn issue(
        &self,
        client_id: &str,
        proof: Proof<'_>,
    ) -> Result<(String, String), &'static str> {
        // A hash to verify against when the client does not exist, so timing does not tell.
        const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$8dhdAEXnQRnOrjwwSR+ykT+wwt3j1gDcUlYV2QbOtkk";
        let found = self
            .control
            .machine_client(client_id)
            .await
            .map_err(|_| "server_error")?;
        let client = match (proof, found) {
            (Proof::Secret(secret), None) => {
                verify_secret(secret, DUMMY);
                return Err("invalid_client");
            }
            (Proof::Assertion(_), None) => return Err("invalid_client"),
            (Proof::Secret(secret), Some((client, hash))) => {
                if !verify_secret(secret, &hash) {
                    return Err("invalid_client");
                }
                client
            }
            (Proof::Assertion(assertion), Some((client, _))) => {
                self.check_assertion(assertion, &client).await?;
                client
            }
        };
        if !client.is_active(Utc::now()) {
            return Err("client_inactive");
        }
        let mut roles: Vec<String> = client
            .datasets
            .iter()
            .filter_map(|id| self.catalogue.get(id))
            .map(|d| d.read_role.clone())
            .collect();
        roles.sort();
        roles.dedup();
        let token = self
            .issuer_keys
            .signer()
            .machine_token(
                &client.client_id,
                &client.municipality,
                &client.datasets,
                &roles,
            )
            .map_err(|_| "server_error")?;
        Ok((token, client.municipality))
    }

    /// The assertion is signed by the client's key, for dap, and used for the first time.
    async fn check_assertion(
        &self,
        assertion: &str,
        client: &MachineClient,
    ) -> Result<(), &'static str> {
        let Some(key) = client.public_key.as_deref() else {
            return Err("invalid_client");
        };
        let verified = dap_auth::client_assertion::verify(
            assertion,
            &client.client_id,
            key,
            &self.assertion_audiences(),
        )
        .map_err(|e| {
            tracing::info!(client_id = %client.client_id, reason = %e, "client assertion refused");
            "invalid_assertion"
        })?;
        // One use per assertion, across replicas: a captured assertion is worthless.
        let digest =
            dap_auth::secrets::token_digest(&format!("{}\n{}", verified.client_id, verified.jti));
        let expires = chrono::DateTime::from_timestamp(verified.expires_at, 0)
            .unwrap_or_else(Utc::now)
            + chrono::Duration::seconds(120);
        if !self
            .control
            .use_assertion_once(&digest, expires)
            .await
            .map_err(|_| "server_error")?
        {
            return Err("assertion_replayed");
        }
        Ok(())
    }
}
