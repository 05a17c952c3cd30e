//! XLSX export with `rust_xlsxwriter` in constant-memory mode (rows go to a temporary
//! file as they are written; the finished workbook is returned as bytes).
//!
//! The workbook is what Excel users need without an import dialog: text columns (codes
//! such as `0101` or `5.22.07`) are text cells, so Excel never turns them into numbers or
//! dates; numbers are number cells, amounts (decimals) with a thousands separator and
//! their decimals; dates are date cells. The header is bold and frozen, with an
//! autofilter, and the sheet is named after the dataset.

use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Date32Type, Float64Type, SchemaRef};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::{Error, Result};

/// Days from Excel's epoch (1899-12-30) to 1970-01-01.
const EXCEL_UNIX_EPOCH: f64 = 25_569.0;

/// A column's values, converted once per batch.
enum Cells {
    Number(ArrayRef),
    Date(ArrayRef),
    Text(ArrayRef),
}

/// One worksheet being filled batch by batch.
pub(crate) struct Sheet {
    workbook: Workbook,
    next_row: u32,
    columns: u16,
    date: Format,
    /// The number format of each column (amounts), if it has one.
    numbers: Vec<Option<Format>>,
}

/// Excel's rules for a sheet name: at most 31 characters, none of `[ ] : * ? / \`, not
/// starting or ending with an apostrophe, not empty.
pub(crate) fn sheet_name(title: &str) -> String {
    let cleaned: String = title
        .chars()
        .map(|c| {
            if matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .take(31)
        .collect();
    let trimmed = cleaned.trim_matches('\'').trim();
    if trimmed.is_empty() {
        "data".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// The number format of a column: decimals (amounts) get a thousands separator and their
/// scale's decimals (`#,##0.00`); integers (years, ids) and floats keep Excel's general
/// format, so a year is not shown as `2,025`.
fn number_format(data_type: &DataType) -> Option<Format> {
    match data_type {
        DataType::Decimal128(_, scale) | DataType::Decimal256(_, scale) => {
            let decimals = usize::try_from(*scale).unwrap_or(0).min(10);
            let format = if decimals == 0 {
                "#,##0".to_owned()
            } else {
                format!("#,##0.{}", "0".repeat(decimals))
            };
            Some(Format::new().set_num_format(format))
        }
        _ => None,
    }
}

impl Sheet {
    /// A workbook with one sheet named after `title` (see [`sheet_name`]) and a bold,
    /// frozen header row of the schema's column names.
    pub(crate) fn new(schema: &SchemaRef, title: &str) -> Result<Self> {
        let header = Format::new().set_bold();
        let columns = column(schema.fields().len())?;
        let mut sheet = Self {
            workbook: Workbook::new(),
            next_row: 1,
            columns,
            date: Format::new().set_num_format("yyyy-mm-dd"),
            numbers: schema
                .fields()
                .iter()
                .map(|f| number_format(f.data_type()))
                .collect(),
        };
        let worksheet = sheet
            .workbook
            .add_worksheet_with_constant_memory()
            .map_err(xlsx)?;
        worksheet.set_name(sheet_name(title)).map_err(xlsx)?;
        worksheet.set_freeze_panes(1, 0).map_err(xlsx)?;
        for (col, field) in schema.fields().iter().enumerate() {
            worksheet
                .write_string_with_format(0, column(col)?, field.name(), &header)
                .map_err(xlsx)?;
        }
        Ok(sheet)
    }

    pub(crate) fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        let rows = u32::try_from(batch.num_rows()).unwrap_or(u32::MAX);
        if u64::from(self.next_row) + u64::from(rows) > crate::export::XLSX_MAX_ROWS {
            return Err(Error::TooLargeForXlsx {
                rows: u64::from(self.next_row) + u64::from(rows) - 1,
                max: crate::export::XLSX_MAX_ROWS,
            });
        }
        // Constant-memory mode flushes a row once a later row is written: write row by row.
        let columns = batch
            .columns()
            .iter()
            .map(|array| {
                Ok(match array.data_type() {
                    DataType::Int8
                    | DataType::Int16
                    | DataType::Int32
                    | DataType::Int64
                    | DataType::UInt8
                    | DataType::UInt16
                    | DataType::UInt32
                    | DataType::UInt64
                    | DataType::Float32
                    | DataType::Float64
                    | DataType::Decimal128(_, _) => Cells::Number(cast(array, &DataType::Float64)?),
                    DataType::Date32 => Cells::Date(Arc::clone(array)),
                    _ => Cells::Text(cast(array, &DataType::Utf8)?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let worksheet = self.workbook.worksheet_from_index(0).map_err(xlsx)?;
        for i in 0..batch.num_rows() {
            let row = self.next_row + u32::try_from(i).unwrap_or(u32::MAX);
            for (c, cells) in columns.iter().enumerate() {
                let col = column(c)?;
                match cells {
                    Cells::Number(a) if a.is_valid(i) => {
                        let value = a.as_primitive::<Float64Type>().value(i);
                        match &self.numbers[c] {
                            Some(format) => worksheet
                                .write_number_with_format(row, col, value, format)
                                .map_err(xlsx)?,
                            None => worksheet.write_number(row, col, value).map_err(xlsx)?,
                        };
                    }
                    Cells::Date(a) if a.is_valid(i) => {
                        let serial =
                            f64::from(a.as_primitive::<Date32Type>().value(i)) + EXCEL_UNIX_EPOCH;
                        worksheet
                            .write_number_with_format(row, col, serial, &self.date)
                            .map_err(xlsx)?;
                    }
                    Cells::Text(a) if a.is_valid(i) => {
                        worksheet
                            .write_string(row, col, a.as_string::<i32>().value(i))
                            .map_err(xlsx)?;
                    }
                    _ => {}
                }
            }
        }
        self.next_row += rows;
        Ok(())
    }

    /// The workbook, with an autofilter over the header and every row written.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>> {
        if self.columns > 0 {
            let last_row = self.next_row - 1;
            self.workbook
                .worksheet_from_index(0)
                .map_err(xlsx)?
                .autofilter(0, 0, last_row, self.columns - 1)
                .map_err(xlsx)?;
        }
        self.workbook.save_to_buffer().map_err(xlsx)
    }
}

/// A value of a small table written whole (a key-figure table, never table rows).
#[derive(Debug, Clone, PartialEq)]
pub enum TableCell {
    Text(String),
    /// A number shown with this many decimals.
    Number(f64, u8),
}

/// One worksheet of [`small_workbook`]: a name, a bold header row and rows.
#[derive(Debug, Clone)]
pub struct TableSheet {
    pub name: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<TableCell>>,
}

/// A workbook of small tables (each at most a few thousand rows), returned as bytes.
pub fn small_workbook(sheets: &[TableSheet]) -> Result<Vec<u8>> {
    let mut workbook = Workbook::new();
    let header = Format::new().set_bold();
    for sheet in sheets {
        let worksheet = workbook.add_worksheet();
        worksheet.set_name(&sheet.name).map_err(xlsx)?;
        for (col, name) in sheet.header.iter().enumerate() {
            worksheet
                .write_string_with_format(0, column(col)?, name, &header)
                .map_err(xlsx)?;
        }
        for (r, row) in sheet.rows.iter().enumerate() {
            let r = u32::try_from(r + 1).map_err(|_| Error::Encode("too many rows".into()))?;
            for (col, cell) in row.iter().enumerate() {
                match cell {
                    TableCell::Text(text) => {
                        worksheet
                            .write_string(r, column(col)?, text)
                            .map_err(xlsx)?;
                    }
                    TableCell::Number(value, decimals) => {
                        let pattern = match decimals {
                            0 => "#,##0".to_owned(),
                            d => format!("#,##0.{}", "0".repeat(usize::from(*d))),
                        };
                        let format = Format::new().set_num_format(&pattern);
                        worksheet
                            .write_number_with_format(r, column(col)?, *value, &format)
                            .map_err(xlsx)?;
                    }
                }
            }
        }
        worksheet.autofit();
    }
    workbook.save_to_buffer().map_err(xlsx)
}

fn column(index: usize) -> Result<u16> {
    u16::try_from(index).map_err(|_| Error::Encode("more columns than an XLSX sheet holds".into()))
}

fn xlsx(e: XlsxError) -> Error {
    Error::Encode(e.to_string())
}

#[cfg(test)]
mod tests {
    use deltalake::arrow::array::Int32Array;
    use deltalake::arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn sheet_names_follow_excels_rules() {
        assert_eq!(sheet_name("oekonomi.posteringer"), "oekonomi.posteringer");
        assert_eq!(sheet_name("a[b]:c*d?e/f\\g"), "a_b__c_d_e_f_g");
        let long = sheet_name("personale.fravaer_med_en_meget_lang_titel_x");
        assert_eq!(long.chars().count(), 31);
        assert_eq!(sheet_name("'quoted'"), "quoted");
        assert_eq!(sheet_name("''"), "data");
        assert_eq!(sheet_name("æøå.økonomi"), "æøå.økonomi");
    }

    #[test]
    fn amounts_get_a_number_format_and_integers_do_not() {
        assert!(number_format(&DataType::Decimal128(18, 2)).is_some());
        assert!(number_format(&DataType::Int32).is_none());
        assert!(number_format(&DataType::Utf8).is_none());
    }

    #[test]
    fn a_sheet_refuses_rows_beyond_the_xlsx_limit() {
        let schema: SchemaRef =
            Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, false)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int32Array::from(vec![1, 2]))],
        )
        .expect("batch");
        let mut sheet = Sheet::new(&schema, "t").expect("sheet");
        sheet.append(&batch).expect("fits");
        sheet.next_row = u32::try_from(crate::export::XLSX_MAX_ROWS - 1).expect("u32");
        assert!(matches!(
            sheet.append(&batch),
            Err(Error::TooLargeForXlsx { .. })
        ));
        assert!(sheet.finish().is_ok_and(|bytes| bytes.starts_with(b"PK")));
    }
}
