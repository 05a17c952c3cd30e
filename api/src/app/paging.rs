//! Pages of rows with signed cursors, for every surface that pages (REST `cursor`,
//! GraphQL `after`, OData `$skiptoken`): one row more than the page tells whether there
//! is a next page, and the cursor binds the next page to dataset, version, query, caller
//! and municipality.
//!
//! The cursor carries the sort key of the page's last row, and the next page reads the
//! rows that sort after it (keyset paging, [`dap_lake::keyset`]): page N costs a top-k of
//! one page like page 1, instead of sorting and skipping N pages. When the last row's key
//! does not tell it from the next row (a tie, e.g. no key columns the caller may see) or
//! cannot be carried, the cursor carries the row offset instead.

use std::sync::Arc;

use dap_lake::RowQuery;
use dap_lake::arrow::array::RecordBatch;
use dap_lake::arrow::compute::concat_batches;
use dap_lake::keyset::{self, KeyValue};
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

/// Longest cursor issued with a sort key; a longer key (long text values) is replaced
/// by the row offset.
const MAX_KEYSET_CURSOR: usize = 2048;

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
        let mut position = resolved.offset;
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
            match cursor.k {
                Some(last) => {
                    resolved.after = Some(last);
                    resolved.offset = 0;
                }
                None => resolved.offset = cursor.o,
            }
            position = cursor.o;
            resolved.version = Some(cursor.v);
            resolved.as_of = None;
        }
        let limit = resolved.limit.unwrap_or(DEFAULT_LIMIT);
        let fetched = self.fetch_page(scope, &resolved, limit).await?;
        let (version, batch) = (fetched.version, fetched.batch);
        let next_cursor = match fetched.next {
            Some(next_key) => {
                let mut cursor = Cursor {
                    d: id.clone(),
                    v: version,
                    q: query_hash,
                    s: scope.subject().to_owned(),
                    m: scope.municipality().to_string(),
                    o: position + limit,
                    k: next_key,
                };
                // A cursor is signed, not encrypted, and travels in URLs (which end up in
                // proxy logs and browser history): only values of public columns go in
                // it. An order over a personal or sensitive column pages by offset.
                if !public_order(scope, &resolved.order) {
                    cursor.k = None;
                }
                let mut token = self.cursors.sign(&cursor)?;
                if token.len() > MAX_KEYSET_CURSOR {
                    cursor.k = None;
                    token = self.cursors.sign(&cursor)?;
                }
                Some(token)
            }
            None => None,
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
            offset: position,
            columns: resolved.select,
            batch: Arc::new(batch),
            next_cursor,
        };
        Ok((page, facts))
    }

    /// Reads one row more than the page: the page, and whether there is a next one and
    /// where it starts. The order columns are read too, for the last row's key.
    async fn fetch_page(
        &self,
        scope: &AccessScope,
        resolved: &ResolvedQuery,
        limit: u64,
    ) -> Result<Fetched, AppError> {
        let mut fetch = resolved.clone();
        fetch.limit = Some(limit + 1);
        for key in &resolved.order {
            if !fetch.select.contains(&key.column) {
                fetch.select.push(key.column.clone());
            }
        }
        let scan = self.lake.scan(scope, &fetch).await?;
        let (version, schema) = (scan.version, scan.schema.clone());
        let batches = scan.collect_page().await?;
        let all = concat_batches(&schema, &batches).map_err(dap_lake::Error::from)?;
        let page_size = usize::try_from(limit).unwrap_or(usize::MAX);
        let next = (all.num_rows() > page_size).then(|| {
            let last = keyset::key_of(&all, page_size - 1, &resolved.order);
            let first_of_next = keyset::key_of(&all, page_size, &resolved.order);
            // Equal keys cannot tell the pages apart: the next page then goes by offset.
            last.filter(|last| Some(last) != first_of_next.as_ref())
        });
        let page = all.slice(0, all.num_rows().min(page_size));
        let batch = page
            .project(&(0..resolved.select.len()).collect::<Vec<_>>())
            .map_err(dap_lake::Error::from)?;
        Ok(Fetched {
            version,
            batch,
            next,
        })
    }
}

/// A page read: one more row than the page tells whether there is a next page.
struct Fetched {
    version: u64,
    batch: RecordBatch,
    /// `Some` when there is a next page: `Some(key)` after which it starts, `None` to
    /// start it by offset.
    next: Option<Option<Vec<KeyValue>>>,
}

/// True when every column of `order` is a public column of the scope's dataset.
fn public_order(scope: &AccessScope, order: &[dap_lake::query::OrderBy]) -> bool {
    order.iter().all(|o| {
        scope
            .dataset()
            .columns
            .iter()
            .any(|c| c.name == o.column && c.classification == dap_schema::Classification::Public)
    })
}
