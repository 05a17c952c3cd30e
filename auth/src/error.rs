use thiserror::Error;

/// Why a token was not accepted or an issuer could not be used.
///
/// The messages are for logs and operators. Clients learn only the kind of refusal
/// (the API's `TokenRefusal`: expired, revoked, wrong audience, ...), never key ids or
/// signature details.
#[derive(Debug, Error)]
pub enum Error {
    #[error("no bearer token in the Authorization header")]
    MissingToken,
    #[error("token is malformed: {0}")]
    Malformed(String),
    #[error("token algorithm {0} is not allowed for this issuer")]
    AlgorithmNotAllowed(String),
    #[error("token issuer is not configured")]
    UnknownIssuer,
    #[error("no key with the token's kid in the issuer's key set")]
    UnknownKey,
    #[error("token rejected: {0}")]
    Rejected(#[from] jsonwebtoken::errors::Error),
    #[error("token claims cannot be mapped: {0}")]
    Claims(String),
    /// A credential dap keeps state for (personal token, session, machine client) that
    /// was revoked, disabled or deleted; says which.
    #[error("credential revoked: {0}")]
    Revoked(String),
    /// A credential dap keeps state for that has expired; says which.
    #[error("credential expired: {0}")]
    Expired(String),
    #[error("issuer {issuer} could not be reached or understood: {reason}")]
    Issuer { issuer: String, reason: String },
    #[error("key material: {0}")]
    Key(String),
    #[error("I/O on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the policy refused a principal access to a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Denial {
    /// The dataset does not exist or the caller's roles do not open it: both look the same.
    #[error("dataset not found")]
    NotFound,
    /// The caller authenticated at a lower NSIS level than the dataset requires.
    #[error("this dataset requires NSIS level {required}; the token has {actual}")]
    InsufficientAssurance { required: String, actual: String },
    /// The caller acts for several municipalities and must name one.
    #[error(
        "the token grants access for several municipalities ({0}); name one with the municipality parameter"
    )]
    MunicipalityRequired(String),
    /// The caller named a municipality its token does not grant.
    #[error("the token grants no access for municipality {0}")]
    MunicipalityNotGranted(String),
}
