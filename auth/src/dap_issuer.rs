//! dap's own token issuer for machine clients (OAuth 2 client credentials).
//!
//! Keys are Ed25519, kept in the control-plane database so every replica signs and
//! verifies with the same set. The newest key signs; retired keys keep verifying until
//! they are removed, so a rotation does not break tokens already handed out.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use serde_json::{Value, json};

use crate::{Error, IssuerConfig, PlainClaims, Result};

/// The `iss` of tokens dap issues.
pub const DAP_ISSUER: &str = "urn:dap:issuer";
/// The `aud` of tokens dap issues.
pub const DAP_AUDIENCE: &str = "dap";
/// Lifetime of a machine access token.
pub const MACHINE_TOKEN_SECONDS: i64 = 15 * 60;

/// dap's signing keys, newest first.
pub struct DapKeys {
    keys: Vec<(String, SigningKey)>,
}

impl std::fmt::Debug for DapKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|(kid, _)| kid))
            .finish()
    }
}

impl DapKeys {
    /// Keys from stored `(kid, base64url seed)` pairs, newest first.
    pub fn from_stored(stored: &[(String, String)]) -> Result<Self> {
        let keys = stored
            .iter()
            .map(|(kid, seed)| {
                let bytes = URL_SAFE_NO_PAD
                    .decode(seed.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| Error::Key(format!("signing key {kid} is corrupt")))?;
                Ok((kid.clone(), SigningKey::from_bytes(&bytes)))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { keys })
    }

    /// A fresh `(kid, base64url seed)` to store.
    pub fn generate() -> (String, String) {
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        let key = SigningKey::from_bytes(&seed);
        let kid = format!(
            "dap-{}",
            URL_SAFE_NO_PAD.encode(&key.verifying_key().to_bytes()[..9])
        );
        (kid, URL_SAFE_NO_PAD.encode(seed))
    }

    /// Key ids, newest first.
    pub fn kids(&self) -> Vec<String> {
        self.keys.iter().map(|(kid, _)| kid.clone()).collect()
    }

    /// The public keys, as published at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Result<JwkSet> {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|(kid, key)| {
                json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
                       "kid": kid, "alg": "EdDSA", "use": "sig"})
            })
            .collect();
        serde_json::from_value(json!({ "keys": keys })).map_err(|e| Error::Key(e.to_string()))
    }

    /// How the verifier checks dap's tokens.
    pub fn issuer_config() -> IssuerConfig {
        IssuerConfig {
            issuer: DAP_ISSUER.into(),
            audience: DAP_AUDIENCE.into(),
            algorithms: vec![Algorithm::EdDSA],
            leeway_secs: 30,
            mapper: Arc::new(PlainClaims::default()),
            allowed_typ: Some(vec!["at+jwt".into()]),
        }
    }

    /// Signs arbitrary claims with the newest key (tests use this for hostile tokens).
    pub fn sign(&self, claims: &Value) -> Result<String> {
        let (kid, key) = self
            .keys
            .first()
            .ok_or_else(|| Error::Key("no signing key".into()))?;
        let der = key.to_pkcs8_der().map_err(|e| Error::Key(e.to_string()))?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.clone());
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(der.as_bytes()))
            .map_err(Error::Rejected)
    }

    /// An access token for a machine client, signed with the newest key.
    pub fn machine_token(
        &self,
        client_id: &str,
        municipality: &str,
        datasets: &[String],
        roles: &[String],
    ) -> Result<String> {
        let now = Utc::now().timestamp();
        let claims = json!({
            "iss": DAP_ISSUER, "aud": DAP_AUDIENCE, "sub": client_id, "client_id": client_id,
            "caller_kind": "machine", "iat": now, "nbf": now, "exp": now + MACHINE_TOKEN_SECONDS,
            "kommunekode": municipality, "datasets": datasets,
            "roles": roles.iter().map(|r| crate::roles::role_uri(r)).collect::<Vec<_>>(),
            // The municipality registered the client in its administration: organisational
            // assurance at the substantial level.
            "loa": "Substantial",
        });
        self.sign(&claims)
    }
}
