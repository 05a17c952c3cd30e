//! Browser sessions: after a login the principal is kept server-side and the browser
//! holds only an opaque handle (the session cookie's value), valid until it expires or
//! the user logs out.

use chrono::Utc;
use dap_auth::Principal;
use dap_auth::secrets::{PAT_PREFIX, new_secret, token_digest};
use dap_schema::{AuditOutcome, Session};

use super::stored_principal;
use crate::app::{AppError, Core, RequestContext};

/// Prefix of session handles (distinct from personal access tokens).
pub const SESSION_PREFIX: &str = "dap_s_";

impl Core {
    /// Starts a session for `principal` lasting `hours`; returns its handle, which is
    /// shown to the browser only (dap keeps a digest).
    pub async fn start_session(
        &self,
        principal: &Principal,
        hours: i64,
    ) -> Result<String, AppError> {
        let value = format!("{SESSION_PREFIX}{}", new_secret());
        debug_assert!(!value.starts_with(PAT_PREFIX));
        let now = Utc::now();
        self.control
            .insert_session(Session {
                id_hash: token_digest(&value),
                issuer: principal.issuer.clone(),
                subject: principal.subject.clone(),
                grants: principal.grants_json(),
                constraints: principal.constraints_json(),
                nsis_level: principal.nsis.to_string(),
                created_at: now,
                expires_at: now + chrono::Duration::hours(hours),
            })
            .await?;
        Ok(value)
    }

    /// Ends the session with handle `value`, if there is one, and audits the logout
    /// under the session's subject.
    pub async fn end_session(&self, ctx: &RequestContext, value: &str) -> Result<(), AppError> {
        let hash = token_digest(value);
        let session = self.control.session_by_hash(&hash).await?;
        self.control.delete_session(&hash).await?;
        if let Some(session) = session {
            let mut record = ctx.record(None, AuditOutcome::Allowed);
            record.subject = Some(session.subject);
            record.caller_kind = Some("user".into());
            self.append_audit(&record).await?;
        }
        Ok(())
    }

    /// The principal of a browser session, until it expires or the user logs out.
    pub(super) async fn session_principal(
        &self,
        value: &str,
    ) -> Result<Principal, dap_auth::Error> {
        let invalid = |why: &str| dap_auth::Error::Claims(format!("session {why}"));
        if value.len() > 128 || !value.starts_with(SESSION_PREFIX) {
            return Err(invalid("malformed"));
        }
        let stored = self
            .control
            .session_by_hash(&token_digest(value))
            .await
            .map_err(|e| invalid(&format!("lookup failed: {e}")))?
            .ok_or_else(|| invalid("unknown or expired"))?;
        stored_principal(
            stored.subject,
            stored.issuer,
            &stored.grants,
            &stored.nsis_level,
            stored.constraints.as_deref(),
        )
    }
}
