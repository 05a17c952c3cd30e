//! The bodies of identity: who the caller is (`/api/v1/me`), personal access tokens, and
//! the OAuth 2 client-credentials token exchange (`/oauth/token`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The caller as dap sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub subject: String,
    pub issuer: String,
    /// `user` or `machine`.
    pub kind: String,
    /// Roles held per municipality code.
    #[schema(value_type = Object, example = json!({"0101": ["laes-borger", "laes-oekonomi"]}))]
    pub grants: BTreeMap<String, BTreeSet<String>>,
    #[schema(example = "Substantial")]
    pub assurance_level: String,
    /// Datasets the credential is limited to, if any.
    pub datasets: Option<BTreeSet<String>>,
}

/// A request for a personal access token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// What the token is for, e.g. `Power BI økonomi`.
    #[schema(example = "Power BI økonomi")]
    pub name: String,
    /// Datasets the token may read; each must be visible to the caller.
    #[schema(example = json!(["oekonomi.posteringer"]))]
    pub datasets: Vec<String>,
    /// Lifetime in days (default 30, at most 90).
    pub expires_in_days: Option<u32>,
    /// One of your municipalities (code) the token acts for, with your roles there only.
    /// Without it, the token carries all your municipalities, and a request must name one
    /// with `municipality=`; Delta Sharing has no such parameter, so a sharing profile of a
    /// person who acts for several municipalities needs it.
    #[serde(default)]
    #[schema(example = "0101")]
    pub municipality: Option<String>,
}

/// A personal access token as listed (the token itself is only shown at creation).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub datasets: Vec<String>,
    /// The municipalities the token acts for: its owner's at creation, or the one named
    /// with `municipality` when it was created.
    #[schema(example = json!(["0101"]))]
    pub municipalities: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new token, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: TokenInfo,
    /// Use as `Authorization: Bearer <token>`. dap stores only a digest: this is the only time it is shown.
    pub token: String,
}

/// The caller's tokens, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

/// The token request (form-encoded).
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    #[schema(example = "client_credentials")]
    pub grant_type: String,
    /// With `client_secret_post`; otherwise use HTTP Basic authentication.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// With `private_key_jwt`: `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    pub client_assertion_type: Option<String>,
    /// With `private_key_jwt`: a JWT signed with the client's key, `iss` = `sub` = client
    /// id, `aud` = `urn:dap:issuer` or this endpoint's URL, `exp` at most 5 minutes
    /// ahead, and a `jti` used once.
    pub client_assertion: Option<String>,
    /// Ignored: the client's datasets are fixed at registration.
    pub scope: Option<String>,
}

/// A successful token response.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
}

/// A Delta Sharing profile (share credentials file, version 1) for Power BI, pandas
/// (`delta-sharing`) and Spark: the endpoint and a personal access token limited to the
/// named datasets. The token is shown once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharingProfile {
    /// Always 1: a bearer token.
    #[schema(example = 1)]
    pub share_credentials_version: u32,
    /// The Delta Sharing endpoint, e.g. `https://dap.kommune.dk/delta-sharing`.
    #[schema(example = "https://dap.kommune.dk/delta-sharing")]
    pub endpoint: String,
    /// A personal access token (`dap_pat_…`).
    pub bearer_token: String,
    /// When the token expires (RFC 3339).
    pub expiration_time: DateTime<Utc>,
}
