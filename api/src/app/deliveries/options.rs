//! The options of a delivery, from the strings a surface received to typed values: the
//! file format, the mode (with its period for `replace`) and the delivery id.

use chrono::{Datelike, NaiveDate};
use dap_lake::deliver::{Format, Mode, Period};
use dap_schema::{ColumnType, DatasetDef};

use crate::app::AppError;

/// Longest delivery id.
const MAX_ID: usize = 128;

/// A delivery's options as received (query parameters).
#[derive(Debug, Clone, Default)]
pub struct DeliveryParams {
    /// The municipality to deliver for, when the caller has several.
    pub municipality: Option<String>,
    /// `upsert` (default), `replace` or `delete`.
    pub mode: Option<String>,
    /// For `replace`: `YYYY`, `YYYY-MM`, `YYYY-MM-DD` or `YYYY-MM-DD..YYYY-MM-DD`.
    pub period: Option<String>,
    /// For `replace`: the date column the period applies to, when the dataset has
    /// several.
    pub period_column: Option<String>,
    /// The client's id of this delivery; the file's SHA-256 when absent.
    pub delivery_id: Option<String>,
}

impl DeliveryParams {
    /// The mode, with its period checked against the dataset.
    pub(crate) fn mode(&self, def: &DatasetDef) -> Result<Mode, AppError> {
        let mode = match self.mode.as_deref().unwrap_or("upsert") {
            "upsert" => Mode::Upsert,
            "delete" => Mode::Delete,
            "replace" => {
                let Some(period) = self.period.as_deref() else {
                    return Err(AppError::InvalidParameter(
                        "mode=replace needs period=: a year (2024), a month (2024-03), a day (2024-03-31) or a range (2024-03-01..2024-03-15)".into(),
                    ));
                };
                let (from, to) = period_bounds(period)?;
                Mode::Replace(Period {
                    column: period_column(def, self.period_column.as_deref())?,
                    from,
                    to,
                })
            }
            other => {
                return Err(AppError::InvalidParameter(format!(
                    "unknown mode '{}'; use upsert (default), replace or delete",
                    other.chars().take(20).collect::<String>()
                )));
            }
        };
        if !matches!(mode, Mode::Replace(_))
            && (self.period.is_some() || self.period_column.is_some())
        {
            return Err(AppError::InvalidParameter(
                "period and period_column belong to mode=replace".into(),
            ));
        }
        Ok(mode)
    }

    /// The client's delivery id, checked: 1 to 128 of `A-Z a-z 0-9 . _ -`.
    pub(crate) fn delivery_id(&self) -> Result<Option<String>, AppError> {
        match self.delivery_id.as_deref() {
            None => Ok(None),
            Some(id)
                if !id.is_empty()
                    && id.len() <= MAX_ID
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) =>
            {
                Ok(Some(id.to_owned()))
            }
            Some(_) => Err(AppError::InvalidParameter(format!(
                "delivery_id must be 1 to {MAX_ID} letters, digits, '.', '_' or '-', e.g. 2024-03-31-bogfoering"
            ))),
        }
    }
}

/// The file format of a `Content-Type`.
pub fn format_of(content_type: Option<&str>) -> Result<Format, AppError> {
    let essence = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("text/csv") => Ok(Format::Csv),
        Some("application/x-ndjson" | "application/ndjson" | "application/jsonl") => {
            Ok(Format::Ndjson)
        }
        Some("application/vnd.apache.parquet" | "application/x-parquet") => Ok(Format::Parquet),
        _ => Err(AppError::InvalidParameter(
            "say the file's format in Content-Type: text/csv, application/x-ndjson or application/vnd.apache.parquet".into(),
        )),
    }
}

/// The first and last day of a period.
fn period_bounds(text: &str) -> Result<(NaiveDate, NaiveDate), AppError> {
    let bad = || {
        AppError::InvalidParameter(format!(
            "period '{}' is not a year (2024), a month (2024-03), a day (2024-03-31) or a range (2024-03-01..2024-03-15)",
            text.chars().take(40).collect::<String>()
        ))
    };
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    let (from, to) = if let Some((a, b)) = text.split_once("..") {
        (day(a).ok_or_else(bad)?, day(b).ok_or_else(bad)?)
    } else if let Some(d) = day(text) {
        (d, d)
    } else if let Ok(first) = NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d") {
        let next = if first.month() == 12 {
            NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
        };
        (first, next.and_then(|n| n.pred_opt()).ok_or_else(bad)?)
    } else if text.len() == 4
        && let Ok(year) = text.parse::<i32>()
    {
        (
            NaiveDate::from_ymd_opt(year, 1, 1).ok_or_else(bad)?,
            NaiveDate::from_ymd_opt(year, 12, 31).ok_or_else(bad)?,
        )
    } else {
        return Err(bad());
    };
    if from > to {
        return Err(AppError::InvalidParameter(format!(
            "period {from}..{to} ends before it starts"
        )));
    }
    Ok((from, to))
}

/// The date column a period applies to: the one named, or the dataset's only one.
fn period_column(def: &DatasetDef, named: Option<&str>) -> Result<String, AppError> {
    let dates: Vec<&str> = def
        .columns
        .iter()
        .filter(|c| c.data_type == ColumnType::Date)
        .map(|c| c.name.as_str())
        .collect();
    match (named, dates.as_slice()) {
        (Some(name), _) if dates.contains(&name) => Ok(name.to_owned()),
        (None, [only]) => Ok((*only).to_owned()),
        (_, []) => Err(AppError::InvalidParameter(format!(
            "{} has no date column, so it cannot be replaced by period; deliver with mode=upsert or mode=delete",
            def.id
        ))),
        _ => Err(AppError::InvalidParameter(format!(
            "name the period's date column with period_column=; {} has: {}",
            def.id,
            dates.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn periods_are_years_months_days_or_ranges() {
        assert_eq!(
            period_bounds("2024").unwrap(),
            (day("2024-01-01"), day("2024-12-31"))
        );
        assert_eq!(
            period_bounds("2024-02").unwrap(),
            (day("2024-02-01"), day("2024-02-29"))
        );
        assert_eq!(
            period_bounds("2024-12").unwrap(),
            (day("2024-12-01"), day("2024-12-31"))
        );
        assert_eq!(
            period_bounds("2024-03-05").unwrap(),
            (day("2024-03-05"), day("2024-03-05"))
        );
        assert_eq!(
            period_bounds("2024-03-01..2024-03-15").unwrap(),
            (day("2024-03-01"), day("2024-03-15"))
        );
        for bad in [
            "",
            "24",
            "2024-13",
            "2024-03-15..2024-03-01",
            "x..y",
            "2024-02-30",
        ] {
            assert!(period_bounds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn delivery_ids_are_short_and_plain() {
        let id = |s: &str| DeliveryParams {
            delivery_id: Some(s.into()),
            ..DeliveryParams::default()
        };
        assert_eq!(
            id("2024-03-31_a.1").delivery_id().unwrap().as_deref(),
            Some("2024-03-31_a.1")
        );
        for bad in ["", "a/b", "a b", "../x", &"x".repeat(129)] {
            assert!(id(bad).delivery_id().is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_come_from_the_content_type() {
        assert_eq!(
            format_of(Some("text/csv; charset=utf-8")).unwrap(),
            Format::Csv
        );
        assert_eq!(
            format_of(Some("application/x-ndjson")).unwrap(),
            Format::Ndjson
        );
        assert_eq!(
            format_of(Some("application/vnd.apache.parquet")).unwrap(),
            Format::Parquet
        );
        assert!(format_of(Some("application/json")).is_err());
        assert!(format_of(None).is_err());
    }
}
