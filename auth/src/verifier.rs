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
    keys: Arc<KeySet>,
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
        self.issuers.push(Issuer { config, keys });
        self
    }

    /// Adds an issuer found by OpenID Connect discovery: its metadata must name exactly
    /// `config.issuer`; keys come from its `jwks_uri`.
    pub async fn discover(self, config: IssuerConfig, timeout: Duration) -> Result<Self> {
        let issuer_error = |reason: String| Error::Issuer {
            issuer: config.issuer.clone(),
            reason,
        };
        let client = reqwest::Client::builder()
            // Never follow redirects from an issuer: a redirect could point anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| issuer_error(e.to_string()))?;
        let issuer_url =
            IssuerUrl::new(config.issuer.clone()).map_err(|e| issuer_error(e.to_string()))?;
        let metadata = CoreProviderMetadata::discover_async(issuer_url, &client)
            .await
            .map_err(|e| issuer_error(e.to_string()))?;
        let jwks_uri = metadata.jwks_uri().url().clone();
        let keys = KeySet::remote(jwks_uri, client).await?;
        Ok(self.with_issuer(config, keys))
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
        let (key, key_alg) = issuer.keys.key(header.kid.as_deref()).await?;
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
