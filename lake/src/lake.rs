//! Open Delta tables, kept in memory and refreshed when they get a new version, and
//! the scoped scan: the only way to read rows.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use chrono::{DateTime, TimeZone, Utc};
use dap_schema::{AccessScope, DatasetDef};
use deltalake::arrow::datatypes::DataType;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::execution::SendableRecordBatchStream;
use deltalake::datafusion::execution::runtime_env::RuntimeEnvBuilder;
use deltalake::datafusion::prelude::{
    DataFrame, Expr, SessionConfig, SessionContext, cast, ident, lit,
};
use deltalake::{DeltaTable, FilterOp, FilterValue};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use url::Url;

use crate::query::ResolvedQuery;
use crate::{Error, LakeRuntime, Result};

/// Memory one query may use before it spills (sorts) or fails (other operators).
const QUERY_MEMORY_BYTES: usize = 256 * 1024 * 1024;
/// Batches buffered between the scan and its consumer; bounds memory per request.
const SCAN_BUFFER_BATCHES: usize = 2;

/// The lake: a root location, the open tables and the runtime that reads them.
#[derive(Debug)]
pub struct Lake {
    root: Url,
    runtime: Arc<LakeRuntime>,
    tables: RwLock<HashMap<String, Arc<DeltaTable>>>,
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
    /// Drives `stream` on the current (lake) runtime into a bounded channel.
    pub(crate) fn start(version: u64, mut stream: SendableRecordBatchStream) -> Self {
        let schema = stream.schema();
        let (tx, rx) = mpsc::channel(SCAN_BUFFER_BATCHES);
        tokio::spawn(async move {
            while let Some(batch) = stream.next().await {
                let stop = batch.is_err();
                // A closed channel means the client went away: stop reading.
                if tx.send(batch.map_err(Error::from)).await.is_err() || stop {
                    break;
                }
            }
        });
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

impl Lake {
    /// A lake whose relative table locations resolve against `root` (a directory URL).
    pub fn new(root: Url, runtime: Arc<LakeRuntime>) -> Self {
        Self {
            root,
            runtime,
            tables: RwLock::new(HashMap::new()),
        }
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

    /// The table as currently cached, opening it on first use.
    pub(crate) async fn current(self: &Arc<Self>, dataset: &DatasetDef) -> Result<Arc<DeltaTable>> {
        let key = dataset.id.to_string();
        if let Some(table) = self.cached(&key) {
            return Ok(table);
        }
        let url = self.location(dataset)?;
        let table = Arc::new(deltalake::open_table(url).await?);
        if let Ok(mut tables) = self.tables.write() {
            tables.entry(key).or_insert_with(|| Arc::clone(&table));
        }
        Ok(table)
    }

    fn cached(&self, key: &str) -> Option<Arc<DeltaTable>> {
        self.tables.read().ok()?.get(key).cloned()
    }

    /// Moves every open table to its latest version if it has a newer one. Only the new
    /// commits are read. Returns how many tables moved.
    pub async fn refresh(self: &Arc<Self>) -> Result<usize> {
        let lake = Arc::clone(self);
        self.runtime
            .run(async move {
                let open: Vec<(String, Arc<DeltaTable>)> = match lake.tables.read() {
                    Ok(tables) => tables.iter().map(|(k, v)| (k.clone(), Arc::clone(v))).collect(),
                    Err(_) => Vec::new(),
                };
                let mut moved = 0;
                for (key, table) in open {
                    let latest = table.get_latest_version().await?;
                    if Some(latest) == table.version() {
                        continue;
                    }
                    let mut fresh = (*table).clone();
                    fresh.update_incremental(None).await?;
                    tracing::info!(dataset = %key, version = ?fresh.version(), "table has a new version");
                    if let Ok(mut tables) = lake.tables.write() {
                        tables.insert(key, Arc::new(fresh));
                        moved += 1;
                    }
                }
                Ok(moved)
            })
            .await
    }

    /// The current version of the scope's table and when it was committed.
    pub async fn table_info(self: &Arc<Self>, scope: &AccessScope) -> Result<TableInfo> {
        let lake = Arc::clone(self);
        let dataset = scope.dataset().clone();
        self.runtime
            .run(async move {
                let table = lake.current(&dataset).await?;
                let version = table.version().unwrap_or_default();
                let millis = table
                    .snapshot()
                    .ok()
                    .and_then(|s| s.version_timestamp(version));
                let millis = match millis {
                    Some(ms) => Some(ms),
                    None => {
                        let mut history = table.history(Some(1));
                        history
                            .next()
                            .await
                            .and_then(|c| c.ok())
                            .and_then(|c| c.timestamp)
                    }
                };
                Ok(TableInfo {
                    version,
                    timestamp: millis.and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
                })
            })
            .await
    }

    /// Reads the rows `query` asks for, within `scope`.
    ///
    /// Tenant isolation happens twice: the table provider only gets the files of the
    /// scope's municipality partition, so other municipalities' files are not in the
    /// plan at all; and the tenant predicate is applied to the rows before the caller's
    /// filters.
    pub async fn scan(
        self: &Arc<Self>,
        scope: &AccessScope,
        query: &ResolvedQuery,
    ) -> Result<Scan> {
        self.check(scope, query)?;
        let dataset = scope.dataset().clone();
        let lake = Arc::clone(self);
        let tenant = scope.municipality().as_str().to_owned();
        let rows = row_predicate(scope);
        let query = query.clone();
        self.runtime
            .run(async move { lake.start_scan(&dataset, tenant, rows, query).await })
            .await
    }

    async fn start_scan(
        self: Arc<Self>,
        dataset: &DatasetDef,
        tenant: String,
        rows: Expr,
        query: ResolvedQuery,
    ) -> Result<Scan> {
        let (version, frame) = self.frame(dataset, tenant, rows, &query).await?;
        Ok(Scan::start(version, frame.execute_stream().await?))
    }

    /// Counts the rows `query` would return (without paging), within `scope`.
    pub async fn count(
        self: &Arc<Self>,
        scope: &AccessScope,
        query: &ResolvedQuery,
    ) -> Result<u64> {
        self.check(scope, query)?;
        let lake = Arc::clone(self);
        let dataset = scope.dataset().clone();
        let tenant = scope.municipality().as_str().to_owned();
        let rows = row_predicate(scope);
        let mut query = query.clone();
        query.order.clear();
        self.runtime
            .run(async move {
                let (_, frame) = lake.frame(&dataset, tenant, rows, &query).await?;
                Ok(u64::try_from(frame.count().await?).unwrap_or(u64::MAX))
            })
            .await
    }

    /// The logical plan of a scoped read: tenant partition files only, the scope's row
    /// predicate, then the caller's filters, order, page and projection.
    pub(crate) async fn frame(
        self: &Arc<Self>,
        dataset: &DatasetDef,
        tenant: String,
        rows: Expr,
        query: &ResolvedQuery,
    ) -> Result<(u64, DataFrame)> {
        let table = self.at_version(dataset, query.version, query.as_of).await?;
        let version = table.version().unwrap_or_default();
        let tenant_column = dataset.tenant_column.as_str();
        let files = tenant_files(&table, tenant_column, &tenant).await?;
        let provider = table
            .table_provider()
            .with_file_paths(files.iter().map(ToString::to_string))
            .await?;
        let ctx = Self::session();
        table.update_datafusion_session(&ctx.state())?;
        let mut frame = ctx.read_table(provider)?.filter(rows)?;
        for filter in &query.filters {
            frame = frame.filter(filter.to_expr())?;
        }
        // After the scope's predicate: an OR inside the tree cannot widen the scope.
        if let Some(tree) = &query.tree {
            frame = frame.filter(tree.to_expr())?;
        }
        let order = query
            .order
            .iter()
            .map(|o| ident(&o.column).sort(!o.descending, o.descending))
            .collect::<Vec<_>>();
        if !order.is_empty() {
            frame = frame.sort(order)?;
        }
        let skip = usize::try_from(query.offset).unwrap_or(usize::MAX);
        let fetch = query
            .limit
            .map(|l| usize::try_from(l).unwrap_or(usize::MAX));
        if skip > 0 || fetch.is_some() {
            frame = frame.limit(skip, fetch)?;
        }
        let columns = plain_columns(&frame, &query.select);
        frame = frame.select(columns)?;
        Ok((version, frame))
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

    pub(crate) async fn at_version(
        self: &Arc<Self>,
        dataset: &DatasetDef,
        version: Option<u64>,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<DeltaTable> {
        let current = self.current(dataset).await?;
        let latest = current.version().unwrap_or_default();
        if let Some(instant) = as_of {
            let too_early = || Error::InvalidParameter {
                parameter: "as_of",
                reason: format!(
                    "no table version was committed at or before {}; ask for a later instant (see /versions)",
                    instant.to_rfc3339()
                ),
            };
            let mut table = (*current).clone();
            table
                .load_with_datetime(instant)
                .await
                .map_err(|_| too_early())?;
            // delta-rs answers an instant before the first commit with version 0.
            let version = table.version().unwrap_or_default();
            let committed = table
                .snapshot()
                .ok()
                .and_then(|s| s.version_timestamp(version));
            if committed.is_some_and(|ms| ms > instant.timestamp_millis()) {
                return Err(too_early());
            }
            return Ok(table);
        }
        match version {
            None => Ok((*current).clone()),
            Some(v) if v == latest => Ok((*current).clone()),
            Some(v) if v > latest => Err(version_error(v, latest)),
            Some(v) => {
                let mut table = (*current).clone();
                table
                    .load_version(v)
                    .await
                    .map_err(|_| version_error(v, latest))?;
                Ok(table)
            }
        }
    }
}

/// Projection of `columns` with plain Arrow types: dictionary-encoded partition values
/// and view types are cast to their plain forms, which every client reads (pandas, for
/// one, cannot turn a stream of per-file dictionaries into a categorical).
pub(crate) fn plain_columns(frame: &DataFrame, columns: &[String]) -> Vec<Expr> {
    let schema = frame.schema();
    columns
        .iter()
        .map(|c| {
            let target = schema
                .field_with_unqualified_name(c)
                .ok()
                .and_then(|f| plain_type(f.data_type()));
            match target {
                Some(t) => cast(ident(c), t).alias(c),
                None => ident(c),
            }
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
pub(crate) async fn tenant_files(
    table: &DeltaTable,
    tenant_column: &str,
    tenant: &str,
) -> Result<Vec<deltalake::Path>> {
    Ok(table
        .get_files_by_partitions(&[(tenant_column, FilterOp::Eq, FilterValue::Scalar(tenant))])
        .await?)
}

pub(crate) fn version_error(requested: u64, latest: u64) -> Error {
    Error::VersionNotAvailable {
        requested: i64::try_from(requested).unwrap_or(i64::MAX),
        earliest: 0,
        latest: i64::try_from(latest).unwrap_or(i64::MAX),
    }
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
