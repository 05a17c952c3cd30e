//! Who is calling and what may they see: bearer-token verification against
//! configured issuers, pluggable claim mapping into a [`Principal`], the demo
//! [`DevIssuer`], and the access policy that turns a principal and a dataset
//! into an [`dap_schema::AccessScope`].
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod bpp;
pub mod claims;
pub mod client_assertion;
pub mod dap_issuer;
pub mod dev_issuer;
mod error;
pub mod jwks;
pub mod kombit;
pub mod policy;
pub mod principal;
pub mod roles;
pub mod secrets;
pub mod verifier;

pub use claims::{ClaimMapper, PlainClaims};
pub use dap_issuer::DapKeys;
pub use dev_issuer::DevIssuer;
pub use error::{Denial, Error, Result};
pub use kombit::KombitClaims;
pub use principal::{CallerKind, ConstraintSet, Constraints, Principal};
pub use verifier::{IssuerConfig, IssuerStatus, PendingIssuer, TokenVerifier};
