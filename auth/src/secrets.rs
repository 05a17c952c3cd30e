//! Client secrets: random, shown once, stored as Argon2id hashes.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

use crate::{Error, Result};

/// A new random secret (256 bits, base64url).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new random identifier with `prefix`.
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        URL_SAFE_NO_PAD
            .encode(bytes)
            .to_ascii_lowercase()
            .replace(['-', '_'], "x")
    )
}

/// The stored "hash" of a client without a secret (`private_key_jwt` only): not a PHC
/// string, so no secret ever verifies against it.
pub const NO_SECRET: &str = "!private_key_jwt";

/// Prefix of personal access tokens, so they are recognised (and found by secret scanners).
pub const PAT_PREFIX: &str = "dap_pat_";

/// A new personal access token.
pub fn new_personal_token() -> String {
    format!("{PAT_PREFIX}{}", new_secret())
}

/// The stored digest of a high-entropy token (SHA-256, hex). Argon2 is for secrets a person
/// might choose; a 256-bit random token is safe with a fast digest, checked per request.
pub fn token_digest(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The Argon2id PHC string of `secret`.
pub fn hash_secret(secret: &str) -> Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Key(e.to_string()))
}

/// True when `secret` matches the stored hash (constant-time comparison inside argon2).
pub fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_verify_only_against_their_hash() {
        let secret = new_secret();
        let hash = hash_secret(&secret).expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains(&secret));
        assert!(verify_secret(&secret, &hash));
        assert!(!verify_secret("wrong", &hash));
        assert!(!verify_secret(&secret, "not a hash"));
        assert_ne!(new_id("dap-"), new_id("dap-"));
    }
}
