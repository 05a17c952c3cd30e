//! Rows as OData JSON values: integers and doubles as numbers, `Edm.Decimal` as exact
//! numbers (or strings when the client asks for `IEEE754Compatible=true`, as does
//! `Edm.Int64` then), dates as `YYYY-MM-DD`, non-finite doubles as `"NaN"`, `"INF"`,
//! `"-INF"`.

use dap_lake::arrow::array::{Array, AsArray, RecordBatch};
use dap_lake::arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type};
use dap_lake::arrow::util::display::array_value_to_string;

use crate::app::AppError;

/// Writes the first `rows` rows of `batch` as a JSON array of objects.
pub fn rows(batch: &RecordBatch, rows: usize, ieee754: bool) -> Result<Vec<u8>, AppError> {
    let schema = batch.schema();
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| serde_json::to_string(f.name()))
        .collect::<Result<_, _>>()
        .map_err(AppError::internal)?;
    let mut out = Vec::with_capacity(64 * rows.max(1));
    out.push(b'[');
    for row in 0..rows.min(batch.num_rows()) {
        if row > 0 {
            out.push(b',');
        }
        out.push(b'{');
        for (i, column) in batch.columns().iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(names[i].as_bytes());
            out.push(b':');
            cell(column.as_ref(), row, ieee754, &mut out)?;
        }
        out.push(b'}');
    }
    out.push(b']');
    Ok(out)
}

fn cell(array: &dyn Array, row: usize, ieee754: bool, out: &mut Vec<u8>) -> Result<(), AppError> {
    if array.is_null(row) {
        out.extend_from_slice(b"null");
        return Ok(());
    }
    let text = |out: &mut Vec<u8>, s: &str| -> Result<(), AppError> {
        out.extend_from_slice(
            serde_json::to_string(s)
                .map_err(AppError::internal)?
                .as_bytes(),
        );
        Ok(())
    };
    match array.data_type() {
        DataType::Int32 => {
            out.extend_from_slice(
                array
                    .as_primitive::<Int32Type>()
                    .value(row)
                    .to_string()
                    .as_bytes(),
            );
        }
        DataType::Int64 => {
            let v = array.as_primitive::<Int64Type>().value(row).to_string();
            if ieee754 {
                text(out, &v)?;
            } else {
                out.extend_from_slice(v.as_bytes());
            }
        }
        DataType::Float64 => {
            let v = array.as_primitive::<Float64Type>().value(row);
            match v {
                v if v.is_nan() => text(out, "NaN")?,
                v if v.is_infinite() => text(out, if v > 0.0 { "INF" } else { "-INF" })?,
                v => out.extend_from_slice(v.to_string().as_bytes()),
            }
        }
        DataType::Boolean => {
            let v = array.as_boolean().value(row);
            out.extend_from_slice(if v { b"true" } else { b"false" });
        }
        DataType::Utf8 => text(out, array.as_string::<i32>().value(row))?,
        DataType::LargeUtf8 => text(out, array.as_string::<i64>().value(row))?,
        DataType::Utf8View => text(out, array.as_string_view().value(row))?,
        DataType::Decimal128(..) if !ieee754 => {
            let v = array_value_to_string(array, row).map_err(AppError::internal)?;
            out.extend_from_slice(v.as_bytes());
        }
        _ => {
            // Decimals under IEEE754Compatible, dates (`YYYY-MM-DD`): their exact text.
            let v = array_value_to_string(array, row).map_err(AppError::internal)?;
            text(out, &v)?;
        }
    }
    Ok(())
}
