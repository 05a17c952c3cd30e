//! dap's one way of writing an instant: RFC 3339 in UTC with `Z`, and as many fractional
//! digits as needed (`2026-01-31T12:00:00Z`, `2026-01-31T12:00:00.250Z`). It is what
//! serde writes for `DateTime<Utc>` in every JSON body, and what Arrow's JSON and CSV
//! writers produce for a UTC timestamp column (the change feed's `_commit_timestamp`).
//! Every other place that writes an instant as text uses [`rfc3339`].

use chrono::{DateTime, SecondsFormat, Utc};

/// `t` as RFC 3339 with `Z` (seconds, milli-, micro- or nanoseconds as needed).
pub fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_written_like_serde_writes_them() {
        let whole = DateTime::parse_from_rfc3339("2026-01-31T12:00:00+01:00")
            .expect("instant")
            .with_timezone(&Utc);
        assert_eq!(rfc3339(&whole), "2026-01-31T11:00:00Z");
        let fraction = whole + chrono::Duration::milliseconds(250);
        assert_eq!(rfc3339(&fraction), "2026-01-31T11:00:00.250Z");
        for t in [whole, fraction] {
            let serde = serde_json::to_value(t).expect("json");
            assert_eq!(serde.as_str(), Some(rfc3339(&t).as_str()));
        }
    }
}
