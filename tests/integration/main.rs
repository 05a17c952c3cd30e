//! dap's integration tests: one binary, the real app spawned in-process against
//! temporary Delta tables, a mock OIDC issuer and the demo issuer.

mod admin;
mod architecture;
mod audit;
mod audit_chain;
mod control_plane;
mod export;
mod graphql;
mod helpers;
mod isolation;
mod key_figure_admin;
mod key_figures;
mod kombit;
mod machine;
mod openapi;
mod personal_tokens;
mod pull;
mod rows;
mod surfaces;
mod tokens;
