//! Delegations: municipality A lets organisation B (a CVR: an IT community, a
//! consultancy, another municipality) read named datasets of A until a date. Visible to
//! both sides, revocable by A, audited.

use chrono::Utc;
use dap_auth::Principal;
use dap_auth::secrets::new_id;
use dap_openapi::model::admin::{DelegationInfo, DelegationList, NewDelegation};
use dap_schema::admin::Delegation;

use super::{changed, known_datasets, listed, same_municipality, split};
use crate::app::access::administered;
use crate::app::input::{DateMeans, instant};
use crate::app::{AppError, AuditFacts, Core};

/// Longest a delegation may run, in days.
pub const MAX_DAYS: i64 = 3 * 366;

/// A delegation as seen from `municipality`: granted by it, or received by its CVR.
pub fn delegation_info(d: Delegation, municipality: &str) -> DelegationInfo {
    DelegationInfo {
        direction: if d.grantor == municipality {
            "granted".into()
        } else {
            "received".into()
        },
        datasets: split(&d.datasets),
        id: d.id,
        grantor: d.grantor,
        grantee_cvr: d.grantee_cvr,
        valid_until: d.valid_until,
        created_at: d.created_at,
        revoked_at: d.revoked_at,
    }
}

/// The grantee's CVR number, checked: 8 digits, not the grantor's own.
fn grantee(input: &NewDelegation, grantor_cvr: Option<&str>) -> Result<String, AppError> {
    let cvr = input.grantee_cvr.trim();
    if cvr.len() != 8 || !cvr.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::invalid(
            "grantee_cvr",
            "grantee_cvr must be a CVR number of 8 digits",
        ));
    }
    if grantor_cvr == Some(cvr) {
        return Err(AppError::invalid(
            "grantee_cvr",
            "a municipality cannot delegate to itself",
        ));
    }
    Ok(cvr.to_owned())
}

impl Core {
    /// Delegations the administered municipality granted, and those granted to its CVR.
    pub async fn delegations(
        &self,
        principal: &Principal,
        acting: Option<&str>,
    ) -> Result<(DelegationList, AuditFacts), AppError> {
        let m = administered(principal, acting)?;
        let cvr = m.municipality().map(|x| x.cvr.clone()).unwrap_or_default();
        let delegations: Vec<DelegationInfo> = self
            .control
            .delegations_involving(m.as_str(), &cvr)
            .await?
            .into_iter()
            .map(|d| delegation_info(d, m.as_str()))
            .collect();
        let facts = listed(m.as_str(), delegations.len());
        Ok((DelegationList { delegations }, facts))
    }

    /// Lets an organisation read named datasets of the administered municipality until
    /// a date (at most three years ahead).
    pub async fn delegate(
        &self,
        principal: &Principal,
        acting: Option<&str>,
        input: NewDelegation,
    ) -> Result<(DelegationInfo, AuditFacts), AppError> {
        let m = administered(principal, acting)?;
        same_municipality(input.grantor.as_deref(), m.as_str())?;
        let own_cvr = m.municipality().map(|x| x.cvr.clone());
        let cvr = grantee(&input, own_cvr.as_deref())?;
        let is_known = |id: &str| self.catalogue.get(id).is_some();
        let datasets = known_datasets("datasets", is_known, &input.datasets)?;
        let now = Utc::now();
        let valid_until = instant(
            "field",
            "valid_until",
            &input.valid_until,
            DateMeans::EndOfDay,
        )
        .map_err(|e| e.in_field("valid_until"))?;
        if valid_until <= now || valid_until > now + chrono::Duration::days(MAX_DAYS) {
            return Err(AppError::invalid(
                "valid_until",
                "field 'valid_until' must be in the future and at most three years ahead, e.g. 2027-06-30",
            ));
        }
        let stored = Delegation {
            id: new_id("del-"),
            grantor: m.to_string(),
            grantee_cvr: cvr,
            datasets: datasets.join(","),
            valid_until,
            created_at: now,
            created_by: principal.subject.chars().take(512).collect(),
            revoked_at: None,
        };
        self.control.insert_delegation(stored.clone()).await?;
        self.admin.reload(&self.control).await?;
        let facts = changed(
            m.as_str(),
            format!(
                "delegated {} to CVR {} until {} ({})",
                stored.datasets, stored.grantee_cvr, stored.valid_until, stored.id
            ),
        );
        Ok((delegation_info(stored, m.as_str()), facts))
    }

    /// Revokes a delegation the administered municipality granted; it stops at once on
    /// this replica and within `lake.refresh_secs` on the others.
    pub async fn revoke_delegation(
        &self,
        principal: &Principal,
        acting: Option<&str>,
        id: &str,
    ) -> Result<((), AuditFacts), AppError> {
        let m = administered(principal, acting)?;
        if !self
            .control
            .revoke_delegation(m.as_str(), id, Utc::now())
            .await?
        {
            return Err(AppError::NotFound);
        }
        self.admin.reload(&self.control).await?;
        Ok(((), changed(m.as_str(), format!("revoked delegation {id}"))))
    }
}
