//! Streaming exports: a scan's batches encoded chunk by chunk on the lake runtime and
//! handed over through a bounded channel, so memory per export stays bounded whatever
//! the table size (XLSX is the exception: a workbook is built whole, and is limited to
//! a sheet's rows).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::buffer::Buffer;
use arrow::ipc::writer::{FileWriter, StreamEncoder};
use arrow::json::WriterBuilder as JsonWriterBuilder;
use arrow::json::writer::{JsonArray, LineDelimited};
use bytes::Bytes;
use deltalake::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowColumnWriter, compute_leaves};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use std::collections::VecDeque;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::{Error, Result, Scan};

/// Rows of one XLSX sheet, header included.
pub const XLSX_MAX_ROWS: u64 = 1_048_576;
pub(crate) const CHUNKS_BUFFERED: usize = 4;
/// Batches of a line format (CSV, NDJSON) encoded at once, in order: one per core of the
/// lake runtime's default two.
const LINE_ENCODERS: usize = 2;
/// Parquet row groups are closed at this many rows, bounding the writer's buffer (and
/// the rows held while a group is encoded). Measured on 10 M rows of postings (see
/// BENCHMARKS.md): 128 Ki rows encode 10 % faster than 64 Ki; 256 Ki gain little more
/// and take the server's peak memory over 300 MB.
const PARQUET_ROW_GROUP: usize = 128 * 1024;
/// A column's dictionary stops growing at this size and the rest of its row group is
/// written plain. Columns of few distinct values (codes, years, functions) stay
/// dictionary-encoded; for columns of many (ids, amounts, free text) the dictionary cost
/// more than it saved: with Parquet's default of 1 MiB the 10 M-row export took 1.94 s
/// and 74 MB, with 16 KiB 1.47 s and 39 MB (zstd compresses plain values better).
const PARQUET_DICTIONARY_BYTES: usize = 16 * 1024;
/// A Parquet row group also closes once its rows take this much memory (wide tables),
/// so the rows held by an export (one group filling, [`PARQUET_ENCODERS`] encoding) stay
/// bounded whatever the row width.
const PARQUET_ROW_GROUP_BYTES: usize = 32 * 1024 * 1024;
/// Parquet row groups encoded at once, appended to the file in order: one per core of
/// the lake runtime's default two.
const PARQUET_ENCODERS: usize = 2;

/// CSV dialect options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    pub delimiter: u8,
    /// Write decimals and floats with `,` (Danish Excel).
    pub decimal_comma: bool,
    /// Start with a UTF-8 byte-order mark so Excel detects the encoding.
    pub bom: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            delimiter: b',',
            decimal_comma: false,
            bom: false,
        }
    }
}

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Ndjson,
    Csv(CsvOptions),
    Parquet,
    /// Arrow IPC stream format (`format=arrow`): read with `pyarrow.ipc.open_stream`,
    /// `polars.read_ipc_stream`.
    Arrow,
    /// Arrow IPC file format, also called Feather v2 (`format=arrow-file`): read with
    /// `pandas.read_feather`, `polars.read_ipc`, `pyarrow.ipc.open_file`.
    ArrowFile,
    /// An Excel workbook: the format for Excel.
    Xlsx,
}

impl Format {
    /// Names accepted in `format=`.
    pub const NAMES: &'static str = "json, ndjson, csv, parquet, arrow, arrow-file, xlsx";
    /// Names accepted where a result is not a table for a person (the change feed): all
    /// but XLSX.
    pub const STREAM_NAMES: &'static str = "json, ndjson, csv, parquet, arrow, arrow-file";

    /// The format called `name` (CSV with default options).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "json" => Self::Json,
            "ndjson" => Self::Ndjson,
            "csv" => Self::Csv(CsvOptions::default()),
            "parquet" => Self::Parquet,
            "arrow" => Self::Arrow,
            "arrow-file" => Self::ArrowFile,
            "xlsx" => Self::Xlsx,
            _ => return None,
        })
    }

    /// The format for a media type, as sent in `Accept`.
    pub fn from_media_type(media: &str) -> Option<Self> {
        Some(match media {
            "application/json" => Self::Json,
            "application/x-ndjson" | "application/jsonl" => Self::Ndjson,
            "text/csv" => Self::Csv(CsvOptions::default()),
            "application/vnd.apache.parquet" | "application/x-parquet" => Self::Parquet,
            "application/vnd.apache.arrow.stream" => Self::Arrow,
            "application/vnd.apache.arrow.file" => Self::ArrowFile,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => Self::Xlsx,
            _ => return None,
        })
    }

    /// Response media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Ndjson => "application/x-ndjson",
            Self::Csv(_) => "text/csv; charset=utf-8",
            Self::Parquet => "application/vnd.apache.parquet",
            Self::Arrow => "application/vnd.apache.arrow.stream",
            Self::ArrowFile => "application/vnd.apache.arrow.file",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    /// File name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Ndjson => "ndjson",
            Self::Csv(_) => "csv",
            Self::Parquet => "parquet",
            Self::Arrow => "arrows",
            Self::ArrowFile => "arrow",
            Self::Xlsx => "xlsx",
        }
    }
}

/// One piece of an export's encoded bytes.
#[derive(Debug)]
pub struct Chunk {
    pub bytes: Bytes,
    /// Rows a client holds usable once it has received this chunk (and all before it).
    /// Row-wise formats (NDJSON, CSV, Arrow IPC stream) count each batch's rows in its
    /// chunk; a JSON array, Parquet and XLSX are unreadable until their end, so all
    /// their rows count in the last chunk.
    pub rows: u64,
}

/// An export under way: encoded chunks arrive on `chunks`; `rows` counts rows encoded.
#[derive(Debug)]
pub struct Export {
    pub version: u64,
    pub chunks: mpsc::Receiver<Result<Chunk>>,
    pub rows: Arc<AtomicU64>,
}

/// Encodes `scan` as `format` on the current (lake) runtime.
pub fn encode(scan: Scan, format: Format) -> Export {
    encode_titled(scan, format, "data")
}

/// Like [`encode`]; `title` names what is exported (an XLSX sheet is named after it).
pub fn encode_titled(scan: Scan, format: Format, title: &str) -> Export {
    let title = title.to_owned();
    let (tx, rx) = mpsc::channel(CHUNKS_BUFFERED);
    let rows = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&rows);
    let version = scan.version;
    let chunks = tx.clone();
    crate::lake::spawn_feeding(tx, async move {
        run(scan, format, &title, &chunks, &counter).await
    });
    Export {
        version,
        chunks: rx,
        rows,
    }
}

/// A `Write` whose bytes are taken out after each batch.
#[derive(Clone, Default)]
pub(crate) struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("sink poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink {
    /// The bytes written since the last take; the next chunk starts with room for as
    /// many (chunks are alike in size), so the buffer does not grow by doubling.
    pub(crate) fn take(&self) -> Bytes {
        self.0
            .lock()
            .map(|mut b| {
                let room = b.len();
                Bytes::from(std::mem::replace(&mut *b, Vec::with_capacity(room)))
            })
            .unwrap_or_default()
    }
}

enum Encoder {
    Json { first: bool },
    ArrowFile(Box<FileWriter<Sink>>),
    Xlsx(Box<crate::xlsx::Sheet>),
}

async fn run(
    mut scan: Scan,
    format: Format,
    title: &str,
    tx: &mpsc::Sender<Result<Chunk>>,
    rows: &AtomicU64,
) -> Result<()> {
    let sink = Sink::default();
    let whole_file = matches!(format, Format::Json | Format::Parquet | Format::Xlsx);
    let schema = csv_schema(&scan.schema, format);
    let mut encoder = match format {
        Format::Json => Encoder::Json { first: true },
        Format::Ndjson | Format::Csv(_) => return run_lines(scan, format, schema, tx, rows).await,
        Format::Parquet => return run_parquet(scan, schema, tx, rows).await,
        Format::Arrow => return run_arrow_stream(scan, schema, tx, rows).await,
        Format::ArrowFile => {
            Encoder::ArrowFile(Box::new(FileWriter::try_new(sink.clone(), &scan.schema)?))
        }
        Format::Xlsx => Encoder::Xlsx(Box::new(crate::xlsx::Sheet::new(&scan.schema, title)?)),
    };
    if matches!(format, Format::Json) {
        sink.clone().write_all(b"[")?;
    }
    while let Some(batch) = scan.next().await {
        let batch = batch?;
        let batch_rows = batch.num_rows() as u64;
        rows.fetch_add(batch_rows, Ordering::Relaxed);
        match &mut encoder {
            Encoder::Json { first } => {
                let mut body = Vec::new();
                {
                    let mut writer = JsonWriterBuilder::new()
                        .with_explicit_nulls(true)
                        .build::<_, JsonArray>(&mut body);
                    writer.write(&batch)?;
                    writer.finish()?;
                }
                // Splice each batch's array into one array.
                if let (Some(b'['), Some(b']')) = (body.first(), body.last()) {
                    let inner = &body[1..body.len() - 1];
                    if !inner.is_empty() {
                        if !*first {
                            sink.clone().write_all(b",")?;
                        }
                        sink.clone().write_all(inner)?;
                        *first = false;
                    }
                }
            }
            Encoder::ArrowFile(writer) => writer.write(&batch)?,
            Encoder::Xlsx(sheet) => sheet.append(&batch)?,
        }
        let bytes = sink.take();
        let chunk = Chunk {
            bytes,
            rows: if whole_file { 0 } else { batch_rows },
        };
        if (!chunk.bytes.is_empty() || chunk.rows > 0) && tx.send(Ok(chunk)).await.is_err() {
            return Ok(()); // the client went away
        }
    }
    match encoder {
        Encoder::Json { .. } => sink.clone().write_all(b"]")?,
        Encoder::ArrowFile(mut writer) => writer.finish()?,
        Encoder::Xlsx(sheet) => sink.clone().write_all(&sheet.finish()?)?,
    }
    let bytes = sink.take();
    let rows = if whole_file {
        rows.load(Ordering::Relaxed)
    } else {
        0
    };
    if !bytes.is_empty() || rows > 0 {
        let _ = tx.send(Ok(Chunk { bytes, rows })).await;
    }
    Ok(())
}

/// CSV and NDJSON: every batch encodes on its own (only the first CSV batch writes the
/// header), so [`LINE_ENCODERS`] batches are encoded at once (on the lake runtime's
/// blocking pool) and their chunks sent in scan order. Memory stays bounded: at most that many batches are
/// in flight besides the channel's chunks.
async fn run_lines(
    scan: impl futures::Stream<Item = Result<RecordBatch>> + Unpin,
    format: Format,
    schema: SchemaRef,
    tx: &mpsc::Sender<Result<Chunk>>,
    rows: &AtomicU64,
) -> Result<()> {
    let mut first = true;
    let mut chunks = scan
        .map(|batch| {
            let header = std::mem::replace(&mut first, false);
            let schema = Arc::clone(&schema);
            tokio::task::spawn_blocking(move || {
                #[cfg(test)]
                gate::pass(&schema);
                let batch = batch?;
                let count = batch.num_rows() as u64;
                Ok::<_, Error>((encode_lines(&batch, format, &schema, header)?, count))
            })
        })
        .buffered(LINE_ENCODERS);
    let mut header_sent = false;
    while let Some(encoded) = chunks.next().await {
        let (bytes, count) = encoded.map_err(|e| Error::Runtime(e.to_string()))??;
        rows.fetch_add(count, Ordering::Relaxed);
        let bytes = if header_sent {
            bytes
        } else {
            header_sent = true;
            with_bom(bytes, format)
        };
        let chunk = Chunk { bytes, rows: count };
        if (!chunk.bytes.is_empty() || chunk.rows > 0) && tx.send(Ok(chunk)).await.is_err() {
            return Ok(()); // the client went away
        }
    }
    if !header_sent {
        // No rows: still the header line (CSV) and the byte order mark.
        let empty = RecordBatch::new_empty(Arc::clone(&schema));
        let bytes = with_bom(encode_lines(&empty, format, &schema, true)?, format);
        if !bytes.is_empty() {
            let _ = tx.send(Ok(Chunk { bytes, rows: 0 })).await;
        }
    }
    Ok(())
}

/// Arrow IPC stream: each batch's message is encoded without copying its buffers, then
/// joined into one chunk of exactly its size (the only copy before the connection's).
async fn run_arrow_stream(
    mut scan: impl futures::Stream<Item = Result<RecordBatch>> + Unpin,
    schema: SchemaRef,
    tx: &mpsc::Sender<Result<Chunk>>,
    rows: &AtomicU64,
) -> Result<()> {
    let mut encoder = StreamEncoder::try_new(&schema)?;
    while let Some(batch) = scan.next().await {
        let batch = batch?;
        let count = batch.num_rows() as u64;
        rows.fetch_add(count, Ordering::Relaxed);
        let chunk = Chunk {
            bytes: joined(encoder.encode(&batch)?),
            rows: count,
        };
        if tx.send(Ok(chunk)).await.is_err() {
            return Ok(()); // the client went away
        }
    }
    let _ = tx
        .send(Ok(Chunk {
            bytes: joined(encoder.finish()?),
            rows: 0,
        }))
        .await;
    Ok(())
}

/// The buffers of one IPC message in one allocation.
fn joined(buffers: Vec<Buffer>) -> Bytes {
    let mut out = Vec::with_capacity(buffers.iter().map(|b| b.len()).sum());
    for buffer in &buffers {
        out.extend_from_slice(buffer.as_slice());
    }
    Bytes::from(out)
}

/// Parquet: the scan's rows cut into row groups of [`PARQUET_ROW_GROUP`] rows, whose
/// columns are encoded (and compressed) [`PARQUET_ENCODERS`] row groups at once on the
/// lake runtime's blocking pool, each column by its own writer, then appended to the file
/// in scan order. The file is what one `ArrowWriter` writes (same properties, the Arrow
/// schema in its metadata) while groups close by rows; memory stays bounded by the row
/// groups in flight, each at most [`PARQUET_ROW_GROUP_BYTES`].
async fn run_parquet(
    mut scan: impl futures::Stream<Item = Result<RecordBatch>> + Unpin,
    schema: SchemaRef,
    tx: &mpsc::Sender<Result<Chunk>>,
    rows: &AtomicU64,
) -> Result<()> {
    let sink = Sink::default();
    let (mut file, groups) = ArrowWriter::try_new(
        sink.clone(),
        Arc::clone(&schema),
        Some(parquet_properties()),
    )?
    .into_serialized_writer()?;
    let mut encoding = InFlight::default();
    let mut group: Vec<RecordBatch> = Vec::new();
    let (mut group_rows, mut group_bytes) = (0, 0);
    let mut index = 0;
    let mut scanned = true;
    while scanned {
        let full = match scan.next().await {
            Some(batch) => {
                let mut batch = batch?;
                // Cut the batch at the row group's end; the rest starts the next group.
                let mut full = Vec::new();
                while group_rows + batch.num_rows() >= PARQUET_ROW_GROUP {
                    let take = PARQUET_ROW_GROUP - group_rows;
                    group.push(batch.slice(0, take));
                    batch = batch.slice(take, batch.num_rows() - take);
                    full.push(std::mem::take(&mut group));
                    (group_rows, group_bytes) = (0, 0);
                }
                if batch.num_rows() > 0 {
                    group_rows += batch.num_rows();
                    group_bytes += batch.get_array_memory_size();
                    group.push(batch);
                }
                // Wide rows: a group also closes at its size in memory.
                if group_bytes >= PARQUET_ROW_GROUP_BYTES {
                    full.push(std::mem::take(&mut group));
                    (group_rows, group_bytes) = (0, 0);
                }
                full
            }
            None => {
                scanned = false;
                if group.is_empty() {
                    Vec::new()
                } else {
                    vec![std::mem::take(&mut group)]
                }
            }
        };
        for batches in full {
            if encoding.0.len() == PARQUET_ENCODERS
                && let Some(done) = encoding.0.pop_front()
                && !append_group(&mut file, done, &sink, tx, rows).await?
            {
                return Ok(()); // the client went away
            }
            let writers = groups.create_column_writers(index)?;
            index += 1;
            let schema = Arc::clone(&schema);
            // Encoding is CPU work of tens of milliseconds: on the blocking pool, so the
            // lake runtime's workers stay free for pages and other scans meanwhile.
            encoding.0.push_back(tokio::task::spawn_blocking(move || {
                encode_group(&schema, writers, &batches)
            }));
        }
    }
    while let Some(done) = encoding.0.pop_front() {
        if !append_group(&mut file, done, &sink, tx, rows).await? {
            return Ok(());
        }
    }
    file.close()?;
    let _ = tx
        .send(Ok(Chunk {
            bytes: sink.take(),
            rows: rows.load(Ordering::Relaxed),
        }))
        .await;
    Ok(())
}

/// Row groups being encoded, in file order. An export that ends early (an error, the
/// client gone) stops the ones not yet started instead of leaving them to run.
#[derive(Default)]
struct InFlight(VecDeque<JoinHandle<Result<EncodedGroup>>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// The writer properties of a Parquet export: zstd, row groups of [`PARQUET_ROW_GROUP`]
/// rows, dictionaries only for columns of few distinct values.
pub(crate) fn parquet_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(PARQUET_ROW_GROUP))
        .set_dictionary_page_size_limit(PARQUET_DICTIONARY_BYTES)
        .build()
}

/// One row group's encoded column chunks and its row count.
type EncodedGroup = (Vec<ArrowColumnChunk>, u64);

/// Encodes one row group's batches with its column writers.
fn encode_group(
    schema: &SchemaRef,
    mut writers: Vec<ArrowColumnWriter>,
    batches: &[RecordBatch],
) -> Result<EncodedGroup> {
    #[cfg(test)]
    gate::pass(schema);
    let mut count = 0;
    for batch in batches {
        let mut next = writers.iter_mut();
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            for leaf in compute_leaves(field, column)? {
                next.next()
                    .ok_or_else(|| Error::Encode("more leaf columns than writers".into()))?
                    .write(&leaf)?;
            }
        }
        count += batch.num_rows() as u64;
    }
    let chunks = writers
        .into_iter()
        .map(ArrowColumnWriter::close)
        .collect::<parquet::errors::Result<Vec<_>>>()?;
    Ok((chunks, count))
}

/// Appends an encoded row group to the file and sends the bytes written; false when
/// the client went away.
async fn append_group(
    file: &mut SerializedFileWriter<Sink>,
    encoded: JoinHandle<Result<EncodedGroup>>,
    sink: &Sink,
    tx: &mpsc::Sender<Result<Chunk>>,
    rows: &AtomicU64,
) -> Result<bool> {
    let (chunks, count) = encoded.await.map_err(|e| Error::Runtime(e.to_string()))??;
    let mut group = file.next_row_group()?;
    for chunk in chunks {
        chunk.append_to_row_group(&mut group)?;
    }
    group.close()?;
    rows.fetch_add(count, Ordering::Relaxed);
    // A Parquet file is unreadable until its footer: its rows count in the last chunk.
    let chunk = Chunk {
        bytes: sink.take(),
        rows: 0,
    };
    Ok(chunk.bytes.is_empty() || tx.send(Ok(chunk)).await.is_ok())
}

/// The first chunk of a CSV for Excel starts with the UTF-8 byte order mark.
fn with_bom(bytes: Bytes, format: Format) -> Bytes {
    match format {
        Format::Csv(CsvOptions { bom: true, .. }) => {
            let mut out = Vec::with_capacity(bytes.len() + 3);
            out.extend_from_slice("\u{feff}".as_bytes());
            out.extend_from_slice(&bytes);
            Bytes::from(out)
        }
        _ => bytes,
    }
}

/// One batch of a line format, encoded into its own buffer.
fn encode_lines(
    batch: &RecordBatch,
    format: Format,
    schema: &SchemaRef,
    header: bool,
) -> Result<Bytes> {
    let mut out = Vec::with_capacity(64 * 1024);
    match format {
        Format::Csv(options) => {
            let batch = if options.decimal_comma {
                decimal_comma(batch, schema)?
            } else {
                batch.clone()
            };
            crate::csv_rows::write(&batch, options.delimiter, header, &mut out)?;
        }
        _ => {
            let mut writer = JsonWriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, LineDelimited>(&mut out);
            writer.write(batch)?;
            writer.finish()?;
        }
    }
    Ok(Bytes::from(out))
}

/// With decimal comma, numeric non-integer columns are written as text.
fn csv_schema(schema: &SchemaRef, format: Format) -> SchemaRef {
    match format {
        Format::Csv(CsvOptions {
            decimal_comma: true,
            ..
        }) => Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| {
                    if is_fractional(f.data_type()) {
                        Field::new(f.name(), DataType::Utf8, f.is_nullable())
                    } else {
                        f.as_ref().clone()
                    }
                })
                .collect::<Vec<_>>(),
        )),
        _ => Arc::clone(schema),
    }
}

fn is_fractional(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(_, _)
            | DataType::Decimal256(_, _)
    )
}

fn decimal_comma(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .map(|column| {
            if !is_fractional(column.data_type()) {
                return Ok(Arc::clone(column));
            }
            let text = cast(column, &DataType::Utf8)?;
            let text = text.as_string::<i32>();
            let replaced: deltalake::arrow::array::StringArray = text
                .iter()
                .map(|v| v.map(|s| s.replace('.', ",")))
                .collect();
            Ok(Arc::new(replaced) as ArrayRef)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

impl From<parquet::errors::ParquetError> for Error {
    fn from(e: parquet::errors::ParquetError) -> Self {
        Error::Encode(e.to_string())
    }
}

impl crate::Lake {
    /// Exports every row `query` selects within `scope`, encoded as `format`.
    pub async fn export(
        self: &Arc<Self>,
        scope: &dap_schema::AccessScope,
        query: &crate::query::ResolvedQuery,
        format: Format,
    ) -> Result<Export> {
        if format == Format::Xlsx {
            let rows = self.count(scope, query).await?;
            if rows >= XLSX_MAX_ROWS {
                return Err(Error::TooLargeForXlsx {
                    rows,
                    max: XLSX_MAX_ROWS,
                });
            }
        }
        if format == Format::Parquet {
            return self.parquet_export(scope, query).await;
        }
        let scan = self.scan(scope, query).await?;
        let title = query.dataset.clone();
        self.runtime()
            .run(async move { Ok(encode_titled(scan, format, &title)) })
            .await
    }

    /// Exports the scope's changed rows between two versions, encoded as `format`.
    pub async fn export_changes(
        self: &Arc<Self>,
        scope: &dap_schema::AccessScope,
        from: u64,
        to: Option<u64>,
        select: &[String],
        format: Format,
    ) -> Result<Export> {
        let scan = self.changes(scope, from, to, select).await?;
        self.runtime()
            .run(async move { Ok(encode(scan, format)) })
            .await
    }
}

/// Test hook: the encodes of a schema whose first column is named [`gate::COLUMN`] wait
/// at the gate until a test opens it (to see where encoding runs).
#[cfg(test)]
mod gate {
    use std::sync::{Condvar, Mutex};

    use deltalake::arrow::datatypes::SchemaRef;

    pub const COLUMN: &str = "held_at_the_test_gate";
    /// (open, encodes waiting)
    static GATE: (Mutex<(bool, usize)>, Condvar) = (Mutex::new((false, 0)), Condvar::new());

    pub fn pass(schema: &SchemaRef) {
        if schema.fields().first().is_none_or(|f| f.name() != COLUMN) {
            return;
        }
        let mut state = GATE.0.lock().expect("gate");
        state.1 += 1;
        while !state.0 {
            state = GATE.1.wait(state).expect("gate");
        }
        state.1 -= 1;
    }

    pub fn waiting() -> usize {
        GATE.0.lock().expect("gate").1
    }

    pub fn open() {
        GATE.0.lock().expect("gate").0 = true;
        GATE.1.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encoding is CPU work: it runs on the blocking pool, so while encodes are under way
    /// (here: held at the gate) the lake runtime's workers still run pages and scans.
    #[test]
    fn encoding_leaves_the_lake_workers_free() {
        use deltalake::arrow::array::Int64Array;
        use std::time::{Duration, Instant};
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let schema = Arc::new(Schema::new(vec![Field::new(
            gate::COLUMN,
            DataType::Int64,
            false,
        )]));
        let batches: Vec<RecordBatch> = (0..4i64)
            .map(|b| {
                let ids = Int64Array::from_iter_values(b * 10..b * 10 + 10);
                RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(ids)]).expect("batch")
            })
            .collect();
        let formats = [
            Format::Parquet,
            Format::Csv(CsvOptions::default()),
            Format::Ndjson,
        ];
        let mut exports = Vec::new();
        for format in formats {
            let (tx, rx) = mpsc::channel(CHUNKS_BUFFERED);
            let rows = Arc::new(AtomicU64::new(0));
            let stream = futures::stream::iter(batches.clone().into_iter().map(Ok));
            let target = csv_schema(&schema, format);
            exports.push((format, rx, Arc::clone(&rows)));
            runtime.spawn(async move {
                let done = match format {
                    Format::Parquet => run_parquet(stream, target, &tx, &rows).await,
                    _ => run_lines(stream, format, target, &tx, &rows).await,
                };
                if let Err(error) = done {
                    let _ = tx.send(Err(error)).await;
                }
            });
        }
        // Every export has an encode held at the gate (Parquet one row group, the line
        // formats two batches each), or the one worker is stuck in one.
        let deadline = Instant::now() + Duration::from_secs(20);
        while gate::waiting() < 5 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let held = gate::waiting();
        let (answer, answered) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            let _ = answer.send(());
        });
        let free = answered.recv_timeout(Duration::from_secs(10));
        gate::open();
        assert_eq!(held, 5, "encodes held at the gate at once");
        assert!(
            free.is_ok(),
            "the worker ran other work while encodes were held"
        );
        for (format, mut rx, rows) in exports {
            let body = runtime.block_on(async move {
                let mut body = Vec::new();
                while let Some(chunk) = rx.recv().await {
                    body.extend_from_slice(&chunk.expect("chunk").bytes);
                }
                body
            });
            assert_eq!(rows.load(Ordering::Relaxed), 40, "{format:?}");
            assert!(!body.is_empty(), "{format:?}");
        }
    }

    /// An export that ends early (the client gone, an error) stops the row groups whose
    /// encoding has not started.
    #[test]
    fn row_groups_not_started_are_stopped_when_the_export_ends() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .build()
            .expect("runtime");
        let ran = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&ran);
        runtime.block_on(async move {
            // The pool's one thread is busy until `release` is sent.
            let (release, held) = std::sync::mpsc::channel::<()>();
            let (started, busy) = std::sync::mpsc::channel();
            let blocker = tokio::task::spawn_blocking(move || {
                let _ = started.send(());
                let _ = held.recv();
            });
            busy.recv().expect("the pool's thread is busy");
            let mut encoding = InFlight::default();
            for _ in 0..PARQUET_ENCODERS {
                let ran = Arc::clone(&counted);
                encoding.0.push_back(tokio::task::spawn_blocking(move || {
                    ran.fetch_add(1, Ordering::Relaxed);
                    Ok((Vec::new(), 0))
                }));
            }
            drop(encoding);
            release.send(()).expect("release");
            blocker.await.expect("blocker");
            // Queued after the stopped ones: once it ran, they would have run too.
            tokio::task::spawn_blocking(|| ()).await.expect("last");
        });
        assert_eq!(ran.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn formats_resolve_by_name_and_media_type() {
        for name in Format::NAMES.split(", ") {
            let format = Format::from_name(name).expect("named format");
            assert_eq!(
                Format::from_media_type(
                    format.content_type().split(';').next().unwrap_or_default()
                ),
                Some(format)
            );
        }
        assert_eq!(Format::from_name("xml"), None);
    }

    /// Many batches, encoded two at a time: the chunks come in scan order, the header
    /// and the byte order mark once at the start, and each chunk counts its rows.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn line_formats_encode_batches_at_once_in_scan_order() {
        use deltalake::arrow::array::{Decimal128Array, Int64Array};
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("amount", DataType::Decimal128(10, 2), true),
        ]));
        // Batches of different sizes, so a later small one may finish first.
        let batches: Vec<RecordBatch> = (0..40i64)
            .map(|b| {
                let n = if b % 2 == 0 { 5_000 } else { 3 };
                let ids = Int64Array::from_iter_values((0..n).map(|i| b * 10_000 + i));
                let amounts = Decimal128Array::from_iter_values((0..n).map(|i| i128::from(i) * 7))
                    .with_precision_and_scale(10, 2)
                    .expect("decimal");
                RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(ids), Arc::new(amounts)])
                    .expect("batch")
            })
            .collect();
        let total: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        let excel = Format::Csv(CsvOptions {
            delimiter: b';',
            decimal_comma: true,
            bom: true,
        });
        for format in [Format::Ndjson, Format::Csv(CsvOptions::default()), excel] {
            let (tx, mut rx) = mpsc::channel(CHUNKS_BUFFERED);
            let rows = Arc::new(AtomicU64::new(0));
            let stream = futures::stream::iter(batches.clone().into_iter().map(Ok));
            let target = csv_schema(&schema, format);
            let counter = Arc::clone(&rows);
            let task =
                tokio::spawn(async move { run_lines(stream, format, target, &tx, &counter).await });
            let (mut body, mut counted) = (Vec::new(), 0);
            while let Some(chunk) = rx.recv().await {
                let chunk = chunk.expect("chunk");
                counted += chunk.rows;
                body.extend_from_slice(&chunk.bytes);
            }
            task.await.expect("joined").expect("encoded");
            // What one encoder writing batch after batch writes.
            let target = csv_schema(&schema, format);
            let mut expected = with_bom(Bytes::new(), format).to_vec();
            for (i, batch) in batches.iter().enumerate() {
                expected.extend_from_slice(
                    &encode_lines(batch, format, &target, i == 0).expect("encode"),
                );
            }
            assert_eq!(body, expected, "{format:?}");
            assert_eq!(counted, total);
            assert_eq!(rows.load(Ordering::Relaxed), total);
            let text = String::from_utf8(body).expect("utf-8");
            let lines = text.lines().count() as u64;
            let header = u64::from(matches!(format, Format::Csv(_)));
            assert_eq!(
                lines,
                total + header,
                "{format:?}: one line per row, one header"
            );
        }
    }

    /// Batches of odd sizes, crossing row group boundaries, of the types exports meet.
    fn mixed_batches(sizes: &[usize]) -> (SchemaRef, Vec<RecordBatch>) {
        use deltalake::arrow::array::{
            Date32Array, Decimal128Array, Int64Array, StringArray, TimestampMicrosecondArray,
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("tekst", DataType::Utf8, true),
            Field::new("beloeb", DataType::Decimal128(18, 2), true),
            Field::new("dato", DataType::Date32, true),
            Field::new(
                "tid",
                DataType::Timestamp(
                    deltalake::arrow::datatypes::TimeUnit::Microsecond,
                    Some("UTC".into()),
                ),
                true,
            ),
        ]));
        let mut start = 0i64;
        let batches = sizes
            .iter()
            .map(|&n| {
                let ids: Vec<i64> = (start..start + n as i64).collect();
                start += n as i64;
                RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![
                        Arc::new(Int64Array::from(ids.clone())),
                        Arc::new(StringArray::from_iter(
                            ids.iter()
                                .map(|i| (i % 7 != 0).then(|| format!("tekst {}", i % 97))),
                        )),
                        Arc::new(
                            Decimal128Array::from_iter(
                                ids.iter()
                                    .map(|i| (i % 5 != 0).then_some(i128::from(*i) * 37 - 5_000)),
                            )
                            .with_precision_and_scale(18, 2)
                            .expect("decimal"),
                        ),
                        Arc::new(Date32Array::from_iter(
                            ids.iter()
                                .map(|i| (i % 11 != 0).then_some((i % 3650) as i32)),
                        )),
                        Arc::new(
                            TimestampMicrosecondArray::from_iter(
                                ids.iter().map(|i| Some(i * 1_000_003)),
                            )
                            .with_timezone("UTC"),
                        ),
                    ],
                )
                .expect("batch")
            })
            .collect();
        (schema, batches)
    }

    /// Runs one of the encoders over `batches`: the body, and the rows counted per chunk.
    async fn encoded<F, Fut>(batches: &[RecordBatch], run: F) -> (Vec<u8>, Vec<u64>)
    where
        F: FnOnce(
            futures::stream::Iter<std::vec::IntoIter<Result<RecordBatch>>>,
            mpsc::Sender<Result<Chunk>>,
            Arc<AtomicU64>,
        ) -> Fut,
        Fut: std::future::Future<Output = Result<()>> + Send + 'static,
    {
        let (tx, mut rx) = mpsc::channel(CHUNKS_BUFFERED);
        let rows = Arc::new(AtomicU64::new(0));
        let items: Vec<Result<RecordBatch>> = batches.iter().cloned().map(Ok).collect();
        let task = tokio::spawn(run(futures::stream::iter(items), tx, Arc::clone(&rows)));
        let (mut body, mut counts) = (Vec::new(), Vec::new());
        while let Some(chunk) = rx.recv().await {
            let chunk = chunk.expect("chunk");
            counts.push(chunk.rows);
            body.extend_from_slice(&chunk.bytes);
        }
        task.await.expect("joined").expect("encoded");
        let total: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        assert_eq!(rows.load(Ordering::Relaxed), total);
        (body, counts)
    }

    /// Row groups encoded two at a time make the very file one `ArrowWriter` writes (same
    /// row groups, pages and footer, the Arrow schema in its metadata); its rows count
    /// only in the last chunk, which holds the footer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parquet_row_groups_encoded_at_once_make_the_file_one_writer_writes() {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        for sizes in [
            vec![],
            vec![10],
            vec![30_000, 7, 50_000, PARQUET_ROW_GROUP, 1, 100_000, 8_192],
            vec![PARQUET_ROW_GROUP; 3],
        ] {
            let (schema, batches) = mixed_batches(&sizes);
            let total: usize = sizes.iter().sum();
            let target = Arc::clone(&schema);
            let (body, counts) = encoded(&batches, |stream, tx, rows| async move {
                run_parquet(stream, target, &tx, &rows).await
            })
            .await;
            let mut writer =
                ArrowWriter::try_new(Vec::new(), Arc::clone(&schema), Some(parquet_properties()))
                    .expect("writer");
            for batch in &batches {
                writer.write(batch).expect("write");
            }
            let expected = writer.into_inner().expect("closed");
            assert_eq!(body, expected, "{sizes:?}: the bytes of one writer");
            let (last, before) = counts.split_last().expect("a chunk");
            assert_eq!(*last, total as u64);
            assert!(before.iter().all(|&n| n == 0));
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(Bytes::from(body)).expect("parquet");
            assert_eq!(
                reader.metadata().num_row_groups(),
                total.div_ceil(PARQUET_ROW_GROUP)
            );
            assert_eq!(reader.schema().fields(), schema.fields());
            let read: Vec<RecordBatch> = reader
                .build()
                .expect("reader")
                .collect::<std::result::Result<_, _>>()
                .expect("rows");
            let read = deltalake::arrow::compute::concat_batches(&schema, &read).expect("concat");
            let written =
                deltalake::arrow::compute::concat_batches(&schema, &batches).expect("concat");
            assert_eq!(
                read.columns(),
                written.columns(),
                "{sizes:?}: the rows in scan order"
            );
        }
    }

    /// Wide rows: a row group closes at [`PARQUET_ROW_GROUP_BYTES`] long before its row
    /// count, so an export holds a bounded amount of rows whatever their width.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parquet_row_groups_close_at_their_size_in_memory() {
        use deltalake::arrow::array::StringArray;
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let schema = Arc::new(Schema::new(vec![Field::new(
            "tekst",
            DataType::Utf8,
            false,
        )]));
        let wide = "x".repeat(1024);
        let batches: Vec<RecordBatch> = (0..5)
            .map(|_| {
                let texts = StringArray::from_iter_values(std::iter::repeat_n(&wide, 10_000));
                RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(texts)]).expect("batch")
            })
            .collect();
        let bytes: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
        assert!(bytes > 2 * PARQUET_ROW_GROUP_BYTES, "{bytes}");
        let target = Arc::clone(&schema);
        let (body, counts) = encoded(&batches, |stream, tx, rows| async move {
            run_parquet(stream, target, &tx, &rows).await
        })
        .await;
        assert_eq!(counts.last(), Some(&50_000));
        let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(body)).expect("parquet");
        let groups = reader.metadata().row_groups();
        // 50,000 rows: one group by count, at least two by size.
        assert!(groups.len() >= 2, "{} row groups", groups.len());
        assert_eq!(groups.iter().map(|g| g.num_rows()).sum::<i64>(), 50_000);
        let read: usize = reader
            .build()
            .expect("reader")
            .map(|b| b.expect("rows").num_rows())
            .sum();
        assert_eq!(read, 50_000);
    }

    /// The IPC stream written without copying the buffers is the stream `StreamWriter`
    /// writes; each batch's rows count in its chunk.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn arrow_stream_is_what_the_stream_writer_writes() {
        for sizes in [vec![], vec![3], vec![8_192, 1, 20_000]] {
            let (schema, batches) = mixed_batches(&sizes);
            // A sliced batch: its buffers start inside the arrays.
            let mut batches = batches;
            if let Some(first) = batches.first().cloned() {
                batches.push(first.slice(1, first.num_rows() - 1));
            }
            let target = Arc::clone(&schema);
            let (body, counts) = encoded(&batches, |stream, tx, rows| async move {
                run_arrow_stream(stream, target, &tx, &rows).await
            })
            .await;
            let mut expected = Vec::new();
            {
                let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut expected, &schema)
                    .expect("writer");
                for batch in &batches {
                    writer.write(batch).expect("write");
                }
                writer.finish().expect("finish");
            }
            assert_eq!(body, expected, "{sizes:?}");
            let per_batch: Vec<u64> = batches.iter().map(|b| b.num_rows() as u64).collect();
            assert_eq!(&counts[..per_batch.len()], &per_batch[..]);
            assert_eq!(counts[per_batch.len()..], [0]);
        }
    }

    #[test]
    fn decimal_comma_rewrites_only_fractional_columns() {
        use deltalake::arrow::array::{Decimal128Array, Int32Array};
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int32, false),
            Field::new("d", DataType::Decimal128(10, 2), true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int32Array::from(vec![1, 2])),
                Arc::new(
                    Decimal128Array::from(vec![Some(12345), None])
                        .with_precision_and_scale(10, 2)
                        .expect("decimal"),
                ),
            ],
        )
        .expect("batch");
        let format = Format::Csv(CsvOptions {
            delimiter: b';',
            decimal_comma: true,
            bom: true,
        });
        let out = decimal_comma(&batch, &csv_schema(&schema, format)).expect("rewrite");
        assert_eq!(out.column(1).as_string::<i32>().value(0), "123,45");
        assert!(out.column(1).is_null(1));
        assert_eq!(out.column(0).data_type(), &DataType::Int32);
    }
}
