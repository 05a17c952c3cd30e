//! dap's HTTP gateway: settings, app assembly, error mapping, extractors and routes.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod admin;
pub mod audit;
pub mod catalogue;
pub mod cursor;
pub mod demo;
pub mod error;
pub mod extract;
pub mod graphql;
pub mod keys;
pub mod login;
pub mod openapi;
pub mod pull;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod streaming;
pub mod telemetry;

pub use settings::Settings;
pub use startup::{AppState, Application};
