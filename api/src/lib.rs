//! dap's gateway. [`app`] is the application core (access decision, audit, paging, the
//! dataset, admin and identity operations, one error table); [`rest`], [`graphql`] and
//! the `dap` CLI are surfaces that translate their protocol into one call of the core.
//! [`startup`] assembles them.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod console;
pub mod delivery_client;
pub mod demo;
pub mod graphql;
pub mod odata;
pub mod openapi;
pub mod pull;
pub mod rest;
pub mod settings;
pub mod sharing;
pub mod startup;
pub mod telemetry;

pub use app::Core;
pub use settings::Settings;
pub use startup::Application;
