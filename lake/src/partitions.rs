//! The caller's partition of a table version, worked out once per version.
//!
//! Every read starts from the files of the caller's municipality partition. Choosing them
//! walks the Delta log's file list with a partition predicate (delta-kernel parses each
//! file's statistics on the way), and the scan over them and the page cache's key are
//! built from that list: about a tenth of a page's CPU in a profile, for an answer that
//! is the same for every read of that partition at that version. A table version's files
//! never change, so the answer is kept per table, version, partition and key columns.
//!
//! A table dropped and created again at the same location starts its versions over:
//! each answer remembers the open table it was worked out from (the lake opens a new one
//! for a table it forgot or cannot read, and moves to a new version by replacing it), so
//! it is only used for that table, and dropped once that table is no longer open. Only
//! the open table's own version is kept (see `Lake::partition`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use deltalake::DeltaTable;
use deltalake::datafusion::catalog::TableProvider;

/// Answers kept at most; all are dropped when there are more (they are cheap to work
/// out again, and a lake serves far fewer partitions at their current versions).
const MAX_KEPT: usize = 4096;

/// The files of one partition at one table version, and what is built from them.
#[derive(Debug)]
pub(crate) struct Partition {
    pub(crate) files: Vec<deltalake::Path>,
    /// Data files of the whole table version (for the scan statistics).
    pub(crate) table_files: usize,
    /// A scan of `files` (see `plain_scan`).
    pub(crate) provider: Arc<dyn TableProvider>,
    /// The page cache's key for the decoded rows of `files`.
    pub(crate) page_key: String,
}

#[derive(Debug)]
struct Entry {
    table: Weak<DeltaTable>,
    partition: Arc<Partition>,
}

/// Partitions by (table location, version, partition, key columns).
#[derive(Debug, Default)]
pub(crate) struct Partitions {
    entries: Mutex<HashMap<String, Entry>>,
}

impl Partitions {
    /// The key of `tenant`'s partition of `location` at `version`, read with `keys`.
    pub(crate) fn key(location: &str, version: u64, tenant: &str, keys: &[String]) -> String {
        format!("{location}\n{version}\n{tenant}\n{}", keys.join(","))
    }

    /// The partition under `key` when it was worked out from the open table `table`.
    pub(crate) fn get(&self, key: &str, table: &Arc<DeltaTable>) -> Option<Arc<Partition>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(key)?;
        Weak::ptr_eq(&entry.table, &Arc::downgrade(table)).then(|| Arc::clone(&entry.partition))
    }

    /// Keeps `partition`, worked out from the open table `table`.
    pub(crate) fn put(&self, key: String, table: &Arc<DeltaTable>, partition: Arc<Partition>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Answers for tables no longer open (moved to a newer version, dropped) serve no
        // read again: dropped here, with the scans that hold their versions' file lists.
        entries.retain(|_, e| e.table.strong_count() > 0);
        if entries.len() >= MAX_KEPT {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                table: Arc::downgrade(table),
                partition,
            },
        );
    }

    /// Forgets the partitions of the table at `location`.
    pub(crate) fn forget(&self, location: &str) {
        let prefix = format!("{location}\n");
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|key, _| !key.starts_with(&prefix));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltalake::arrow::datatypes::Schema;
    use deltalake::datafusion::catalog::MemTable;

    use super::{Partition, Partitions};

    fn partition(page_key: &str) -> Arc<Partition> {
        let schema = Arc::new(Schema::empty());
        Arc::new(Partition {
            files: Vec::new(),
            table_files: 0,
            provider: Arc::new(MemTable::try_new(schema, vec![vec![]]).expect("table")),
            page_key: page_key.into(),
        })
    }

    fn table(dir: &std::path::Path) -> Arc<deltalake::DeltaTable> {
        let url = url::Url::from_directory_path(dir).expect("url");
        Arc::new(
            deltalake::DeltaTableBuilder::from_url(url)
                .expect("builder")
                .build()
                .expect("table"),
        )
    }

    #[test]
    fn an_answer_serves_only_the_open_table_it_came_from_until_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let partitions = Partitions::default();
        let (first, again) = (table(dir.path()), table(dir.path()));
        let key = Partitions::key("file:///lake/t/", 3, "0101", &["id".into()]);
        partitions.put(key.clone(), &first, partition("a"));
        let kept = partitions.get(&key, &first).expect("kept");
        assert_eq!(kept.page_key, "a");
        // The same location and version of a table opened again (e.g. created anew).
        assert!(partitions.get(&key, &again).is_none());
        let other = Partitions::key("file:///lake/t/", 4, "0101", &["id".into()]);
        assert!(partitions.get(&other, &first).is_none(), "another version");
        partitions.forget("file:///lake/t/");
        assert!(partitions.get(&key, &first).is_none(), "forgotten");

        // Once the table it came from is closed, an answer is dropped with the next one.
        partitions.put(key.clone(), &first, partition("b"));
        drop(first);
        partitions.put(other.clone(), &again, partition("c"));
        let entries = partitions.entries.lock().expect("entries");
        assert!(!entries.contains_key(&key), "closed table's answer dropped");
        assert!(entries.contains_key(&other));
    }
}
