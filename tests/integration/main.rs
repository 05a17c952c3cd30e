//! dap's integration tests: one binary, the real app spawned in-process against
//! temporary Delta tables, a mock OIDC issuer and the demo issuer.

mod admin;
mod architecture;
mod audit;
mod audit_chain;
mod audit_prune;
mod client_names;
mod constraints_close;
mod control_plane;
mod dataset_tables;
mod export;
mod graphql;
mod helpers;
mod isolation;
mod key_figure_admin;
mod key_figures;
mod kombit;
mod machine;
mod odata;
mod odata_access;
mod odata_filters;
mod openapi;
mod operators;
mod own_versions;
mod personal_tokens;
mod pull;
mod rows;
mod sharing;
mod surfaces;
mod timestamps;
mod tokens;
