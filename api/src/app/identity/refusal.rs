//! Why a credential was refused, as the caller may learn it (RFC 6750's
//! `error_description`). Each surface translates a [`TokenRefusal`] into its protocol:
//! REST and Delta Sharing in `WWW-Authenticate: Bearer` and the body, OData next to its
//! `Basic` challenge, GraphQL through the REST extractor.
//!
//! The kinds say what the caller can fix (get a new token, ask for the right audience,
//! use a trusted issuer) and nothing that helps a forger: a bad signature, an unknown key
//! id, a refused algorithm and an unknown personal token all read the same
//! ([`TokenRefusal::NotVerified`]). Expiry, `nbf` and audience are only checked after
//! the signature (jsonwebtoken verifies it first), so those answers go only to holders of
//! a genuine token.

use jsonwebtoken::errors::ErrorKind;

/// The kind of refusal a client is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// No credential at all (RFC 6750: the challenge then carries no error code).
    Missing,
    /// Not a token dap can read: not a JWT, not base64url JSON, a required claim missing.
    Malformed,
    /// Past its `exp` (or, for a personal token or session, its expiry).
    Expired,
    /// Before its `nbf`.
    NotYetValid,
    /// Revoked personal token, disabled or deleted machine client, ended session.
    Revoked,
    /// Issued for another audience.
    WrongAudience,
    /// An issuer dap does not trust.
    UnknownIssuer,
    /// Every other failure: signature, key, algorithm, unknown personal token, claims
    /// that cannot be mapped. One answer, so that none of them can be told apart.
    NotVerified,
}

impl TokenRefusal {
    /// The kind of refusal behind a verification error.
    pub fn of(error: &dap_auth::Error) -> Self {
        use dap_auth::Error as E;
        match error {
            E::MissingToken => Self::Missing,
            E::Malformed(_) => Self::Malformed,
            E::UnknownIssuer => Self::UnknownIssuer,
            E::Revoked(_) => Self::Revoked,
            E::Expired(_) => Self::Expired,
            E::Rejected(e) => match e.kind() {
                ErrorKind::ExpiredSignature => Self::Expired,
                ErrorKind::ImmatureSignature => Self::NotYetValid,
                ErrorKind::InvalidAudience => Self::WrongAudience,
                ErrorKind::InvalidIssuer => Self::UnknownIssuer,
                ErrorKind::InvalidToken
                | ErrorKind::MissingRequiredClaim(_)
                | ErrorKind::InvalidClaimFormat(_)
                | ErrorKind::Base64(_)
                | ErrorKind::Json(_)
                | ErrorKind::Utf8(_) => Self::Malformed,
                _ => Self::NotVerified,
            },
            E::AlgorithmNotAllowed(_)
            | E::UnknownKey
            | E::Claims(_)
            | E::Issuer { .. }
            | E::Key(_)
            | E::Io { .. } => Self::NotVerified,
        }
    }

    /// The `error_description`: what is wrong and what to do. Only characters RFC 6750
    /// allows in it (printable ASCII without `"` and `\`).
    pub fn description(self) -> &'static str {
        match self {
            Self::Missing => "no credential: send the header Authorization: Bearer <token>",
            Self::Malformed => {
                "the token is malformed: send the access token itself (a JWT of three base64url parts with iss, sub, aud and exp, or a personal access token dap_pat_...)"
            }
            Self::Expired => "the token has expired: get a new one",
            Self::NotYetValid => {
                "the token is not valid yet (its nbf is in the future): check the clock of the system that issued it"
            }
            Self::Revoked => {
                "the token has been revoked, or the client or session it belongs to was disabled or ended: get a new one"
            }
            Self::WrongAudience => {
                "the token was issued for another audience: ask your identity provider for a token whose aud is dap"
            }
            Self::UnknownIssuer => {
                "the token's issuer is not one dap trusts: use a token from your municipality's broker or from dap's /oauth/token"
            }
            Self::NotVerified => "the token could not be verified",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_and_key_failures_read_the_same() {
        let forged = jsonwebtoken::errors::Error::from(ErrorKind::InvalidSignature);
        let same = [
            dap_auth::Error::UnknownKey,
            dap_auth::Error::Rejected(forged),
            dap_auth::Error::AlgorithmNotAllowed("HS256".into()),
            dap_auth::Error::Claims("personal token unknown".into()),
        ];
        for error in &same {
            assert_eq!(
                TokenRefusal::of(error),
                TokenRefusal::NotVerified,
                "{error}"
            );
        }
        let expired = jsonwebtoken::errors::Error::from(ErrorKind::ExpiredSignature);
        assert_eq!(
            TokenRefusal::of(&dap_auth::Error::Rejected(expired)),
            TokenRefusal::Expired
        );
    }

    #[test]
    fn descriptions_are_valid_rfc_6750_text() {
        use TokenRefusal as R;
        for refusal in [
            R::Missing,
            R::Malformed,
            R::Expired,
            R::NotYetValid,
            R::Revoked,
            R::WrongAudience,
            R::UnknownIssuer,
            R::NotVerified,
        ] {
            let text = refusal.description();
            assert!(
                text.bytes()
                    .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\'),
                "{text}"
            );
        }
    }
}
