//! Delivery rights, administered by the municipality's IT administration: which machine
//! client (or person) may deliver which dataset for the municipality. A right is separate
//! from the read right and granted per dataset; it is read on every delivery, so a
//! revoked right stops the next delivery on every replica.

use chrono::Utc;
use dap_auth::Principal;
use dap_auth::dap_issuer::DAP_ISSUER;
use dap_openapi::model::deliveries::{DeliveryRight, DeliveryRightList, NewDeliveryRight};
use dap_schema::deliveries::DeliveryRight as StoredRight;

use crate::app::access::administered;
use crate::app::{AppError, AuditFacts, Core};

/// The grantee an input names: a machine client of the municipality, or a person.
fn grantee(
    client_id: Option<&str>,
    issuer: Option<&str>,
    subject: Option<&str>,
) -> Result<(String, String), AppError> {
    match (client_id, issuer, subject) {
        (Some(id), None, None) => Ok((DAP_ISSUER.to_owned(), id.to_owned())),
        (None, Some(issuer), Some(subject)) if !issuer.is_empty() && !subject.is_empty() => Ok((
            issuer.chars().take(512).collect(),
            subject.chars().take(512).collect(),
        )),
        _ => Err(AppError::invalid(
            // A person half named is the person's mistake; nothing named, the client's.
            if issuer.is_some() || subject.is_some() {
                "subject"
            } else {
                "client_id"
            },
            "name the grantee with client_id (a machine client), or with issuer and subject (a person)",
        )),
    }
}

fn wire(r: StoredRight) -> DeliveryRight {
    DeliveryRight {
        dataset: r.dataset,
        municipality: r.municipality,
        issuer: r.grantee_issuer,
        subject: r.grantee_subject,
        granted_at: r.granted_at,
        granted_by: r.granted_by,
    }
}

fn changed(municipality: &str, what: String) -> AuditFacts {
    AuditFacts {
        municipality: Some(municipality.to_owned()),
        columns: Some(what),
        ..AuditFacts::default()
    }
}

impl Core {
    /// Who may deliver what for the administered municipality.
    pub async fn list_delivery_rights(
        &self,
        principal: &Principal,
        acting: Option<&str>,
    ) -> Result<(DeliveryRightList, AuditFacts), AppError> {
        let m = administered(principal, acting)?;
        let rights = self.control.delivery_rights_of(m.as_str()).await?;
        let facts = AuditFacts {
            municipality: Some(m.to_string()),
            rows_returned: Some(rights.len()),
            ..AuditFacts::default()
        };
        let rights = rights.into_iter().map(wire).collect();
        Ok((DeliveryRightList { rights }, facts))
    }

    /// Grants a delivery right in the administered municipality: for a dataset in the
    /// catalogue, to one of its machine clients or to a person.
    pub async fn grant_delivery_right(
        &self,
        principal: &Principal,
        acting: Option<&str>,
        input: NewDeliveryRight,
    ) -> Result<(DeliveryRight, AuditFacts), AppError> {
        let m = administered(principal, acting)?;
        if self.catalogue.get(&input.dataset).is_none() {
            return Err(AppError::invalid(
                "dataset",
                format!(
                    "dataset '{}' is not in the catalogue: see GET /api/v1/datasets",
                    input.dataset.chars().take(130).collect::<String>()
                ),
            ));
        }
        let (issuer, subject) = grantee(
            input.client_id.as_deref(),
            input.issuer.as_deref(),
            input.subject.as_deref(),
        )?;
        if input.client_id.is_some() {
            let client = self.control.machine_client(&subject).await?;
            if client.is_none_or(|(c, _)| c.municipality != m.as_str()) {
                return Err(AppError::invalid(
                    "client_id",
                    format!(
                        "municipality {m} has no machine client '{}': see GET /api/v1/admin/clients",
                        subject.chars().take(64).collect::<String>()
                    ),
                ));
            }
        }
        let right = StoredRight {
            dataset: input.dataset,
            municipality: m.to_string(),
            grantee_issuer: issuer,
            grantee_subject: subject,
            granted_at: Utc::now(),
            granted_by: principal.subject.chars().take(512).collect(),
        };
        self.control.grant_delivery_right(right.clone()).await?;
        let facts = changed(
            m.as_str(),
            format!(
                "granted delivery of {} to {} at {}",
                right.dataset, right.grantee_subject, right.grantee_issuer
            ),
        );
        Ok((wire(right), facts))
    }

    /// Revokes a delivery right of the administered municipality.
    pub async fn revoke_delivery_right(
        &self,
        principal: &Principal,
        acting: Option<&str>,
        dataset: &str,
        client_id: Option<&str>,
        issuer: Option<&str>,
        subject: Option<&str>,
    ) -> Result<((), AuditFacts), AppError> {
        let m = administered(principal, acting)?;
        let (issuer, subject) = grantee(client_id, issuer, subject)?;
        if !self
            .control
            .revoke_delivery_right(m.as_str(), dataset, &issuer, &subject)
            .await?
        {
            return Err(AppError::NotFound);
        }
        let facts = changed(
            m.as_str(),
            format!("revoked delivery of {dataset} by {subject} at {issuer}"),
        );
        Ok(((), facts))
    }
}
