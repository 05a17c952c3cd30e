//! Opaque paging cursors, signed with HMAC-SHA256 and bound to dataset, table version,
//! query, caller and municipality.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use dap_lake::keyset::KeyValue;

use super::AppError;

type HmacSha256 = Hmac<Sha256>;

/// The longest signed text (cursor or link) dap verifies; longer is refused unread.
pub const MAX_SIGNED_LEN: usize = 4096;

/// Where the next page starts, and for whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Dataset id.
    pub d: String,
    /// Table version of the first page.
    pub v: u64,
    /// Hash of the query fingerprint.
    pub q: String,
    /// Subject it was issued to.
    pub s: String,
    /// Municipality it was issued for.
    pub m: String,
    /// Row offset of the next page (its position; where it starts unless `k` is given).
    pub o: u64,
    /// Sort key of the previous page's last row: the next page starts after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<Vec<KeyValue>>,
}

/// Signs and verifies cursors.
pub struct CursorSigner {
    key: SecretSlice<u8>,
}

impl std::fmt::Debug for CursorSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorSigner")
    }
}

impl CursorSigner {
    /// A signer with `key` (at least 32 bytes).
    pub fn new(key: Vec<u8>) -> Self {
        Self { key: key.into() }
    }

    /// Hash of a query fingerprint, as stored in cursors.
    pub fn query_hash(fingerprint: &str) -> String {
        URL_SAFE_NO_PAD.encode(&Sha256::digest(fingerprint.as_bytes())[..16])
    }

    fn mac(&self) -> Result<HmacSha256, AppError> {
        HmacSha256::new_from_slice(self.key.expose_secret()).map_err(AppError::internal)
    }

    /// `payload.signature`, both base64url.
    pub fn sign(&self, cursor: &Cursor) -> Result<String, AppError> {
        let payload = serde_json::to_vec(cursor).map_err(AppError::internal)?;
        let mut mac = self.mac()?;
        mac.update(&payload);
        let signature = mac.finalize().into_bytes();
        Ok(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// `payload.signature` of any value, for `purpose` (other signed links than
    /// cursors, e.g. Delta Sharing file links): the purpose is part of what is signed, so
    /// a value signed for one purpose never verifies for another.
    pub fn sign_for<T: Serialize>(&self, purpose: &str, value: &T) -> Result<String, AppError> {
        let payload = serde_json::to_vec(value).map_err(AppError::internal)?;
        let mut mac = self.mac()?;
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(&payload);
        let signature = mac.finalize().into_bytes();
        Ok(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// Checks a value signed by [`Self::sign_for`] for `purpose`; `None` when the text
    /// is not one dap signed for that purpose.
    pub fn verify_for<T: for<'de> Deserialize<'de>>(
        &self,
        purpose: &str,
        token: &str,
    ) -> Option<T> {
        if token.len() > MAX_SIGNED_LEN {
            return None;
        }
        let (payload, signature) = token.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = self.mac().ok()?;
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(&payload);
        mac.verify_slice(&signature).ok()?;
        serde_json::from_slice(&payload).ok()
    }

    /// Checks the signature (in constant time) and decodes the cursor.
    pub fn verify(&self, token: &str) -> Result<Cursor, AppError> {
        let invalid = || {
            AppError::InvalidCursor(
                "the cursor is not one dap issued; use next_cursor from a previous page unchanged"
                    .into(),
            )
        };
        if token.len() > MAX_SIGNED_LEN {
            return Err(invalid());
        }
        let (payload, signature) = token.split_once('.').ok_or_else(invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| invalid())?;
        let mut mac = self.mac()?;
        mac.update(&payload);
        mac.verify_slice(&signature).map_err(|_| invalid())?;
        serde_json::from_slice(&payload).map_err(|_| invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor() -> Cursor {
        Cursor {
            d: "oekonomi.posteringer".into(),
            v: 1,
            q: CursorSigner::query_hash("q"),
            s: "anna".into(),
            m: "0101".into(),
            o: 100,
            k: Some(vec![KeyValue::Str("5.22".into()), KeyValue::Null]),
        }
    }

    #[test]
    fn cursors_round_trip_and_tampering_is_detected() {
        let signer = CursorSigner::new(vec![7; 32]);
        let token = signer.sign(&cursor()).unwrap_or_default();
        assert_eq!(signer.verify(&token).ok(), Some(cursor()));
        let (payload, signature) = token.split_once('.').unwrap_or_default();
        let mut forged = cursor();
        forged.m = "0751".into();
        let forged_payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap_or_default());
        for bad in [
            format!("{forged_payload}.{signature}"),
            format!("{payload}.{}", URL_SAFE_NO_PAD.encode([0u8; 32])),
            payload.to_owned(),
            "garbage".to_owned(),
        ] {
            assert!(
                matches!(signer.verify(&bad), Err(AppError::InvalidCursor(_))),
                "{bad}"
            );
        }
        let other = CursorSigner::new(vec![8; 32]);
        assert!(other.verify(&token).is_err());
    }
}
