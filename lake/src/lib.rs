//! Delta Lake access for dap. The one read path is [`Lake::scan`], which requires an
//! [`dap_schema::AccessScope`]: other municipalities' files are pruned from the plan
//! before any user predicate exists, and the tenant predicate is applied to rows too.
//!
//! Also here: the typed filter language ([`predicate`]), row queries ([`query`]),
//! result encoders ([`encode`]) and the demo lake generator ([`demo`]).
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod aggregate;
pub mod benchmark;
pub mod demo;
pub mod encode;
mod error;
pub mod export;
pub mod history;
mod lake;
pub mod predicate;
pub mod query;
mod runtime;
mod xlsx;

pub use aggregate::{Aggregation, Measure};
pub use error::{Error, Result};
pub use history::VersionInfo;
pub use lake::{Lake, Scan, TableInfo};
pub use query::RowQuery;
pub use runtime::LakeRuntime;

/// Re-exported so callers share delta-rs' Arrow version.
pub use deltalake::arrow;
