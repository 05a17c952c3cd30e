//! Row queries: projection, filters, order and page, resolved against an access scope.

use chrono::{DateTime, Utc};
use dap_schema::{AccessScope, ColumnDef};

use crate::keyset::KeyValue;
use crate::predicate::{Clause, Filter, FilterSpec, FilterTree, SpecTree, names};
use crate::{Error, Result};

/// Default page size of the rows endpoint.
pub const DEFAULT_LIMIT: u64 = 100;
/// Largest page the rows endpoint returns.
pub const MAX_LIMIT: u64 = 10_000;

/// A row query, typed: what the caller asked for, not yet checked against their scope.
#[derive(Debug, Clone, Default)]
pub struct RowQuery {
    /// Columns to return, in order; all visible columns when absent.
    pub columns: Option<Vec<String>>,
    /// Filters combined with AND.
    pub filters: Vec<FilterSpec>,
    /// Filters with AND/OR, ANDed with `filters`.
    pub tree: Option<SpecTree>,
    /// Sort keys, most significant first.
    pub order: Vec<OrderBy>,
    /// Rows to skip (from a cursor).
    pub offset: u64,
    /// Page size (1 to [`MAX_LIMIT`]); `None` reads every matching row (exports).
    pub limit: Option<u64>,
    /// Table version to read; the caller's current one when absent.
    pub version: Option<u64>,
    /// Read the latest version committed at or before this instant.
    pub as_of: Option<DateTime<Utc>>,
}

/// One sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    pub column: String,
    pub descending: bool,
}

/// A query checked against a scope: every column named is visible to the caller.
#[derive(Debug, Clone)]
pub struct ResolvedQuery {
    pub dataset: String,
    pub select: Vec<String>,
    pub filters: Vec<Filter>,
    /// Filters with AND/OR, ANDed with `filters`.
    pub tree: Option<FilterTree>,
    /// The caller's order followed by the dataset's key columns as tie-break.
    pub order: Vec<OrderBy>,
    pub offset: u64,
    /// Keyset position: only rows that sort after this key of `order` (the previous
    /// page's last row); see [`crate::keyset`].
    pub after: Option<Vec<KeyValue>>,
    pub limit: Option<u64>,
    pub version: Option<u64>,
    pub as_of: Option<DateTime<Utc>>,
}

impl RowQuery {
    /// Checks the query against what `scope` lets the caller see. Columns the caller may
    /// not see are reported exactly like columns that do not exist.
    pub fn resolve(&self, scope: &AccessScope) -> Result<ResolvedQuery> {
        let dataset = scope.dataset();
        let visible: Vec<&ColumnDef> = dataset
            .columns
            .iter()
            .filter(|c| scope.can_see(&c.name))
            .collect();
        let check = |clause: Clause, column: &str| -> Result<String> {
            if visible.iter().any(|c| c.name == column) {
                Ok(column.to_owned())
            } else {
                Err(Error::UnknownColumn {
                    parameter: clause.as_str(),
                    column: column.chars().take(64).collect(),
                    valid: names(&visible),
                })
            }
        };
        let select = match &self.columns {
            None => visible.iter().map(|c| c.name.clone()).collect(),
            Some(list) => {
                let mut columns = Vec::new();
                for name in list {
                    let name = check(Clause::Select, name)?;
                    if !columns.contains(&name) {
                        columns.push(name);
                    }
                }
                columns
            }
        };
        let filters = self
            .filters
            .iter()
            .map(|spec| Filter::typed(spec, &visible))
            .collect::<Result<Vec<_>>>()?;
        let tree = self.tree.as_ref().map(|t| t.typed(&visible)).transpose()?;
        let mut order: Vec<OrderBy> = Vec::new();
        for key in &self.order {
            let column = check(Clause::Order, &key.column)?;
            if !order.iter().any(|o| o.column == column) {
                order.push(OrderBy {
                    column,
                    descending: key.descending,
                });
            }
        }
        // Key columns make the order total, so offset paging is stable at a fixed version.
        // An unpaged, unordered export is not sorted at all: it streams in file order.
        let needs_total_order = self.limit.is_some() || !order.is_empty();
        for key in dataset.key_columns.iter().filter(|_| needs_total_order) {
            if scope.can_see(key) && !order.iter().any(|o| &o.column == key) {
                order.push(OrderBy {
                    column: key.clone(),
                    descending: false,
                });
            }
        }
        if self.limit.is_some_and(|l| l == 0 || l > MAX_LIMIT) {
            return Err(Error::InvalidParameter {
                parameter: "page size",
                reason: format!("must be between 1 and {MAX_LIMIT}"),
            });
        }
        if self.version.is_some() && self.as_of.is_some() {
            return Err(Error::InvalidParameter {
                parameter: "version",
                reason: "give either a version or an instant, not both".into(),
            });
        }
        Ok(ResolvedQuery {
            dataset: dataset.id.to_string(),
            select,
            filters,
            tree,
            order,
            offset: self.offset,
            after: None,
            limit: self.limit,
            version: self.version,
            as_of: self.as_of,
        })
    }
}

impl ResolvedQuery {
    /// The filters in normalised form, as audited.
    pub fn normalised_filter(&self) -> String {
        self.filters
            .iter()
            .map(ToString::to_string)
            .chain(self.tree.iter().map(ToString::to_string))
            .collect::<Vec<_>>()
            .join(" and ")
    }

    /// Everything that defines the result set except the page position: cursors are
    /// bound to this.
    pub fn fingerprint(&self) -> String {
        let order: Vec<String> = self
            .order
            .iter()
            .map(|o| format!("{}:{}", o.column, if o.descending { "desc" } else { "asc" }))
            .collect();
        format!(
            "{}|{}|{}|{}|{:?}",
            self.dataset,
            self.select.join(","),
            self.normalised_filter(),
            order.join(","),
            self.limit
        )
    }
}
