//! Dataset operations, for every surface: list, describe, a page of rows, an aggregate,
//! an export, the change feed and the history. Each resolves the caller's scope first
//! ([`Core::scope`]), reads only through the lake's scoped scan, and returns its answer
//! with the facts its audit record needs.

use std::sync::Arc;

use dap_auth::Principal;
use dap_lake::arrow::array::{Array, Int64Array, RecordBatch};
use dap_lake::arrow::compute::concat_batches;
use dap_lake::export::{Export, Format};
use dap_lake::{Measure, RowQuery, TableInfo, VersionInfo};
use dap_openapi::model::datasets::{
    ColumnInfo, DatasetDetail, DatasetList, DatasetSummary, Localised, VersionEntry, VersionList,
};
use dap_schema::{AccessScope, DatasetDef};

use super::paging::{Page, PageRequest};
use super::{AppError, AuditFacts, Core};

/// Which dataset, acting for which municipality (required when the caller has several).
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub dataset: &'a str,
    pub municipality: Option<&'a str>,
}

/// Groups of an aggregate, with a count and measures per group.
#[derive(Debug, Clone, Default)]
pub struct AggregateRequest {
    /// Filters, version and instant apply; projection, order and page do not.
    pub query: RowQuery,
    pub group_by: Vec<String>,
    pub measures: Vec<(Measure, String)>,
}

/// The groups of an aggregate.
#[derive(Debug, Clone)]
pub struct Aggregate {
    pub version: u64,
    pub municipality: String,
    pub batch: Arc<RecordBatch>,
}

/// A download under way: the encoded stream and what to call it.
#[derive(Debug)]
pub struct Download {
    pub export: Export,
    pub format: Format,
    /// `<dataset>_v<version>_<municipality>.<ext>` (or `_changes_<from>-<to>_`).
    pub filename: String,
    /// The export's place under the limits; held until the download ends.
    pub permit: super::exports::ExportPermit,
}

/// A change-feed request: the caller's changed rows between two versions.
#[derive(Debug, Clone)]
pub struct ChangesRequest {
    pub from: u64,
    /// The caller's current version when absent.
    pub to: Option<u64>,
    /// Columns (all visible when empty); the change columns are always added.
    pub columns: Vec<String>,
    pub format: Format,
}

/// The summary of a dataset, as listed.
pub fn summary(d: &DatasetDef) -> DatasetSummary {
    DatasetSummary {
        id: d.id.to_string(),
        domain: d.domain.clone(),
        title: Localised {
            da: d.title_da.clone(),
            en: d.title_en.clone(),
        },
        description: Localised {
            da: d.description_da.clone(),
            en: d.description_en.clone(),
        },
    }
}

fn scoped(scope: &AccessScope) -> AuditFacts {
    AuditFacts {
        municipality: Some(scope.municipality().to_string()),
        ..AuditFacts::default()
    }
}

impl Core {
    /// The datasets the caller sees ([`Core::visible_datasets`]).
    pub async fn list_datasets(
        &self,
        principal: &Principal,
    ) -> Result<(DatasetList, AuditFacts), AppError> {
        let datasets: Vec<DatasetSummary> = self
            .visible_datasets(principal)
            .iter()
            .map(|d| summary(d))
            .collect();
        let facts = AuditFacts {
            rows_returned: Some(datasets.len()),
            ..AuditFacts::default()
        };
        Ok((DatasetList { datasets }, facts))
    }

    /// One dataset: the columns the caller may see, and the version of their data.
    pub async fn describe_dataset(
        &self,
        principal: &Principal,
        target: Target<'_>,
    ) -> Result<(DatasetDetail, AuditFacts), AppError> {
        let scope = self.scope(principal, target.dataset, target.municipality)?;
        let info = self.lake.table_info(&scope).await?;
        let dataset = scope.dataset();
        // The last delivery dates the whole partition: not told to a reader narrowed to
        // some of its rows (see `list_deliveries`).
        let last_delivery_at = match scope.row_constraints() {
            Some(_) => None,
            None => {
                self.control
                    .last_delivery(dataset.id.as_str(), scope.municipality().as_str())
                    .await?
            }
        };
        let detail = DatasetDetail {
            summary: summary(dataset),
            municipality: scope.municipality().to_string(),
            tenant_column: dataset.tenant_column.clone(),
            key_columns: dataset
                .key_columns
                .iter()
                .filter(|k| scope.can_see(k))
                .cloned()
                .collect(),
            min_nsis_level: dataset.min_nsis.to_string(),
            columns: dataset
                .columns
                .iter()
                .filter(|c| scope.can_see(&c.name))
                .map(|c| ColumnInfo {
                    name: c.name.clone(),
                    data_type: c.data_type.to_string(),
                    classification: c.classification.as_str(),
                    description: c.description.clone(),
                })
                .collect(),
            table_version: info.version,
            updated_at: info.timestamp,
            last_delivery_at,
        };
        let facts = AuditFacts {
            table_version: Some(info.version),
            ..scoped(&scope)
        };
        Ok((detail, facts))
    }

    /// The version of the caller's data, and when it was committed.
    pub async fn data_version(
        &self,
        principal: &Principal,
        target: Target<'_>,
    ) -> Result<TableInfo, AppError> {
        let scope = self.scope(principal, target.dataset, target.municipality)?;
        Ok(self.lake.table_info(&scope).await?)
    }

    /// One page of the caller's rows.
    pub async fn read_page(
        &self,
        principal: &Principal,
        target: Target<'_>,
        request: PageRequest,
    ) -> Result<(Page, AuditFacts), AppError> {
        let scope = self.scope(principal, target.dataset, target.municipality)?;
        self.page(&scope, request).await
    }

    /// Groups of the caller's rows with a count and measures.
    pub async fn aggregate(
        &self,
        principal: &Principal,
        target: Target<'_>,
        request: AggregateRequest,
    ) -> Result<(Aggregate, AuditFacts), AppError> {
        let scope = self.scope(principal, target.dataset, target.municipality)?;
        let mut query = request.query;
        // The aggregate reads its own columns; the projection only has to be valid.
        query.columns = Some(scope.visible_columns().iter().take(1).cloned().collect());
        let resolved = query.resolve(&scope)?;
        let result = self
            .lake
            .aggregate(&scope, &resolved, &request.group_by, &request.measures)
            .await?;
        let batch = match result.batches.first() {
            Some(first) => {
                concat_batches(&first.schema(), &result.batches).map_err(dap_lake::Error::from)?
            }
            None => RecordBatch::new_empty(Arc::new(dap_lake::arrow::datatypes::Schema::empty())),
        };
        let measured = request.measures.iter().map(|(m, c)| m.output(c));
        let columns: Vec<String> = request.group_by.iter().cloned().chain(measured).collect();
        let facts = AuditFacts {
            table_version: Some(result.version),
            columns: Some(columns.join(",")),
            filter: Some(resolved.normalised_filter()).filter(|f| !f.is_empty()),
            rows_returned: Some(batch.num_rows()),
            ..scoped(&scope)
        };
        let aggregate = Aggregate {
            version: result.version,
            municipality: scope.municipality().to_string(),
            batch: Arc::new(batch),
        };
        Ok((aggregate, facts))
    }

    /// How many of the caller's rows `query`'s filters select (projection, order and page
    /// do not count): the count of an aggregate without groups.
    pub async fn count_rows(
        &self,
        principal: &Principal,
        target: Target<'_>,
        query: RowQuery,
    ) -> Result<(u64, AuditFacts), AppError> {
        let request = AggregateRequest {
            query,
            group_by: Vec::new(),
            measures: Vec::new(),
        };
        let (aggregate, facts) = self.aggregate(principal, target, request).await?;
        let counts = aggregate
            .batch
            .column_by_name(dap_lake::aggregate::COUNT_COLUMN)
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
            .filter(|c| !c.is_empty())
            .map(|c| c.value(0));
        let count = u64::try_from(counts.unwrap_or(0)).unwrap_or(0);
        Ok((count, facts))
    }

    /// The scopes of the datasets the caller can read now, acting for `municipality`:
    /// [`Self::visible_datasets`] that [`Self::scope`] opens. A surface that publishes a
    /// schema of the caller's data (OData `$metadata`) lists these, with each scope's
    /// visible columns. A dataset the caller sees but cannot read yet (e.g. a higher NSIS
    /// level needed) is left out; a caller with several municipalities must name one.
    pub async fn readable_scopes(
        &self,
        principal: &Principal,
        municipality: Option<&str>,
    ) -> Result<(Vec<AccessScope>, AuditFacts), AppError> {
        // A municipality the caller does not act for is refused as a read is, not
        // answered with an empty list (a typo would look like having no datasets).
        if let Some(requested) = municipality {
            self.choose_municipality(principal, requested)?;
        }
        let mut scopes = Vec::new();
        for dataset in self.visible_datasets(principal) {
            match self.scope(principal, dataset.id.as_str(), municipality) {
                Ok(scope) => scopes.push(scope),
                Err(e @ AppError::MunicipalityRequired(_)) => return Err(e),
                Err(_) => {}
            }
        }
        let facts = AuditFacts {
            municipality: scopes.first().map(|s| s.municipality().to_string()),
            rows_returned: Some(scopes.len()),
            ..AuditFacts::default()
        };
        Ok((scopes, facts))
    }

    /// Every row `query` selects, encoded as `format` while it streams.
    pub async fn export(
        &self,
        principal: &Principal,
        target: Target<'_>,
        query: RowQuery,
        format: Format,
    ) -> Result<(Download, AuditFacts), AppError> {
        let scope = self.scope(principal, target.dataset, target.municipality)?;
        let mut query = query;
        query.limit = None;
        let resolved = query.resolve(&scope)?;
        let permit = self.exports.admit(principal)?;
        let export = self.lake.export(&scope, &resolved, format).await?;
        let municipality = scope.municipality().to_string();
        let filename = format!(
            "{}_v{}_{municipality}.{}",
            scope.dataset().id,
            export.version,
            format.extension()
        );
        let facts = AuditFacts {
            table_version: Some(export.version),
            columns: Some(resolved.select.join(",")),
            filter: Some(resolved.normalised_filter()).filter(|f| !f.is_empty()),
            ..scoped(&scope)
        };
        Ok((
            Download {
                export,
                format,
                filename,
                permit,
            },
            facts,
        ))
    }

    /// The caller's changed rows between two versions (the change data feed).
    pub async fn changes(
        &self,
        principal: &Principal,
        target: Target<'_>,
        request: ChangesRequest,
    ) -> Result<(Download, AuditFacts), AppError> {
        let scope = self.scope(principal, target.dataset, target.municipality)?;
        let ChangesRequest {
            from,
            to,
            columns,
            format,
        } = request;
        if format == Format::Xlsx {
            return Err(AppError::InvalidParameter(
                "the change feed is not offered as XLSX; use json, ndjson, csv, parquet or arrow"
                    .into(),
            ));
        }
        let permit = self.exports.admit(principal)?;
        let export = self
            .lake
            .export_changes(&scope, from, to, &columns, format)
            .await?;
        let municipality = scope.municipality().to_string();
        let filename = format!(
            "{}_changes_{from}-{}_{municipality}.{}",
            scope.dataset().id,
            export.version,
            format.extension()
        );
        let facts = AuditFacts {
            table_version: Some(export.version),
            columns: Some(if columns.is_empty() {
                scope.visible_columns().join(",")
            } else {
                columns.join(",")
            }),
            filter: Some(format!(
                "changes from version {from} to version {}",
                export.version
            )),
            ..scoped(&scope)
        };
        Ok((
            Download {
                export,
                format,
                filename,
                permit,
            },
            facts,
        ))
    }

    /// The versions that changed the caller's rows, newest first.
    pub async fn versions(
        &self,
        principal: &Principal,
        target: Target<'_>,
    ) -> Result<(VersionList, AuditFacts), AppError> {
        let scope = self.scope(principal, target.dataset, target.municipality)?;
        let versions = self.lake.versions(&scope).await?;
        let facts = AuditFacts {
            table_version: versions.first().map(|v| v.version),
            rows_returned: Some(versions.len()),
            ..scoped(&scope)
        };
        let list = VersionList {
            dataset: scope.dataset().id.to_string(),
            municipality: scope.municipality().to_string(),
            versions: versions.into_iter().map(entry).collect(),
        };
        Ok((list, facts))
    }
}

fn entry(v: VersionInfo) -> VersionEntry {
    VersionEntry {
        version: v.version,
        timestamp: v.timestamp,
        operation: v.operation,
        rows_inserted: v.rows_inserted,
        rows_updated: v.rows_updated,
        rows_deleted: v.rows_deleted,
    }
}
