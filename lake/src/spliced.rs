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

use bytes::{Buf, Bytes};
use dap_schema::AccessScope;
use deltalake::DeltaTable;
use deltalake::arrow::array::{ArrayRef, StringArray};
use deltalake::arrow::datatypes::{DataType, SchemaRef};
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::physical_plan::execute_stream;
use deltalake::logstore::ObjectStoreRef;
use deltalake::logstore::object_store::ObjectStoreExt as _;
use futures::{StreamExt, TryStreamExt};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowColumnWriter, compute_leaves};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::{ChunkReader, Length};
use parquet::schema::types::SchemaDescriptor;
use tokio::sync::mpsc;

use crate::export::{CHUNKS_BUFFERED, Chunk, Export, Format, Sink, encode_titled};
use crate::lake::{Scan, Source, spawn_feeding};
use crate::query::ResolvedQuery;
use crate::resolve::Reader;
use crate::{Error, Lake, Result};

/// Footers read at once while the export is planned.
const FOOTERS_AT_ONCE: usize = 8;
/// Bytes read from a file's end for its footer, before knowing the footer's size.
const FOOTER_GUESS: u64 = 64 * 1024;
/// Largest column chunk copied: one is held whole while it is copied, and up to
/// `CHUNKS_BUFFERED` wait to be sent. Larger ones make the export decode the files.
const MAX_CHUNK_BYTES: i64 = 64 * 1024 * 1024;
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
                    if let Some(export) = spliced.await? {
                        return Ok(export);
                    }
                }
                let scan = Scan::start(version, source, execute_stream(plan, task)?);
                Ok(encode_titled(scan, Format::Parquet, &query.dataset))
            })
            .await
    }
}

/// A Parquet export of `schema` of the reader's partition `files` of `table` (the caller
/// is told `version`), spliced from their column chunks; `None` when one of them cannot
/// be (the caller decodes them instead), or when the reader's rows are not the whole
/// partition (a constrained scope).
pub(crate) async fn splice_files(
    version: u64,
    table: &DeltaTable,
    source: &Source,
    reader: &Reader,
    files: &[deltalake::Path],
    schema: &SchemaRef,
) -> Result<Option<Export>> {
    if reader.constrained {
        return Ok(None);
    }
    let tenant_column = &reader.dataset.tenant_column;
    let Some(sources) = sources(table, source, tenant_column, files, schema).await? else {
        return Ok(None);
    };
    Ok(Some(splice(
        version,
        source.clone(),
        table.object_store(),
        Arc::clone(schema),
        sources,
        reader.tenant.clone(),
    )))
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
    let footers: Vec<(deltalake::Path, Option<ParquetMetaData>)> = futures::stream::iter(sized)
        .map(|(path, size)| {
            let store = Arc::clone(&store);
            async move {
                match footer(&store, &path, size).await {
                    Ok(footer) => Ok((path, footer)),
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
    for (path, footer) in footers {
        let Some(footer) = footer else {
            return Ok(None);
        };
        let Some(columns) = matching_columns(&expected, &footer, tenant_column) else {
            return Ok(None);
        };
        // Each row group is copied whole: its chunks must be few enough to write and
        // small enough to hold (the encoding path holds row groups of 32 MiB at most).
        for group in footer.row_groups() {
            let largest = columns
                .iter()
                .flatten()
                .map(|&c| group.column(c).compressed_size())
                .max()
                .unwrap_or_default();
            if largest > MAX_CHUNK_BYTES {
                return Ok(None);
            }
            groups += usize::from(group.num_rows() > 0);
        }
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

/// A fetched column chunk, read at its offset in its file.
struct Fetched {
    offset: u64,
    bytes: Bytes,
}

impl Length for Fetched {
    fn len(&self) -> u64 {
        self.offset + self.bytes.len() as u64
    }
}

impl ChunkReader for Fetched {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(self.get_bytes(start, self.bytes.len())?.reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let from = start
            .checked_sub(self.offset)
            .and_then(|s| usize::try_from(s).ok())
            .filter(|&s| s <= self.bytes.len())
            .ok_or_else(|| parquet::errors::ParquetError::EOF("before the chunk".into()))?;
        Ok(self.bytes.slice(from..self.bytes.len().min(from + length)))
    }
}

/// Starts the spliced export on the current (lake) runtime.
fn splice(
    version: u64,
    source: Source,
    store: ObjectStoreRef,
    schema: SchemaRef,
    files: Vec<SourceFile>,
    tenant: String,
) -> Export {
    let (tx, rx) = mpsc::channel(CHUNKS_BUFFERED);
    let rows = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&rows);
    let chunks = tx.clone();
    spawn_feeding(tx, async move {
        let copy = Copy {
            source,
            store,
            tenant,
            tx: &chunks,
            rows: &counter,
        };
        copy.run(schema, files).await
    });
    Export {
        version,
        chunks: rx,
        rows,
    }
}

struct Copy<'a> {
    source: Source,
    store: ObjectStoreRef,
    tenant: String,
    tx: &'a mpsc::Sender<Result<Chunk>>,
    rows: &'a AtomicU64,
}

impl Copy<'_> {
    /// Writes the file: each source row group becomes one, its column chunks copied in
    /// the export's column order, the bytes sent after each column.
    async fn run(self, schema: SchemaRef, files: Vec<SourceFile>) -> Result<()> {
        let sink = Sink::default();
        let (mut file, groups) =
            ArrowWriter::try_new(sink.clone(), Arc::clone(&schema), Some(properties()))?
                .into_serialized_writer()?;
        let mut index = 0;
        for source in &files {
            for group_meta in source.footer.row_groups() {
                let count = u64::try_from(group_meta.num_rows()).unwrap_or_default();
                if count == 0 {
                    continue;
                }
                let mut partition = None;
                if source.columns.contains(&None) {
                    let writers = groups.create_column_writers(index)?;
                    let (schema, tenant) = (Arc::clone(&schema), self.tenant.clone());
                    let leaf = source.columns.iter().position(Option::is_none);
                    partition = Some(tokio::task::spawn_blocking(move || {
                        partition_chunk(&schema, writers, leaf, &tenant, count)
                    }));
                }
                index += 1;
                let mut group = file.next_row_group()?;
                for column in &source.columns {
                    match column {
                        Some(c) => {
                            let meta = group_meta.column(*c);
                            let (offset, length) = meta.byte_range();
                            let fetched = Fetched {
                                offset,
                                bytes: self.fetch(&source.path, offset..offset + length).await?,
                            };
                            let close = ColumnCloseResult {
                                bytes_written: length,
                                rows_written: count,
                                metadata: meta.clone(),
                                bloom_filter: None,
                                column_index: None,
                                offset_index: None,
                            };
                            group.append_column(&fetched, close)?;
                        }
                        None => {
                            let chunk = partition
                                .take()
                                .ok_or_else(|| Error::Encode("one partition column".into()))?
                                .await
                                .map_err(|e| Error::Runtime(e.to_string()))??;
                            chunk.append_to_row_group(&mut group)?;
                        }
                    }
                    if !self.send(sink.take_all(), 0).await {
                        return Ok(()); // the client went away
                    }
                }
                group.close()?;
                self.rows.fetch_add(count, Ordering::Relaxed);
            }
        }
        file.close()?;
        // A Parquet file is unreadable until its footer: its rows count in the last chunk.
        self.send(sink.take_all(), self.rows.load(Ordering::Relaxed))
            .await;
        Ok(())
    }

    /// The bytes of `range` of a source file; a file gone with its table version reads
    /// as the table unavailable, like a scan's.
    async fn fetch(&self, path: &deltalake::Path, range: Range<u64>) -> Result<Bytes> {
        match self.store.get_range(path, range).await {
            Ok(bytes) => Ok(bytes),
            Err(error) => Err(self.source.classify(DataFusionError::from(error)).await),
        }
    }

    /// Sends a chunk; false when the client went away.
    async fn send(&self, bytes: Bytes, rows: u64) -> bool {
        if bytes.is_empty() && rows == 0 {
            return true;
        }
        self.tx.send(Ok(Chunk { bytes, rows })).await.is_ok()
    }
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

/// The partition column's chunk of a row group of `count` rows: the municipality's code
/// in every row, encoded by the export's own writer for that column.
fn partition_chunk(
    schema: &SchemaRef,
    writers: Vec<ArrowColumnWriter>,
    leaf: Option<usize>,
    tenant: &str,
    count: u64,
) -> Result<ArrowColumnChunk> {
    let leaf = leaf.ok_or_else(|| Error::Encode("no partition column".into()))?;
    let mut writer = writers
        .into_iter()
        .nth(leaf)
        .ok_or_else(|| Error::Encode("no writer for the partition column".into()))?;
    let field = schema.field(leaf);
    let rows = usize::try_from(count).unwrap_or(usize::MAX);
    let values: ArrayRef = Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
        tenant, rows,
    )));
    for leaf in compute_leaves(field, &values)? {
        writer.write(&leaf)?;
    }
    Ok(writer.close()?)
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
    use crate::testing::{commit, lake, population, scope};

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

    #[test]
    fn a_fetched_chunk_reads_only_its_own_bytes() {
        let fetched = Fetched {
            offset: 100,
            bytes: Bytes::from_static(b"abcdef"),
        };
        assert_eq!(fetched.len(), 106);
        assert_eq!(fetched.get_bytes(102, 3).expect("inside"), "cde");
        assert_eq!(fetched.get_bytes(104, 10).expect("to the end"), "ef");
        assert!(fetched.get_bytes(99, 1).is_err(), "before the chunk");
        assert!(fetched.get_bytes(107, 1).is_err(), "after the chunk");
        let mut all = String::new();
        std::io::Read::read_to_string(&mut fetched.get_read(100).expect("read"), &mut all)
            .expect("bytes");
        assert_eq!(all, "abcdef");
    }
}
