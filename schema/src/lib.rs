//! Catalogue and control-plane model of dap: the domain types every other crate
//! shares (municipalities, datasets, columns, classifications, NSIS levels), the
//! sea-orm entities and migrations, and the [`ControlPlane`] store over them.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod admin;
pub mod audit;
pub mod audit_chain;
pub mod audit_retention;
pub mod catalogue;
pub mod clients;
pub mod deliveries;
pub mod entity;
mod error;
pub mod key_figures;
pub mod leases;
pub mod migration;
pub mod municipality;
pub mod personal_tokens;
pub mod scope;
pub mod sessions;
mod store;
pub mod time;

pub use audit::{AuditOutcome, AuditRecord};
pub use catalogue::{Classification, ColumnDef, ColumnType, DatasetDef, DatasetId, NsisLevel};
pub use clients::MachineClient;
pub use error::{Error, Result};
pub use municipality::{Municipality, MunicipalityCode, REGIONS, Region, municipalities};
pub use personal_tokens::PersonalToken;
pub use scope::{AccessScope, RowConstraint};
pub use sessions::Session;
pub use store::ControlPlane;
