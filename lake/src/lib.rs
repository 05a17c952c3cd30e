//! Delta Lake access for dap. The one read path is [`Lake::scan`], which requires an
//! [`dap_schema::AccessScope`]: other municipalities' files are pruned from the plan
//! before any user predicate exists, and the tenant predicate is applied to rows too.
//!
//! Versions are the caller's: without `version`/`as_of` a read is answered at the newest
//! version that changed rows the caller may see, and that is the version every surface
//! reports (see `resolve`). A version's time is its commit's own timestamp everywhere.
//!
//! Also here: the typed filter language ([`predicate`]), row queries ([`query`]),
//! result encoders ([`encode`]) and the demo lake generator ([`demo`]).
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod aggregate;
pub mod as_of;
pub mod benchmark;
mod check;
mod commits;
mod csv_rows;
pub mod deliver;
pub mod demo;
pub mod encode;
mod error;
pub mod export;
pub mod files;
pub mod history;
mod kept;
pub mod keyset;
mod lake;
pub mod maintain;
mod page_cache;
mod partitions;
pub mod predicate;
pub mod query;
mod resolve;
mod runtime;
mod spliced;
mod stats;
pub mod storage;
mod stored;
mod tables;
#[cfg(test)]
mod testing;
pub mod xlsx;

pub use aggregate::{Aggregation, Measure};
pub use error::{Error, Requested, Result};
pub use history::VersionInfo;
pub use lake::{Lake, Scan, TableInfo};
pub use page_cache::DEFAULT_CAPACITY_BYTES as DEFAULT_PAGE_CACHE_BYTES;
pub use query::RowQuery;
pub use runtime::LakeRuntime;
pub use stats::ScanCounts;
pub use storage::StorageOptions;
pub use tables::StaleTable;

/// Re-exported so callers share delta-rs' Arrow version.
pub use deltalake::arrow;
