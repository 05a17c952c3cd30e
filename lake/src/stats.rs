//! What the lake counts for the operator's metrics: scans planned per dataset with the
//! files read and pruned, and since when each open table is known to be current.
//! Plain counters here; the gateway turns them into metrics when it is scraped.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::Lake;

/// Scans of one dataset since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanCounts {
    /// Scans planned (pages, exports, counts, aggregates, Delta Sharing file lists).
    pub scans: u64,
    /// Data files those plans read: the caller's municipality partition.
    pub files_read: u64,
    /// Data files left out of the plans before reading: other municipalities'.
    pub files_pruned: u64,
}

/// The lake's counters.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    scans: Mutex<HashMap<String, ScanCounts>>,
    /// Open tables by location: when each was last found current (opened, or a
    /// refresh that found no newer commit or moved to it).
    current: Mutex<HashMap<String, DateTime<Utc>>>,
    /// Commits whose change data feed was read to count changed rows (`/versions`).
    change_feed_commits: std::sync::atomic::AtomicU64,
}

impl Stats {
    pub(crate) fn scanned(&self, dataset: &str, files_read: usize, files_total: usize) {
        if let Ok(mut scans) = self.scans.lock() {
            let counts = scans.entry(dataset.to_owned()).or_default();
            counts.scans += 1;
            counts.files_read += files_read as u64;
            counts.files_pruned += files_total.saturating_sub(files_read) as u64;
        }
    }

    pub(crate) fn change_feed_read(&self, commits: u64) {
        self.change_feed_commits
            .fetch_add(commits, std::sync::atomic::Ordering::Relaxed);
    }

    /// Commits whose change feed was read to count changed rows, since the start.
    #[cfg(test)]
    pub(crate) fn change_feed_commits(&self) -> u64 {
        self.change_feed_commits
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn current(&self, location: &str) {
        if let Ok(mut current) = self.current.lock() {
            current.insert(location.to_owned(), Utc::now());
        }
    }

    pub(crate) fn closed(&self, location: &str) {
        if let Ok(mut current) = self.current.lock() {
            current.remove(location);
        }
    }

    pub(crate) fn retain(&self, keep: impl Fn(&str) -> bool) {
        if let Ok(mut current) = self.current.lock() {
            current.retain(|k, _| keep(k));
        }
    }
}

impl Lake {
    /// Scans per dataset id since the process started.
    pub fn scan_counts(&self) -> Vec<(String, ScanCounts)> {
        self.stats
            .scans
            .lock()
            .map(|s| s.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    /// Open tables by location, with when each was last found current: the refresh lag
    /// is the time since.
    pub fn current_since(&self) -> Vec<(String, DateTime<Utc>)> {
        self.stats
            .current
            .lock()
            .map(|c| c.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }
}
