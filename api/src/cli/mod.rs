//! The `dap` command line, beside `main.rs`: its administrative commands.

pub mod admin;
