//! sea-orm entities of the control plane.

pub mod audit_checkpoint;
pub mod audit_event;
pub mod audit_head;
pub mod dataset;
pub mod dataset_column;
pub mod delegation;
pub mod delivery_receipt;
pub mod delivery_right;
pub mod key_figure;
pub mod lease;
pub mod machine_client;
pub mod municipality_setting;
pub mod personal_token;
pub mod session;
pub mod signing_key;
pub mod used_assertion;
