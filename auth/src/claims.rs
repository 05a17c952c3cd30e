//! Claim mapping: the pluggable step from a verified token's claims to a [`Principal`].
//!
//! Brokers carry the same facts (organisation, roles, assurance level) under different
//! claim names and shapes. Each issuer is configured with one mapper.

use std::collections::BTreeSet;

use dap_schema::{MunicipalityCode, NsisLevel};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{CallerKind, Error, Principal, Result, roles};

/// Turns verified claims into a principal. `issuer` is the verified `iss`.
pub trait ClaimMapper: Send + Sync + std::fmt::Debug {
    fn map(&self, issuer: &str, claims: &Map<String, Value>) -> Result<Principal>;
}

/// Plain claims: the municipality code(s), the roles and the NSIS level each under a
/// configurable claim name. This is the profile of the demo issuer and of brokers such
/// as Keycloak or Entra ID configured to emit these facts directly.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlainClaims {
    /// Claim with a municipality code or a list of them.
    pub municipality_claim: String,
    /// Claim with a list of roles (URIs or short names) or a space-separated string.
    pub roles_claim: String,
    /// Claim with the NSIS level (`Low`/`Substantial`/`High`, plain or as URI).
    pub loa_claim: String,
    /// NSIS level assumed when the claim is absent; `None` refuses such tokens.
    pub default_loa: Option<NsisLevel>,
}

impl Default for PlainClaims {
    fn default() -> Self {
        Self {
            municipality_claim: "kommunekode".into(),
            roles_claim: "roles".into(),
            loa_claim: "loa".into(),
            default_loa: None,
        }
    }
}

impl ClaimMapper for PlainClaims {
    fn map(&self, issuer: &str, claims: &Map<String, Value>) -> Result<Principal> {
        let subject = subject(claims)?;
        let municipalities: BTreeSet<MunicipalityCode> =
            strings(claims.get(&self.municipality_claim))
                .into_iter()
                // A code that is no municipality grants nothing; it is not an error.
                .filter_map(|c| MunicipalityCode::parse(&c).ok())
                .collect();
        let roles: BTreeSet<String> = strings(claims.get(&self.roles_claim))
            .iter()
            .filter_map(|r| roles::short_name(r))
            .collect();
        // Plain claims carry one role list for all the caller's municipalities.
        let grants = municipalities
            .into_iter()
            .map(|m| (m, roles.clone()))
            .collect();
        let nsis = match assurance(claims.get(&self.loa_claim), &self.loa_claim)? {
            Some(loa) => loa,
            None => self.default_loa.ok_or_else(|| {
                Error::Claims(format!("the token has no {} claim", self.loa_claim))
            })?,
        };
        let client_id = claims
            .get("client_id")
            .or_else(|| claims.get("azp"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        // Only dap's own tokens may say they are a machine client limited to datasets.
        let own = issuer == crate::dap_issuer::DAP_ISSUER;
        let kind = match claims.get("caller_kind").and_then(Value::as_str) {
            Some("machine") if own => CallerKind::Machine,
            _ => CallerKind::User,
        };
        let datasets = claims
            .get("datasets")
            .filter(|_| own)
            .map(|d| strings(Some(d)).into_iter().collect::<BTreeSet<_>>());
        let mut principal =
            Principal::from_grants(subject.to_owned(), issuer.to_owned(), kind, grants, nsis);
        principal.client_id = client_id;
        principal.datasets = datasets;
        Ok(principal)
    }
}

/// The NSIS level an assurance claim states; `None` when the claim is absent (the
/// issuer's default may apply). A claim that is present but not a level dap knows, a
/// string of another value or another shape (a list, a number), refuses the token:
/// unknown shapes close, never falling back to a default.
pub(crate) fn assurance(claim: Option<&Value>, name: &str) -> Result<Option<NsisLevel>> {
    match claim {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(loa)) => loa
            .parse()
            .map(Some)
            .map_err(|e: dap_schema::Error| Error::Claims(e.to_string())),
        Some(_) => Err(Error::Claims(format!(
            "the {name} claim must be a string naming an NSIS level"
        ))),
    }
}

/// The non-empty `sub` of verified claims.
pub(crate) fn subject(claims: &Map<String, Value>) -> Result<&str> {
    claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::Claims("the token has no sub".into()))
}

/// A claim that is a string, a space-separated string, or an array of strings.
fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(claims: Value) -> Result<Principal> {
        let Value::Object(claims) = claims else {
            return Err(Error::Claims("not an object".into()));
        };
        PlainClaims::default().map("https://issuer.example", &claims)
    }

    #[test]
    fn plain_claims_map_to_a_principal() {
        let p = map(json!({
            "sub": "anna", "kommunekode": "0101", "loa": "Substantial",
            "roles": [roles::role_uri("laes-oekonomi"), "laes-borger", "http://elsewhere/x"]
        }))
        .ok();
        let p = p.as_ref();
        assert_eq!(p.map(|p| p.municipalities.len()), Some(1));
        assert_eq!(p.map(|p| p.has_role("laes-oekonomi")), Some(true));
        assert_eq!(p.map(|p| p.has_role("laes-borger")), Some(true));
        assert_eq!(p.map(|p| p.roles.len()), Some(2));
        assert_eq!(p.map(|p| p.nsis), Some(NsisLevel::Substantial));
    }

    #[test]
    fn unknown_municipalities_grant_nothing_and_missing_loa_is_refused() {
        let p =
            map(json!({"sub": "x", "kommunekode": ["9999", "0250"], "loa": "Low", "roles": []}));
        assert_eq!(
            p.ok().map(|p| p
                .municipalities
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()),
            Some(vec!["0250".to_owned()])
        );
        assert!(map(json!({"sub": "x", "kommunekode": "0101"})).is_err());
        assert!(map(json!({"kommunekode": "0101", "loa": "Low"})).is_err());
    }

    #[test]
    fn an_assurance_claim_of_another_shape_refuses_the_token_despite_a_default() {
        let mapper = PlainClaims {
            default_loa: Some(NsisLevel::Substantial),
            ..PlainClaims::default()
        };
        let with = |loa: Value| {
            let claims = json!({"sub": "x", "kommunekode": "0101", "loa": loa});
            let claims = claims.as_object().cloned().unwrap_or_default();
            mapper
                .map("https://issuer.example", &claims)
                .map(|p| p.nsis)
        };
        assert_eq!(with(Value::Null).ok(), Some(NsisLevel::Substantial));
        assert_eq!(with(json!("Low")).ok(), Some(NsisLevel::Low));
        for odd in [
            json!(["Low"]),
            json!(2),
            json!({"level": "Low"}),
            json!("Medium"),
        ] {
            assert!(with(odd.clone()).is_err(), "{odd}");
        }
    }
}
