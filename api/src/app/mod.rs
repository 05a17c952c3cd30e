//! The application core: what dap does, and nothing of how it is asked.
//!
//! Every surface (REST, GraphQL, the CLI, and the ones to come) parses its input, makes
//! one call into this layer and encodes the answer; it adds no rule of its own. Here
//! live the one access decision ([`access`]), the audited operation ([`audit`]), paging
//! with signed cursors ([`paging`]), the dataset, admin and identity operations, and the
//! one error table ([`error`]). Nothing in this tree imports actix, async-graphql or
//! utoipa (a test checks).

pub mod access;
pub mod admin;
pub mod audit;
pub mod audit_writer;
pub mod catalogue;
pub mod cursor;
pub mod datasets;
pub mod deliveries;
pub mod error;
pub mod exports;
pub mod health;
pub mod identity;
pub mod input;
pub mod key_figures;
pub mod keys;
pub mod leader;
pub mod maintenance;
pub mod metrics;
pub mod paging;
pub mod sharing;

use std::sync::Arc;

use dap_auth::TokenVerifier;
use dap_lake::Lake;
use dap_schema::ControlPlane;

pub use access::{AdminCache, Operator};
pub use audit::{AuditFacts, AuditLedger, RequestContext};
pub use catalogue::Catalogue;
pub use cursor::CursorSigner;
pub use error::{AppError, ErrorClass, InputField};
pub use key_figures::KeyFigures;
pub use keys::IssuerKeys;

/// The services every operation uses, shared by all surfaces and workers.
#[derive(Debug)]
pub struct Core {
    pub control: ControlPlane,
    /// The one writer of audit records (batched appends to the chain).
    pub audit: audit_writer::AuditWriter,
    pub lake: Arc<Lake>,
    pub verifier: TokenVerifier,
    pub catalogue: Catalogue,
    pub cursors: CursorSigner,
    /// The demo issuer's JWKS, in demo mode only.
    pub dev_jwks: Option<serde_json::Value>,
    /// dap's own signing keys (machine-client tokens).
    pub issuer_keys: IssuerKeys,
    /// Where clients reach dap, when configured.
    pub public_url: Option<url::Url>,
    /// Platform operators (catalogue administration).
    pub operators: Vec<Operator>,
    /// Municipality settings and delegations, as the access decision applies them.
    pub admin: AdminCache,
    /// Delta Sharing: where it is served and the file links issued.
    pub sharing: sharing::Sharing,
    /// Key-figure definitions and their computed, suppressed tables.
    pub key_figures: KeyFigures,
    /// Exports under way: their limits and closing records.
    pub exports: exports::Exports,
    /// How deliveries are received (size limit, staging directory).
    pub deliveries: deliveries::DeliveryConfig,
    /// What Prometheus scrapes.
    pub metrics: metrics::Metrics,
    /// Free space on the disks dap writes to (readiness).
    pub disk: health::DiskCheck,
    /// A browser session unused this long ends (on top of its absolute lifetime).
    pub session_idle: chrono::Duration,
}

impl Core {
    /// Drops the lake's open tables that the catalogue no longer names (a dataset
    /// removed, or moved to another location), here and on every replica's refresh.
    pub fn forget_unlisted_tables(&self) {
        let datasets: Vec<_> = self.catalogue.all().iter().map(|d| (**d).clone()).collect();
        self.lake.retain(&datasets);
    }

    /// True in `dap demo` (the demo issuer is on): error texts may suggest names.
    pub fn demo_mode(&self) -> bool {
        self.dev_jwks.is_some()
    }

    /// Reloads what other replicas may have changed: tables, settings and delegations,
    /// the catalogue, signing keys. Each part is refreshed even when another fails.
    pub async fn refresh(&self) {
        if let Err(error) = self.lake.refresh().await {
            tracing::warn!(%error, "table refresh failed");
        }
        if let Err(error) = self.admin.reload(&self.control).await {
            tracing::warn!(%error, "municipality settings reload failed");
        }
        match self.catalogue.reload(&self.control).await {
            Ok(()) => self.forget_unlisted_tables(),
            Err(error) => tracing::warn!(%error, "catalogue reload failed"),
        }
        if let Err(error) = self.key_figures.reload(&self.control).await {
            tracing::warn!(%error, "key figure reload failed");
        }
        if let Err(error) = self.issuer_keys.reload(&self.control).await {
            tracing::warn!(%error, "signing key reload failed");
        }
    }
}
