//! The demo issuer: dap's own Ed25519 key, used only by `dap demo` and `dap token`.
//!
//! Outside demo mode it is never loaded, so no token it signs is accepted there.

use std::io::Write;
use std::path::{Path, PathBuf};
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

use crate::jwks::KeySet;
use crate::{Error, IssuerConfig, PlainClaims, Result};

/// The `iss` of demo tokens.
pub const DEV_ISSUER: &str = "urn:dap:dev-issuer";
/// The `aud` of demo tokens.
pub const DEV_AUDIENCE: &str = "dap";
const KEY_FILE: &str = "dev-issuer.key";

/// The demo issuer's signing key.
pub struct DevIssuer {
    signing: SigningKey,
    kid: String,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIssuer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DevIssuer {
    /// Loads the key from `dir`, creating it (mode 0600) on first use.
    pub fn load_or_create(dir: &Path) -> Result<Self> {
        let path = dir.join(KEY_FILE);
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let seed = match std::fs::read_to_string(&path) {
            Ok(text) => decode_seed(&text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut seed = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut seed);
                std::fs::create_dir_all(dir).map_err(io)?;
                write_private(&path, URL_SAFE_NO_PAD.encode(seed).as_bytes()).map_err(io)?;
                seed
            }
            Err(e) => return Err(io(e)),
        };
        Ok(Self::from_seed(seed))
    }

    /// Loads the key from `dir`; fails when the demo has not been started there.
    pub fn load(dir: &Path) -> Result<Self> {
        let path: PathBuf = dir.join(KEY_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self::from_seed(decode_seed(&text)?))
    }

    fn from_seed(seed: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&seed);
        let public = signing.verifying_key().to_bytes();
        let kid = format!("dev-{}", URL_SAFE_NO_PAD.encode(&public[..9]));
        Self { signing, kid }
    }

    /// The public key set, as served at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Result<JwkSet> {
        let x = URL_SAFE_NO_PAD.encode(self.signing.verifying_key().to_bytes());
        serde_json::from_value(json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "x": x, "kid": self.kid, "alg": "EdDSA", "use": "sig"
        }]}))
        .map_err(|e| Error::Key(e.to_string()))
    }

    /// How the verifier checks demo tokens.
    pub fn issuer_config(&self) -> IssuerConfig {
        IssuerConfig {
            issuer: DEV_ISSUER.into(),
            audience: DEV_AUDIENCE.into(),
            algorithms: vec![Algorithm::EdDSA],
            leeway_secs: 30,
            mapper: Arc::new(PlainClaims::default()),
            allowed_typ: Some(vec!["at+jwt".into()]),
        }
    }

    /// The verifier's key set for demo tokens.
    pub fn key_set(&self) -> Result<KeySet> {
        Ok(KeySet::fixed(self.jwks()?))
    }

    /// Signs arbitrary claims (tests use this to build hostile tokens).
    pub fn sign(&self, claims: &Value) -> Result<String> {
        let der = self
            .signing
            .to_pkcs8_der()
            .map_err(|e| Error::Key(e.to_string()))?;
        let key = EncodingKey::from_ed_der(der.as_bytes());
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, claims, &key).map_err(Error::Rejected)
    }

    /// A demo access token for `subject` acting for `municipality` with `roles`.
    pub fn token(
        &self,
        subject: &str,
        municipality: &str,
        roles: &[String],
        loa: dap_schema::NsisLevel,
        ttl: chrono::Duration,
    ) -> Result<String> {
        self.token_for(subject, Some(municipality), roles, loa, ttl)
    }

    /// Like [`Self::token`]; without a municipality the token grants no municipality's
    /// data (a platform operator's token).
    pub fn token_for(
        &self,
        subject: &str,
        municipality: Option<&str>,
        roles: &[String],
        loa: dap_schema::NsisLevel,
        ttl: chrono::Duration,
    ) -> Result<String> {
        let now = Utc::now().timestamp();
        let roles: Vec<String> = roles.iter().map(|r| crate::roles::role_uri(r)).collect();
        let mut claims = json!({
            "iss": DEV_ISSUER,
            "aud": DEV_AUDIENCE,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + ttl.num_seconds(),
            "roles": roles,
            "loa": loa.as_str(),
        });
        if let Some(municipality) = municipality {
            claims["kommunekode"] = municipality.into();
        }
        self.sign(&claims)
    }
}

fn decode_seed(text: &str) -> Result<[u8; 32]> {
    URL_SAFE_NO_PAD
        .decode(text.trim())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| {
            Error::Key("dev issuer key file is corrupt; delete it to make a new key".into())
        })
}

fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(content)
}
