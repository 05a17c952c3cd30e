//! Result encoders.

use arrow::json::WriterBuilder;
use arrow::json::writer::JsonArray;
use deltalake::arrow::record_batch::RecordBatch;

use crate::Result;

/// Encodes batches as one JSON array of row objects; nulls are written as `null`.
/// Decimals are written as exact JSON numbers, dates as `YYYY-MM-DD` strings.
pub fn json_array(batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut writer = WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, JsonArray>(Vec::new());
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    let mut out = writer.into_inner();
    if out.is_empty() {
        out.extend_from_slice(b"[]");
    }
    Ok(out)
}

/// Number of rows in `batches`.
pub fn row_count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}
