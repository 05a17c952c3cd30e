//! One cell of a delivery turned into its catalogue type: the parsing rules every file
//! format shares (CSV and NDJSON give text, Parquet values are formatted to text first),
//! so a value is accepted or refused the same way whatever format carried it.

use std::sync::Arc;

use chrono::NaiveDate;
use dap_schema::ColumnType;
use deltalake::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int32Builder,
    Int64Builder, StringBuilder,
};

/// A typed value: what the column's builder takes, and the canonical text that
/// identifies it (for key uniqueness: `007` and `7` are the same integer key).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Text(String),
    Int32(i32),
    Int64(i64),
    Float64(f64),
    Decimal(i128),
    Date(i32),
    Boolean(bool),
}

impl Value {
    /// The canonical text of the value.
    pub(crate) fn canonical(&self) -> String {
        match self {
            Self::Text(s) => s.clone(),
            Self::Int32(v) => v.to_string(),
            Self::Int64(v) => v.to_string(),
            Self::Float64(v) => v.to_string(),
            Self::Decimal(v) => v.to_string(),
            Self::Date(v) => v.to_string(),
            Self::Boolean(v) => v.to_string(),
        }
    }
}

/// Parses `text` as a value of `data_type`, or says what is wrong and what is expected.
pub(crate) fn parse(data_type: ColumnType, text: &str) -> Result<Value, String> {
    let shown: String = text.chars().take(40).collect();
    match data_type {
        ColumnType::String => Ok(Value::Text(text.to_owned())),
        ColumnType::Int32 => text
            .trim()
            .parse::<i32>()
            .map(Value::Int32)
            .map_err(|_| format!("'{shown}' is not a 32-bit integer (e.g. 2024)")),
        ColumnType::Int64 => text
            .trim()
            .parse::<i64>()
            .map(Value::Int64)
            .map_err(|_| format!("'{shown}' is not a 64-bit integer (e.g. 120034)")),
        ColumnType::Float64 => match text.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Value::Float64(v)),
            _ => Err(format!("'{shown}' is not a finite number (e.g. 12.5)")),
        },
        ColumnType::Decimal { precision, scale } => {
            decimal(text.trim(), precision, scale).map(Value::Decimal)
        }
        ColumnType::Date => NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .map(|d| Value::Date(days_since_epoch(d)))
            .map_err(|_| format!("'{shown}' is not a date; write YYYY-MM-DD (e.g. 2024-03-31)")),
        ColumnType::Boolean => match text.trim() {
            "true" => Ok(Value::Boolean(true)),
            "false" => Ok(Value::Boolean(false)),
            _ => Err(format!("'{shown}' is not a boolean; write true or false")),
        },
    }
}

/// Days since 1970-01-01 (Arrow's `Date32`).
pub(crate) fn days_since_epoch(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    i32::try_from((date - epoch).num_days()).unwrap_or(i32::MAX)
}

/// An exact decimal as the unscaled integer of `decimal(precision, scale)`: at most
/// `scale` decimals (no silent rounding) and at most `precision` digits in all.
fn decimal(text: &str, precision: u8, scale: i8) -> Result<i128, String> {
    let shown: String = text.chars().take(40).collect();
    let bad = || {
        format!(
            "'{shown}' is not a decimal({precision},{scale}); write digits with '.' as decimal point (e.g. 1234.50)"
        )
    };
    let scale = usize::try_from(scale).map_err(|_| bad())?;
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return Err(bad());
    }
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > scale {
        return Err(format!(
            "'{shown}' has more than {scale} decimals; round it before delivering"
        ));
    }
    let whole = whole.trim_start_matches('0');
    if whole.len() + scale > usize::from(precision) {
        return Err(format!(
            "'{shown}' is out of range for decimal({precision},{scale}): at most {} digits before the decimal point",
            usize::from(precision).saturating_sub(scale)
        ));
    }
    let mut unscaled = String::with_capacity(whole.len() + scale);
    unscaled.push_str(whole);
    unscaled.push_str(fraction);
    unscaled.extend(std::iter::repeat_n('0', scale - fraction.len()));
    let value: i128 = if unscaled.is_empty() {
        0
    } else {
        unscaled.parse().map_err(|_| bad())?
    };
    Ok(if negative { -value } else { value })
}

/// An Arrow column builder for one catalogue type.
pub(crate) enum Builder {
    Text(StringBuilder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Decimal(Decimal128Builder, u8, i8),
    Date(Date32Builder),
    Boolean(BooleanBuilder),
}

impl Builder {
    pub(crate) fn new(data_type: ColumnType) -> Self {
        match data_type {
            ColumnType::String => Self::Text(StringBuilder::new()),
            ColumnType::Int32 => Self::Int32(Int32Builder::new()),
            ColumnType::Int64 => Self::Int64(Int64Builder::new()),
            ColumnType::Float64 => Self::Float64(Float64Builder::new()),
            ColumnType::Decimal { precision, scale } => {
                Self::Decimal(Decimal128Builder::new(), precision, scale)
            }
            ColumnType::Date => Self::Date(Date32Builder::new()),
            ColumnType::Boolean => Self::Boolean(BooleanBuilder::new()),
        }
    }

    /// Appends a value (of this builder's type: [`parse`] made it) or a null.
    pub(crate) fn append(&mut self, value: Option<&Value>) {
        match (self, value) {
            (Self::Text(b), Some(Value::Text(v))) => b.append_value(v),
            (Self::Int32(b), Some(Value::Int32(v))) => b.append_value(*v),
            (Self::Int64(b), Some(Value::Int64(v))) => b.append_value(*v),
            (Self::Float64(b), Some(Value::Float64(v))) => b.append_value(*v),
            (Self::Decimal(b, _, _), Some(Value::Decimal(v))) => b.append_value(*v),
            (Self::Date(b), Some(Value::Date(v))) => b.append_value(*v),
            (Self::Boolean(b), Some(Value::Boolean(v))) => b.append_value(*v),
            (Self::Text(b), _) => b.append_null(),
            (Self::Int32(b), _) => b.append_null(),
            (Self::Int64(b), _) => b.append_null(),
            (Self::Float64(b), _) => b.append_null(),
            (Self::Decimal(b, _, _), _) => b.append_null(),
            (Self::Date(b), _) => b.append_null(),
            (Self::Boolean(b), _) => b.append_null(),
        }
    }

    /// The column built so far; the builder starts over.
    pub(crate) fn finish(&mut self) -> Result<ArrayRef, deltalake::arrow::error::ArrowError> {
        Ok(match self {
            Self::Text(b) => Arc::new(b.finish()),
            Self::Int32(b) => Arc::new(b.finish()),
            Self::Int64(b) => Arc::new(b.finish()),
            Self::Float64(b) => Arc::new(b.finish()),
            Self::Decimal(b, p, s) => Arc::new(b.finish().with_precision_and_scale(*p, *s)?),
            Self::Date(b) => Arc::new(b.finish()),
            Self::Boolean(b) => Arc::new(b.finish()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact_and_refuse_rounding_and_overflow() {
        let t = ColumnType::Decimal {
            precision: 6,
            scale: 2,
        };
        assert_eq!(parse(t, "1234.5"), Ok(Value::Decimal(123_450)));
        assert_eq!(parse(t, "-0.01"), Ok(Value::Decimal(-1)));
        assert_eq!(parse(t, "12"), Ok(Value::Decimal(1200)));
        assert_eq!(parse(t, "1.230"), Ok(Value::Decimal(123)));
        assert!(parse(t, "1.234").is_err_and(|e| e.contains("more than 2 decimals")));
        assert!(parse(t, "12345.6").is_err_and(|e| e.contains("out of range")));
        for bad in ["", "-", ".", "1,5", "1e3", "abc", "1.2.3"] {
            assert!(parse(t, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn integers_dates_and_booleans_parse_by_their_type() {
        assert_eq!(parse(ColumnType::Int32, "007"), Ok(Value::Int32(7)));
        assert!(parse(ColumnType::Int32, "3000000000").is_err());
        assert_eq!(
            parse(ColumnType::Int64, "3000000000"),
            Ok(Value::Int64(3_000_000_000))
        );
        assert_eq!(parse(ColumnType::Date, "1970-01-02"), Ok(Value::Date(1)));
        assert!(parse(ColumnType::Date, "2024-02-30").is_err());
        assert!(parse(ColumnType::Float64, "NaN").is_err());
        assert_eq!(parse(ColumnType::Boolean, "true"), Ok(Value::Boolean(true)));
        assert!(parse(ColumnType::Boolean, "ja").is_err());
    }
}
