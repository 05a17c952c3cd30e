//! The scope's data files one by one, for protocols that hand out files (Delta
//! Sharing): which files of the scope's municipality partition make up a version, and
//! one such file's rows, restricted and projected by the scope, as Parquet: spliced
//! from the file's own column chunks for a scope of the whole partition (described, and
//! read range by range on demand), encoded otherwise. Nothing here reads a file outside
//! the scope's partition.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use dap_schema::AccessScope;

use deltalake::datafusion::physical_plan::execute_stream;

use crate::export::{Export, Format, encode};
use crate::lake::{Source, plain_columns, row_predicate, tenant_files};
use crate::resolve::Reader;
pub use crate::spliced::SplicedFile;
use crate::spliced::splice_files;
pub use crate::stored::StoredFile;
use crate::stored::{Growing, Storing};
use crate::{Error, Lake, Result, Scan};

/// The data files of the scope's partition at one table version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionFiles {
    /// The caller's version (what the protocol reports).
    pub version: u64,
    /// The table version whose files these are. It can be later than `version`: commits
    /// that changed none of the caller's rows (another municipality's delivery, or
    /// maintenance compacting the caller's partition into new files) leave the caller's
    /// version where it was. A file is made again from this version, not from `version`.
    pub read: u64,
    /// When the version was committed (milliseconds since the epoch), when known.
    pub timestamp: Option<i64>,
    /// Paths relative to the table root, in the log's order.
    pub files: Vec<String>,
}

/// One data file's rows as the scope admits them, as Parquet.
#[derive(Debug, Clone)]
pub struct ScopedFile {
    pub body: FileBody,
    pub rows: u64,
}

/// The bytes of a [`ScopedFile`]. `Debug` tells sizes only: the bytes are a caller's
/// rows.
#[derive(Clone)]
pub enum FileBody {
    /// Encoded, and held whole in memory (a small file).
    Made(Bytes),
    /// Encoded, and kept whole on local disk (a file too large to hold in memory).
    Stored(Arc<StoredFile>),
    /// Spliced from the data file's column chunks: described, read on demand
    /// ([`Lake::read_file`]).
    Spliced(Arc<SplicedFile>),
}

impl std::fmt::Debug for FileBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            FileBody::Made(_) => "made, in memory",
            FileBody::Stored(_) => "made, on disk",
            FileBody::Spliced(_) => "spliced",
        };
        write!(f, "FileBody({kind}, {} bytes)", self.len())
    }
}

impl FileBody {
    /// The file's size in bytes.
    pub fn len(&self) -> u64 {
        match self {
            FileBody::Made(bytes) => bytes.len() as u64,
            FileBody::Stored(file) => file.len(),
            FileBody::Spliced(file) => file.len(),
        }
    }

    /// Whether the file has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes it keeps in memory.
    pub fn held(&self) -> usize {
        match self {
            FileBody::Made(bytes) => bytes.len(),
            FileBody::Stored(_) => 0,
            FileBody::Spliced(file) => file.held(),
        }
    }

    /// The bytes it keeps on local disk.
    pub fn stored(&self) -> u64 {
        match self {
            FileBody::Stored(file) => file.len(),
            FileBody::Made(_) | FileBody::Spliced(_) => 0,
        }
    }
}

/// The bytes of a range of a [`FileBody`], in order, as they are read.
pub type FileRange = futures::stream::BoxStream<'static, Result<Bytes>>;

impl Lake {
    /// The files of the scope's municipality partition at `version` (or the version
    /// current at `as_of`; the latest when both are absent).
    pub async fn partition_files(
        self: &Arc<Self>,
        scope: &AccessScope,
        version: Option<u64>,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<PartitionFiles> {
        let lake = Arc::clone(self);
        let reader = Reader::of(scope);
        let dataset = scope.dataset().clone();
        let tenant = scope.municipality().as_str().to_owned();
        self.runtime()
            .run(async move {
                // The caller's version (other municipalities' commits do not count) and
                // the same commit time `/versions` reports.
                let target = lake.target(&reader, version, as_of).await?;
                let (table, version) = (target.table, target.version);
                let read = table.version().unwrap_or_default();
                let timestamp = lake
                    .commit_time(&table, &dataset, version)
                    .await?
                    .map(|t| t.timestamp_millis());
                let files = tenant_files(&table, &dataset.tenant_column, &tenant).await?;
                lake.stats.scanned(
                    dataset.id.as_str(),
                    files.len(),
                    table.snapshot()?.log_data().num_files(),
                );
                Ok(PartitionFiles {
                    version,
                    read,
                    timestamp,
                    files: files.iter().map(ToString::to_string).collect(),
                })
            })
            .await
    }

    /// The rows of one data file of the scope's partition, as listed by
    /// [`Self::partition_files`] (`version` and `read` are its), that the scope admits,
    /// with the scope's visible columns, as Parquet. Deterministic: the same scope,
    /// versions and file give the same bytes (one partition, so one row order; the
    /// encoder's settings are fixed). A scope of the whole partition gets the file's own
    /// column chunks (see `spliced`). A file outside the partition is refused.
    pub async fn scoped_file(
        self: &Arc<Self>,
        scope: &AccessScope,
        version: u64,
        read: u64,
        file: &str,
    ) -> Result<ScopedFile> {
        let lake = Arc::clone(self);
        let reader = Reader::of(scope);
        let dataset = scope.dataset().clone();
        let tenant = scope.municipality().as_str().to_owned();
        let rows = row_predicate(scope);
        let columns = scope.visible_columns().to_vec();
        let file = file.to_owned();
        let export = self
            .runtime()
            .run(async move {
                // The files listed are those of table version `read`; the caller's
                // version may have moved on since, and an older version may not hold
                // them (maintenance compacted the partition after it).
                let table = lake.table_at(&dataset, read).await?;
                let files = tenant_files(&table, &dataset.tenant_column, &tenant).await?;
                let Some(path) = files.into_iter().find(|f| f.as_ref() == file) else {
                    return Err(Error::InvalidParameter {
                        parameter: "file",
                        reason: "not a data file of the caller's partition at this version".into(),
                    });
                };
                let provider = table.table_provider().with_file_paths([file]).await?;
                let ctx = Lake::session_with(1);
                table.update_datafusion_session(&ctx.state())?;
                let frame = ctx.read_table(provider)?.filter(rows)?;
                let projection = plain_columns(&frame, &columns);
                let frame = frame.select(projection)?;
                let source = Source::of(&dataset, &table);
                let task = Arc::new(frame.task_ctx());
                let plan = frame.create_physical_plan().await?;
                // A scope of the whole partition gets the file's own column chunks.
                let schema = plan.schema();
                let paths = [path];
                let spliced = splice_files(version, &table, &source, &reader, &paths, &schema);
                if let Some(file) = spliced.await? {
                    return Ok(Making::Spliced(Arc::new(file)));
                }
                let scan = Scan::start(version, source, execute_stream(plan, task)?);
                Ok(Making::Encoding(encode(scan, Format::Parquet)))
            })
            .await?;
        match export {
            Making::Encoding(export) => collect(export, &self.storing).await,
            Making::Spliced(file) => Ok(ScopedFile {
                rows: file.rows(),
                body: FileBody::Spliced(file),
            }),
        }
    }

    /// The bytes of `range` of `body` (clamped to its size), in order. A spliced file's
    /// are read from the table's files on the lake runtime, a few megabytes at a time.
    pub async fn read_file(
        self: &Arc<Self>,
        body: &FileBody,
        range: Range<u64>,
    ) -> Result<FileRange> {
        use futures::StreamExt as _;
        let end = range.end.min(body.len());
        let start = range.start.min(end);
        match body {
            FileBody::Made(bytes) => {
                let (start, end) = (start as usize, end as usize);
                let part = bytes.slice(start..end);
                Ok(futures::stream::once(async move { Ok(part) }).boxed())
            }
            FileBody::Stored(file) => Ok(file.read(start..end)),
            FileBody::Spliced(file) => {
                let file = Arc::clone(file);
                let rx = self
                    .runtime()
                    .run(async move { Ok(file.read(start..end)) })
                    .await?;
                Ok(futures::stream::unfold(rx, |mut rx| async move {
                    rx.recv().await.map(|piece| (piece, rx))
                })
                .boxed())
            }
        }
    }

    /// The scope's changed rows of one commit `version`, with the visible columns and
    /// `_change_type` (a Delta Sharing `cdf` file: the commit's version and timestamp
    /// travel beside it), as Parquet, in a deterministic order.
    pub async fn scoped_changes(
        self: &Arc<Self>,
        scope: &AccessScope,
        version: u64,
    ) -> Result<ScopedFile> {
        let scan = self
            .changes_with(scope, version, Some(version), &[], &["_change_type"])
            .await?;
        let export = self
            .runtime()
            .run(async move { Ok(encode(scan, Format::Parquet)) })
            .await?;
        collect(export, &self.storing).await
    }
}

/// A scoped file on its way: encoding, or spliced (described already).
enum Making {
    Encoding(Export),
    Spliced(Arc<SplicedFile>),
}

/// An export's whole file: in memory while it is small, on local disk beyond
/// `storing`'s bound.
async fn collect(mut export: Export, storing: &Storing) -> Result<ScopedFile> {
    let mut file = Growing::new();
    while let Some(chunk) = export.chunks.recv().await {
        file = file.append(chunk?.bytes, storing).await?;
    }
    let rows = export.rows.load(std::sync::atomic::Ordering::Relaxed);
    let body = match file {
        Growing::Memory(bytes) => FileBody::Made(Bytes::from(bytes)),
        Growing::Disk(file) => FileBody::Stored(Arc::new(file)),
    };
    Ok(ScopedFile { body, rows })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use std::collections::BTreeMap;

    use super::*;
    use crate::testing::{commit, population, read_all, scope};
    use crate::{Lake, LakeRuntime};

    fn lake_storing(root: &Path, dir: &Path, memory: usize) -> Arc<Lake> {
        let runtime = Arc::new(LakeRuntime::new(1).expect("runtime"));
        let lake = Lake::local(root, runtime).expect("lake");
        Arc::new(lake.with_made_files(dir.to_owned(), memory))
    }

    /// A made file (a constrained scope's data file, a commit's changes) over the memory
    /// bound is kept on disk, in a file with no name (nothing left behind however dap
    /// stops), and holds nothing in memory; every range of it reads as the same file
    /// made in memory. A file of exactly the bound stays in memory.
    #[tokio::test]
    async fn a_made_file_over_the_memory_bound_is_kept_on_disk_and_reads_the_same() {
        let root = tempfile::tempdir().expect("tempdir");
        let spill = tempfile::tempdir().expect("spill dir");
        for sexes in [&["K", "M", "K"][..], &["M", "K"], &["K"]] {
            let rows: Vec<(&str, &str)> = sexes.iter().map(|s| ("0101", *s)).collect();
            commit(root.path(), "t", &rows).await;
        }
        let in_memory = lake_storing(root.path(), spill.path(), usize::MAX);
        let on_disk = lake_storing(root.path(), spill.path(), 64);
        let def = population("t");
        let women = BTreeMap::from([("koen".to_owned(), vec!["K".to_owned()])]);
        let scope = scope(&def, "0101", Some(vec![women]));
        let listed = on_disk
            .partition_files(&scope, None, None)
            .await
            .expect("files");
        assert_eq!(listed.files.len(), 3);
        let mut made = Vec::new();
        for path in &listed.files {
            let file = |lake: Arc<Lake>| {
                let (scope, path) = (scope.clone(), path.clone());
                async move {
                    lake.scoped_file(&scope, listed.version, listed.read, &path)
                        .await
                        .expect("file")
                }
            };
            made.push((file(in_memory.clone()).await, file(on_disk.clone()).await));
        }
        for version in 0..3 {
            let changes = |lake: Arc<Lake>| {
                let scope = scope.clone();
                async move { lake.scoped_changes(&scope, version).await.expect("changes") }
            };
            made.push((
                changes(in_memory.clone()).await,
                changes(on_disk.clone()).await,
            ));
        }
        for (memory, disk) in &made {
            let FileBody::Made(whole) = &memory.body else {
                panic!("not made in memory: {} bytes", memory.body.len());
            };
            let stored = matches!(disk.body, FileBody::Stored(_));
            assert!(stored, "not kept on disk: {} bytes", disk.body.len());
            assert_eq!(disk.rows, memory.rows);
            assert!(disk.rows > 0);
            assert_eq!(disk.body.len(), whole.len() as u64);
            assert_eq!((disk.body.held(), disk.body.stored()), (0, disk.body.len()));
            assert_eq!((memory.body.held(), memory.body.stored()), (whole.len(), 0));
            let len = whole.len() as u64;
            let mut ranges = vec![0..len, 0..4, len - 8..len, len - 1..len + 10, 5..5];
            ranges.extend(
                (1..len)
                    .step_by(97)
                    .map(|a| a..a + 1 + (a * 31) % (len - a)),
            );
            for range in ranges {
                let expected = whole.slice(range.start as usize..range.end.min(len) as usize);
                assert_eq!(
                    read_all(&on_disk, &disk.body, range.clone()).await,
                    expected
                );
            }
        }
        let named: Vec<_> = std::fs::read_dir(spill.path()).expect("dir").collect();
        assert!(named.is_empty(), "stored files have no name: {named:?}");

        // The bound itself: a file of exactly that size stays in memory.
        let (memory, _) = &made[0];
        let exact = lake_storing(root.path(), spill.path(), memory.body.len() as usize);
        let again = exact
            .scoped_file(&scope, listed.version, listed.read, &listed.files[0])
            .await
            .expect("file");
        let in_memory = matches!(again.body, FileBody::Made(_));
        assert!(in_memory, "not kept in memory: {} bytes", again.body.len());
        // `Debug` tells the size, never the bytes (a caller's rows).
        let told = format!("{:?} {:?}", again.body, made[0].1.body);
        assert!(!told.contains("PAR1") && told.contains("bytes"), "{told}");
    }
}
