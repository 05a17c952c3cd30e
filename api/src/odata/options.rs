//! OData system query options, read once into typed values and turned into the core's
//! [`RowQuery`]: `$select`, `$filter`, `$orderby`, `$top`, `$skip`, `$count`,
//! `$skiptoken` (the core's signed cursor with the page size), `$format=json`. Options
//! OData defines that dap does not offer answer 501; unknown `$` options answer 400.
//! Custom options (without `$`) are ignored as OData asks, except `municipality`, which
//! names the municipality to act for when the caller has several.

use dap_lake::RowQuery;
use dap_lake::query::{MAX_LIMIT, OrderBy};

use super::error::ODataError;
use super::filter;
use super::pushdown;

/// Rows per page when the client does not ask for fewer (`Prefer: odata.maxpagesize`).
pub const DEFAULT_PAGE_SIZE: u64 = 1000;

const NOT_OFFERED: &[&str] = &[
    "$expand",
    "$apply",
    "$search",
    "$compute",
    "$levels",
    "$index",
    "$deltatoken",
    "$id",
    "$schemaversion",
];

/// The query options of one request.
#[derive(Debug, Default)]
pub struct Options {
    pub select: Option<Vec<String>>,
    pub filter: Option<dap_lake::predicate::SpecTree>,
    pub order: Vec<OrderBy>,
    pub top: Option<u64>,
    pub skip: u64,
    pub count: bool,
    /// The page size and the core's cursor, from `$skiptoken`.
    pub skiptoken: Option<(u64, String)>,
    pub municipality: Option<String>,
    /// `$format=application/json;IEEE754Compatible=true`: decimals and 64-bit integers
    /// as strings.
    pub ieee754: bool,
    /// Every option except `$skiptoken`, as given, for the next link.
    pub pairs: Vec<(String, String)>,
}

/// Whether `name` is an OData identifier (letters, digits, `_`; not a digit first).
pub(crate) fn identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn number(name: &str, value: &str) -> Result<u64, ODataError> {
    value.trim().parse().map_err(|_| {
        ODataError::bad_request(format!(
            "{name} takes a whole number of rows, not '{value}'"
        ))
    })
}

impl Options {
    /// Reads a query string.
    pub fn parse(query: &str) -> Result<Self, ODataError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| ODataError::bad_request(format!("the query string is not valid: {e}")))?;
        let mut options = Self::default();
        let mut seen = std::collections::BTreeSet::new();
        for (name, value) in &pairs {
            if !seen.insert(name.clone()) {
                return Err(ODataError::bad_request(format!(
                    "{name} is given twice; give it once"
                )));
            }
            options.read(name, value)?;
        }
        options.pairs = pairs
            .into_iter()
            .filter(|(n, _)| n != "$skiptoken")
            .collect();
        Ok(options)
    }

    fn read(&mut self, name: &str, value: &str) -> Result<(), ODataError> {
        match name {
            "$select" => self.select = select(value)?,
            "$filter" => {
                let node =
                    filter::parse(value).map_err(|e| ODataError::bad_request(e.to_string()))?;
                self.filter = Some(pushdown::to_spec(&node)?);
            }
            "$orderby" => self.order = order(value)?,
            "$top" => self.top = Some(number(name, value)?),
            "$skip" => self.skip = number(name, value)?,
            "$count" => {
                self.count = match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ODataError::bad_request("$count takes true or false".into())),
                }
            }
            "$skiptoken" => self.skiptoken = Some(skiptoken(value)?),
            "$format"
                if {
                    let essence = value.split(';').next().unwrap_or_default().trim();
                    essence.eq_ignore_ascii_case("json")
                        || essence.eq_ignore_ascii_case("application/json")
                } =>
            {
                self.ieee754 = value
                    .split(';')
                    .skip(1)
                    .any(|p| p.trim().eq_ignore_ascii_case("ieee754compatible=true"));
            }
            "$format" => {
                return Err(ODataError::not_implemented(
                    "$format: dap answers JSON only ($format=json)".into(),
                ));
            }
            "municipality" => self.municipality = Some(value.to_owned()),
            n if NOT_OFFERED.contains(&n) => {
                return Err(ODataError::not_implemented(format!(
                    "{n} is not supported; supported are $select, $filter, $orderby, $top, $skip, $count and $skiptoken (from @odata.nextLink)"
                )));
            }
            n if n.starts_with('$') => {
                return Err(ODataError::bad_request(format!(
                    "{n} is not an OData query option; use $select, $filter, $orderby, $top, $skip or $count"
                )));
            }
            _ => {}
        }
        Ok(())
    }

    /// The page size: the one the cursor was issued with, else the client's preference
    /// (at most the lake's page limit), else [`DEFAULT_PAGE_SIZE`]. Capped by `$top`.
    pub fn page_size(&self, preferred: Option<u64>) -> u64 {
        let size = match &self.skiptoken {
            Some((size, _)) => *size,
            None => preferred.unwrap_or(DEFAULT_PAGE_SIZE),
        };
        let size = size.clamp(1, MAX_LIMIT);
        self.top.map_or(size, |top| size.min(top.max(1)))
    }

    /// The core's query for a page of `size` rows.
    pub fn row_query(&self, size: u64) -> RowQuery {
        RowQuery {
            columns: self.select.clone(),
            tree: self.filter.clone(),
            order: self.order.clone(),
            offset: self.skip,
            limit: Some(size),
            ..RowQuery::default()
        }
    }

    /// The core's query for counting the rows the filter selects.
    pub fn count_query(&self) -> RowQuery {
        RowQuery {
            tree: self.filter.clone(),
            ..RowQuery::default()
        }
    }
}

fn select(value: &str) -> Result<Option<Vec<String>>, ODataError> {
    let items: Vec<&str> = value.split(',').map(str::trim).collect();
    if items.contains(&"*") {
        return Ok(None);
    }
    for item in &items {
        if !identifier(item) {
            return Err(ODataError::not_implemented(format!(
                "$select: '{item}' is not a property name; $select takes comma-separated property names or *"
            )));
        }
    }
    Ok(Some(items.into_iter().map(str::to_owned).collect()))
}

fn order(value: &str) -> Result<Vec<OrderBy>, ODataError> {
    let mut keys = Vec::new();
    for item in value.split(',') {
        let mut words = item.split_whitespace();
        let column = words.next().unwrap_or_default();
        let descending = match words.next() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(ODataError::bad_request(format!(
                    "$orderby: '{other}' after {column}; use asc or desc"
                )));
            }
        };
        if !identifier(column) || words.next().is_some() {
            return Err(ODataError::not_implemented(format!(
                "$orderby: '{}' is not supported; $orderby takes property names with asc or desc",
                item.trim()
            )));
        }
        keys.push(OrderBy {
            column: column.to_owned(),
            descending,
        });
    }
    Ok(keys)
}

/// `<page size>.<cursor>`: the page size travels with the cursor because the cursor is
/// bound to it (a tampered size fails the cursor's check).
fn skiptoken(value: &str) -> Result<(u64, String), ODataError> {
    value
        .split_once('.')
        .and_then(|(size, cursor)| Some((size.parse().ok()?, cursor.to_owned())))
        .ok_or_else(|| {
            ODataError::bad_request(
                "$skiptoken is not one dap issued; follow @odata.nextLink unchanged".into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_the_core_query() {
        let options = Options::parse(
            "$select=aar,beloeb&$filter=aar%20eq%202025&$orderby=beloeb%20desc,aar&$top=5&$skip=2&$count=true&municipality=0101",
        )
        .expect("parses");

        let query = options.row_query(options.page_size(None));
        assert_eq!(
            query.columns,
            Some(vec!["aar".to_owned(), "beloeb".to_owned()])
        );
        assert_eq!(query.limit, Some(5));
        assert_eq!(query.offset, 2);
        assert_eq!(query.order.len(), 2);
        assert!(query.order[0].descending);
        assert!(options.count);
        assert_eq!(options.municipality.as_deref(), Some("0101"));
    }

    #[test]
    fn unsupported_options_answer_501_and_unknown_ones_400() {
        for (query, status) in [
            ("$expand=x", 501),
            ("$apply=groupby((aar))", 501),
            ("$format=xml", 501),
            ("$orderby=year(d)", 501),
            ("$bogus=1", 400),
            ("$top=-1", 400),
            ("$top=1&$top=2", 400),
            ("$skiptoken=garbage", 400),
        ] {
            let error = Options::parse(query).expect_err(query);
            assert_eq!(error.status.as_u16(), status, "{query}: {error}");
        }
    }
}
