//! Query-string parsing for dataset routes. Unknown or repeated parameters are refused
//! with a message that lists the valid ones; only `filter` may repeat.

use crate::error::ApiError;

/// Parameters of the dataset routes.
#[derive(Debug, Default)]
pub struct Params {
    pub select: Option<String>,
    pub filters: Vec<String>,
    pub order_by: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
    pub municipality: Option<String>,
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
            let value = value.into_owned();
            // An empty value is the same as leaving the parameter out.
            if value.is_empty() {
                continue;
            }
            let slot = match key.as_ref() {
                "filter" => {
                    params.filters.push(value);
                    continue;
                }
                "limit" => {
                    let limit = value.parse().map_err(|_| {
                        ApiError::InvalidParameter(format!(
                            "limit must be a whole number from 1 to {}",
                            dap_lake::query::MAX_LIMIT
                        ))
                    })?;
                    if params.limit.replace(limit).is_some() {
                        return Err(repeated("limit"));
                    }
                    continue;
                }
                "select" => &mut params.select,
                "order_by" => &mut params.order_by,
                "cursor" => &mut params.cursor,
                _ => &mut params.municipality,
            };
            if slot.replace(value).is_some() {
                return Err(repeated(&key));
            }
        }
        if params.filters.len() > 50 {
            return Err(ApiError::InvalidParameter(
                "at most 50 filters per request".into(),
            ));
        }
        Ok(params)
    }
}

fn repeated(key: &str) -> ApiError {
    ApiError::InvalidParameter(format!(
        "query parameter '{key}' is given more than once; give it once"
    ))
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
    ];

    #[test]
    fn parameters_parse_and_filters_repeat() {
        let p = Params::parse(
            "select=a,b&filter=aar:eq:2024&filter=koen:in:K,M&limit=5&order_by=aar:desc",
            ALL,
        );
        let p = p.unwrap_or_default();
        assert_eq!(p.select.as_deref(), Some("a,b"));
        assert_eq!(p.filters, vec!["aar:eq:2024", "koen:in:K,M"]);
        assert_eq!(p.limit, Some(5));
        assert_eq!(p.order_by.as_deref(), Some("aar:desc"));
    }

    #[test]
    fn unknown_repeated_and_bad_parameters_are_refused() {
        for query in [
            "where=x",
            "limit=a",
            "limit=1&limit=2",
            "select=a&select=b",
            "token=abc",
        ] {
            let error = Params::parse(query, ALL)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(!error.is_empty(), "{query} should be refused");
        }
        let message = Params::parse("access_token=x", ALL)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("valid parameters: select, filter"));
    }
}
