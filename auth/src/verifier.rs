//! Bearer-token verification against configured issuers.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation};
use openidconnect::IssuerUrl;
use openidconnect::core::CoreProviderMetadata;
use serde_json::{Map, Value};

use crate::jwks::KeySet;
use crate::{ClaimMapper, Error, Principal, Result};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Upper bound for the configurable clock-skew leeway.
pub const MAX_LEEWAY_SECS: u64 = 120;

/// How tokens of one issuer are checked.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// Exact `iss` value.
    pub issuer: String,
    /// Required `aud` value.
    pub audience: String,
    /// Signature algorithms accepted from this issuer.
    pub algorithms: Vec<Algorithm>,
    /// Clock-skew leeway in seconds for `exp` and `nbf` (capped at [`MAX_LEEWAY_SECS`]).
    pub leeway_secs: u64,
    /// How claims become a principal.
    pub mapper: Arc<dyn ClaimMapper>,
    /// Accepted JOSE `typ` values (case-insensitive, `application/` prefix allowed);
    /// `None` accepts any. `Some(["at+jwt"])` refuses ID tokens used as access tokens.
    pub allowed_typ: Option<Vec<String>>,
}

#[derive(Debug)]
struct Issuer {
    config: IssuerConfig,
    keys: Arc<Discovery>,
}

/// The keys of one issuer: known from the start, or once OpenID Connect discovery has
/// succeeded. Until then its tokens are refused and [`TokenVerifier::issuers`] says why.
#[derive(Debug, Default)]
pub struct Discovery {
    keys: std::sync::OnceLock<Arc<KeySet>>,
    failure: std::sync::Mutex<Option<String>>,
}

/// An issuer whose discovery has not succeeded yet; [`PendingIssuer::discover`] retries.
#[derive(Debug, Clone)]
pub struct PendingIssuer {
    issuer: String,
    discovery: Arc<Discovery>,
}

/// Whether an issuer's tokens can be verified, as readiness reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerStatus {
    pub issuer: String,
    /// True once the issuer's keys are known.
    pub ready: bool,
    /// Why the last discovery failed, while not ready.
    pub reason: Option<String>,
}

impl PendingIssuer {
    /// The issuer URL.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// True once the issuer's keys are known.
    pub fn is_ready(&self) -> bool {
        self.discovery.keys.get().is_some()
    }

    /// One attempt at OpenID Connect discovery: the metadata must name exactly the
    /// issuer; keys come from its `jwks_uri`. On failure the reason is kept for
    /// readiness and returned.
    pub async fn discover(&self, timeout: Duration) -> Result<()> {
        if self.is_ready() {
            return Ok(());
        }
        match discover_keys(&self.issuer, timeout).await {
            Ok(keys) => {
                let _ = self.discovery.keys.set(Arc::new(keys));
                if let Ok(mut failure) = self.discovery.failure.lock() {
                    *failure = None;
                }
                Ok(())
            }
            Err(error) => {
                if let Ok(mut failure) = self.discovery.failure.lock() {
                    *failure = Some(error.to_string());
                }
                Err(error)
            }
        }
    }
}

async fn discover_keys(issuer: &str, timeout: Duration) -> Result<KeySet> {
    let issuer_error = |reason: String| Error::Issuer {
        issuer: issuer.to_owned(),
        reason,
    };
    let client = reqwest::Client::builder()
        // Never follow redirects from an issuer: a redirect could point anywhere.
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| issuer_error(e.to_string()))?;
    let issuer_url = IssuerUrl::new(issuer.to_owned()).map_err(|e| issuer_error(e.to_string()))?;
    let metadata = CoreProviderMetadata::discover_async(issuer_url, &client)
        .await
        .map_err(|e| issuer_error(error_chain(&e)))?;
    let jwks_uri = metadata.jwks_uri().url().clone();
    KeySet::remote(jwks_uri, client).await
}

/// An error with its causes ("Request failed: … Connection refused"), for the log.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

/// Verifies bearer tokens of any configured issuer.
#[derive(Debug, Default)]
pub struct TokenVerifier {
    issuers: Vec<Issuer>,
}

impl TokenVerifier {
    /// A verifier that accepts nothing until issuers are added.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an issuer whose keys are known.
    pub fn with_issuer(self, config: IssuerConfig, keys: KeySet) -> Self {
        self.with_shared_issuer(config, Arc::new(keys))
    }

    /// Adds an issuer whose key set the caller keeps and may replace (key rotation).
    pub fn with_shared_issuer(mut self, config: IssuerConfig, keys: Arc<KeySet>) -> Self {
        let discovery = Discovery::default();
        let _ = discovery.keys.set(keys);
        self.issuers.push(Issuer {
            config,
            keys: Arc::new(discovery),
        });
        self
    }

    /// Adds an issuer whose keys are found by OpenID Connect discovery later: its tokens
    /// are refused until [`PendingIssuer::discover`] succeeds.
    pub fn with_pending_issuer(mut self, config: IssuerConfig) -> (Self, PendingIssuer) {
        let pending = PendingIssuer {
            issuer: config.issuer.clone(),
            discovery: Arc::new(Discovery::default()),
        };
        self.issuers.push(Issuer {
            config,
            keys: Arc::clone(&pending.discovery),
        });
        (self, pending)
    }

    /// Every issuer and whether its tokens can be verified now.
    pub fn issuers(&self) -> Vec<IssuerStatus> {
        self.issuers
            .iter()
            .map(|i| IssuerStatus {
                issuer: i.config.issuer.clone(),
                ready: i.keys.keys.get().is_some(),
                reason: i.keys.failure.lock().ok().and_then(|f| f.clone()),
            })
            .collect()
    }

    /// Adds an issuer found by OpenID Connect discovery: its metadata must name exactly
    /// `config.issuer`; keys come from its `jwks_uri`.
    pub async fn discover(self, config: IssuerConfig, timeout: Duration) -> Result<Self> {
        let (verifier, pending) = self.with_pending_issuer(config);
        pending.discover(timeout).await?;
        Ok(verifier)
    }

    /// Verifies `token` and maps its claims. Every failure is an [`Error`]; the API turns
    /// all of them into the same 401.
    pub async fn verify(&self, token: &str) -> Result<Principal> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Error::Malformed("token too large".into()));
        }
        // The header's jku, x5u and jwk members are never used: keys come only from the
        // configured issuer.
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| Error::Malformed(e.to_string()))?;
        if let Some(kid) = header.kid.as_deref()
            && !plausible_kid(kid)
        {
            // Never look such a kid up, let alone fetch keys for it.
            return Err(Error::Malformed(
                "key id has characters or a length no issuer uses".into(),
            ));
        }
        let claimed_issuer = unverified_issuer(token)?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.config.issuer == claimed_issuer)
            .ok_or(Error::UnknownIssuer)?;
        if let Some(allowed) = &issuer.config.allowed_typ {
            let typ = header
                .typ
                .as_deref()
                .map(|t| t.to_ascii_lowercase())
                .map(|t| {
                    t.strip_prefix("application/")
                        .map(str::to_owned)
                        .unwrap_or(t)
                });
            if !typ.is_some_and(|t| allowed.iter().any(|a| a.eq_ignore_ascii_case(&t))) {
                return Err(Error::Malformed(format!(
                    "token typ {:?} is not accepted",
                    header.typ
                )));
            }
        }
        if !issuer.config.algorithms.contains(&header.alg) {
            return Err(Error::AlgorithmNotAllowed(format!("{:?}", header.alg)));
        }
        let keys = issuer.keys.keys.get().ok_or_else(|| Error::Issuer {
            issuer: issuer.config.issuer.clone(),
            reason: "its discovery has not succeeded yet".into(),
        })?;
        let (key, key_alg) = keys.key(header.kid.as_deref()).await?;
        // A key pinned to one algorithm must not verify tokens of another.
        if key_alg.is_some_and(|a| Algorithm::try_from(a).ok() != Some(header.alg)) {
            return Err(Error::AlgorithmNotAllowed(format!("{:?}", header.alg)));
        }
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.set_issuer(&[&issuer.config.issuer]);
        validation.set_audience(&[&issuer.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = issuer.config.leeway_secs.min(MAX_LEEWAY_SECS);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)?;
        issuer
            .config
            .mapper
            .map(&issuer.config.issuer, &data.claims)
    }
}

/// Key ids are short tokens of URL-safe characters.
fn plausible_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= 128
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'=' | b'+'))
}

/// Reads `iss` from the unverified payload, only to choose which issuer's rules apply.
pub(crate) fn unverified_issuer(token: &str) -> Result<String> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| Error::Malformed("not a JWS compact token".into()))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| Error::Malformed("payload is not base64url".into()))?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes)
        .map_err(|_| Error::Malformed("payload is not a JSON object".into()))?;
    claims
        .get("iss")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::Malformed("token has no iss".into()))
}
