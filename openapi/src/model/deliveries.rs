//! The bodies of deliveries: a municipality's systems writing their own rows
//! (`/api/v1/datasets/{id}/deliveries`) and the delivery rights IT administrators grant
//! (`/api/v1/admin/delivery-rights`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The receipt of a delivery applied to a dataset's table.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryReceipt {
    #[schema(example = "oekonomi.posteringer")]
    pub dataset: String,
    #[schema(example = "0101")]
    pub municipality: String,
    /// The delivery id: the one the client chose, or `sha256-<hex>` of the file (for
    /// `delete` and `replace`, of the file with the mode and period).
    #[schema(example = "2024-03-31-bogfoering")]
    pub delivery_id: String,
    /// `upsert`, `replace` or `delete`.
    pub mode: String,
    /// The table version that applied the delivery.
    pub table_version: u64,
    pub rows_inserted: u64,
    pub rows_updated: u64,
    pub rows_deleted: u64,
    /// When the delivery was committed.
    pub delivered_at: DateTime<Utc>,
    /// True when this delivery had been applied before: nothing was written now, and
    /// this is the first receipt.
    pub replayed: bool,
}

/// A municipality's receipts for a dataset, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryReceiptList {
    pub receipts: Vec<DeliveryReceipt>,
}

/// One problem of a refused delivery.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryProblem {
    /// Line of the file (a CSV header is line 1; for Parquet the row number; 0 for the
    /// file as a whole).
    pub line: u64,
    /// The column, when the problem is in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub message: String,
}

/// Who may deliver a dataset for the municipality.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryRight {
    pub dataset: String,
    pub municipality: String,
    /// The issuer of the grantee's tokens (`dap` for machine clients).
    pub issuer: String,
    /// The grantee: a machine client's id, or a person's subject at `issuer`.
    pub subject: String,
    pub granted_at: DateTime<Utc>,
    pub granted_by: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryRightList {
    pub rights: Vec<DeliveryRight>,
}

/// Grants a delivery right: to a machine client of the municipality (`client_id`), or
/// to a person (`issuer` and `subject`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeliveryRight {
    #[schema(example = "oekonomi.posteringer")]
    pub dataset: String,
    pub client_id: Option<String>,
    pub issuer: Option<String>,
    pub subject: Option<String>,
}
