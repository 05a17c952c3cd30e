//! Parquet exports of a whole partition, spliced from the table's own column chunks.
//!
//! The files of a municipality's partition already hold its rows as Parquet. An export of
//! all of them (no filter, no row constraint on the caller, no order, no page), whose
//! columns the files hold in exactly the Parquet types the export writes, copies each
//! file's row groups into the export file column chunk by column chunk: nothing is
//! decoded or encoded but the partition column, which Delta keeps in its log rather than
//! in the files and which holds one value (the municipality's code). Perf put a decoded
//! and re-encoded Parquet export at about 2.7 CPU-seconds per 10 M rows, in the string
//! dictionaries, zstd and the reader's decompression; a spliced one reads and writes
//! bytes.
//!
//! The file is laid out before any column chunk is read ([`SplicedFile`]): Parquet's
//! writer is handed zeros for each copied chunk and the source's metadata, and writes
//! the magic, the partition column's chunks and the footer, whose offsets point at
//! where the chunks go. Nothing it writes depends on a chunk's bytes, so the file is
//! those written bytes with the chunks' ranges of the table's files between them. Its
//! size is known from the files' footers alone (a Delta Sharing query lists it), and
//! any range of it is read from the table's files on demand (a connector's range
//! requests), without the file being held in memory.
//!
//! Anything else takes the decoding path of [`crate::export`]: a filter, a constrained
//! scope (its rows are a subset of the files'), an order, a table with more partition
//! columns or column mapping (physical names differ), a file with a deletion vector, and
//! a file whose column is missing or differs in physical or logical type, repetition or
//! field id from what the export writes (an older schema, another writer). The choice is
//! made for the whole export before its first byte.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use dap_schema::AccessScope;
use deltalake::DeltaTable;
use deltalake::arrow::array::{ArrayRef, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::physical_plan::execute_stream;
use deltalake::logstore::ObjectStoreRef;
use deltalake::logstore::object_store::ObjectStoreExt as _;
use futures::{FutureExt, StreamExt, TryStreamExt};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::compute_leaves;
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ColumnChunkMetaData, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::{ChunkReader, Length};
use parquet::schema::types::SchemaDescriptor;
use tokio::sync::mpsc;

use crate::export::{CHUNKS_BUFFERED, Chunk, Export, Format, encode_titled};
use crate::lake::{Scan, Source, spawn_feeding};
use crate::query::ResolvedQuery;
use crate::resolve::Reader;
use crate::{Error, Lake, Result};

/// Footers read at once while the export is planned.
const FOOTERS_AT_ONCE: usize = 8;
/// Bytes read from a file's end for its footer, before knowing the footer's size.
const FOOTER_GUESS: u64 = 64 * 1024;
/// Row groups a spliced file holds at most (a Parquet writer numbers them with an
/// `i16`); a partition of more, tiny ones (unmaintained appends) is decoded instead.
const MAX_ROW_GROUPS: usize = 16 * 1024;

/// One file of the partition whose column chunks go into the export.
#[derive(Debug)]
struct SourceFile {
    path: deltalake::Path,
    footer: Arc<ParquetMetaData>,
    /// For each of the export's columns, the file's column holding it; `None` for the
    /// partition column.
    columns: Vec<Option<usize>>,
}

/// Whether `query` asks for every row of the reader's partition, as the files hold them.
fn whole_partition(reader: &Reader, query: &ResolvedQuery) -> bool {
    !reader.constrained
        && query.filters.is_empty()
        && query.tree.is_none()
        && query.order.is_empty()
        && query.after.is_none()
        && query.offset == 0
        && query.limit.is_none()
}

impl Lake {
    /// A Parquet export of every row `query` selects within `scope`: spliced from the
    /// partition's column chunks when it can be (see the module), encoded from the
    /// scan's rows otherwise.
    pub(crate) async fn parquet_export(
        self: &Arc<Self>,
        scope: &AccessScope,
        query: &ResolvedQuery,
    ) -> Result<Export> {
        self.check(scope, query)?;
        let lake = Arc::clone(self);
        let reader = Reader::of(scope);
        let query = query.clone();
        self.runtime()
            .run(async move {
                let read = lake.prepare(&reader, &query).await?;
                let (table, partition) = (read.table.clone(), Arc::clone(&read.partition));
                let (version, source, frame) = lake.plan(read, &reader, &query)?;
                // The schema the decoding path writes: its physical plan's.
                let task = Arc::new(frame.task_ctx());
                let plan = frame.create_physical_plan().await?;
                if whole_partition(&reader, &query) {
                    let schema = plan.schema();
                    let files = &partition.files;
                    let spliced = splice_files(version, &table, &source, &reader, files, &schema);
                    if let Some(file) = spliced.await? {
                        return Ok(Arc::new(file).export());
                    }
                }
                let scan = Scan::start(version, source, execute_stream(plan, task)?);
                Ok(encode_titled(scan, Format::Parquet, &query.dataset))
            })
            .await
    }
}

/// The spliced Parquet file of `schema` of the reader's partition `files` of `table` at
/// `version`, laid out from their footers; `None` when one of them cannot be spliced
/// (the caller decodes them instead), or when the reader's rows are not the whole
/// partition (a constrained scope).
pub(crate) async fn splice_files(
    version: u64,
    table: &DeltaTable,
    source: &Source,
    reader: &Reader,
    files: &[deltalake::Path],
    schema: &SchemaRef,
) -> Result<Option<SplicedFile>> {
    if reader.constrained {
        return Ok(None);
    }
    let tenant_column = &reader.dataset.tenant_column;
    let Some(sources) = sources(table, source, tenant_column, files, schema).await? else {
        return Ok(None);
    };
    let (schema, tenant) = (Arc::clone(schema), reader.tenant.clone());
    // Encoding the partition column is CPU work: on the blocking pool.
    let (layout, sources) = tokio::task::spawn_blocking(move || {
        let layout = lay_out(&schema, &sources, &tenant)?;
        Ok::<_, Error>((layout, sources))
    })
    .await
    .map_err(|e| Error::Runtime(e.to_string()))??;
    Ok(Some(SplicedFile {
        version,
        source: source.clone(),
        store: table.object_store(),
        paths: sources.into_iter().map(|s| s.path).collect(),
        segments: layout.segments,
        len: layout.len,
        rows: layout.rows,
    }))
}

/// The partition's files with their footers, when every one can be spliced into an
/// export of `schema`; `None` when the export has to decode them.
async fn sources(
    table: &DeltaTable,
    source: &Source,
    tenant_column: &str,
    files: &[deltalake::Path],
    schema: &SchemaRef,
) -> Result<Option<Vec<SourceFile>>> {
    let snapshot = table.snapshot()?;
    let metadata = snapshot.metadata();
    let mapped = metadata
        .configuration()
        .get("delta.columnMapping.mode")
        .is_some_and(|mode| mode != "none");
    if mapped || !metadata.partition_columns().iter().eq([tenant_column]) {
        return Ok(None);
    }
    // Nested columns have several leaves each; the partition column is encoded as text.
    let plain = schema.fields().iter().all(|f| {
        !f.data_type().is_nested()
            && (f.name() != tenant_column || f.data_type() == &DataType::Utf8)
    });
    if !plain {
        return Ok(None);
    }
    let expected = export_columns(schema)?;
    // Sizes (a footer is read from the file's end) and deletion vectors, from the log.
    let logged: HashMap<String, (u64, bool)> = snapshot
        .log_data()
        .iter()
        .map(|file| {
            let size = u64::try_from(file.size()).unwrap_or_default();
            let deleted = file.deletion_vector_descriptor().is_some();
            (file.object_store_path().to_string(), (size, deleted))
        })
        .collect();
    let mut sized = Vec::with_capacity(files.len());
    for path in files {
        match logged.get(path.as_ref()) {
            Some(&(size, false)) => sized.push((path.clone(), size)),
            _ => return Ok(None),
        }
    }
    let store = table.object_store();
    type Footed = (deltalake::Path, u64, Option<ParquetMetaData>);
    let footers: Vec<Footed> = futures::stream::iter(sized)
        .map(|(path, size)| {
            let store = Arc::clone(&store);
            async move {
                match footer(&store, &path, size).await {
                    Ok(footer) => Ok((path, size, footer)),
                    // A file gone with its table version reads as the table unavailable.
                    Err(e) => Err(source.classify(DataFusionError::from(e)).await),
                }
            }
        })
        .buffered(FOOTERS_AT_ONCE)
        .try_collect()
        .await?;
    let mut sources = Vec::with_capacity(footers.len());
    let mut groups = 0;
    for (path, size, footer) in footers {
        let Some(footer) = footer else {
            return Ok(None);
        };
        let Some(columns) = matching_columns(&expected, &footer, tenant_column) else {
            return Ok(None);
        };
        // Every chunk copied lies within the file (a footer that says otherwise would
        // make a file its bytes cannot fill): decoded instead, which reports the damage.
        let inside = footer.row_groups().iter().all(|group| {
            columns.iter().flatten().all(|&c| {
                let (offset, length) = group.column(c).byte_range();
                offset.checked_add(length).is_some_and(|end| end <= size)
            })
        });
        if !inside {
            return Ok(None);
        }
        // A row group of the file is one of the export's: they must be few enough.
        groups += footer
            .row_groups()
            .iter()
            .filter(|group| group.num_rows() > 0)
            .count();
        if groups > MAX_ROW_GROUPS {
            return Ok(None);
        }
        let footer = Arc::new(footer);
        sources.push(SourceFile {
            path,
            footer,
            columns,
        });
    }
    Ok(Some(sources))
}

/// The footer of the Parquet file at `path` of `size` bytes: its end read first, then as
/// much more as the footer says it needs. `None` when it cannot be parsed (the export
/// then decodes the files, and reports what the reader finds).
async fn footer(
    store: &ObjectStoreRef,
    path: &deltalake::Path,
    size: u64,
) -> std::result::Result<Option<ParquetMetaData>, deltalake::logstore::object_store::Error> {
    let mut reader = ParquetMetaDataReader::new();
    let mut tail = size.min(FOOTER_GUESS);
    loop {
        // The file's last `tail` bytes; the reader is told the file's size.
        let bytes = store.get_range(path, size - tail..size).await?;
        match reader.try_parse_sized(&bytes, size) {
            Ok(()) => return Ok(reader.finish().ok()),
            Err(ParquetError::NeedMoreData(needed)) if (needed as u64) > tail => {
                tail = size.min(needed as u64);
            }
            Err(_) => return Ok(None),
        }
    }
}

/// The Parquet columns an export of `schema` writes (what its writer would write).
fn export_columns(schema: &SchemaRef) -> Result<SchemaDescriptor> {
    let (writer, _) =
        ArrowWriter::try_new(std::io::sink(), Arc::clone(schema), Some(properties()))?
            .into_serialized_writer()?;
    Ok(writer.schema_descr().clone())
}

/// For each of the export's columns, the column of `footer`'s file that holds it as the
/// export writes it (same path, physical and logical type, repetition, field id); `None`
/// when a column is missing or differs.
fn matching_columns(
    expected: &SchemaDescriptor,
    footer: &ParquetMetaData,
    tenant_column: &str,
) -> Option<Vec<Option<usize>>> {
    let file = footer.file_metadata().schema_descr();
    let mut columns = Vec::with_capacity(expected.num_columns());
    for want in expected.columns() {
        if want.path().parts() == [tenant_column] {
            columns.push(None);
            continue;
        }
        let found = file
            .columns()
            .iter()
            .position(|c| c.path() == want.path())?;
        if file.column(found).as_ref() != want.as_ref() {
            return None;
        }
        columns.push(Some(found));
    }
    Some(columns)
}

/// A column chunk as the writer is handed it while the file is laid out: zeros of the
/// chunk's length at its offset. Nothing the writer writes depends on a chunk's bytes
/// (it copies them and keeps the source's metadata), so the zeros mark where the chunk
/// goes, and the file's own bytes (magic, partition column, footer) come out as written.
struct Zeros {
    offset: u64,
    length: u64,
}

impl Length for Zeros {
    fn len(&self) -> u64 {
        self.offset + self.length
    }
}

impl ChunkReader for Zeros {
    type T = std::io::Take<std::io::Repeat>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let left = self
            .len()
            .checked_sub(start)
            .filter(|_| start >= self.offset)
            .ok_or_else(|| ParquetError::EOF("outside the chunk".into()))?;
        Ok(std::io::Read::take(std::io::repeat(0), left))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let left = self.get_read(start)?.limit();
        Ok(Bytes::from(vec![
            0;
            length.min(
                usize::try_from(left).unwrap_or(usize::MAX)
            )
        ]))
    }
}

/// Runs of zero bytes at least this long are kept as a count while a file is laid out.
const ZERO_RUN: usize = 64;

/// What the writer wrote while a file was laid out, zero runs kept as counts: the
/// copied chunks (zeros, see [`Zeros`]) take no memory.
#[derive(Clone, Default)]
struct Written(Arc<std::sync::Mutex<Vec<Piece>>>);

#[derive(Debug)]
enum Piece {
    Bytes(Vec<u8>),
    Zeros(u64),
}

impl std::io::Write for Written {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut pieces = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("layout poisoned"))?;
        for block in buf.chunks(ZERO_RUN) {
            let zero = block.len() == ZERO_RUN && block.iter().all(|&b| b == 0);
            match (pieces.last_mut(), zero) {
                (Some(Piece::Zeros(n)), true) => *n += ZERO_RUN as u64,
                (_, true) => pieces.push(Piece::Zeros(ZERO_RUN as u64)),
                (Some(Piece::Bytes(bytes)), false) => bytes.extend_from_slice(block),
                (_, false) => pieces.push(Piece::Bytes(block.to_vec())),
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads [`Written`]'s pieces in order.
struct Pieces {
    pieces: std::collections::VecDeque<Piece>,
}

impl Pieces {
    /// The next `length` bytes, written out.
    fn bytes(&mut self, mut length: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        while length > 0 {
            let piece = self.pieces.front_mut().ok_or_else(short)?;
            let (taken, empty) = match piece {
                Piece::Bytes(bytes) => {
                    let n = bytes
                        .len()
                        .min(usize::try_from(length).unwrap_or(usize::MAX));
                    out.extend(bytes.drain(..n));
                    (n as u64, bytes.is_empty())
                }
                Piece::Zeros(zeros) => {
                    let n = (*zeros).min(length);
                    out.resize(out.len() + usize::try_from(n).unwrap_or(usize::MAX), 0);
                    *zeros -= n;
                    (n, *zeros == 0)
                }
            };
            length -= taken;
            if empty {
                self.pieces.pop_front();
            }
        }
        Ok(out)
    }

    /// Skips the next `length` bytes, which must be a copied chunk's zeros.
    fn skip_chunk(&mut self, length: u64) -> Result<()> {
        let skipped = self.bytes_of_zeros(length)?;
        if skipped {
            Ok(())
        } else {
            Err(Error::Encode(
                "a spliced file's layout put its own bytes where a column chunk goes".into(),
            ))
        }
    }

    fn bytes_of_zeros(&mut self, mut length: u64) -> Result<bool> {
        while length > 0 {
            let piece = self.pieces.front_mut().ok_or_else(short)?;
            match piece {
                Piece::Zeros(zeros) => {
                    let n = (*zeros).min(length);
                    *zeros -= n;
                    length -= n;
                    if *zeros == 0 {
                        self.pieces.pop_front();
                    }
                }
                Piece::Bytes(_) => {
                    let bytes = self.bytes(length.min(ZERO_RUN as u64))?;
                    if bytes.iter().any(|&b| b != 0) {
                        return Ok(false);
                    }
                    length -= bytes.len() as u64;
                }
            }
        }
        Ok(true)
    }

    fn rest(mut self) -> Result<Vec<u8>> {
        let left = self
            .pieces
            .iter()
            .map(|p| match p {
                Piece::Bytes(b) => b.len() as u64,
                Piece::Zeros(n) => *n,
            })
            .sum();
        self.bytes(left)
    }
}

fn short() -> Error {
    Error::Encode("a spliced file's layout is shorter than its chunks".into())
}

/// A part of a spliced file: bytes the writer wrote, or a range of one of the table's
/// files copied as it is.
#[derive(Debug, Clone)]
enum Segment {
    Written(Bytes),
    Copied { file: usize, range: Range<u64> },
}

impl Segment {
    fn len(&self) -> u64 {
        match self {
            Segment::Written(bytes) => bytes.len() as u64,
            Segment::Copied { range, .. } => range.end - range.start,
        }
    }
}

/// Bytes of a table's file read at once when a spliced file is read.
const READ_PIECE: u64 = 4 * 1024 * 1024;
/// Pieces read ahead while one is sent.
const PIECES_AHEAD: usize = 2;

/// A spliced Parquet file, described rather than held: the bytes its writer wrote (the
/// magic, the partition column's chunks, the footer: kilobytes) and, between them, the
/// ranges of the table's files its column chunks are copied from. Its size and rows are
/// known before a byte of a column chunk is read, and any range of it is read from the
/// table's files on demand.
pub struct SplicedFile {
    version: u64,
    source: Source,
    store: ObjectStoreRef,
    paths: Vec<deltalake::Path>,
    /// Each segment with its offset in the file.
    segments: Vec<(u64, Segment)>,
    len: u64,
    rows: u64,
}

impl std::fmt::Debug for SplicedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SplicedFile")
            .field("version", &self.version)
            .field("files", &self.paths)
            .field("segments", &self.segments.len())
            .field("len", &self.len)
            .field("rows", &self.rows)
            .finish()
    }
}

impl SplicedFile {
    /// The file's size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file has no bytes (never: a Parquet file has at least its magic).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The rows the file holds.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The bytes this description keeps in memory (what its writer wrote).
    pub fn held(&self) -> usize {
        self.segments
            .iter()
            .map(|(_, s)| match s {
                Segment::Written(bytes) => bytes.len(),
                Segment::Copied { .. } => 0,
            })
            .sum()
    }

    /// The bytes of `range` of the file, in order, in pieces of at most [`READ_PIECE`]
    /// bytes: written bytes from memory, copied ones read from the table's files. Spawns
    /// the reading on the current (lake) runtime.
    ///
    /// Written bytes before the range's first copied piece are sent only once that piece
    /// has been read: the first piece a reader receives (or its error) tells whether the
    /// table's files can be read at all, e.g. after a vacuum removed them.
    pub(crate) fn read(self: &Arc<Self>, range: Range<u64>) -> mpsc::Receiver<Result<Bytes>> {
        let (tx, rx) = mpsc::channel(CHUNKS_BUFFERED);
        let file = Arc::clone(self);
        let chunks = tx.clone();
        spawn_feeding(tx, async move {
            let mut pieces = futures::stream::iter(file.parts(range, READ_PIECE))
                .map(|part| {
                    let copied = matches!(part, Segment::Copied { .. });
                    file.fetch(part).map(move |bytes| (copied, bytes))
                })
                .buffered(PIECES_AHEAD);
            // Pieces not yet sent: the written ones before the first copied one.
            let mut held = Vec::new();
            let mut copied_read = false;
            while let Some((copied, piece)) = pieces.next().await {
                held.push(piece?);
                copied_read |= copied;
                if !copied_read {
                    continue;
                }
                for piece in held.drain(..) {
                    if chunks.send(Ok(piece)).await.is_err() {
                        return Ok(()); // the reader went away
                    }
                }
            }
            // A range of written bytes only.
            for piece in held {
                if chunks.send(Ok(piece)).await.is_err() {
                    break;
                }
            }
            Ok(())
        });
        rx
    }

    /// The segments' parts that `range` covers, copied ones cut into pieces of at most
    /// `piece` bytes.
    fn parts(&self, range: Range<u64>, piece: u64) -> Vec<Segment> {
        let end = range.end.min(self.len);
        if range.start >= end {
            return Vec::new();
        }
        let first = self
            .segments
            .partition_point(|(at, segment)| at + segment.len() <= range.start);
        let mut parts = Vec::new();
        for (at, segment) in &self.segments[first..] {
            if *at >= end {
                break;
            }
            let from = range.start.max(*at) - at;
            let to = end.min(at + segment.len()) - at;
            match segment {
                Segment::Written(bytes) => {
                    let (from, to) = (from as usize, to as usize);
                    parts.push(Segment::Written(bytes.slice(from..to)));
                }
                Segment::Copied { file, range } => {
                    let mut start = range.start + from;
                    while start < range.start + to {
                        let stop = (start + piece).min(range.start + to);
                        parts.push(Segment::Copied {
                            file: *file,
                            range: start..stop,
                        });
                        start = stop;
                    }
                }
            }
        }
        parts
    }

    /// A part's bytes; a file gone with its table version reads as the table
    /// unavailable, like a scan's.
    async fn fetch(&self, part: Segment) -> Result<Bytes> {
        match part {
            Segment::Written(bytes) => Ok(bytes),
            Segment::Copied { file, range } => {
                let path = &self.paths[file];
                let wanted = range.end - range.start;
                match self.store.get_range(path, range).await {
                    Ok(bytes) if bytes.len() as u64 == wanted => Ok(bytes),
                    // A store answers a range past a file's end with what there is: never
                    // served as the file's bytes.
                    Ok(bytes) => Err(Error::Runtime(format!(
                        "{path} gave {} bytes of a column chunk of {wanted}",
                        bytes.len()
                    ))),
                    Err(error) => Err(self.source.classify(DataFusionError::from(error)).await),
                }
            }
        }
    }

    /// The whole file as an export: its bytes in chunks, every row counted in the last
    /// (a Parquet file is unreadable until its footer).
    pub(crate) fn export(self: &Arc<Self>) -> Export {
        let (tx, rx) = mpsc::channel(CHUNKS_BUFFERED);
        let rows = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&rows);
        let mut pieces = self.read(0..self.len);
        let (total, version) = (self.rows, self.version);
        let chunks = tx.clone();
        spawn_feeding(tx, async move {
            let mut held: Option<Bytes> = None;
            while let Some(piece) = pieces.recv().await {
                let piece = piece?;
                if let Some(bytes) = held.replace(piece)
                    && chunks.send(Ok(Chunk { bytes, rows: 0 })).await.is_err()
                {
                    return Ok(()); // the client went away
                }
            }
            counter.store(total, Ordering::Relaxed);
            let bytes = held.unwrap_or_default();
            let _ = chunks.send(Ok(Chunk { bytes, rows: total })).await;
            Ok(())
        });
        Export {
            version,
            chunks: rx,
            rows,
        }
    }
}

/// Lays out the spliced file of `files` (see [`SplicedFile`]): their row groups in
/// order, each column chunk copied from its file, the partition column encoded.
fn lay_out(schema: &SchemaRef, files: &[SourceFile], tenant: &str) -> Result<Layout> {
    let written = Written::default();
    let (mut writer, _) =
        ArrowWriter::try_new(written.clone(), Arc::clone(schema), Some(properties()))?
            .into_serialized_writer()?;
    // Where each copied chunk went: its offset and length in the file, its source.
    let mut copies: Vec<(u64, u64, usize, u64)> = Vec::new();
    let mut rows = 0;
    for (number, source) in files.iter().enumerate() {
        for group_meta in source.footer.row_groups() {
            let count = u64::try_from(group_meta.num_rows()).unwrap_or_default();
            if count == 0 {
                continue;
            }
            let partition = match source.columns.iter().position(Option::is_none) {
                Some(leaf) => Some(partition_column(schema.field(leaf), tenant, count)?),
                None => None,
            };
            let mut group = writer.next_row_group()?;
            for column in &source.columns {
                match column {
                    Some(c) => {
                        let meta = group_meta.column(*c);
                        let (offset, length) = meta.byte_range();
                        let close = ColumnCloseResult {
                            bytes_written: length,
                            rows_written: count,
                            metadata: meta.clone(),
                            bloom_filter: None,
                            column_index: None,
                            offset_index: None,
                        };
                        group.append_column(&Zeros { offset, length }, close)?;
                    }
                    None => {
                        let made = partition
                            .as_ref()
                            .ok_or_else(|| Error::Encode("one partition column".into()))?;
                        let close = ColumnCloseResult {
                            bytes_written: made.metadata.compressed_size().unsigned_abs(),
                            rows_written: count,
                            metadata: made.metadata.clone(),
                            bloom_filter: None,
                            column_index: None,
                            offset_index: None,
                        };
                        group.append_column(&made.bytes, close)?;
                    }
                }
            }
            let placed = group.close()?;
            for (j, column) in source.columns.iter().enumerate() {
                if let Some(c) = column {
                    let (to, length) = placed.column(j).byte_range();
                    let (from, _) = group_meta.column(*c).byte_range();
                    copies.push((to, length, number, from));
                }
            }
            rows += count;
        }
    }
    writer.close()?;
    let pieces = std::mem::take(
        &mut *written
            .0
            .lock()
            .map_err(|_| Error::Encode("layout poisoned".into()))?,
    );
    let mut pieces = Pieces {
        pieces: pieces.into(),
    };
    let mut segments: Vec<(u64, Segment)> = Vec::new();
    let mut at = 0;
    for (to, length, file, from) in copies {
        let own = pieces.bytes(to.checked_sub(at).ok_or_else(short)?)?;
        if !own.is_empty() {
            segments.push((at, Segment::Written(Bytes::from(own))));
        }
        pieces.skip_chunk(length)?;
        // A row group's chunks lie side by side in their file too: one range.
        match segments.last_mut() {
            Some((_, Segment::Copied { file: f, range })) if *f == file && range.end == from => {
                range.end += length;
            }
            _ => segments.push((
                to,
                Segment::Copied {
                    file,
                    range: from..from + length,
                },
            )),
        }
        at = to + length;
    }
    let rest = pieces.rest()?;
    let len = at + rest.len() as u64;
    segments.push((at, Segment::Written(Bytes::from(rest))));
    Ok(Layout {
        segments,
        len,
        rows,
    })
}

/// What [`lay_out`] finds: the file's segments with their offsets, its size and rows.
struct Layout {
    segments: Vec<(u64, Segment)>,
    len: u64,
    rows: u64,
}

/// The export's writer properties, without page indexes: a file's page index lists every
/// column chunk's pages or none, and the copied chunks come without theirs (their
/// statistics are kept, in the footer).
fn properties() -> WriterProperties {
    crate::export::parquet_properties()
        .into_builder()
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_offset_index_disabled(true)
        .build()
}

/// A partition column's chunk, encoded: its bytes (at the chunk's offsets) and metadata.
struct PartitionChunk {
    bytes: Bytes,
    metadata: ColumnChunkMetaData,
}

/// Partition column chunks encoded, by column, value and rows: one is the same every
/// time (one value, the export's fixed properties), and encoding it hashes every row
/// (perf: most of a Delta Sharing query's time).
type PartitionChunks = HashMap<(Field, String, u64), Arc<PartitionChunk>>;
static PARTITION_CHUNKS: std::sync::LazyLock<std::sync::Mutex<PartitionChunks>> =
    std::sync::LazyLock::new(Default::default);
/// Partition chunks kept at most (each a few kilobytes); beyond, they are forgotten.
const PARTITION_CHUNKS_KEPT: usize = 1024;

/// The partition column's chunk of a row group of `count` rows: the municipality's code
/// in every row, encoded with the export's properties (kept for the next row group of
/// as many rows).
fn partition_column(field: &Field, tenant: &str, count: u64) -> Result<Arc<PartitionChunk>> {
    let key = (field.clone(), tenant.to_owned(), count);
    if let Some(made) = PARTITION_CHUNKS
        .lock()
        .ok()
        .and_then(|made| made.get(&key).cloned())
    {
        return Ok(made);
    }
    let schema = Arc::new(Schema::new(vec![field.clone()]));
    let (mut file, groups) =
        ArrowWriter::try_new(Vec::new(), Arc::clone(&schema), Some(properties()))?
            .into_serialized_writer()?;
    let mut writer = groups
        .create_column_writers(0)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Encode("no writer for the partition column".into()))?;
    let rows = usize::try_from(count).unwrap_or(usize::MAX);
    let values: ArrayRef = Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
        tenant, rows,
    )));
    for leaf in compute_leaves(schema.field(0), &values)? {
        writer.write(&leaf)?;
    }
    let mut group = file.next_row_group()?;
    writer.close()?.append_to_row_group(&mut group)?;
    let metadata = group.close()?.column(0).clone();
    let bytes = Bytes::from(file.into_inner()?);
    let made = Arc::new(PartitionChunk { bytes, metadata });
    if let Ok(mut kept) = PARTITION_CHUNKS.lock() {
        if kept.len() >= PARTITION_CHUNKS_KEPT {
            kept.clear();
        }
        kept.insert(key, Arc::clone(&made));
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use deltalake::arrow::array::{Int32Array, Int64Array, RecordBatch};
    use deltalake::operations::write::SchemaMode;
    use deltalake::protocol::SaveMode;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::basic::Compression;

    use super::*;
    use crate::RowQuery;
    use crate::predicate::{FilterSpec, Operator};
    use crate::testing::{commit, lake, population, read_all, scope};

    /// An export's file, its chunks in order checked for their row counts: 0 until the
    /// last, which counts every row.
    async fn download(mut export: Export) -> Bytes {
        let mut chunks = Vec::new();
        while let Some(chunk) = export.chunks.recv().await {
            chunks.push(chunk.expect("chunk"));
        }
        let (last, rest) = chunks.split_last().expect("a chunk");
        assert!(
            rest.iter().all(|c| c.rows == 0),
            "a Parquet file counts at its end"
        );
        assert_eq!(last.rows, export.rows.load(Ordering::Relaxed));
        let mut body = Vec::new();
        for chunk in &chunks {
            body.extend_from_slice(&chunk.bytes);
        }
        Bytes::from(body)
    }

    /// A Parquet file read back: its Arrow schema, its rows as sorted JSON lines, and for
    /// each column the codecs of its chunks.
    struct Read {
        schema: SchemaRef,
        rows: Vec<String>,
        codecs: BTreeMap<String, Vec<Compression>>,
    }

    fn read(body: Bytes) -> Read {
        let builder = ParquetRecordBatchReaderBuilder::try_new(body).expect("parquet");
        let schema = Arc::clone(builder.schema());
        let mut codecs = BTreeMap::<String, Vec<Compression>>::new();
        for group in builder.metadata().row_groups() {
            for column in group.columns() {
                let name = column.column_descr().name().to_owned();
                codecs.entry(name).or_default().push(column.compression());
            }
        }
        let batches: Vec<RecordBatch> = builder
            .build()
            .expect("reader")
            .collect::<std::result::Result<_, _>>()
            .expect("batches");
        let json = crate::encode::json_array(&batches).expect("json");
        let values: Vec<serde_json::Value> = serde_json::from_slice(&json).expect("rows");
        let mut rows: Vec<String> = values.iter().map(ToString::to_string).collect();
        rows.sort();
        Read {
            schema,
            rows,
            codecs,
        }
    }

    async fn export(lake: &Arc<Lake>, scope: &AccessScope, query: RowQuery) -> Read {
        let query = query.resolve(scope).expect("query");
        let export = lake
            .export(scope, &query, Format::Parquet)
            .await
            .expect("export");
        read(download(export).await)
    }

    /// Whether every chunk of the file was encoded by the export (zstd), not copied
    /// from the table's files (which delta-rs writes with snappy).
    fn encoded(read: &Read) -> bool {
        read.codecs
            .values()
            .flatten()
            .all(|c| matches!(c, Compression::ZSTD(_)))
    }

    /// A filter every row passes: the export decodes the rows instead of splicing.
    fn every_row() -> Vec<FilterSpec> {
        vec![FilterSpec {
            column: "aar".into(),
            operator: Operator::Gte,
            values: vec!["0".into()],
        }]
    }

    async fn three_commits(root: &Path) {
        commit(root, "t", &[("0101", "K"), ("0101", "M"), ("0751", "K")]).await;
        commit(root, "t", &[("0101", "K"), ("0751", "M")]).await;
        commit(root, "t", &[("0101", "M")]).await;
    }

    #[tokio::test]
    async fn a_whole_partition_is_spliced_from_its_files_and_reads_as_the_decoded_export() {
        let root = tempfile::tempdir().expect("tempdir");
        three_commits(root.path()).await;
        let lake = lake(root.path());
        let def = population("t");
        let scope = scope(&def, "0101", None);

        let spliced = export(&lake, &scope, RowQuery::default()).await;
        let decoded = export(
            &lake,
            &scope,
            RowQuery {
                filters: every_row(),
                ..RowQuery::default()
            },
        )
        .await;

        assert!(encoded(&decoded), "{:?}", decoded.codecs);
        assert_eq!(spliced.schema, decoded.schema);
        assert_eq!(spliced.rows, decoded.rows);
        assert_eq!(
            spliced.rows.len(),
            4,
            "0101's rows only: {:?}",
            spliced.rows
        );
        // One row group per file; only the partition column was encoded.
        for (column, codecs) in &spliced.codecs {
            assert_eq!(codecs.len(), 3, "{column}");
            let zstd = codecs.iter().all(|c| matches!(c, Compression::ZSTD(_)));
            assert_eq!(zstd, column == "kommunekode", "{column}: {codecs:?}");
        }
    }

    #[tokio::test]
    async fn a_selection_of_columns_is_spliced_with_those_columns_in_its_order() {
        let root = tempfile::tempdir().expect("tempdir");
        three_commits(root.path()).await;
        let lake = lake(root.path());
        let def = population("t");
        let scope = scope(&def, "0101", None);
        let columns = Some(vec!["antal".to_owned(), "koen".to_owned()]);

        let spliced = export(
            &lake,
            &scope,
            RowQuery {
                columns: columns.clone(),
                ..RowQuery::default()
            },
        )
        .await;
        let decoded = export(
            &lake,
            &scope,
            RowQuery {
                columns,
                filters: every_row(),
                ..RowQuery::default()
            },
        )
        .await;

        let names: Vec<&str> = spliced
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names, ["antal", "koen"]);
        assert_eq!(spliced.schema, decoded.schema);
        assert_eq!(spliced.rows, decoded.rows);
        assert!(!encoded(&spliced), "{:?}", spliced.codecs);
    }

    #[tokio::test]
    async fn a_constrained_scope_gets_its_rows_only_decoded() {
        let root = tempfile::tempdir().expect("tempdir");
        three_commits(root.path()).await;
        let lake = lake(root.path());
        let def = population("t");
        let constraint = BTreeMap::from([("koen".to_owned(), vec!["K".to_owned()])]);
        let scope = scope(&def, "0101", Some(vec![constraint]));

        let read = export(&lake, &scope, RowQuery::default()).await;

        assert!(encoded(&read), "{:?}", read.codecs);
        assert_eq!(read.rows.len(), 2, "{:?}", read.rows);
        assert!(
            read.rows.iter().all(|r| r.contains(r#""koen":"K""#)),
            "{:?}",
            read.rows
        );
    }

    #[tokio::test]
    async fn files_from_before_a_column_was_added_are_decoded_with_nulls() {
        let root = tempfile::tempdir().expect("tempdir");
        three_commits(root.path()).await;
        // A fourth commit adds a column the first three files do not hold.
        let mut def = population("t");
        let mut note = def
            .columns
            .iter()
            .find(|c| c.name == "koen")
            .expect("koen")
            .clone();
        note.name = "note".into();
        def.columns.push(note);
        let table = deltalake::open_table(
            url::Url::from_directory_path(root.path().join("t")).expect("url"),
        )
        .await
        .expect("table");
        let batch = RecordBatch::try_new(
            crate::demo::arrow_schema(&def),
            vec![
                Arc::new(StringArray::from(vec!["0101"])),
                Arc::new(Int32Array::from(vec![2027])),
                Arc::new(Int32Array::from(vec![1])),
                Arc::new(Int32Array::from(vec![41])),
                Arc::new(StringArray::from(vec!["K"])),
                Arc::new(Int64Array::from(vec![8])),
                Arc::new(StringArray::from(vec!["ny"])),
            ],
        )
        .expect("batch");
        table
            .write(vec![batch])
            .with_save_mode(SaveMode::Append)
            .with_schema_mode(SchemaMode::Merge)
            .await
            .expect("write");
        let lake = lake(root.path());
        let scope = scope(&def, "0101", None);

        let read = export(&lake, &scope, RowQuery::default()).await;

        assert!(encoded(&read), "{:?}", read.codecs);
        assert_eq!(read.rows.len(), 5, "{:?}", read.rows);
        let nulls = read
            .rows
            .iter()
            .filter(|r| r.contains(r#""note":null"#))
            .count();
        assert_eq!(nulls, 4, "{:?}", read.rows);
    }

    #[tokio::test]
    async fn a_partition_without_files_is_an_empty_file_of_the_export_schema() {
        let root = tempfile::tempdir().expect("tempdir");
        three_commits(root.path()).await;
        let lake = lake(root.path());
        let def = population("t");

        let read = export(&lake, &scope(&def, "0147", None), RowQuery::default()).await;

        assert!(read.rows.is_empty());
        assert_eq!(read.schema.fields().len(), def.columns.len());
    }

    /// The footer of a file with one row group of `batch`, as an ArrowWriter writes it.
    fn footer_of(batch: &RecordBatch) -> ParquetMetaData {
        let mut body = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut body, batch.schema(), None).expect("writer");
        writer.write(batch).expect("write");
        writer.close().expect("close");
        ParquetMetaDataReader::new()
            .parse_and_finish(&Bytes::from(body))
            .expect("footer")
    }

    #[test]
    fn a_column_is_copied_only_from_a_file_that_holds_it_as_the_export_writes_it() {
        use deltalake::arrow::datatypes::{Field, Schema};
        let field = |name: &str, t: DataType, nullable: bool| Field::new(name, t, nullable);
        let batch = |fields: Vec<Field>| {
            let columns: Vec<ArrayRef> = fields
                .iter()
                .map(|f| deltalake::arrow::array::new_empty_array(f.data_type()))
                .collect();
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch")
        };
        let export = Arc::new(Schema::new(vec![
            field("kommunekode", DataType::Utf8, false),
            field("antal", DataType::Int64, true),
            field("koen", DataType::Utf8, true),
        ]));
        let expected = export_columns(&export).expect("columns");

        // Same columns in another order, the partition column not in the file: mapped by
        // name, the partition column left to encode.
        let file = footer_of(&batch(vec![
            field("koen", DataType::Utf8, true),
            field("antal", DataType::Int64, true),
        ]));
        assert_eq!(
            matching_columns(&expected, &file, "kommunekode"),
            Some(vec![None, Some(1), Some(0)])
        );
        // Another physical type, another repetition, a missing column: not copied.
        for other in [
            vec![
                field("koen", DataType::Utf8, true),
                field("antal", DataType::Int32, true),
            ],
            vec![
                field("koen", DataType::Utf8, true),
                field("antal", DataType::Int64, false),
            ],
            vec![
                field("koen", DataType::LargeBinary, true),
                field("antal", DataType::Int64, true),
            ],
            vec![field("antal", DataType::Int64, true)],
        ] {
            let file = footer_of(&batch(other.clone()));
            assert_eq!(
                matching_columns(&expected, &file, "kommunekode"),
                None,
                "{other:?}"
            );
        }
    }

    /// A footer larger than the first read of a file's end is read whole; bytes that are
    /// no Parquet footer are `None` (the export decodes instead), not an error.
    #[tokio::test]
    async fn a_footer_larger_than_the_first_read_is_read_whole() {
        use deltalake::logstore::object_store::PutPayload;
        use deltalake::logstore::object_store::memory::InMemory;
        let store: ObjectStoreRef = Arc::new(InMemory::new());
        let ids = Int64Array::from_iter_values(0..1000);
        let batch = RecordBatch::try_from_iter([("id", Arc::new(ids) as ArrayRef)]).expect("batch");
        let properties = WriterProperties::builder()
            .set_max_row_group_row_count(Some(1))
            .build();
        let mut body = Vec::new();
        let mut writer =
            ArrowWriter::try_new(&mut body, batch.schema(), Some(properties)).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
        let size = body.len() as u64;
        let path = deltalake::Path::from("wide.parquet");
        store.put(&path, PutPayload::from(body)).await.expect("put");

        let read = footer(&store, &path, size)
            .await
            .expect("read")
            .expect("footer");

        assert_eq!(read.num_row_groups(), 1000);
        let (last, length) = read.row_groups()[999].column(0).byte_range();
        let footer_bytes = size - last - length;
        assert!(footer_bytes > FOOTER_GUESS, "{footer_bytes}");

        let junk = deltalake::Path::from("junk.parquet");
        store
            .put(&junk, PutPayload::from(vec![7u8; 100]))
            .await
            .expect("put");
        assert!(footer(&store, &junk, 100).await.expect("read").is_none());
    }

    /// Reproducible numbers below a bound (a linear congruential generator).
    fn numbers(seed: u64) -> impl FnMut(u64) -> u64 {
        let mut state = seed;
        move |below| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % below
        }
    }

    /// What was written, read back through the layout's pieces: the same bytes, long
    /// zero runs kept as counts.
    #[test]
    fn written_bytes_read_back_as_written_with_zero_runs_as_counts() {
        use std::io::Write as _;
        let mut next = numbers(7);
        for _ in 0..50 {
            let mut expected = Vec::new();
            // Each write of zeros alone is counted, at least its whole blocks of them.
            let mut at_least = 0;
            let written = Written::default();
            let mut sink = written.clone();
            for _ in 0..next(20) {
                let len = usize::try_from(next(500)).expect("len");
                let part: Vec<u8> = match next(3) {
                    0 => {
                        at_least += (len / ZERO_RUN * ZERO_RUN) as u64;
                        vec![0; len]
                    }
                    1 => (0..len).map(|i| (i % 251) as u8 + 1).collect(),
                    _ => (0..len).map(|i| if i % 97 == 0 { 9 } else { 0 }).collect(),
                };
                sink.write_all(&part).expect("write");
                expected.extend_from_slice(&part);
            }
            let pieces = std::mem::take(&mut *written.0.lock().expect("lock"));
            let counted: u64 = pieces
                .iter()
                .map(|p| match p {
                    Piece::Zeros(n) => *n,
                    Piece::Bytes(_) => 0,
                })
                .sum();
            let mut pieces = Pieces {
                pieces: pieces.into(),
            };
            let cut = next(expected.len() as u64 + 1);
            let mut read = pieces.bytes(cut).expect("first part");
            read.extend(pieces.rest().expect("rest"));
            assert_eq!(read, expected);
            assert!(counted >= at_least, "{counted} < {at_least}");
        }
    }

    /// A chunk's place must hold the zeros it was given: bytes of the writer's own there
    /// fail the layout instead of being replaced by the chunk.
    #[test]
    fn a_layout_with_its_own_bytes_in_a_chunks_place_is_refused() {
        let mut pieces = Pieces {
            pieces: vec![
                Piece::Bytes(b"PAR1".to_vec()),
                Piece::Zeros(128),
                Piece::Bytes(vec![0, 0, 3]),
            ]
            .into(),
        };
        assert_eq!(pieces.bytes(4).expect("magic"), b"PAR1");
        pieces.skip_chunk(130).expect("zeros");
        assert!(pieces.skip_chunk(1).is_err(), "a 3 where a chunk goes");
        let mut short = Pieces {
            pieces: vec![Piece::Zeros(4)].into(),
        };
        assert!(short.skip_chunk(5).is_err(), "past the end");
    }

    /// A partition chunk is encoded once per column, value and rows, and holds that
    /// value in every row.
    #[test]
    fn a_partition_chunk_is_encoded_once_and_holds_its_value_in_every_row() {
        use parquet::column::reader::ColumnReader;
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let field = Field::new("kommunekode", DataType::Utf8, false);
        let made = partition_column(&field, "0147", 70_001).expect("chunk");
        let again = partition_column(&field, "0147", 70_001).expect("chunk");
        assert!(Arc::ptr_eq(&made, &again), "kept");
        for (field, tenant, rows) in [
            (field.clone(), "0101", 70_001),
            (field.clone(), "0147", 70_000),
            (field.with_nullable(true), "0147", 70_001),
        ] {
            let other = partition_column(&field, tenant, rows).expect("chunk");
            assert!(!Arc::ptr_eq(&made, &other), "{field:?} {tenant} {rows}");
        }
        // The kept bytes are a whole file of that one chunk.
        let file = SerializedFileReader::new(made.bytes.clone()).expect("file");
        let group = file.get_row_group(0).expect("group");
        let read = group.metadata().column(0);
        assert_eq!(read.byte_range(), made.metadata.byte_range());
        assert_eq!(read.num_values(), 70_001);
        let ColumnReader::ByteArrayColumnReader(mut reader) =
            group.get_column_reader(0).expect("reader")
        else {
            panic!("a byte array column");
        };
        let mut values = Vec::new();
        let (records, _, _) = reader
            .read_records(100_000, None, None, &mut values)
            .expect("values");
        assert_eq!(records, 70_001);
        assert!(values.iter().all(|v| v.data() == b"0147"));
    }

    #[test]
    fn zeros_stand_for_a_chunk_at_its_offset() {
        let zeros = Zeros {
            offset: 100,
            length: 6,
        };
        assert_eq!(zeros.len(), 106);
        assert_eq!(zeros.get_bytes(102, 3).expect("inside"), vec![0u8; 3]);
        assert_eq!(zeros.get_bytes(104, 10).expect("to the end"), vec![0u8; 2]);
        assert!(zeros.get_bytes(99, 1).is_err(), "before the chunk");
        assert!(zeros.get_bytes(107, 1).is_err(), "after the chunk");
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut zeros.get_read(100).expect("read"), &mut all)
            .expect("bytes");
        assert_eq!(all, vec![0u8; 6]);
    }

    /// A Delta Sharing file of a whole partition is spliced: its size and rows are known
    /// from the footer, it keeps only what its writer wrote (not the copied chunks), and
    /// every range of it, however cut into pieces, is that range of the whole file,
    /// which reads as the data file's rows.
    #[tokio::test]
    async fn a_spliced_file_is_described_and_any_range_of_it_reads_as_the_whole() {
        let root = tempfile::tempdir().expect("tempdir");
        three_commits(root.path()).await;
        let lake = lake(root.path());
        let def = population("t");
        let scope = scope(&def, "0101", None);
        let listed = lake
            .partition_files(&scope, None, None)
            .await
            .expect("files");
        assert_eq!(listed.files.len(), 3);
        for path in &listed.files {
            let made = lake
                .scoped_file(&scope, listed.version, listed.read, path)
                .await
                .expect("file");
            let crate::files::FileBody::Spliced(file) = &made.body else {
                panic!("a whole partition's file is spliced: {:?}", made.body);
            };
            let whole = read_all(&lake, &made.body, 0..u64::MAX).await;
            assert_eq!(whole.len() as u64, file.len());
            let read = read(whole.clone());
            assert_eq!(read.rows.len() as u64, made.rows);
            assert!(
                read.rows
                    .iter()
                    .all(|r| r.contains(r#""kommunekode":"0101""#))
            );
            // The copied chunks are the data file's; only the writer's bytes are kept.
            let data = std::fs::read(root.path().join("t").join(path)).expect("data file");
            let source = ParquetMetaDataReader::new()
                .parse_and_finish(&Bytes::from(data))
                .expect("footer");
            let copied: u64 = source.row_groups()[0]
                .columns()
                .iter()
                .map(|c| c.byte_range().1)
                .sum();
            assert_eq!(file.held() as u64, file.len() - copied);

            // A range of a data file past its end is an error, never short bytes.
            let data_len = copied_file_len(root.path(), path);
            let beyond = Segment::Copied {
                file: 0,
                range: data_len - 2..data_len + 10,
            };
            assert!(
                file.fetch(beyond).await.is_err(),
                "past the data file's end"
            );

            let len = file.len();
            let mut next = numbers(11);
            let mut ranges = vec![0..4, len - 8..len, 0..len, len - 1..len + 10];
            ranges.extend((0..60).map(|_| {
                let a = next(len);
                a..a + 1 + next(len - a)
            }));
            for range in ranges {
                let expected = whole.slice(range.start as usize..range.end.min(len) as usize);
                assert_eq!(read_all(&lake, &made.body, range.clone()).await, expected);
                // Cut into pieces of a few bytes, as a large file is into megabytes.
                let mut pieced = Vec::new();
                for part in file.parts(range.clone(), 1 + next(7)) {
                    pieced.extend_from_slice(&file.fetch(part).await.expect("part"));
                }
                assert_eq!(pieced, expected, "{range:?}");
            }

            // With its data file gone (as a vacuum removes it), a read's first piece is
            // the error: the written bytes before the first copied piece wait for it. A
            // range of written bytes alone still reads.
            let data = root.path().join("t").join(path);
            let away = root.path().join("away");
            std::fs::rename(&data, &away).expect("move the data file away");
            let mut pieces = lake.read_file(&made.body, 0..len).await.expect("read");
            let first = pieces.next().await;
            let footer = read_all(&lake, &made.body, len - 8..len).await;
            std::fs::rename(&away, &data).expect("move it back");
            assert!(matches!(first, Some(Err(_))), "{first:?}");
            assert_eq!(footer, whole.slice(len as usize - 8..));
        }
    }

    fn copied_file_len(root: &Path, path: &str) -> u64 {
        std::fs::metadata(root.join("t").join(path))
            .expect("data file")
            .len()
    }
}
