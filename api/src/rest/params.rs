//! Query-string parsing for dataset routes: the REST syntax (`select=a,b`,
//! `filter=column:operator:value`, `order_by=column:desc`) into the core's typed query.
//! Unknown or repeated parameters are refused with a message that lists the valid ones;
//! only `filter` may repeat; an empty value counts as absent.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use dap_lake::RowQuery;
use dap_lake::predicate::{FilterSpec, OPERATORS, Operator};
use dap_lake::query::OrderBy;

use crate::app::AppError;
use crate::app::datasets::Target;

/// Parameters of one request, checked against the route's allowed names.
#[derive(Debug, Default)]
pub struct Params {
    values: HashMap<String, String>,
    pub filters: Vec<String>,
}

impl Params {
    /// Parses `query`, accepting only the parameters in `allowed`.
    pub fn parse(query: &str, allowed: &[&str]) -> Result<Self, AppError> {
        let mut params = Self::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if !allowed.contains(&key.as_ref()) {
                return Err(AppError::InvalidParameter(format!(
                    "unknown query parameter '{}'; valid parameters: {}",
                    key.chars().take(40).collect::<String>(),
                    allowed.join(", ")
                )));
            }
            crate::app::input::check_text("query parameter", &key, &value)?;
            if value.is_empty() {
                continue;
            }
            if key == "filter" {
                params.filters.push(value.into_owned());
            } else if params
                .values
                .insert(key.to_string(), value.into_owned())
                .is_some()
            {
                return Err(AppError::InvalidParameter(format!(
                    "query parameter '{key}' is given more than once; give it once"
                )));
            }
        }
        if params.filters.len() > 50 {
            return Err(AppError::InvalidParameter(
                "at most 50 filters per request".into(),
            ));
        }
        Ok(params)
    }

    /// A text parameter.
    pub fn text(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
    }

    /// The dataset `id`, acting for the `municipality` parameter.
    pub fn target<'a>(&'a self, id: &'a str) -> Target<'a> {
        Target {
            dataset: id,
            municipality: self.values.get("municipality").map(String::as_str),
        }
    }

    /// A comma-separated list of column names; `*` means all.
    pub fn columns(&self, name: &str) -> Option<Vec<String>> {
        let list = self.values.get(name)?.trim();
        (list != "*").then(|| {
            list.split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
    }

    /// `order_by`: comma-separated `column[:asc|:desc]`.
    pub fn order(&self) -> Result<Vec<OrderBy>, AppError> {
        let mut order = Vec::new();
        let text = self.values.get("order_by").map(String::as_str);
        for item in text.unwrap_or_default().split(',').map(str::trim) {
            if item.is_empty() {
                continue;
            }
            let (column, direction) = item.split_once(':').unwrap_or((item, "asc"));
            let descending = match direction {
                "asc" => false,
                "desc" => true,
                other => {
                    return Err(AppError::InvalidParameter(format!(
                        "query parameter 'order_by': direction '{}' must be asc or desc, e.g. order_by=aar:desc,maaned",
                        other.chars().take(20).collect::<String>()
                    )));
                }
            };
            order.push(OrderBy {
                column: column.to_owned(),
                descending,
            });
        }
        Ok(order)
    }

    /// Every `filter=column:operator:value` (`in`, `year`, `month`, `day` take
    /// comma-separated values).
    pub fn filter_specs(&self) -> Result<Vec<FilterSpec>, AppError> {
        self.filters.iter().map(|raw| filter_spec(raw)).collect()
    }

    /// The row query these parameters state (columns, filters, order, version, instant).
    pub fn row_query(&self) -> Result<RowQuery, AppError> {
        Ok(RowQuery {
            columns: self.columns("select"),
            filters: self.filter_specs()?,
            order: self.order()?,
            limit: self.number("limit")?,
            version: self.number("version")?,
            as_of: self.timestamp("as_of")?,
            ..RowQuery::default()
        })
    }

    /// A whole-number parameter.
    pub fn number(&self, name: &str) -> Result<Option<u64>, AppError> {
        self.values
            .get(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    AppError::InvalidParameter(format!(
                        "query parameter '{name}': expected a whole number, e.g. {name}=3"
                    ))
                })
            })
            .transpose()
    }

    /// An instant: RFC 3339, or a plain date meaning the end of that day in Danish time.
    pub fn timestamp(&self, name: &str) -> Result<Option<DateTime<Utc>>, AppError> {
        self.values
            .get(name)
            .map(|v| {
                dap_lake::as_of::parse(v)
                    .map_err(|e| AppError::InvalidParameter(e.to_string().replace("as_of", name)))
            })
            .transpose()
    }

    /// A `true`/`false` parameter.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, AppError> {
        match self.values.get(name).map(String::as_str) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(AppError::InvalidParameter(format!(
                "query parameter '{name}': expected true or false, e.g. {name}=true"
            ))),
        }
    }
}

/// One `column:operator:value` filter.
pub fn filter_spec(raw: &str) -> Result<FilterSpec, AppError> {
    let invalid = |reason: String| {
        AppError::InvalidParameter(format!(
            "query parameter 'filter': invalid filter '{}': {reason}",
            raw.chars().take(200).collect::<String>()
        ))
    };
    let mut parts = raw.splitn(3, ':');
    let (Some(column), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        let hint = symbolic(raw)
            .map(|written| format!(" (here: {written})"))
            .unwrap_or_default();
        return Err(invalid(format!(
            "write filters as column:operator:value, e.g. aar:gte:2020{hint}; operators: {OPERATORS}"
        )));
    };
    let operator = Operator::from_name(op).ok_or_else(|| {
        invalid(format!(
            "unknown operator '{}'; operators: {OPERATORS}",
            op.chars().take(20).collect::<String>()
        ))
    })?;
    let values = match operator.takes_list() {
        true => value.split(',').map(str::to_owned).collect(),
        false => vec![value.to_owned()],
    };
    Ok(FilterSpec {
        column: column.to_owned(),
        operator,
        values,
    })
}

/// `beloeb>1000` as the filter syntax (`beloeb:gt:1000`), for the refusal's hint.
fn symbolic(raw: &str) -> Option<String> {
    let symbols = [
        (">=", "gte"),
        ("<=", "lte"),
        ("!=", "ne"),
        ("<>", "ne"),
        (">", "gt"),
        ("<", "lt"),
        ("=", "eq"),
    ];
    symbols.iter().find_map(|(symbol, name)| {
        let (column, value) = raw.split_once(symbol)?;
        let column = column.trim();
        (!column.is_empty()).then(|| format!("{column}:{name}:{}", value.trim()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[&str] = &[
        "select",
        "filter",
        "order_by",
        "limit",
        "cursor",
        "municipality",
        "as_of",
        "bom",
    ];

    #[test]
    fn parameters_parse_and_filters_repeat() {
        let p = Params::parse(
            "select=a,b&filter=aar:eq:2024&filter=koen:in:K,M&limit=5&order_by=aar:desc&as_of=2026-01-01T00:00:00Z&bom=true&cursor=",
            ALL,
        )
        .unwrap_or_default();
        assert_eq!(p.text("select").as_deref(), Some("a,b"));
        assert_eq!(p.filters, vec!["aar:eq:2024", "koen:in:K,M"]);
        assert_eq!(p.number("limit").ok().flatten(), Some(5));
        assert_eq!(p.text("order_by").as_deref(), Some("aar:desc"));
        assert!(p.timestamp("as_of").ok().flatten().is_some());
        assert_eq!(p.flag("bom").ok().flatten(), Some(true));
        assert_eq!(p.text("cursor"), None);
    }

    #[test]
    fn unknown_repeated_and_bad_parameters_are_refused() {
        for query in [
            "where=x",
            "limit=1&limit=2",
            "select=a&select=b",
            "token=abc",
        ] {
            assert!(
                Params::parse(query, ALL).is_err(),
                "{query} should be refused"
            );
        }
        let p = Params::parse("limit=a&as_of=yesterday&bom=yes", ALL).unwrap_or_default();
        assert!(p.number("limit").is_err());
        assert!(p.timestamp("as_of").is_err());
        assert!(p.flag("bom").is_err());
        let message = Params::parse("access_token=x", ALL)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("valid parameters: select, filter"));
    }

    #[test]
    fn filter_syntax_says_what_is_wrong() {
        let message = |raw: &str| {
            filter_spec(raw)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(message("aar:like:2").contains("operators: eq"));
        assert!(message("aar").contains("column:operator:value"));
        assert!(message("beloeb>1000").contains("here: beloeb:gt:1000"));
        assert!(message("aar>=2020").contains("here: aar:gte:2020"));
        let spec = filter_spec("koen:in:K,M").ok();
        assert_eq!(
            spec.map(|s| s.values),
            Some(vec!["K".to_owned(), "M".to_owned()])
        );
        let spec = filter_spec("funktion:eq:a:b").ok();
        assert_eq!(spec.map(|s| s.values), Some(vec!["a:b".to_owned()]));
    }
}
