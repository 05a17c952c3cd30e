//! Open Delta tables, kept in memory and refreshed when they get a new version, and
//! the scoped scan: the only way to read rows.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use dap_schema::{AccessScope, DatasetDef};
use deltalake::arrow::datatypes::DataType;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::common::DFSchema;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::SendableRecordBatchStream;
use deltalake::datafusion::execution::runtime_env::RuntimeEnvBuilder;
use deltalake::datafusion::prelude::{
    DataFrame, Expr, SessionConfig, SessionContext, cast, ident, lit,
};
use deltalake::delta_datafusion::{DeltaScanConfig, DeltaScanNext};
use deltalake::logstore::LogStore as _;
use deltalake::{DeltaTable, FilterOp, FilterValue};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use url::Url;

use crate::keyset;
use crate::query::ResolvedQuery;
use crate::resolve::{Reader, VersionCache};
use crate::storage::{StorageOptions, StoreKind, register_stores};
use crate::{Error, LakeRuntime, Result};

/// Memory one query may use before it spills (sorts) or fails (other operators).
const QUERY_MEMORY_BYTES: usize = 256 * 1024 * 1024;
/// Batches buffered between the scan and its consumer; bounds memory per request.
const SCAN_BUFFER_BATCHES: usize = 2;

/// The lake: a root location, the open tables and the runtime that reads them.
#[derive(Debug)]
pub struct Lake {
    root: Url,
    /// How the object store behind `root` is reached (secrets inside; `Debug` shows keys).
    pub(crate) storage: StorageOptions,
    runtime: Arc<LakeRuntime>,
    /// Open tables by location URL: a dataset re-registered at another location opens
    /// the new table instead of serving the old one.
    pub(crate) tables: RwLock<HashMap<String, Arc<DeltaTable>>>,
    pub(crate) versions: VersionCache,
    /// Tables serving their last good version because a newer commit cannot be read.
    pub(crate) stale: RwLock<HashMap<String, crate::tables::StaleTable>>,
    /// Scans and refresh times, for metrics.
    pub(crate) stats: crate::stats::Stats,
    /// Decoded partitions for paged reads.
    pages: crate::page_cache::PageCache,
    /// The caller's partition files per table version.
    pub(crate) partitions: crate::partitions::Partitions,
    /// Where made files too large for memory are kept.
    pub(crate) storing: crate::stored::Storing,
}

/// Version facts of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    pub version: u64,
    pub timestamp: Option<DateTime<Utc>>,
}

/// A running scan: the table version it reads, the result schema and a bounded
/// stream of record batches.
#[derive(Debug)]
pub struct Scan {
    pub version: u64,
    pub schema: SchemaRef,
    batches: mpsc::Receiver<Result<RecordBatch>>,
}

impl Stream for Scan {
    type Item = Result<RecordBatch>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.batches.poll_recv(cx)
    }
}

impl Scan {
    /// Drives `stream` on the current (lake) runtime into a bounded channel. A read error
    /// of a table whose log is gone (deleted under the cached snapshot) is reported as
    /// [`Error::TableUnavailable`].
    pub(crate) fn start(
        version: u64,
        source: Source,
        mut stream: SendableRecordBatchStream,
    ) -> Self {
        let schema = stream.schema();
        let (tx, rx) = mpsc::channel(SCAN_BUFFER_BATCHES);
        let feed = tx.clone();
        spawn_feeding(tx, async move {
            while let Some(batch) = stream.next().await {
                let (batch, stop) = match batch {
                    Ok(batch) => (Ok(batch), false),
                    Err(error) => (Err(source.classify(error).await), true),
                };
                // A closed channel means the client went away: stop reading.
                if feed.send(batch).await.is_err() || stop {
                    break;
                }
            }
            Ok(())
        });
        Self {
            version,
            schema,
            batches: rx,
        }
    }

    /// A scan whose rows are already read (a page from kept rows).
    pub(crate) fn ready(version: u64, schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        let (tx, rx) = mpsc::channel(batches.len().max(1));
        for batch in batches {
            // Room for every batch: the channel was made for them.
            let _ = tx.try_send(Ok(batch));
        }
        Self {
            version,
            schema,
            batches: rx,
        }
    }

    /// Collects a bounded scan (a page of rows) into memory.
    pub async fn collect_page(mut self) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        while let Some(batch) = self.next().await {
            out.push(batch?);
        }
        Ok(out)
    }
}

/// Runs `producer`, which feeds `tx`, on the current runtime. Its error ends the stream,
/// and so does its panic, as an error: a consumer must never take a stream a panic cut
/// short for a whole one (an export for complete, its audit record for a download).
pub(crate) fn spawn_feeding<T: Send + 'static>(
    tx: mpsc::Sender<Result<T>>,
    producer: impl Future<Output = Result<()>> + Send + 'static,
) {
    tokio::spawn(async move {
        let outcome = match tokio::spawn(producer).await {
            Ok(outcome) => outcome,
            Err(stopped) => {
                tracing::error!(error = %stopped, "a read or an export stopped unexpectedly");
                Err(Error::Runtime("the read stopped unexpectedly".into()))
            }
        };
        if let Err(error) = outcome {
            let _ = tx.send(Err(error)).await;
        }
    });
}

/// The table a scan reads, to tell a vanished table from other read errors.
#[derive(Clone)]
pub(crate) struct Source {
    dataset: String,
    log: deltalake::logstore::LogStoreRef,
    version: u64,
}

impl Source {
    pub(crate) fn of(dataset: &DatasetDef, table: &DeltaTable) -> Self {
        Self {
            dataset: dataset.id.to_string(),
            log: table.log_store(),
            version: table.version().unwrap_or_default(),
        }
    }

    /// The error to report for a failed read: the table is unavailable when the commit
    /// it was read at can no longer be read (the read error itself names only a file).
    pub(crate) async fn classify(&self, error: DataFusionError) -> Error {
        match self.log.read_commit_entry(self.version).await {
            Ok(Some(_)) => Error::from(error),
            _ => {
                tracing::warn!(dataset = %self.dataset, %error, "table vanished during a read");
                Error::TableUnavailable {
                    dataset: self.dataset.clone(),
                    reason: error.to_string(),
                }
            }
        }
    }
}

impl Lake {
    /// A lake whose relative table locations resolve against `root` (a directory URL).
    pub fn new(root: Url, runtime: Arc<LakeRuntime>) -> Self {
        register_stores();
        Self {
            root,
            storage: StorageOptions::default(),
            runtime,
            tables: RwLock::new(HashMap::new()),
            versions: VersionCache::default(),
            stale: RwLock::new(HashMap::new()),
            stats: crate::stats::Stats::default(),
            pages: crate::page_cache::PageCache::new(crate::page_cache::DEFAULT_CAPACITY_BYTES),
            partitions: crate::partitions::Partitions::default(),
            storing: crate::stored::Storing::default(),
        }
    }

    /// The same lake, reaching its object store with `storage`.
    pub fn with_storage(mut self, storage: StorageOptions) -> Self {
        self.storage = storage;
        self
    }

    /// Bounds the memory of decoded partitions kept for paged reads (0: none kept, every
    /// page reads the files); see `page_cache`.
    pub fn with_page_cache(mut self, bytes: usize) -> Self {
        self.pages = crate::page_cache::PageCache::new(bytes);
        self
    }

    /// Keeps made files (Delta Sharing files of a restricted scope, change files) over
    /// `memory` bytes in unnamed files in `dir` instead of in memory (default: the
    /// system's temporary directory, 4 MiB).
    pub fn with_made_files(mut self, dir: std::path::PathBuf, memory: usize) -> Self {
        self.storing = crate::stored::Storing { dir, memory };
        self
    }

    /// Bytes of decoded partitions held for paged reads.
    pub fn page_cache_bytes(&self) -> usize {
        self.pages.held_bytes()
    }

    /// The lake's root location.
    pub fn root(&self) -> &Url {
        &self.root
    }

    /// How the lake's object store is reached.
    pub fn storage(&self) -> &StorageOptions {
        &self.storage
    }

    /// Checks, without reading anything, that the root names a store dap can reach with
    /// the configured options (a supported scheme, an account, a container or bucket):
    /// [`Error::Storage`] says what is missing.
    pub async fn check_storage(self: &Arc<Self>) -> Result<()> {
        let root = self.root.clone();
        if StoreKind::of(&root)? == StoreKind::Local {
            return Ok(());
        }
        let options = self.storage.map();
        self.runtime()
            .run(async move {
                deltalake::logstore::store_for(&root, options)
                    .map(|_| ())
                    .map_err(|e| Error::Storage(format!("{root}: {e}")))
            })
            .await
    }

    /// Whether the lake's storage answers: its root can be listed.
    pub async fn probe(self: &Arc<Self>) -> Result<()> {
        let root = self.root.clone();
        let options = self.storage.map();
        self.runtime()
            .run(async move {
                if root.scheme() == "file" {
                    let path = root
                        .to_file_path()
                        .map_err(|_| Error::Location(root.to_string()))?;
                    std::fs::read_dir(&path)?;
                    return Ok(());
                }
                use deltalake::ObjectStore as _;
                let store = deltalake::logstore::store_for(&root, options)?;
                store
                    .list_with_delimiter(None)
                    .await
                    .map_err(deltalake::DeltaTableError::from)?;
                Ok(())
            })
            .await
    }

    /// A lake rooted at a local directory.
    pub fn local(root: &std::path::Path, runtime: Arc<LakeRuntime>) -> Result<Self> {
        let root = std::path::absolute(root)?;
        let url = Url::from_directory_path(&root)
            .map_err(|_| Error::Location(root.display().to_string()))?;
        Ok(Self::new(url, runtime))
    }

    /// A session for one query. Its memory pool is bounded: sorts and aggregations
    /// beyond it spill to disk instead of growing the process.
    pub(crate) fn session() -> SessionContext {
        Self::session_with(2)
    }

    /// A session with `partitions` parallel partitions; one gives a deterministic row
    /// order (no file splitting, no round-robin repartitioning).
    pub(crate) fn session_with(partitions: usize) -> SessionContext {
        let mut config = SessionConfig::new()
            .with_target_partitions(partitions)
            .with_repartition_file_scans(partitions > 1)
            .with_round_robin_repartition(partitions > 1)
            .with_batch_size(8192);
        // Plain string arrays straight from Parquet: every export format needs them, and
        // casting view arrays afterwards copies every string once more.
        config
            .options_mut()
            .execution
            .parquet
            .schema_force_view_types = false;
        match RuntimeEnvBuilder::new()
            .with_memory_limit(QUERY_MEMORY_BYTES, 1.0)
            .build_arc()
        {
            Ok(runtime) => SessionContext::new_with_config_rt(config, runtime),
            Err(_) => SessionContext::new_with_config(config),
        }
    }

    /// The runtime scans run on.
    pub fn runtime(&self) -> &Arc<LakeRuntime> {
        &self.runtime
    }

    /// Where a dataset's table lives.
    pub fn location(&self, dataset: &DatasetDef) -> Result<Url> {
        table_url(&self.root, &dataset.location)
    }

    /// The first version whose changes the table can still tell: its log's first commit
    /// (older commit files are cleaned up with checkpoints). A change range that starts
    /// before it cannot be answered.
    pub async fn first_version(self: &Arc<Self>, scope: &AccessScope) -> Result<u64> {
        let lake = Arc::clone(self);
        let dataset = scope.dataset().clone();
        self.runtime
            .run(async move {
                let table = lake.current(&dataset).await?;
                let latest = table.version().unwrap_or_default();
                lake.earliest(&table, &dataset, latest).await
            })
            .await
    }

    /// The scope's current version (the newest that changed rows it may see; other
    /// municipalities' commits do not count) and when it was committed.
    pub async fn table_info(self: &Arc<Self>, scope: &AccessScope) -> Result<TableInfo> {
        let lake = Arc::clone(self);
        let reader = Reader::of(scope);
        self.runtime
            .run(async move {
                let table = lake.current(&reader.dataset).await?;
                let latest = table.version().unwrap_or_default();
                let version = lake.own_version(&table, &reader, latest).await?;
                let timestamp = lake.commit_time(&table, &reader.dataset, version).await?;
                Ok(TableInfo { version, timestamp })
            })
            .await
    }

    /// Reads the rows `query` asks for, within `scope`.
    ///
    /// Tenant isolation happens twice: the table provider only gets the files of the
    /// scope's municipality partition, so other municipalities' files are not in the
    /// plan at all; and the tenant predicate is applied to the rows before the caller's
    /// filters.
    ///
    /// Without `version`/`as_of` the scan reads the scope's current version (see
    /// [`crate::resolve`]) and reports it in [`Scan::version`].
    pub async fn scan(
        self: &Arc<Self>,
        scope: &AccessScope,
        query: &ResolvedQuery,
    ) -> Result<Scan> {
        self.check(scope, query)?;
        let lake = Arc::clone(self);
        let reader = Reader::of(scope);
        let query = query.clone();
        self.runtime
            .run(async move {
                let read = lake.prepare(&reader, &query).await?;
                if let Some(page) = Self::kept_page(&read, &reader, &query)? {
                    return Ok(page);
                }
                let (version, source, frame) = lake.plan(read, &reader, &query)?;
                Ok(Scan::start(version, source, frame.execute_stream().await?))
            })
            .await
    }

    /// Counts the rows `query` would return (without paging), within `scope`.
    pub async fn count(
        self: &Arc<Self>,
        scope: &AccessScope,
        query: &ResolvedQuery,
    ) -> Result<u64> {
        self.check(scope, query)?;
        let lake = Arc::clone(self);
        let reader = Reader::of(scope);
        let mut query = query.clone();
        query.order.clear();
        query.after = None;
        self.runtime
            .run(async move {
                let (_, _, frame) = lake.frame(&reader, &query).await?;
                Ok(u64::try_from(frame.count().await?).unwrap_or(u64::MAX))
            })
            .await
    }

    /// The logical plan of a scoped read: tenant partition files only, the scope's row
    /// predicate, then the caller's filters, order, page and projection. Returns the
    /// version the caller is told and the table read with it.
    pub(crate) async fn frame(
        self: &Arc<Self>,
        reader: &Reader,
        query: &ResolvedQuery,
    ) -> Result<(u64, Source, DataFrame)> {
        let read = self.prepare(reader, query).await?;
        self.plan(read, reader, query)
    }

    /// What a scoped read reads: the version, the caller's partition files only, and for
    /// a page their decoded rows when the page cache keeps them.
    pub(crate) async fn prepare(
        self: &Arc<Self>,
        reader: &Reader,
        query: &ResolvedQuery,
    ) -> Result<Read> {
        let target = self.target(reader, query.version, query.as_of).await?;
        let (table, version) = (target.table, target.version);
        let source = Source::of(&reader.dataset, &table);
        let dataset = &reader.dataset;
        let partition = self.partition(reader, &table, &target.current).await?;
        self.stats.scanned(
            dataset.id.as_str(),
            partition.files.len(),
            partition.table_files,
        );
        // A page (a bounded read) of a partition small enough to keep reads its decoded
        // rows from memory; the row predicate and filters apply to them alike.
        let mut kept = None;
        if query.limit.is_some() && self.pages.enabled() {
            // The session that reads the files, built only when they are read.
            let session = || files_session(&table);
            kept = self
                .pages
                .get(
                    partition.page_key.clone(),
                    Arc::clone(&partition.provider),
                    session,
                    &dataset.key_columns,
                )
                .await?;
        }
        Ok(Read {
            version,
            source,
            table,
            partition,
            kept,
        })
    }

    /// The reader's partition of `table` (a version of the open table `current`): its
    /// files, their scan and page-cache key, worked out once per version (see
    /// `partitions`).
    async fn partition(
        &self,
        reader: &Reader,
        table: &DeltaTable,
        current: &Arc<DeltaTable>,
    ) -> Result<Arc<crate::partitions::Partition>> {
        let dataset = &reader.dataset;
        let location = self.location(dataset)?.to_string();
        let key = crate::partitions::Partitions::key(
            &location,
            table.version().unwrap_or_default(),
            &format!("{}={}", dataset.tenant_column, reader.tenant),
            &dataset.key_columns,
        );
        // Only the open table's own version is kept: a read of an older one (time
        // travel) would keep that version's whole file list alive.
        let keep = table.version() == current.version();
        if let Some(partition) = self.partitions.get(&key, current).filter(|_| keep) {
            return Ok(partition);
        }
        let files = tenant_files(table, &dataset.tenant_column, &reader.tenant).await?;
        let provider = plain_scan(table, files.iter().map(ToString::to_string))?;
        let page_key = page_key(
            &location,
            &format!("{:?}", provider.schema()),
            &dataset.key_columns,
            &files,
            &deletion_vectors(table, &files)?,
        );
        let partition = Arc::new(crate::partitions::Partition {
            table_files: table.snapshot()?.log_data().num_files(),
            files,
            provider,
            page_key,
        });
        if keep {
            self.partitions.put(key, current, Arc::clone(&partition));
        }
        Ok(partition)
    }

    /// Plans `read` as a DataFusion query. A page from kept rows runs in a session of one
    /// partition: the rows stay in key order through the filters, so a page in key order
    /// stops at its last row (no repartitioning, no sort).
    pub(crate) fn plan(
        &self,
        read: Read,
        reader: &Reader,
        query: &ResolvedQuery,
    ) -> Result<(u64, Source, DataFrame)> {
        let (ctx, provider) = match &read.kept {
            Some(kept) => (Self::session_with(1), Arc::clone(&kept.table) as _),
            None => (
                files_session(&read.table)?,
                Arc::clone(&read.partition.provider),
            ),
        };
        let mut frame = ctx.read_table(provider)?;
        for condition in conditions(reader, query)? {
            frame = frame.filter(condition)?;
        }
        let order = query
            .order
            .iter()
            .map(|o| ident(&o.column).sort(!o.descending, o.descending))
            .collect::<Vec<_>>();
        if !order.is_empty() {
            frame = frame.sort(order)?;
        }
        // DataFusion plans an offset and a limit as `i64`: past that they would turn
        // negative and fail the plan. Skipping 2^63 rows or more skips every row, and a
        // limit of 2^63 or more limits nothing, so each is capped there.
        let rows = |n: u64| usize::try_from(n.min(i64::MAX as u64)).unwrap_or(usize::MAX);
        let skip = rows(query.offset);
        let fetch = query.limit.map(rows);
        if skip > 0 || fetch.is_some() {
            frame = frame.limit(skip, fetch)?;
        }
        let columns = plain_columns(&frame, &query.select);
        frame = frame.select(columns)?;
        Ok((read.version, read.source, frame))
    }

    /// A page in key order from kept rows, without planning a query (see `kept`); `None`
    /// when `read` has no kept rows or the page is in another order.
    fn kept_page(read: &Read, reader: &Reader, query: &ResolvedQuery) -> Result<Option<Scan>> {
        let (Some(kept), Some(limit)) = (&read.kept, query.limit) else {
            return Ok(None);
        };
        let rows = crate::kept::KeptRows {
            schema: &kept.schema,
            batches: &kept.batches,
            keys: &reader.dataset.key_columns,
        };
        let mut conditions = conditions(reader, query)?;
        // The keyset position is the last condition, when there is one.
        let seek = query.after.is_some().then(|| conditions.pop()).flatten();
        let ask = crate::kept::PageAsk {
            conditions,
            seek,
            order: &query.order,
            offset: usize::try_from(query.offset).unwrap_or(usize::MAX),
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            columns: plain_projection(
                &DFSchema::try_from(kept.schema.as_ref().clone())?,
                &query.select,
            ),
        };
        Ok(crate::kept::page(&rows, ask)?
            .map(|(schema, batches)| Scan::ready(read.version, schema, batches)))
    }

    /// Defence in depth: the query was resolved for this scope's dataset and names only
    /// columns the scope shows.
    pub(crate) fn check(&self, scope: &AccessScope, query: &ResolvedQuery) -> Result<()> {
        if query.dataset != scope.dataset().id.as_str() {
            return Err(Error::InvalidParameter {
                parameter: "query",
                reason: "query was resolved for another dataset".into(),
            });
        }
        if let Some(column) = query
            .select
            .iter()
            .map(String::as_str)
            .chain(query.filters.iter().map(|f| f.column.as_str()))
            .chain(query.tree.iter().flat_map(|t| t.columns()))
            .chain(query.order.iter().map(|o| o.column.as_str()))
            .find(|c| !scope.can_see(c))
        {
            return Err(Error::UnknownColumn {
                parameter: "query",
                column: column.to_owned(),
                valid: scope.visible_columns().join(", "),
            });
        }
        Ok(())
    }

    /// The data files a scan in `scope` reads at the current version: only the files of
    /// the scope's municipality partition.
    pub async fn scan_files(self: &Arc<Self>, scope: &AccessScope) -> Result<Vec<String>> {
        let lake = Arc::clone(self);
        let dataset = scope.dataset().clone();
        let tenant = scope.municipality().as_str().to_owned();
        self.runtime
            .run(async move {
                let table = lake.current(&dataset).await?;
                let files = tenant_files(&table, &dataset.tenant_column, &tenant).await?;
                Ok(files.iter().map(ToString::to_string).collect())
            })
            .await
    }
}

/// A scan of `files` of `table` that reads plain Arrow types: strings as `Utf8` (not
/// views) and the partition column as its values (not a dictionary). Every export format
/// and client wants those, and asking the reader for them saves casting each batch
/// afterwards: perf showed the casts (and the dictionary built row by row for a
/// partition value that is the same in every row) at about a fifth of an Arrow export.
fn plain_scan(
    table: &DeltaTable,
    files: impl IntoIterator<Item = String>,
) -> Result<Arc<dyn deltalake::datafusion::catalog::TableProvider>> {
    let mut config = DeltaScanConfig::new().with_wrap_partition_values(false);
    config.schema_force_view_types = false;
    let snapshot = table.snapshot()?.snapshot().clone();
    Ok(Arc::new(
        DeltaScanNext::new(snapshot, config)?.with_file_paths(files),
    ))
}

/// What a scoped read reads (see [`Lake::prepare`]).
pub(crate) struct Read {
    pub(crate) version: u64,
    pub(crate) source: Source,
    pub(crate) table: DeltaTable,
    /// The caller's partition files and their scan.
    pub(crate) partition: Arc<crate::partitions::Partition>,
    kept: Option<Arc<crate::page_cache::Decoded>>,
}

/// The session that reads a table's files.
fn files_session(table: &DeltaTable) -> Result<SessionContext> {
    let ctx = Lake::session();
    table.update_datafusion_session(&ctx.state())?;
    Ok(ctx)
}

/// The conditions every row of a scoped read meets, in the order they apply: the
/// scope's row predicate, the caller's filters, the filter tree (after the scope's
/// predicate: an OR inside the tree cannot widen the scope), and last the keyset
/// position when the read starts after a row's key.
pub(crate) fn conditions(reader: &Reader, query: &ResolvedQuery) -> Result<Vec<Expr>> {
    let mut out = vec![reader.rows.clone()];
    out.extend(query.filters.iter().map(|f| f.to_expr()));
    out.extend(query.tree.iter().map(|t| t.to_expr()));
    if let Some(last) = &query.after {
        out.push(
            keyset::after(&query.order, last).ok_or(Error::InvalidParameter {
                parameter: "cursor",
                reason: "the cursor does not fit the query's order".into(),
            })?,
        );
    }
    Ok(out)
}

/// Projection of `columns` with plain Arrow types: dictionary-encoded partition values
/// and view types are cast to their plain forms, which every client reads (pandas, for
/// one, cannot turn a stream of per-file dictionaries into a categorical).
pub(crate) fn plain_columns(frame: &DataFrame, columns: &[String]) -> Vec<Expr> {
    plain_projection(frame.schema(), columns)
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}

/// [`plain_columns`] of a schema, each with its column's name.
pub(crate) fn plain_projection(schema: &DFSchema, columns: &[String]) -> Vec<(String, Expr)> {
    columns
        .iter()
        .map(|c| {
            let target = schema
                .field_with_unqualified_name(c)
                .ok()
                .and_then(|f| plain_type(f.data_type()));
            let expr = match target {
                Some(t) => cast(ident(c), t).alias(c),
                None => ident(c),
            };
            (c.clone(), expr)
        })
        .collect()
}

fn plain_type(t: &DataType) -> Option<DataType> {
    match t {
        DataType::Dictionary(_, value) => {
            Some(plain_type(value).unwrap_or_else(|| value.as_ref().clone()))
        }
        DataType::Utf8View => Some(DataType::Utf8),
        DataType::BinaryView => Some(DataType::Binary),
        // Delta's timestamps are UTC instants (the change feed's `_commit_timestamp` comes
        // without a zone): say so, so every encoder writes them as dap writes every
        // instant, RFC 3339 with `Z` (see `dap_schema::time`), and typed formats carry
        // the zone.
        DataType::Timestamp(unit, None) => Some(DataType::Timestamp(*unit, Some("UTC".into()))),
        _ => None,
    }
}

/// The rows a scope admits: the municipality's, narrowed by the data constraints on the
/// caller's role (any one constraint admits a row when all its columns hold one of its
/// values). Values compare as text, whatever the column's type.
pub(crate) fn row_predicate(scope: &AccessScope) -> Expr {
    let dataset = scope.dataset();
    let tenant = ident(&dataset.tenant_column).eq(lit(scope.municipality().as_str().to_owned()));
    let Some(constraints) = scope.row_constraints() else {
        return tenant;
    };
    let admitted = constraints
        .iter()
        .map(|constraint| {
            constraint
                .iter()
                .map(|(column, values)| {
                    if values.is_empty() {
                        return lit(false);
                    }
                    cast(ident(column), DataType::Utf8)
                        .in_list(values.iter().map(|v| lit(v.clone())).collect(), false)
                })
                .fold(lit(true), Expr::and)
        })
        .reduce(Expr::or)
        .unwrap_or(lit(false));
    tenant.and(admitted)
}

/// Files of the tenant's partition, chosen from the Delta log's partition values.
/// What the page cache keeps a partition's decoded rows under: the table, its schema,
/// the key, and each data file with its deletion vector. A data file's bytes never
/// change, but a writer that deletes rows with deletion vectors (Spark, Databricks)
/// adds the same file again with a vector, and the file's rows are then fewer.
fn page_key(
    location: &str,
    schema: &str,
    key_columns: &[String],
    files: &[deltalake::Path],
    vectors: &HashMap<String, String>,
) -> String {
    let files = files.iter().map(|f| match vectors.get(f.as_ref()) {
        Some(vector) => format!("{f} deleted {vector}"),
        None => f.to_string(),
    });
    format!(
        "{location}\n{schema}\n{}\n{}",
        key_columns.join(","),
        files.collect::<Vec<_>>().join("\n")
    )
}

/// The deletion vectors of `files`, by path, as the log describes them.
fn deletion_vectors(
    table: &DeltaTable,
    files: &[deltalake::Path],
) -> Result<HashMap<String, String>> {
    let wanted: HashSet<&str> = files.iter().map(AsRef::as_ref).collect();
    Ok(table
        .snapshot()?
        .log_data()
        .iter()
        .filter_map(|file| {
            let vector = file.deletion_vector_descriptor()?;
            let path = file.object_store_path().to_string();
            wanted
                .contains(path.as_str())
                .then(|| (path, format!("{vector:?}")))
        })
        .collect())
}

pub(crate) async fn tenant_files(
    table: &DeltaTable,
    tenant_column: &str,
    tenant: &str,
) -> Result<Vec<deltalake::Path>> {
    Ok(table
        .get_files_by_partitions(&[(tenant_column, FilterOp::Eq, FilterValue::Scalar(tenant))])
        .await?)
}

/// Resolves a catalogue location: an absolute URL as is, anything else relative to `root`.
pub(crate) fn table_url(root: &Url, location: &str) -> Result<Url> {
    if let Ok(url) = Url::parse(location) {
        return Ok(url);
    }
    let relative = location.trim_matches('/');
    if relative
        .split('/')
        .any(|part| part == ".." || part.is_empty())
    {
        return Err(Error::Location(location.to_owned()));
    }
    root.join(&format!("{relative}/"))
        .map_err(|_| Error::Location(location.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data file added again with a deletion vector (rows deleted by Spark or
    /// Databricks) keeps its path: the page cache must not serve its rows as kept before
    /// the deletion, nor a version before the deletion from rows kept after it.
    #[test]
    fn a_deletion_vector_changes_the_page_key() {
        let files = [
            deltalake::Path::from("kommunekode=0101/part-0.parquet"),
            deltalake::Path::from("kommunekode=0101/part-1.parquet"),
        ];
        let vector = |cardinality: u32| {
            HashMap::from([(
                files[0].to_string(),
                format!("DeletionVectorDescriptor {{ cardinality: {cardinality} }}"),
            )])
        };
        let key = |vectors: &HashMap<String, String>| {
            page_key("file:///lake/t/", "schema", &["id".into()], &files, vectors)
        };
        assert_ne!(key(&HashMap::new()), key(&vector(1)));
        assert_ne!(key(&vector(1)), key(&vector(2)));
        assert_eq!(key(&vector(2)), key(&vector(2)));
    }

    /// A producer that panics ends its stream with an error, not as if it had finished:
    /// an export cut short must not read (or be audited) as a whole one.
    #[tokio::test]
    async fn a_producer_that_panics_ends_its_stream_with_an_error() {
        let (tx, mut rx) = mpsc::channel::<Result<u64>>(4);
        let feed = tx.clone();
        spawn_feeding(tx, async move {
            let _ = feed.send(Ok(1)).await;
            panic!("a bug in an encoder");
        });
        assert!(matches!(rx.recv().await, Some(Ok(1))));
        assert!(matches!(rx.recv().await, Some(Err(Error::Runtime(_)))));
        assert!(rx.recv().await.is_none());

        let (tx, mut rx) = mpsc::channel::<Result<u64>>(4);
        let feed = tx.clone();
        spawn_feeding(tx, async move {
            let _ = feed.send(Ok(2)).await;
            Ok(())
        });
        assert!(matches!(rx.recv().await, Some(Ok(2))));
        assert!(
            rx.recv().await.is_none(),
            "a producer that finishes just ends"
        );
    }
}
