//! Pages of rows with signed cursors, for every surface that pages (REST `cursor`,
//! GraphQL `after`): one row more than the page tells whether there is a next page, and
//! the cursor binds the next page to dataset, version, query, caller and municipality.

use std::sync::Arc;

use dap_lake::RowQuery;
use dap_lake::arrow::array::RecordBatch;
use dap_lake::arrow::compute::concat_batches;
use dap_lake::encode;
use dap_lake::query::{DEFAULT_LIMIT, ResolvedQuery};
use dap_schema::AccessScope;

use super::cursor::{Cursor, CursorSigner};
use super::{AppError, AuditFacts, Core};

/// A page a caller asks for.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// The query; `limit` is the page size (default [`DEFAULT_LIMIT`]).
    pub query: RowQuery,
    /// The cursor of the previous page, unchanged.
    pub cursor: Option<String>,
    /// Which surface asks: cursors of one surface are not valid on another, whose
    /// queries are written differently.
    pub surface: &'static str,
}

/// One page of a dataset.
#[derive(Debug, Clone)]
pub struct Page {
    pub dataset: String,
    pub municipality: String,
    /// The version read; every page of a cursor chain has the same.
    pub version: u64,
    /// The position of the page's first row in the whole result.
    pub offset: u64,
    pub columns: Vec<String>,
    pub batch: Arc<RecordBatch>,
    /// The cursor of the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

impl Core {
    /// One page of the rows `request` selects within `scope`.
    pub(super) async fn page(
        &self,
        scope: &AccessScope,
        request: PageRequest,
    ) -> Result<(Page, AuditFacts), AppError> {
        let id = scope.dataset().id.to_string();
        let mut query = request.query;
        query.limit = Some(query.limit.unwrap_or(DEFAULT_LIMIT));
        let mut resolved = query.resolve(scope)?;
        // The requested version or instant is part of the query a cursor is bound to.
        let query_hash = CursorSigner::query_hash(&format!(
            "{}|{}|{:?}|{:?}",
            request.surface,
            resolved.fingerprint(),
            resolved.version,
            resolved.as_of
        ));
        if let Some(token) = request.cursor.as_deref() {
            let cursor = self.cursors.verify(token)?;
            if cursor.d != id
                || cursor.s != scope.subject()
                || cursor.m != scope.municipality().as_str()
                || cursor.q != query_hash
            {
                return Err(AppError::InvalidCursor(
                    "the cursor belongs to another dataset, query or caller; repeat the same query with the cursor, or start without one".into(),
                ));
            }
            resolved.offset = cursor.o;
            resolved.version = Some(cursor.v);
            resolved.as_of = None;
        }
        let limit = resolved.limit.unwrap_or(DEFAULT_LIMIT);
        let (version, batch, has_more) = self.fetch_page(scope, &resolved, limit).await?;
        let next_cursor = if has_more {
            Some(self.cursors.sign(&Cursor {
                d: id.clone(),
                v: version,
                q: query_hash,
                s: scope.subject().to_owned(),
                m: scope.municipality().to_string(),
                o: resolved.offset + limit,
            })?)
        } else {
            None
        };
        let facts = AuditFacts {
            municipality: Some(scope.municipality().to_string()),
            table_version: Some(version),
            columns: Some(resolved.select.join(",")),
            filter: Some(resolved.normalised_filter()).filter(|f| !f.is_empty()),
            rows_returned: Some(batch.num_rows()),
        };
        let page = Page {
            dataset: id,
            municipality: scope.municipality().to_string(),
            version,
            offset: resolved.offset,
            columns: resolved.select,
            batch: Arc::new(batch),
            next_cursor,
        };
        Ok((page, facts))
    }

    /// Reads one row more than the page: the page, and whether there is a next one.
    async fn fetch_page(
        &self,
        scope: &AccessScope,
        resolved: &ResolvedQuery,
        limit: u64,
    ) -> Result<(u64, RecordBatch, bool), AppError> {
        let mut fetch = resolved.clone();
        fetch.limit = Some(limit + 1);
        let scan = self.lake.scan(scope, &fetch).await?;
        let (version, schema) = (scan.version, scan.schema.clone());
        let batches = scan.collect_page().await?;
        let all = concat_batches(&schema, &batches).map_err(dap_lake::Error::from)?;
        let page_size = usize::try_from(limit).unwrap_or(usize::MAX);
        let has_more = encode::row_count(&batches) > page_size;
        Ok((
            version,
            all.slice(0, all.num_rows().min(page_size)),
            has_more,
        ))
    }
}
