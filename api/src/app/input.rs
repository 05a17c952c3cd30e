//! Malformed input, said precisely whatever the surface: every refusal of a request
//! value names the parameter or field, says what was expected and gives an example.
//! The surfaces hand their decoding failures here ([`invalid`]) instead of passing a
//! framework's message ("premature end of input") on, and check every text value with
//! [`check_text`].

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use super::AppError;

/// What a request value is, for messages: `query parameter`, `path parameter`, `field`.
pub type Kind = &'static str;

/// Longest text value accepted in a query or path parameter.
pub const MAX_TEXT: usize = 4096;

/// A text value no parameter can hold: control characters (nothing dap names or stores
/// contains them; in a log or CSV they would forge lines) or more than [`MAX_TEXT`]
/// characters.
pub fn check_text(kind: Kind, name: &str, value: &str) -> Result<(), AppError> {
    let name = shown(name);
    if value.chars().any(char::is_control) {
        return Err(AppError::InvalidParameter(format!(
            "{kind} '{name}' contains a control character (e.g. a percent-encoded %00-%1F): give plain text"
        )));
    }
    if value.chars().count() > MAX_TEXT {
        return Err(AppError::InvalidParameter(format!(
            "{kind} '{name}' is longer than {MAX_TEXT} characters"
        )));
    }
    Ok(())
}

/// The refusal of a value that did not decode: `path` names it (`from`,
/// `datasets[0]`; empty or `.` for the whole input) and `reason` is the decoder's
/// message, rephrased where a decoder's words do not say what to send.
pub fn invalid(kind: Kind, path: &str, reason: &str) -> AppError {
    let reason = plain(reason);
    if path.is_empty() || path == "." {
        AppError::InvalidParameter(format!("{kind}s: {reason}"))
    } else {
        AppError::InvalidParameter(format!("{kind} '{}': {reason}", shown(path)))
    }
}

/// What a plain date (`2026-12-01`) means where an instant is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateMeans {
    /// The first instant of that day in Danish time (a `from` bound).
    StartOfDay,
    /// The last instant of that day in Danish time (`valid_until`, `as_of`).
    EndOfDay,
    /// Nothing unambiguous (an exclusive `to`): the caller must give an instant.
    Ambiguous,
}

/// An instant: RFC 3339 (`2026-12-01T08:00:00Z`, `2026-12-01T09:00:00+01:00`), or a
/// plain date where `date` gives it a meaning. Refusals name the value, say the format
/// and give an example.
pub fn instant(
    kind: Kind,
    name: &str,
    text: &str,
    date: DateMeans,
) -> Result<DateTime<Utc>, AppError> {
    let text = text.trim();
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant.with_timezone(&Utc));
    }
    let name = shown(name);
    let value = shown(text);
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|_| text.len() == 10);
    let at = |day: Option<DateTime<Utc>>| {
        day.ok_or_else(|| AppError::InvalidParameter(format!("{kind} '{name}': no such day")))
    };
    let utc = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    match (day, date) {
        (Some(day), DateMeans::StartOfDay) => at(dap_lake::as_of::start_of_danish_day(day)),
        (Some(day), DateMeans::EndOfDay) => at(dap_lake::as_of::end_of_danish_day(day)),
        (Some(day), DateMeans::Ambiguous) => {
            let start = at(dap_lake::as_of::start_of_danish_day(day))?;
            Err(AppError::InvalidParameter(format!(
                "{kind} '{name}': '{value}' is a date, but an instant is needed here (the bound is exclusive): give RFC 3339, e.g. {name}={} for the start of that day in Danish time",
                utc(start)
            )))
        }
        (None, means) => {
            let date = match means {
                DateMeans::StartOfDay => {
                    ", or a date such as 2026-12-01 for the start of that day in Danish time"
                }
                DateMeans::EndOfDay => {
                    ", or a date such as 2026-12-01 for the end of that day in Danish time"
                }
                DateMeans::Ambiguous => "",
            };
            Err(AppError::InvalidParameter(format!(
                "{kind} '{name}': '{value}' is not an instant: give RFC 3339, e.g. {name}=2026-12-01T08:00:00Z{date}"
            )))
        }
    }
}

/// A name as it may be echoed: at most 64 characters, no control characters.
fn shown(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// Decoder messages in words a caller can act on.
fn plain(reason: &str) -> String {
    const WHOLE: &str = "expected a whole number, e.g. 10";
    match reason {
        "invalid digit found in string"
        | "cannot parse integer from empty string"
        | "number too large to fit in target type"
        | "number too small to fit in target type" => return WHOLE.into(),
        "provided string was not `true` or `false`" => {
            return "expected true or false".into();
        }
        _ => {}
    }
    let mut text = reason.to_owned();
    for number in ["u8", "u16", "u32", "u64", "i32", "i64", "usize"] {
        text = text.replace(&format!("expected {number}"), WHOLE);
    }
    text.replace(
        "expected a sequence",
        "expected a list, e.g. [\"oekonomi.posteringer\"]",
    )
    .replace("expected a boolean", "expected true or false")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(error: AppError) -> String {
        error.to_string()
    }

    #[test]
    fn refusals_name_the_value_and_say_what_to_send() {
        assert_eq!(
            message(invalid(
                "query parameter",
                "limit",
                "invalid digit found in string"
            )),
            "query parameter 'limit': expected a whole number, e.g. 10"
        );
        assert_eq!(
            message(invalid(
                "field",
                "expires_in_days",
                "invalid type: string \"x\", expected u32 at line 1 column 3"
            )),
            "field 'expires_in_days': invalid type: string \"x\", expected a whole number, e.g. 10 at line 1 column 3"
        );
        assert!(message(invalid("field", ".", "missing field `name`")).contains("missing field"));
        assert!(check_text("query parameter", "subject", "a\u{1}b").is_err());
        assert!(check_text("query parameter", "subject", "anna@0101").is_ok());
        assert!(check_text("path parameter", "id", &"x".repeat(MAX_TEXT + 1)).is_err());
    }

    #[test]
    fn instants_take_a_date_only_where_it_is_unambiguous() {
        let q = "query parameter";
        let from = instant(q, "from", "2026-12-01", DateMeans::StartOfDay).ok();
        assert_eq!(
            from.map(|t| t.to_rfc3339()),
            Some("2026-11-30T23:00:00+00:00".to_owned())
        );
        let until = instant("field", "valid_until", "2027-06-30", DateMeans::EndOfDay).ok();
        assert_eq!(
            until.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
            Some("2027-06-30T21:59:59Z".to_owned())
        );
        let to = instant(q, "to", "2026-12-01", DateMeans::Ambiguous)
            .err()
            .map(message)
            .unwrap_or_default();
        assert!(to.contains("to=2026-11-30T23:00:00Z"), "{to}");
        let bad = instant(q, "from", "yesterday", DateMeans::StartOfDay)
            .err()
            .map(message)
            .unwrap_or_default();
        assert!(
            bad.contains("'from'") && bad.contains("e.g. from=2026-12-01T08:00:00Z"),
            "{bad}"
        );
    }
}
