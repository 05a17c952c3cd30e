//! Issuer key sets: fixed (demo issuer, tests) or fetched from a `jwks_uri` and cached.

use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm};
use tokio::sync::{Mutex, RwLock};
use url::Url;

use crate::{Error, Result};

/// Largest JWKS document dap reads from an issuer.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// An unknown `kid` triggers at most one refetch per this interval.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug)]
enum Source {
    Fixed,
    Remote { uri: Url, client: reqwest::Client },
}

/// The verification keys of one issuer.
#[derive(Debug)]
pub struct KeySet {
    keys: RwLock<JwkSet>,
    source: Source,
    last_fetch: Mutex<Option<Instant>>,
}

impl KeySet {
    /// A key set that never changes.
    pub fn fixed(keys: JwkSet) -> Self {
        Self {
            keys: RwLock::new(keys),
            source: Source::Fixed,
            last_fetch: Mutex::new(None),
        }
    }

    /// Fetches the key set at `uri` now and keeps it for refetches on unknown `kid`s.
    pub async fn remote(uri: Url, client: reqwest::Client) -> Result<Self> {
        let keys = fetch(&uri, &client).await?;
        Ok(Self {
            keys: RwLock::new(keys),
            source: Source::Remote { uri, client },
            last_fetch: Mutex::new(Some(Instant::now())),
        })
    }

    /// Replaces the keys (after a rotation elsewhere).
    pub async fn replace(&self, keys: JwkSet) {
        *self.keys.write().await = keys;
    }

    /// The decoding key for `kid`. A key set with a single key serves tokens without a
    /// `kid`. An unknown `kid` refetches a remote set at most once per [`REFETCH_INTERVAL`]
    /// (key rotation), so hostile `kid`s cannot make dap hammer the issuer.
    pub async fn key(&self, kid: Option<&str>) -> Result<(DecodingKey, Option<KeyAlgorithm>)> {
        if let Some(found) = find(&*self.keys.read().await, kid)? {
            return Ok(found);
        }
        let Source::Remote { uri, client } = &self.source else {
            return Err(Error::UnknownKey);
        };
        {
            let mut last = self.last_fetch.lock().await;
            if last.is_some_and(|t| t.elapsed() < REFETCH_INTERVAL) {
                return Err(Error::UnknownKey);
            }
            *last = Some(Instant::now());
        }
        let fresh = fetch(uri, client).await?;
        *self.keys.write().await = fresh;
        find(&*self.keys.read().await, kid)?.ok_or(Error::UnknownKey)
    }
}

fn find(set: &JwkSet, kid: Option<&str>) -> Result<Option<(DecodingKey, Option<KeyAlgorithm>)>> {
    let jwk: Option<&Jwk> = match kid {
        Some(kid) => set.find(kid),
        None if set.keys.len() == 1 => set.keys.first(),
        None => None,
    };
    jwk.map(|jwk| {
        let alg = jwk.common.key_algorithm;
        DecodingKey::from_jwk(jwk)
            .map(|k| (k, alg))
            .map_err(|e| Error::Key(e.to_string()))
    })
    .transpose()
}

/// GETs a JWKS with a size limit; the client carries the timeouts.
pub async fn fetch(uri: &Url, client: &reqwest::Client) -> Result<JwkSet> {
    let issuer_error = |reason: String| Error::Issuer {
        issuer: uri.to_string(),
        reason,
    };
    let body = get_limited(uri, client, MAX_JWKS_BYTES)
        .await
        .map_err(issuer_error)?;
    serde_json::from_slice(&body).map_err(|e| issuer_error(format!("not a JWK set: {e}")))
}

/// GETs `uri` and reads at most `limit` bytes of the body.
pub async fn get_limited(
    uri: &Url,
    client: &reqwest::Client,
    limit: usize,
) -> Result<Vec<u8>, String> {
    let mut response = client
        .get(uri.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > limit {
            return Err(format!("response larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
