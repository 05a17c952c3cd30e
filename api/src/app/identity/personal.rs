//! Personal access tokens: a person creates them for a BI tool, limited to named
//! datasets; a token acts as its owner did at creation until it expires or is revoked.

use std::collections::BTreeSet;

use chrono::Utc;
use dap_auth::secrets::{new_id, new_personal_token, token_digest};
use dap_auth::{CallerKind, Principal};
use dap_openapi::model::identity::{CreateToken, CreatedToken, TokenInfo, TokenList};
use dap_schema::PersonalToken;

use super::{PAT_ISSUER, stored_principal};
use crate::app::admin::split;
use crate::app::{AppError, AuditFacts, Core};

/// Default and longest lifetime of a personal access token, in days.
pub const DEFAULT_DAYS: u32 = 30;
pub const MAX_DAYS: u32 = 90;

/// A stored token as its owner sees it (never the token).
pub fn token_info(t: &PersonalToken) -> TokenInfo {
    TokenInfo {
        id: t.id.clone(),
        name: t.name.clone(),
        datasets: split(&t.datasets),
        municipalities: granted_in(&t.grants),
        created_at: t.created_at,
        expires_at: t.expires_at,
        revoked_at: t.revoked_at,
    }
}

/// The municipalities of stored grants (see [`Principal::grants_json`]), in code order.
fn granted_in(grants: &str) -> Vec<String> {
    serde_json::from_str::<std::collections::BTreeMap<String, serde::de::IgnoredAny>>(grants)
        .map(|grants| grants.into_keys().collect())
        .unwrap_or_default()
}

/// Tokens are managed by people signed in through an identity provider, not by
/// machine clients and not with another personal token.
fn owner(principal: &Principal) -> Result<(), AppError> {
    if principal.kind != CallerKind::User || principal.issuer == PAT_ISSUER {
        return Err(AppError::Forbidden(
            "personal access tokens are managed with a sign-in from the identity provider, not with a machine or personal token".into(),
        ));
    }
    Ok(())
}

/// The person acting for one of their municipalities, for a token of that one only.
fn narrowed_to(principal: &Principal, code: &str) -> Result<Principal, AppError> {
    let refused = || {
        let held: Vec<&str> = principal.grants.keys().map(|m| m.as_str()).collect();
        AppError::MunicipalityNotGranted(format!(
            "municipality '{}' is not one you act for; yours: {}",
            code.chars().take(8).collect::<String>(),
            held.join(", ")
        ))
    };
    let code = dap_schema::MunicipalityCode::parse(code).map_err(|_| {
        AppError::invalid(
            "municipality",
            "municipality must be a municipality code of 4 digits, e.g. 0101",
        )
    })?;
    principal.narrowed_to(&code).ok_or_else(refused)
}

/// A token request's name, lifetime in days and datasets, checked.
fn checked(input: CreateToken) -> Result<(String, u32, BTreeSet<String>), AppError> {
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::invalid(
            "name",
            "name must be 1 to 100 characters",
        ));
    }
    let days = input.expires_in_days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(AppError::invalid(
            "expires_in_days",
            format!("expires_in_days must be between 1 and {MAX_DAYS}"),
        ));
    }
    let datasets: BTreeSet<String> = input.datasets.into_iter().collect();
    if datasets.is_empty() || datasets.len() > 100 {
        return Err(AppError::invalid(
            "datasets",
            "name 1 to 100 datasets the token may read",
        ));
    }
    Ok((name, days, datasets))
}

impl Core {
    /// Creates a personal access token for the signed-in person, limited to datasets
    /// they see ([`Core::visible_datasets`]); a dataset they do not see is
    /// [`AppError::DatasetNotFound`]. The token is returned once; only a digest is kept.
    pub async fn create_personal_token(
        &self,
        principal: &Principal,
        input: CreateToken,
    ) -> Result<(CreatedToken, AuditFacts), AppError> {
        owner(principal)?;
        let narrowed = match input.municipality.as_deref() {
            None => None,
            Some(code) => Some(narrowed_to(principal, code)?),
        };
        let principal = narrowed.as_ref().unwrap_or(principal);
        let (name, days, datasets) = checked(input)?;
        let visible = self.visible_datasets(principal);
        if !datasets
            .iter()
            .all(|id| visible.iter().any(|d| d.id.as_str() == id))
        {
            return Err(AppError::DatasetNotFound);
        }
        let token = new_personal_token();
        let now = Utc::now();
        let stored = PersonalToken {
            id: new_id("pat-"),
            token_hash: token_digest(&token),
            issuer: principal.issuer.clone(),
            subject: principal.subject.clone(),
            name,
            grants: principal.grants_json(),
            nsis_level: principal.nsis.to_string(),
            datasets: datasets.iter().cloned().collect::<Vec<_>>().join(","),
            created_at: now,
            expires_at: now + chrono::Duration::days(i64::from(days)),
            revoked_at: None,
            // The owner's data constraints go with the token: it must not see more.
            constraints: principal.constraints_json(),
        };
        self.control.insert_personal_token(stored.clone()).await?;
        let facts = AuditFacts {
            columns: Some(format!(
                "personal token {} for {}",
                stored.id, stored.datasets
            )),
            ..AuditFacts::default()
        };
        let created = CreatedToken {
            info: token_info(&stored),
            token,
        };
        Ok((created, facts))
    }

    /// The signed-in person's personal access tokens, newest first (audited like every
    /// listing; a caller who may not manage tokens is refused, and that is recorded).
    pub async fn personal_tokens(
        &self,
        principal: &Principal,
    ) -> Result<(TokenList, AuditFacts), AppError> {
        owner(principal)?;
        let tokens = self
            .control
            .personal_tokens_of(&principal.issuer, &principal.subject)
            .await?;
        let facts = AuditFacts {
            columns: Some("personal tokens".into()),
            rows_returned: Some(tokens.len()),
            ..AuditFacts::default()
        };
        let list = TokenList {
            tokens: tokens.iter().map(token_info).collect(),
        };
        Ok((list, facts))
    }

    /// Revokes one of the signed-in person's tokens; it is refused from the next request
    /// on. Another person's token is [`AppError::TokenNotFound`].
    pub async fn revoke_personal_token(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<((), AuditFacts), AppError> {
        owner(principal)?;
        let revoked = self
            .control
            .revoke_personal_token(&principal.issuer, &principal.subject, id, Utc::now())
            .await?;
        if !revoked {
            return Err(AppError::TokenNotFound);
        }
        let facts = AuditFacts {
            columns: Some(format!("revoked personal token {id}")),
            ..AuditFacts::default()
        };
        Ok(((), facts))
    }

    /// The principal of a personal access token: its owner at creation, limited to its
    /// datasets, until it expires or is revoked.
    pub(super) async fn personal_token_principal(
        &self,
        token: &str,
    ) -> Result<Principal, dap_auth::Error> {
        let invalid = |why: &str| dap_auth::Error::Claims(format!("personal token {why}"));
        if token.len() > 128 {
            return Err(invalid("malformed"));
        }
        let stored = self
            .control
            .personal_token_by_hash(&token_digest(token))
            .await
            .map_err(|e| invalid(&format!("lookup failed: {e}")))?
            .ok_or_else(|| invalid("unknown"))?;
        if stored.revoked_at.is_some() {
            return Err(dap_auth::Error::Revoked("personal token".into()));
        }
        if stored.expires_at <= Utc::now() {
            return Err(dap_auth::Error::Expired("personal token".into()));
        }
        let mut principal = stored_principal(
            stored.subject,
            PAT_ISSUER.into(),
            &stored.grants,
            &stored.nsis_level,
            stored.constraints.as_deref(),
        )?;
        principal.client_id = Some(stored.id);
        principal.datasets = Some(split(&stored.datasets).into_iter().collect());
        Ok(principal)
    }
}
