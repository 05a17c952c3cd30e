//! The control plane's side of IT administration: a municipality's clients, personal
//! tokens, settings and delegations, and the audit log as administrators query it. Every
//! function takes the municipality it acts within and never touches another's records.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::entity::{
    audit_event, delegation, machine_client, municipality_setting, personal_token,
};
use crate::{ControlPlane, MachineClient, PersonalToken, Result};

/// A stored delegation.
pub type Delegation = delegation::Model;
/// A municipality's stored settings.
pub type MunicipalitySettings = municipality_setting::Model;

/// Filters of an audit query.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only records acted for this municipality; `None` (platform operator): all.
    pub municipality: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub subject: Option<String>,
    pub dataset: Option<String>,
    pub outcome: Option<String>,
    /// Records after this id (keyset paging).
    pub after_id: Option<i64>,
}

impl ControlPlane {
    /// The machine clients of `municipality`, newest first, with their creation time.
    pub async fn clients_of(
        &self,
        municipality: &str,
    ) -> Result<Vec<(MachineClient, DateTime<Utc>)>> {
        Ok(machine_client::Entity::find()
            .filter(machine_client::Column::Municipality.eq(municipality))
            .order_by_desc(machine_client::Column::CreatedAt)
            .all(self.connection())
            .await?
            .iter()
            .map(|m| (MachineClient::from(m), m.created_at))
            .collect())
    }

    /// Replaces a client's secret hash; false when `municipality` has no such client.
    pub async fn set_client_secret(
        &self,
        municipality: &str,
        client_id: &str,
        secret_hash: &str,
    ) -> Result<bool> {
        let result = machine_client::Entity::update_many()
            .col_expr(machine_client::Column::SecretHash, Expr::value(secret_hash))
            .filter(machine_client::Column::ClientId.eq(client_id))
            .filter(machine_client::Column::Municipality.eq(municipality))
            .exec(self.connection())
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// Disables a client of `municipality`; false when it has no such client.
    pub async fn disable_client_of(&self, municipality: &str, client_id: &str) -> Result<bool> {
        let result = machine_client::Entity::update_many()
            .col_expr(machine_client::Column::Disabled, Expr::value(true))
            .filter(machine_client::Column::ClientId.eq(client_id))
            .filter(machine_client::Column::Municipality.eq(municipality))
            .exec(self.connection())
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// Deletes a client of `municipality`; its tokens stop working at once.
    pub async fn delete_client_of(&self, municipality: &str, client_id: &str) -> Result<bool> {
        let result = machine_client::Entity::delete_many()
            .filter(machine_client::Column::ClientId.eq(client_id))
            .filter(machine_client::Column::Municipality.eq(municipality))
            .exec(self.connection())
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// Personal access tokens that act for `municipality` (their owner held a role
    /// there), newest first.
    pub async fn personal_tokens_for(&self, municipality: &str) -> Result<Vec<PersonalToken>> {
        let candidates = personal_token::Entity::find()
            .filter(personal_token::Column::Grants.contains(format!("\"{municipality}\"")))
            .order_by_desc(personal_token::Column::CreatedAt)
            .all(self.connection())
            .await?;
        Ok(candidates
            .into_iter()
            .filter(|t| grants_include(&t.grants, municipality))
            .collect())
    }

    /// Revokes a personal token that acts for `municipality`; false when there is none.
    pub async fn revoke_token_for(
        &self,
        municipality: &str,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let Some(token) = personal_token::Entity::find_by_id(id.to_owned())
            .one(self.connection())
            .await?
        else {
            return Ok(false);
        };
        if !grants_include(&token.grants, municipality) {
            return Ok(false);
        }
        if token.revoked_at.is_none() {
            let mut active: personal_token::ActiveModel = token.into();
            active.revoked_at = Set(Some(at));
            active.update(self.connection()).await?;
        }
        Ok(true)
    }

    /// Every municipality's settings (for the policy cache).
    pub async fn all_municipality_settings(&self) -> Result<Vec<MunicipalitySettings>> {
        Ok(municipality_setting::Entity::find()
            .all(self.connection())
            .await?)
    }

    /// Stores a municipality's settings.
    pub async fn put_municipality_settings(&self, settings: MunicipalitySettings) -> Result<()> {
        let exists = municipality_setting::Entity::find_by_id(settings.municipality.clone())
            .one(self.connection())
            .await?
            .is_some();
        let active = municipality_setting::ActiveModel {
            municipality: Set(settings.municipality),
            disabled_datasets: Set(settings.disabled_datasets),
            min_nsis: Set(settings.min_nsis),
            updated_at: Set(settings.updated_at),
            updated_by: Set(settings.updated_by),
        };
        if exists {
            active.update(self.connection()).await?;
        } else {
            active.insert(self.connection()).await?;
        }
        Ok(())
    }

    /// Stores a new delegation.
    pub async fn insert_delegation(&self, d: Delegation) -> Result<()> {
        let active: delegation::ActiveModel = d.into();
        active.insert(self.connection()).await?;
        Ok(())
    }

    /// Delegations granted by `municipality` or to organisation `cvr`, newest first.
    pub async fn delegations_involving(
        &self,
        municipality: &str,
        cvr: &str,
    ) -> Result<Vec<Delegation>> {
        Ok(delegation::Entity::find()
            .filter(
                Condition::any()
                    .add(delegation::Column::Grantor.eq(municipality))
                    .add(delegation::Column::GranteeCvr.eq(cvr)),
            )
            .order_by_desc(delegation::Column::CreatedAt)
            .all(self.connection())
            .await?)
    }

    /// Delegations in force at `now` (for the policy cache).
    pub async fn active_delegations(&self, now: DateTime<Utc>) -> Result<Vec<Delegation>> {
        Ok(delegation::Entity::find()
            .filter(delegation::Column::RevokedAt.is_null())
            .filter(delegation::Column::ValidUntil.gt(now))
            .all(self.connection())
            .await?)
    }

    /// Revokes a delegation `municipality` granted; false when it granted no such one.
    pub async fn revoke_delegation(
        &self,
        municipality: &str,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let result = delegation::Entity::update_many()
            .col_expr(delegation::Column::RevokedAt, Expr::value(at))
            .filter(delegation::Column::Id.eq(id))
            .filter(delegation::Column::Grantor.eq(municipality))
            .filter(delegation::Column::RevokedAt.is_null())
            .exec(self.connection())
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// One page of audit records matching `query`, oldest first.
    pub async fn query_audit(
        &self,
        query: &AuditQuery,
        limit: u64,
    ) -> Result<Vec<audit_event::Model>> {
        let mut find = audit_event::Entity::find();
        if let Some(m) = &query.municipality {
            find = find.filter(audit_event::Column::Municipality.eq(m.as_str()));
        }
        if let Some(from) = query.from {
            find = find.filter(audit_event::Column::OccurredAt.gte(from));
        }
        if let Some(to) = query.to {
            find = find.filter(audit_event::Column::OccurredAt.lt(to));
        }
        if let Some(s) = &query.subject {
            find = find.filter(audit_event::Column::Subject.eq(s.as_str()));
        }
        if let Some(d) = &query.dataset {
            find = find.filter(audit_event::Column::Dataset.eq(d.as_str()));
        }
        if let Some(o) = &query.outcome {
            find = find.filter(audit_event::Column::Outcome.eq(o.as_str()));
        }
        if let Some(after) = query.after_id {
            find = find.filter(audit_event::Column::Id.gt(after));
        }
        Ok(find
            .order_by_asc(audit_event::Column::Id)
            .limit(limit)
            .all(self.connection())
            .await?)
    }
}

/// True when a stored grants JSON (municipality → roles) names `municipality`.
fn grants_include(grants: &str, municipality: &str) -> bool {
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(grants)
        .is_ok_and(|g| g.contains_key(municipality))
}
