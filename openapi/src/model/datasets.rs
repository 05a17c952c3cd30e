//! Datasets: the catalogue a caller sees, one dataset's schema, pages of rows, history.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

/// Danish and English text.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Localised {
    pub da: String,
    pub en: String,
}

/// A dataset in the listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetSummary {
    #[schema(example = "oekonomi.posteringer")]
    pub id: String,
    #[schema(example = "oekonomi")]
    pub domain: String,
    pub title: Localised,
    pub description: Localised,
}

/// A column the caller may see.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ColumnInfo {
    #[schema(example = "beloeb")]
    pub name: String,
    /// `string`, `int32`, `int64`, `float64`, `decimal(p,s)`, `date` or `boolean`.
    #[serde(rename = "type")]
    #[schema(example = "decimal(18,2)")]
    pub data_type: String,
    /// `public`, `personal` or `sensitive`.
    #[schema(example = "public")]
    pub classification: &'static str,
    pub description: String,
}

/// One dataset: schema as visible to the caller and the table's current version.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetDetail {
    #[serde(flatten)]
    pub summary: DatasetSummary,
    /// The municipality the caller acts for.
    #[schema(example = "0101")]
    pub municipality: String,
    pub tenant_column: String,
    pub key_columns: Vec<String>,
    pub min_nsis_level: String,
    pub columns: Vec<ColumnInfo>,
    /// The table version currently served.
    pub table_version: u64,
    /// When that version was committed.
    pub updated_at: Option<DateTime<Utc>>,
    /// When the caller's municipality last delivered rows to the dataset through dap
    /// (`POST /api/v1/datasets/{id}/deliveries`); `null` when it never did.
    pub last_delivery_at: Option<DateTime<Utc>>,
}

/// The datasets the caller may see.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetList {
    pub datasets: Vec<DatasetSummary>,
}

/// One page of rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct RowsPage {
    #[schema(example = "oekonomi.posteringer")]
    pub dataset: String,
    #[schema(example = "0101")]
    pub municipality: String,
    /// The table version the page was read at; every page of a cursor chain has the same.
    pub table_version: u64,
    pub columns: Vec<String>,
    pub row_count: usize,
    /// Row objects with the selected columns. Decimals are JSON numbers with their exact
    /// digits, dates `YYYY-MM-DD` strings.
    #[schema(value_type = Vec<Object>, example = json!([{"kommunekode": "0101", "funktion": "5.22.07", "beloeb": 24517.12}]))]
    pub rows: Box<RawValue>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The caller's view of a table's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionList {
    #[schema(example = "oekonomi.posteringer")]
    pub dataset: String,
    #[schema(example = "0101")]
    pub municipality: String,
    /// Newest first.
    pub versions: Vec<VersionEntry>,
}

/// One commit (documentation of [`VersionInfo`]).
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionEntry {
    pub version: u64,
    pub timestamp: Option<DateTime<Utc>>,
    #[schema(example = "WRITE")]
    pub operation: Option<String>,
    /// Rows of the caller's municipality this commit inserted.
    pub rows_inserted: Option<u64>,
    pub rows_updated: Option<u64>,
    pub rows_deleted: Option<u64>,
}
