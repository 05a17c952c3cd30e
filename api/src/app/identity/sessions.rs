//! Browser sessions: after a login the principal is kept server-side and the browser
//! holds only an opaque handle (the session cookie's value), valid until it expires or
//! the user logs out.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use dap_auth::secrets::{PAT_PREFIX, new_secret, token_digest};
use dap_auth::{CallerKind, Principal, roles};
use dap_schema::{AuditOutcome, MunicipalityCode, NsisLevel, Session};

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
                last_seen_at: Some(now),
                organisations: (!principal.organisations.is_empty())
                    .then(|| serde_json::to_string(&principal.organisations))
                    .transpose()
                    .map_err(AppError::internal)?,
            })
            .await?;
        Ok(value)
    }

    /// The roles a demo sign-in may pick: every catalogued dataset's read role, the role
    /// for sensitive columns and municipal IT administration.
    pub fn demo_roles(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self
            .catalogue
            .all()
            .iter()
            .map(|d| d.read_role.clone())
            .collect();
        names.insert(roles::SENSITIVE.to_owned());
        names.insert(roles::IT_ADMIN.to_owned());
        names.into_iter().collect()
    }

    /// A demo sign-in (`dap demo` only; anywhere else [`AppError::NotFound`], as if it
    /// did not exist): a person of `municipality` holding `picked` roles, signed by the
    /// demo issuer, kept as the same kind of session as a broker login. The roles must
    /// be among [`Self::demo_roles`]; the municipality one of the 98.
    pub async fn start_demo_session(
        &self,
        subject: &str,
        municipality: &str,
        picked: &[String],
        hours: i64,
    ) -> Result<(Principal, String), AppError> {
        if !self.demo_mode() {
            return Err(AppError::NotFound);
        }
        let code = MunicipalityCode::parse(municipality.trim()).map_err(|_| {
            AppError::invalid(
                "municipality",
                "municipality must be the four-digit code of one of the 98 municipalities, e.g. 0101",
            )
        })?;
        let subject = subject.trim();
        if subject.is_empty()
            || subject.chars().count() > 64
            || !subject
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(AppError::invalid(
                "subject",
                "the user name must be 1 to 64 letters, digits, '-', '_' or '.', e.g. demo-analyst",
            ));
        }
        let offered = self.demo_roles();
        if picked.is_empty() {
            return Err(AppError::invalid(
                "roles",
                "pick at least one role, e.g. laes-oekonomi",
            ));
        }
        if let Some(unknown) = picked.iter().find(|r| !offered.contains(r)) {
            return Err(AppError::invalid(
                "roles",
                format!(
                    "'{}' is not a demo role; roles: {}",
                    unknown.chars().take(40).collect::<String>(),
                    offered.join(", ")
                ),
            ));
        }
        let grants = BTreeMap::from([(code, picked.iter().cloned().collect())]);
        let principal = Principal::from_grants(
            subject.to_owned(),
            dap_auth::dev_issuer::DEV_ISSUER.to_owned(),
            CallerKind::User,
            grants,
            NsisLevel::Substantial,
        );
        let value = self.start_session(&principal, hours).await?;
        Ok((principal, value))
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

    /// The principal of a browser session, until it expires, is left idle longer than
    /// the idle timeout, or the user logs out. An idle session is ended on the server,
    /// so it cannot be used again even if the clock were moved.
    pub(super) async fn session_principal(
        &self,
        value: &str,
    ) -> Result<Principal, dap_auth::Error> {
        let invalid = |why: &str| dap_auth::Error::Claims(format!("session {why}"));
        if value.len() > 128 || !value.starts_with(SESSION_PREFIX) {
            return Err(invalid("malformed"));
        }
        let hash = token_digest(value);
        let stored = self
            .control
            .session_by_hash(&hash)
            .await
            .map_err(|e| invalid(&format!("lookup failed: {e}")))?
            .ok_or_else(|| invalid("unknown or expired"))?;
        let now = Utc::now();
        let idle = now - stored.last_seen_at.unwrap_or(stored.created_at);
        if idle > self.session_idle {
            self.control
                .delete_session(&hash)
                .await
                .map_err(|e| invalid(&format!("ending failed: {e}")))?;
            return Err(invalid("idle too long"));
        }
        // One write a minute at most: the timeout is counted in minutes.
        if idle > chrono::Duration::minutes(1) {
            self.control
                .touch_session(&hash, now)
                .await
                .map_err(|e| invalid(&format!("update failed: {e}")))?;
        }
        let mut principal = stored_principal(
            stored.subject,
            stored.issuer,
            &stored.grants,
            &stored.nsis_level,
            stored.constraints.as_deref(),
        )?;
        if let Some(organisations) = stored.organisations.as_deref() {
            principal.organisations = serde_json::from_str(organisations)
                .map_err(|_| invalid("organisations are corrupt"))?;
        }
        Ok(principal)
    }
}
