//! XLSX export with `rust_xlsxwriter` in constant-memory mode (rows go to a temporary
//! file as they are written; the finished workbook is returned as bytes).

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Date32Type, Float64Type, Int32Type, SchemaRef};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::{Error, Result};

/// Days from Excel's epoch (1899-12-30) to 1970-01-01.
const EXCEL_UNIX_EPOCH: f64 = 25_569.0;

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
        let worksheet = self.workbook.worksheet_from_index(0).map_err(xlsx)?;
        for (c, array) in batch.columns().iter().enumerate() {
            let col = column(c)?;
            match array.data_type() {
                DataType::Int32 => {
                    let values = array.as_primitive::<Int32Type>();
                    for i in (0..values.len()).filter(|i| values.is_valid(*i)) {
                        worksheet
                            .write_number(self.next_row + i as u32, col, f64::from(values.value(i)))
                            .map_err(xlsx)?;
                    }
                }
                DataType::Int64
                | DataType::Float64
                | DataType::Decimal128(_, _)
                | DataType::Float32 => {
                    let values = cast(array, &DataType::Float64)?;
                    let values = values.as_primitive::<Float64Type>();
                    for i in (0..values.len()).filter(|i| values.is_valid(*i)) {
                        worksheet
                            .write_number(self.next_row + i as u32, col, values.value(i))
                            .map_err(xlsx)?;
                    }
                }
                DataType::Date32 => {
                    let values = array.as_primitive::<Date32Type>();
                    for i in (0..values.len()).filter(|i| values.is_valid(*i)) {
                        let serial = f64::from(values.value(i)) + EXCEL_UNIX_EPOCH;
                        worksheet
                            .write_number_with_format(
                                self.next_row + i as u32,
                                col,
                                serial,
                                &self.date,
                            )
                            .map_err(xlsx)?;
                    }
                }
                _ => {
                    let values = cast(array, &DataType::Utf8)?;
                    let values = values.as_string::<i32>();
                    for i in (0..values.len()).filter(|i| values.is_valid(*i)) {
                        worksheet
                            .write_string(self.next_row + i as u32, col, values.value(i))
                            .map_err(xlsx)?;
                    }
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

fn column(index: usize) -> Result<u16> {
    u16::try_from(index).map_err(|_| Error::Encode("more columns than an XLSX sheet holds".into()))
}

fn xlsx(e: XlsxError) -> Error {
    Error::Encode(e.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

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
