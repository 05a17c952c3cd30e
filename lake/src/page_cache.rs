//! Decoded partitions for paged reads.
//!
//! A page of 100 rows with a filter and an order reads the whole municipality partition:
//! every request decompresses and decodes the same Parquet pages again, which is where a
//! small query spends its time (measured in BENCHMARKS.md). Paged reads (`/rows`, GraphQL
//! and OData pages, their counts) therefore read a municipality's partition from decoded
//! Arrow batches kept in memory, and only filter, sort and page per request.
//!
//! What is kept is exactly what the table provider gives for a set of data files: the
//! key is the table location, the files (Delta data files are immutable and uniquely
//! named, so a new version with other files is another key) and the table schema. The
//! scope's row predicate and the caller's filters are applied to the cached rows exactly
//! as to the files, so a cache hit answers what a read of the files answers.
//!
//! Memory is bounded: the cache holds at most `capacity` bytes of Arrow arrays, evicting
//! the least recently used partition; a partition larger than a quarter of it is never
//! kept (exports, unpaged reads and large partitions stream from the files as before).
//! One load per partition at a time: concurrent requests for a cold partition wait for
//! the one that decodes it instead of decoding it each.
//!
//! The rows are kept sorted by the dataset's key columns, and the table says so: a page
//! in key order (the order of every page the caller gives no order for, and the
//! tie-break of every other) is then a filter that stops at the page's last row, not a
//! sort of the partition.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::datafusion::catalog::MemTable;
use deltalake::datafusion::datasource::TableProvider;
use deltalake::datafusion::prelude::{SessionContext, ident};
use futures::StreamExt;
use tokio::sync::OnceCell;

use crate::Result;

/// The default bound: enough for many partitions of a few hundred thousand rows.
pub const DEFAULT_CAPACITY_BYTES: usize = 256 * 1024 * 1024;
/// Partitions remembered as too large to keep, at most.
const MAX_REMEMBERED: usize = 4096;

/// A partition decoded into memory.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) table: Arc<MemTable>,
    /// The rows of `table`, in key order, no batch empty.
    pub(crate) batches: Vec<RecordBatch>,
    pub(crate) schema: SchemaRef,
    bytes: usize,
}

#[derive(Debug, Default)]
struct Entry {
    /// `None` once loaded: the partition is too large to keep.
    cell: OnceCell<Option<Arc<Decoded>>>,
    used_at: AtomicU64,
}

/// The cache of decoded partitions (see the module documentation).
#[derive(Debug)]
pub(crate) struct PageCache {
    capacity: usize,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    clock: AtomicU64,
}

impl PageCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
            clock: AtomicU64::new(0),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Bytes of Arrow arrays held now.
    pub(crate) fn held_bytes(&self) -> usize {
        self.entries
            .lock()
            .map(|entries| entries.values().map(|e| held(e)).sum())
            .unwrap_or(0)
    }

    /// The decoded partition of `provider` under `key`, decoded now (in a session made by
    /// `session`) if it is not held; `None` when it is too large to keep (the caller
    /// reads the files).
    pub(crate) async fn get(
        &self,
        key: String,
        provider: Arc<dyn TableProvider>,
        session: impl FnOnce() -> Result<SessionContext>,
        keys: &[String],
    ) -> Result<Option<Arc<Decoded>>> {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        let entry = {
            let mut entries = self
                .entries
                .lock()
                .map_err(|_| crate::Error::Runtime("page cache lock poisoned".into()))?;
            Arc::clone(entries.entry(key.clone()).or_default())
        };
        entry.used_at.store(now, Ordering::Relaxed);
        let limit = self.capacity / 4;
        let loaded = entry
            .cell
            .get_or_try_init(|| async move { decode(provider, &session()?, limit, keys).await })
            .await?
            .clone();
        if loaded.is_some() {
            self.evict(&key);
        }
        Ok(loaded)
    }

    /// Drops the least recently used partitions until the cache fits its capacity
    /// (`keep` is the one just used), and forgets the oldest too-large marks.
    fn evict(&self, keep: &str) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let mut total: usize = entries.values().map(|e| held(e)).sum();
        while total > self.capacity {
            let oldest = entries
                .iter()
                .filter(|(key, e)| key.as_str() != keep && held(e) > 0)
                .min_by_key(|(_, e)| e.used_at.load(Ordering::Relaxed))
                .map(|(key, e)| (key.clone(), held(e)));
            let Some((key, bytes)) = oldest else { break };
            entries.remove(&key);
            total -= bytes;
        }
        if entries.len() > MAX_REMEMBERED {
            let mut marks: Vec<(String, u64)> = entries
                .iter()
                .filter(|(_, e)| held(e) == 0)
                .map(|(key, e)| (key.clone(), e.used_at.load(Ordering::Relaxed)))
                .collect();
            marks.sort_by_key(|(_, used)| *used);
            let excess = entries.len() - MAX_REMEMBERED;
            for (key, _) in marks.into_iter().take(excess) {
                entries.remove(&key);
            }
        }
    }
}

fn held(entry: &Entry) -> usize {
    entry
        .cell
        .get()
        .and_then(|d| d.as_ref().map(|d| d.bytes))
        .unwrap_or(0)
}

/// Reads every row of `provider` into memory, then sorts them by `keys` (ascending,
/// nulls last, as [`crate::query::RowQuery::resolve`] orders by them); `None` as soon as
/// the rows read hold more than `limit` bytes, before anything is sorted, so a partition
/// too large to keep costs its first page no sort of the whole partition.
async fn decode(
    provider: Arc<dyn TableProvider>,
    ctx: &SessionContext,
    limit: usize,
    keys: &[String],
) -> Result<Option<Arc<Decoded>>> {
    let mut stream = ctx.read_table(provider)?.execute_stream().await?;
    let schema = stream.schema();
    let (mut batches, mut bytes) = (Vec::new(), 0usize);
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        bytes += batch.get_array_memory_size();
        if bytes > limit {
            return Ok(None);
        }
        if batch.num_rows() > 0 {
            batches.push(batch);
        }
    }
    let order: Vec<_> = keys.iter().map(|k| ident(k).sort(true, false)).collect();
    let mut table = MemTable::try_new(Arc::clone(&schema), vec![batches.clone()])?;
    if !order.is_empty() {
        // One partition: the rows in key order, as the declared sort order says.
        batches = ctx
            .read_table(Arc::new(table))?
            .sort(order.clone())?
            .collect()
            .await?;
        batches.retain(|b| b.num_rows() > 0);
        bytes = batches.iter().map(|b| b.get_array_memory_size()).sum();
        table = MemTable::try_new(Arc::clone(&schema), vec![batches.clone()])?
            .with_sort_order(vec![order]);
    }
    Ok(Some(Arc::new(Decoded {
        table: Arc::new(table),
        batches,
        schema,
        bytes,
    })))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltalake::arrow::array::{Int64Array, RecordBatch};
    use deltalake::arrow::datatypes::{DataType, Field, Schema};
    use deltalake::datafusion::catalog::MemTable;
    use deltalake::datafusion::prelude::SessionContext;

    use super::PageCache;

    /// A table of `rows` ids, in descending order (the cache keeps them ascending).
    fn table(rows: i64) -> Arc<MemTable> {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let ids = Int64Array::from_iter_values((0..rows).rev());
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(ids)]).expect("batch");
        Arc::new(MemTable::try_new(schema, vec![vec![batch]]).expect("table"))
    }

    #[tokio::test]
    async fn keeps_partitions_sorted_within_its_bound_and_never_one_too_large() {
        let ctx = SessionContext::new();
        let keys = ["id".to_owned()];
        // About 8 KB of ids per 1,000 rows: room for five such partitions, none over 12 KB.
        let cache = PageCache::new(4 * 12_000);
        let first = cache
            .get("a".into(), table(1_000), || Ok(ctx.clone()), &keys)
            .await
            .expect("a");
        let first = first.expect("a small partition is kept");
        let batches = ctx
            .read_table(Arc::clone(&first.table) as _)
            .expect("read")
            .collect()
            .await
            .expect("rows");
        let ids: Vec<i64> = batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .expect("ids")
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(ids, (0..1_000).collect::<Vec<_>>(), "kept in key order");

        // More than a quarter of the bound: read from the files, never kept.
        let large = cache
            .get("large".into(), table(100_000), || Ok(ctx.clone()), &keys)
            .await
            .expect("large");
        assert!(large.is_none());
        assert_eq!(cache.held_bytes(), first.bytes);

        // Filling past the bound evicts the least recently used partition.
        for key in ["b", "c", "d", "e", "f", "g", "h"] {
            let kept = cache
                .get(key.into(), table(1_000), || Ok(ctx.clone()), &keys)
                .await
                .expect("kept");
            assert!(kept.is_some());
            assert!(cache.held_bytes() <= 4 * 12_000, "{}", cache.held_bytes());
        }
        let held = cache.entries.lock().expect("entries");
        assert!(!held.contains_key("a"), "the oldest was evicted");
        assert!(held.contains_key("h"), "the newest is kept");
    }

    /// A partition too large to keep is given up while it is read, before anything is
    /// sorted: its first page needs no more memory than a page read from the files.
    #[tokio::test]
    async fn a_partition_too_large_to_keep_is_never_sorted_whole() {
        use deltalake::datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
        use deltalake::datafusion::execution::runtime_env::RuntimeEnvBuilder;
        use deltalake::datafusion::prelude::SessionConfig;
        // 256 KiB for the whole query and no spilling: a sort of 800 KB of ids fails.
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(256 * 1024, 1.0)
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()
            .expect("runtime");
        let ctx = SessionContext::new_with_config_rt(SessionConfig::new(), runtime);
        let cache = PageCache::new(4 * 12_000);
        let large = cache
            .get(
                "large".into(),
                table(100_000),
                || Ok(ctx.clone()),
                &["id".to_owned()],
            )
            .await
            .expect("given up, not failed");
        assert!(large.is_none());
        assert_eq!(cache.held_bytes(), 0);
    }

    #[tokio::test]
    async fn a_capacity_of_zero_is_off() {
        assert!(!PageCache::new(0).enabled());
        assert!(PageCache::new(1).enabled());
    }
}
