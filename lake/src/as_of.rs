//! The `as_of` request parameter: an RFC 3339 instant, or a plain date meaning the end
//! of that day in Danish time (Europe/Copenhagen), so `as_of=2026-12-01` reads what was
//! committed by midnight on 1 December in Denmark, summer or winter time.

use chrono::{DateTime, Days, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Europe::Copenhagen;

use crate::{Error, Result};

/// Parses `as_of`: RFC 3339 (`2026-01-31T12:00:00Z`, `2026-01-31T13:00:00+01:00`) or a
/// date (`2026-01-31`, the last instant of that day in Danish time).
pub fn parse(text: &str) -> Result<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|_| text.len() == 10)
        .and_then(end_of_danish_day)
        .ok_or_else(|| Error::InvalidParameter {
            parameter: "as_of",
            reason: format!(
                "'{}' is neither an RFC 3339 instant nor a date; use e.g. as_of=2026-01-31T12:00:00Z, or as_of=2026-01-31 for the end of that day in Danish time",
                text.chars().take(40).collect::<String>()
            ),
        })
}

/// The last instant of `date` in Copenhagen: the next day's local midnight, less one
/// nanosecond. Midnight always exists there (clocks change at 02:00 and 03:00).
pub fn end_of_danish_day(date: NaiveDate) -> Option<DateTime<Utc>> {
    let next = date.checked_add_days(Days::new(1))?;
    Some(start_of_danish_day(next)? - TimeDelta::nanoseconds(1))
}

/// The first instant of `date` in Copenhagen: its local midnight.
pub fn start_of_danish_day(date: NaiveDate) -> Option<DateTime<Utc>> {
    let midnight = date.and_hms_opt(0, 0, 0)?;
    let start = Copenhagen.from_local_datetime(&midnight).earliest()?;
    Some(start.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("instant")
            .with_timezone(&Utc)
    }

    #[test]
    fn instants_parse_with_their_offset() {
        assert_eq!(
            parse("2026-01-31T13:00:00+01:00").ok(),
            Some(utc("2026-01-31T12:00:00Z"))
        );
    }

    #[test]
    fn a_date_is_the_end_of_that_day_in_danish_winter_and_summer_time() {
        // Winter (CET, UTC+1): 1 December ends at 23:00 UTC.
        let winter = parse("2026-12-01").expect("date");
        assert_eq!(winter, utc("2026-12-01T22:59:59.999999999Z"));
        // Summer (CEST, UTC+2): 1 July ends at 22:00 UTC.
        let summer = parse("2026-07-01").expect("date");
        assert_eq!(summer, utc("2026-07-01T21:59:59.999999999Z"));
        // The day clocks go forward (29 March 2026) still ends at local midnight.
        assert_eq!(
            parse("2026-03-29").expect("date"),
            utc("2026-03-29T21:59:59.999999999Z")
        );
        // A commit at 23:30 Danish time on the day is included; one at 00:00 the next is not.
        assert!(utc("2026-12-01T22:30:00Z") <= winter);
        assert!(utc("2026-12-01T23:00:00Z") > winter);
    }

    #[test]
    fn bad_input_says_how_to_fix_it() {
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-1-1",
            "2026-01-31 12:00",
            "",
        ] {
            let message = parse(bad).map(|_| ()).expect_err(bad).to_string();
            assert!(
                message.contains("as_of=2026-01-31T12:00:00Z"),
                "{bad}: {message}"
            );
            assert!(
                message.contains("as_of=2026-01-31 for the end of that day"),
                "{message}"
            );
        }
    }
}
