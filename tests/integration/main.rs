//! dap's integration tests: one binary, the real app spawned in-process against
//! temporary Delta tables, a mock OIDC issuer and the demo issuer.

mod admin;
mod architecture;
mod audit;
mod audit_chain;
mod audit_prune;
mod constraints_close;
mod control_plane;
mod dataset_tables;
mod deliveries;
mod export;
mod faults;
mod graphql;
mod graphql_order;
mod helpers;
mod isolation;
mod key_figure_admin;
mod key_figure_groups;
mod key_figures;
mod kombit;
mod machine;
mod malformed;
mod odata;
mod odata_access;
mod odata_filters;
mod odata_key_figures;
mod odata_power_query;
mod openapi;
mod own_versions;
mod personal_tokens;
mod pull;
mod refusals;
mod rows;
mod sharing;
mod surfaces;
mod tokens;
