//! Keyset (seek) paging: a page starts after the sort key of the previous page's last
//! row, so page N costs what page 1 costs (a top-k of one page, no rows skipped).
//!
//! The sort follows [`crate::query::ResolvedQuery::order`]: ascending keys put NULLs last,
//! descending keys put them first, so a NULL is the largest value either way. "After the
//! last row" is then, for keys k1..kn with last values v1..vn:
//! `OR_i (k1 ≡ v1 AND … AND k(i-1) ≡ v(i-1) AND ki ≻ vi)`, where `≡` is null-safe
//! equality and `≻` means "sorts after" in ki's direction.

use deltalake::arrow::array::{Array, RecordBatch};
use deltalake::datafusion::prelude::{Expr, ident, lit};
use deltalake::datafusion::scalar::ScalarValue;
use serde::{Deserialize, Serialize};

use crate::query::OrderBy;

/// One sort key value of a row, exactly as read (floats by their bits, so NaN and -0.0
/// survive the trip through a cursor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyValue {
    #[serde(rename = "n")]
    Null,
    #[serde(rename = "s")]
    Str(String),
    #[serde(rename = "i")]
    Int32(i32),
    #[serde(rename = "l")]
    Int64(i64),
    #[serde(rename = "f")]
    Float64(u64),
    /// Unscaled value (as text: JSON numbers stop at 64 bits), precision, scale.
    #[serde(rename = "m")]
    Decimal(String, u8, i8),
    #[serde(rename = "d")]
    Date(i32),
    #[serde(rename = "b")]
    Bool(bool),
}

impl KeyValue {
    /// The value of `array` at `row`; `None` for a type keyset paging does not handle
    /// (the pager then falls back to offsets).
    pub fn of(array: &dyn Array, row: usize) -> Option<Self> {
        let value = ScalarValue::try_from_array(array, row).ok()?;
        Self::from_scalar(value)
    }

    fn from_scalar(value: ScalarValue) -> Option<Self> {
        if value.is_null() {
            return Some(Self::Null);
        }
        Some(match value {
            ScalarValue::Dictionary(_, inner) => return Self::from_scalar(*inner),
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)) => Self::Str(s),
            ScalarValue::Int32(Some(v)) => Self::Int32(v),
            ScalarValue::Int64(Some(v)) => Self::Int64(v),
            ScalarValue::Float64(Some(v)) => Self::Float64(v.to_bits()),
            ScalarValue::Decimal128(Some(v), p, s) => Self::Decimal(v.to_string(), p, s),
            ScalarValue::Date32(Some(d)) => Self::Date(d),
            ScalarValue::Boolean(Some(b)) => Self::Bool(b),
            _ => return None,
        })
    }

    /// The value as a literal: `Ok(None)` for NULL, `Err(())` for a value that does not
    /// parse (only a decimal's text can fail).
    fn to_scalar(&self) -> Result<Option<ScalarValue>, ()> {
        Ok(Some(match self {
            Self::Null => return Ok(None),
            Self::Str(s) => ScalarValue::Utf8(Some(s.clone())),
            Self::Int32(v) => ScalarValue::Int32(Some(*v)),
            Self::Int64(v) => ScalarValue::Int64(Some(*v)),
            Self::Float64(bits) => ScalarValue::Float64(Some(f64::from_bits(*bits))),
            Self::Decimal(v, p, s) => {
                ScalarValue::Decimal128(Some(v.parse().map_err(|_| ())?), *p, *s)
            }
            Self::Date(d) => ScalarValue::Date32(Some(*d)),
            Self::Bool(b) => ScalarValue::Boolean(Some(*b)),
        }))
    }
}

/// The sort key of `batch`'s row `row`: the values of the `order` columns, or `None`
/// when a column is missing or of a type keyset paging does not handle.
pub fn key_of(batch: &RecordBatch, row: usize, order: &[OrderBy]) -> Option<Vec<KeyValue>> {
    order
        .iter()
        .map(|o| KeyValue::of(batch.column_by_name(&o.column)?.as_ref(), row))
        .collect()
}

/// The predicate "sorts after `last`" for `order` (see the module documentation);
/// `None` when `last` does not fit `order`.
pub fn after(order: &[OrderBy], last: &[KeyValue]) -> Option<Expr> {
    if order.len() != last.len() || order.is_empty() {
        return None;
    }
    let mut any: Option<Expr> = None;
    let mut equal_so_far: Option<Expr> = None;
    for (key, value) in order.iter().zip(last) {
        let column = ident(&key.column);
        let scalar = value.to_scalar().ok()?;
        let greater = match (&scalar, key.descending) {
            // NULL is the largest value: nothing sorts after it ascending, every non-null
            // value does descending.
            (None, false) => lit(false),
            (None, true) => column.clone().is_not_null(),
            (Some(v), false) => column
                .clone()
                .gt(lit(v.clone()))
                .or(column.clone().is_null()),
            (Some(v), true) => column.clone().lt(lit(v.clone())),
        };
        let step = match &equal_so_far {
            Some(prefix) => prefix.clone().and(greater),
            None => greater,
        };
        any = Some(match any {
            Some(e) => e.or(step),
            None => step,
        });
        let equal = match scalar {
            None => column.is_null(),
            Some(v) => column.eq(lit(v)),
        };
        equal_so_far = Some(match equal_so_far {
            Some(prefix) => prefix.and(equal),
            None => equal,
        });
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Float64Array, Int32Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn values_survive_a_round_trip_through_json() {
        let values = vec![
            KeyValue::Null,
            KeyValue::Str("5.22 ø".into()),
            KeyValue::Int32(-3),
            KeyValue::Int64(i64::MAX),
            KeyValue::Float64(f64::NAN.to_bits()),
            KeyValue::Float64((-0.0f64).to_bits()),
            KeyValue::Decimal(i128::MAX.to_string(), 38, 2),
            KeyValue::Date(19_000),
            KeyValue::Bool(true),
        ];
        let json = serde_json::to_string(&values).unwrap_or_default();
        let back: Vec<KeyValue> = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, values);
    }

    #[test]
    fn keys_are_read_from_a_row_and_unknown_columns_give_none() {
        let batch = RecordBatch::try_from_iter(vec![
            ("a", Arc::new(StringArray::from(vec![Some("x"), None])) as _),
            ("b", Arc::new(Int32Array::from(vec![1, 2])) as _),
            ("c", Arc::new(Float64Array::from(vec![0.5, 1.5])) as _),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let order = |names: &[&str]| -> Vec<OrderBy> {
            names
                .iter()
                .map(|n| OrderBy {
                    column: (*n).into(),
                    descending: false,
                })
                .collect()
        };
        assert_eq!(
            key_of(&batch, 1, &order(&["a", "b", "c"])),
            Some(vec![
                KeyValue::Null,
                KeyValue::Int32(2),
                KeyValue::Float64(1.5f64.to_bits())
            ])
        );
        assert_eq!(key_of(&batch, 0, &order(&["a", "missing"])), None);
        assert!(after(&order(&["a"]), &[]).is_none());
        assert!(after(&order(&["a", "b"]), &[KeyValue::Null, KeyValue::Int32(1)]).is_some());
    }
}
