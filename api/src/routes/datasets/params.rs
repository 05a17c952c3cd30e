//! Query-string parsing for dataset routes. Unknown or repeated parameters are refused
//! with a message that lists the valid ones; only `filter` may repeat; an empty value
//! counts as absent.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::error::ApiError;

/// Parameters of one request, checked against the route's allowed names.
#[derive(Debug, Default)]
pub struct Params {
    values: HashMap<String, String>,
    pub filters: Vec<String>,
}

impl Params {
    /// Parses `query`, accepting only the parameters in `allowed`.
    pub fn parse(query: &str, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut params = Self::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if !allowed.contains(&key.as_ref()) {
                return Err(ApiError::InvalidParameter(format!(
                    "unknown query parameter '{}'; valid parameters: {}",
                    key.chars().take(40).collect::<String>(),
                    allowed.join(", ")
                )));
            }
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
                return Err(ApiError::InvalidParameter(format!(
                    "query parameter '{key}' is given more than once; give it once"
                )));
            }
        }
        if params.filters.len() > 50 {
            return Err(ApiError::InvalidParameter(
                "at most 50 filters per request".into(),
            ));
        }
        Ok(params)
    }

    /// A text parameter.
    pub fn text(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
    }

    /// A whole-number parameter.
    pub fn number(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.values
            .get(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::InvalidParameter(format!(
                        "{name} must be a whole number, e.g. {name}=3"
                    ))
                })
            })
            .transpose()
    }

    /// An RFC 3339 timestamp parameter.
    pub fn timestamp(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.values
            .get(name)
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        ApiError::InvalidParameter(format!(
                            "{name} must be an RFC 3339 timestamp, e.g. {name}=2026-01-31T12:00:00Z"
                        ))
                    })
            })
            .transpose()
    }

    /// A `true`/`false` parameter.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.values.get(name).map(String::as_str) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(ApiError::InvalidParameter(format!(
                "{name} must be true or false"
            ))),
        }
    }
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
}
