//! The wire types of dap's API: plain data (serde), documented for the OpenAPI document.
//! They hold no logic; the application core fills them in.

pub mod admin;
pub mod datasets;
pub mod deliveries;
pub mod identity;
pub mod key_figures;
