//! Personal access tokens that act for the administrator's municipality.

use chrono::Utc;
use dap_auth::Principal;
use dap_openapi::model::admin::{MunicipalToken, MunicipalTokenList};

use super::{changed, listed, split};
use crate::app::access::administered;
use crate::app::{AppError, AuditFacts, Core};

impl Core {
    /// The personal access tokens that act for the administered municipality.
    pub async fn municipal_tokens(
        &self,
        principal: &Principal,
        acting: Option<&str>,
    ) -> Result<(MunicipalTokenList, AuditFacts), AppError> {
        let m = administered(principal, acting)?;
        let tokens: Vec<MunicipalToken> = self
            .control
            .personal_tokens_for(m.as_str())
            .await?
            .into_iter()
            .map(|t| MunicipalToken {
                datasets: split(&t.datasets),
                id: t.id,
                subject: t.subject,
                name: t.name,
                created_at: t.created_at,
                expires_at: t.expires_at,
                revoked_at: t.revoked_at,
            })
            .collect();
        let facts = listed(m.as_str(), tokens.len());
        Ok((MunicipalTokenList { tokens }, facts))
    }

    /// Revokes a personal access token that acts for the administered municipality; it
    /// is refused from the next request on.
    pub async fn revoke_municipal_token(
        &self,
        principal: &Principal,
        acting: Option<&str>,
        id: &str,
    ) -> Result<((), AuditFacts), AppError> {
        let m = administered(principal, acting)?;
        if !self
            .control
            .revoke_token_for(m.as_str(), id, Utc::now())
            .await?
        {
            return Err(AppError::TokenNotFound);
        }
        Ok((
            (),
            changed(m.as_str(), format!("revoked personal token {id}")),
        ))
    }
}
