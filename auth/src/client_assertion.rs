//! `private_key_jwt` client authentication (RFC 7523 §2.2, OpenID Connect Core §9): the
//! client signs a short-lived JWT with its private key; dap holds only the public key.

use std::collections::HashSet;

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::{Error, Result};

/// The `client_assertion_type` of a JWT client assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// An assertion may live at most this long (from now to `exp`): it is a one-time proof.
pub const MAX_LIFETIME_SECS: i64 = 300;
/// Clock-skew leeway for `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;
/// Asymmetric algorithms only: a shared-secret MAC would need the secret stored.
pub const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// Checks a client's public key (a JWK) for registration and returns it as stored.
/// Private members and symmetric keys are refused: dap must never hold a client's secret key.
pub fn public_jwk(text: &str) -> Result<String> {
    let bad = |why: &str| Error::Claims(format!("public key: {why}"));
    let raw: Map<String, Value> =
        serde_json::from_str(text.trim()).map_err(|_| bad("not a JSON Web Key (RFC 7517)"))?;
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|m| raw.contains_key(*m))
    {
        return Err(bad(
            "the JWK holds private or symmetric key material; register the public key only",
        ));
    }
    let jwk: Jwk = serde_json::from_value(Value::Object(raw.clone()))
        .map_err(|e| bad(&format!("unsupported JWK: {e}")))?;
    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
        return Err(bad("symmetric keys are not accepted"));
    }
    DecodingKey::from_jwk(&jwk).map_err(|e| bad(&e.to_string()))?;
    serde_json::to_string(&raw).map_err(|e| bad(&e.to_string()))
}

/// A verified assertion: who it names and the `jti` that must not be used again.
#[derive(Debug, Clone)]
pub struct Assertion {
    pub client_id: String,
    pub jti: String,
    /// `exp` (seconds since the epoch): the replay record may go after this.
    pub expires_at: i64,
}

/// The client the assertion claims to come from (`iss`, unverified), to find its key.
pub fn claimed_client(assertion: &str) -> Result<String> {
    if assertion.len() > crate::verifier::MAX_TOKEN_BYTES {
        return Err(Error::Malformed("client assertion too large".into()));
    }
    let client = crate::verifier::unverified_issuer(assertion)?;
    if client.is_empty() || client.len() > 128 {
        return Err(Error::Malformed(
            "client assertion iss is no client id".into(),
        ));
    }
    Ok(client)
}

/// Verifies an assertion of `client_id` with its registered public key: signature,
/// `iss` = `sub` = client id, `aud` one of `audiences`, `exp` required and near, `jti`.
pub fn verify(
    assertion: &str,
    client_id: &str,
    public_key: &str,
    audiences: &[String],
) -> Result<Assertion> {
    let header =
        jsonwebtoken::decode_header(assertion).map_err(|e| Error::Malformed(e.to_string()))?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(Error::AlgorithmNotAllowed(format!("{:?}", header.alg)));
    }
    let jwk: Jwk = serde_json::from_str(public_key)
        .map_err(|_| Error::Claims("registered public key is unreadable".into()))?;
    if let Some(pinned) = jwk.common.key_algorithm
        && Algorithm::try_from(pinned).ok() != Some(header.alg)
    {
        return Err(Error::AlgorithmNotAllowed(format!("{:?}", header.alg)));
    }
    let key = DecodingKey::from_jwk(&jwk)?;
    let mut validation = Validation::new(header.alg);
    validation.algorithms = vec![header.alg];
    validation.set_issuer(&[client_id]);
    validation.sub = Some(client_id.to_owned());
    validation.aud = Some(audiences.iter().cloned().collect::<HashSet<_>>());
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECS;
    let data = jsonwebtoken::decode::<Map<String, Value>>(assertion, &key, &validation)?;
    let claims = data.claims;
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| Error::Claims("exp must be a number".into()))?;
    let now = chrono::Utc::now().timestamp();
    if exp - now > MAX_LIFETIME_SECS {
        return Err(Error::Claims(format!(
            "client assertion lives longer than {MAX_LIFETIME_SECS} s"
        )));
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| Error::Claims("client assertion needs a jti".into()))?;
    Ok(Assertion {
        client_id: client_id.to_owned(),
        jti: jti.to_owned(),
        expires_at: exp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: &str = "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw";

    #[test]
    fn public_keys_register_and_private_or_symmetric_keys_do_not() {
        let public = format!(r#"{{"kty":"RSA","n":"{N}","e":"AQAB","alg":"RS256"}}"#);
        assert!(public_jwk(&public).is_ok());
        let private = format!(r#"{{"kty":"RSA","n":"{N}","e":"AQAB","d":"AQAB"}}"#);
        assert!(public_jwk(&private).is_err(), "private RSA member d");
        assert!(
            public_jwk(r#"{"kty":"oct","k":"c2VjcmV0"}"#).is_err(),
            "symmetric"
        );
        assert!(
            public_jwk("-----BEGIN PUBLIC KEY-----").is_err(),
            "not a JWK"
        );
    }
}
