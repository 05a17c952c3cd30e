//! Deliveries in the control plane: delivery rights (who may write a dataset for a
//! municipality) and receipts of applied deliveries. Every function takes the
//! municipality it acts within and never touches another's records.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::entity::{delivery_receipt, delivery_right};
use crate::{ControlPlane, Result};

/// A stored delivery right.
pub type DeliveryRight = delivery_right::Model;
/// A stored delivery receipt.
pub type DeliveryReceipt = delivery_receipt::Model;

impl ControlPlane {
    /// Grants a delivery right; granting one that exists changes nothing.
    pub async fn grant_delivery_right(&self, right: DeliveryRight) -> Result<()> {
        let exists = delivery_right::Entity::find_by_id((
            right.dataset.clone(),
            right.municipality.clone(),
            right.grantee_issuer.clone(),
            right.grantee_subject.clone(),
        ))
        .one(self.connection())
        .await?
        .is_some();
        if !exists {
            right.into_active_model().insert(self.connection()).await?;
        }
        Ok(())
    }

    /// Revokes a delivery right of `municipality`; false when there was none.
    pub async fn revoke_delivery_right(
        &self,
        municipality: &str,
        dataset: &str,
        issuer: &str,
        subject: &str,
    ) -> Result<bool> {
        let result = delivery_right::Entity::delete_many()
            .filter(delivery_right::Column::Municipality.eq(municipality))
            .filter(delivery_right::Column::Dataset.eq(dataset))
            .filter(delivery_right::Column::GranteeIssuer.eq(issuer))
            .filter(delivery_right::Column::GranteeSubject.eq(subject))
            .exec(self.connection())
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// The delivery rights of `municipality`, by dataset.
    pub async fn delivery_rights_of(&self, municipality: &str) -> Result<Vec<DeliveryRight>> {
        Ok(delivery_right::Entity::find()
            .filter(delivery_right::Column::Municipality.eq(municipality))
            .order_by_asc(delivery_right::Column::Dataset)
            .order_by_asc(delivery_right::Column::GranteeSubject)
            .all(self.connection())
            .await?)
    }

    /// True when the caller (issuer, subject) may deliver `dataset` for `municipality`.
    /// Read on every delivery, so a revoked right stops the next one on every replica.
    pub async fn may_deliver(
        &self,
        dataset: &str,
        municipality: &str,
        issuer: &str,
        subject: &str,
    ) -> Result<bool> {
        Ok(delivery_right::Entity::find_by_id((
            dataset.to_owned(),
            municipality.to_owned(),
            issuer.to_owned(),
            subject.to_owned(),
        ))
        .one(self.connection())
        .await?
        .is_some())
    }

    /// Stores a receipt; a receipt for the same delivery already stored is kept (a
    /// retried delivery answers with the first receipt).
    pub async fn insert_delivery_receipt(&self, receipt: DeliveryReceipt) -> Result<()> {
        delivery_receipt::Entity::insert(receipt.into_active_model())
            .on_conflict(
                OnConflict::columns([
                    delivery_receipt::Column::Dataset,
                    delivery_receipt::Column::Municipality,
                    delivery_receipt::Column::DeliveryId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(self.connection())
            .await?;
        Ok(())
    }

    /// The receipt of one delivery of `municipality`.
    pub async fn delivery_receipt(
        &self,
        dataset: &str,
        municipality: &str,
        delivery_id: &str,
    ) -> Result<Option<DeliveryReceipt>> {
        Ok(delivery_receipt::Entity::find_by_id((
            dataset.to_owned(),
            municipality.to_owned(),
            delivery_id.to_owned(),
        ))
        .one(self.connection())
        .await?)
    }

    /// The newest receipts of `municipality` for `dataset`, newest first.
    pub async fn delivery_receipts(
        &self,
        dataset: &str,
        municipality: &str,
        limit: u64,
    ) -> Result<Vec<DeliveryReceipt>> {
        Ok(delivery_receipt::Entity::find()
            .filter(delivery_receipt::Column::Dataset.eq(dataset))
            .filter(delivery_receipt::Column::Municipality.eq(municipality))
            .order_by_desc(delivery_receipt::Column::TableVersion)
            .limit(limit)
            .all(self.connection())
            .await?)
    }

    /// When `municipality` last delivered `dataset`.
    pub async fn last_delivery(
        &self,
        dataset: &str,
        municipality: &str,
    ) -> Result<Option<DateTime<Utc>>> {
        Ok(self
            .delivery_receipts(dataset, municipality, 1)
            .await?
            .first()
            .map(|r| r.delivered_at))
    }
}
