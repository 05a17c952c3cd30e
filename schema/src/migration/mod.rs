//! Schema migrations; the same set runs on SQLite and PostgreSQL.

use sea_orm_migration::prelude::*;

mod m0001_catalogue_and_audit;
mod m0002_machine_clients;
mod m0003_personal_tokens;
mod m0004_identity;
mod m0005_audit_chain;
mod m0006_admin;
mod m0007_key_figures;
mod m0008_client_names;
mod m0009_deliveries;
mod m0010_session_activity;
mod m0011_leases;
mod m0012_delivery_fingerprints;
mod m0013_audit_action_length;

/// All migrations of the control plane, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_catalogue_and_audit::Migration),
            Box::new(m0002_machine_clients::Migration),
            Box::new(m0003_personal_tokens::Migration),
            Box::new(m0004_identity::Migration),
            Box::new(m0005_audit_chain::Migration),
            Box::new(m0006_admin::Migration),
            Box::new(m0007_key_figures::Migration),
            Box::new(m0008_client_names::Migration),
            Box::new(m0009_deliveries::Migration),
            Box::new(m0010_session_activity::Migration),
            Box::new(m0011_leases::Migration),
            Box::new(m0012_delivery_fingerprints::Migration),
            Box::new(m0013_audit_action_length::Migration),
        ]
    }
}
