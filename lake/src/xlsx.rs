//! XLSX export with `rust_xlsxwriter` in constant-memory mode (rows go to a temporary
//! file as they are written; the finished workbook is returned as bytes).

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
    date: Format,
    header: Format,
}

impl Sheet {
    pub(crate) fn new(schema: &SchemaRef) -> Result<Self> {
        let mut sheet = Self {
            workbook: Workbook::new(),
            next_row: 1,
            date: Format::new().set_num_format("yyyy-mm-dd"),
            header: Format::new().set_bold(),
        };
        let header = sheet.header.clone();
        let worksheet = sheet
            .workbook
            .add_worksheet_with_constant_memory()
            .map_err(xlsx)?;
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
                        worksheet
                            .write_number(row, col, a.as_primitive::<Float64Type>().value(i))
                            .map_err(xlsx)?;
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

    pub(crate) fn finish(mut self) -> Result<Vec<u8>> {
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
    fn a_sheet_refuses_rows_beyond_the_xlsx_limit() {
        let schema: SchemaRef =
            Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, false)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int32Array::from(vec![1, 2]))],
        )
        .expect("batch");
        let mut sheet = Sheet::new(&schema).expect("sheet");
        sheet.append(&batch).expect("fits");
        sheet.next_row = u32::try_from(crate::export::XLSX_MAX_ROWS - 1).expect("u32");
        assert!(matches!(
            sheet.append(&batch),
            Err(Error::TooLargeForXlsx { .. })
        ));
        assert!(sheet.finish().is_ok_and(|bytes| bytes.starts_with(b"PK")));
    }
}
