//! The administrative commands of the `dap` CLI: machine clients and the audit log,
//! run on the server against its control-plane database. They call the core's
//! operations (`dap_api::app`) and write the core's audit record for a local command.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use dap_api::app::AppError;
use dap_api::app::admin::clients::{
    MAX_DAYS, Within, change_within, list_within, register_for, rotate_within,
};
use dap_api::app::audit::local_record;
use dap_api::demo::{self, DemoOptions};
use dap_openapi::model::admin::{CreatedClient, NewClient};
use dap_schema::MunicipalityCode;

#[derive(Debug, clap::Args)]
pub struct Database {
    /// Demo data directory (uses its SQLite database).
    #[arg(long, conflicts_with = "database_url")]
    data_dir: Option<PathBuf>,
    /// Control-plane database URL (or DAP_DATABASE_URL).
    #[arg(long, env = "DAP_DATABASE_URL")]
    database_url: Option<String>,
}

impl Database {
    pub async fn connect(&self) -> anyhow::Result<dap_schema::ControlPlane> {
        let url = match (&self.database_url, &self.data_dir) {
            (Some(url), _) => url.clone(),
            (None, Some(dir)) => {
                let options = DemoOptions {
                    data_dir: dir.clone(),
                    bind: "127.0.0.1:0".parse()?,
                    rows_per_municipality: 0,
                };
                demo::settings(&options)?.database_url
            }
            (None, None) => {
                bail!("name the control plane: --data-dir DIR (demo) or --database-url URL")
            }
        };
        Ok(dap_schema::ControlPlane::connect(&url).await?)
    }
}

#[derive(Debug, Subcommand)]
pub enum ClientAction {
    /// Register a client; prints its id and secret once.
    Create {
        #[command(flatten)]
        database: Database,
        /// The municipality the client reads for: code or name, e.g. 0101 or København.
        #[arg(long)]
        municipality: String,
        /// What the client is for, unique within the municipality, e.g. "Nightly DWH load".
        #[arg(long)]
        name: String,
        /// More about the client: who runs it, where.
        #[arg(long)]
        description: Option<String>,
        /// Comma-separated dataset ids the client may read.
        #[arg(long, value_delimiter = ',', required = true)]
        datasets: Vec<String>,
        /// Days until the client expires.
        #[arg(long, default_value_t = 365)]
        days: i64,
        /// A file with the client's public key as a JWK (RSA, EC P-256 or Ed25519): the
        /// client then authenticates with `private_key_jwt` and gets no secret.
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// List the clients (id, name, description, datasets, expiry; never a secret).
    List {
        #[command(flatten)]
        database: Database,
        /// Only this municipality's clients (code or name); default: every municipality's.
        #[arg(long)]
        municipality: Option<String>,
    },
    /// Give a client a new secret, printed once; the old one stops working at once.
    Rotate {
        #[command(flatten)]
        database: Database,
        #[arg(long)]
        client_id: String,
    },
    /// Disable a client: its tokens are refused from the next request on.
    Disable {
        #[command(flatten)]
        database: Database,
        #[arg(long)]
        client_id: String,
    },
    /// Delete a client: its tokens are refused from the next request on, and it is gone
    /// from the lists.
    Delete {
        #[command(flatten)]
        database: Database,
        #[arg(long)]
        client_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Walk the hash chain; exit 1 and name the first record that was changed, removed
    /// or reordered.
    Verify {
        #[command(flatten)]
        database: Database,
    },
    /// Remove records older than the retention period; the chain stays verifiable.
    Prune {
        #[command(flatten)]
        database: Database,
        /// Keep this many days of records (at least 1; less is refused).
        #[arg(long)]
        keep_days: u32,
    },
}

/// Administrative commands are audited like the API's admin routes (subject: the local
/// user running the command); without the record the command does not report success.
pub async fn audit_cli(
    control: &dap_schema::ControlPlane,
    action: &str,
    municipality: Option<String>,
    what: String,
) -> anyhow::Result<()> {
    control
        .append_audit(&local_record(action, municipality, what))
        .await
        .context("cannot write the audit record; nothing was reported as done")?;
    Ok(())
}

pub async fn audit(action: AuditAction) -> anyhow::Result<()> {
    match action {
        AuditAction::Verify { database } => {
            let control = database.connect().await?;
            let report = control.verify_audit().await?;
            println!("{}", serde_json::to_string(&report)?);
            if let Some((kind, id, seq)) = report.first_break {
                let at = id
                    .map(|id| format!(" (database id {id})"))
                    .unwrap_or_default();
                let what = match kind {
                    dap_schema::audit_chain::Break::Changed => "was changed",
                    dap_schema::audit_chain::Break::Removed => "was removed",
                    dap_schema::audit_chain::Break::Reordered => "is out of place (reordered)",
                    dap_schema::audit_chain::Break::TailRemoved => {
                        "and every later record were removed (the chain head says more were written)"
                    }
                };
                bail!("audit chain broken: record {seq}{at} {what}");
            }
            eprintln!(
                "audit chain intact: {} records verified",
                report.records_checked
            );
        }
        AuditAction::Prune {
            database,
            keep_days,
        } => {
            let control = database.connect().await?;
            let before =
                dap_schema::audit_retention::retention_cutoff(chrono::Utc::now(), keep_days)?;
            let pruned = control.prune_audit(before).await?;
            audit_cli(
                &control,
                "audit prune",
                None,
                format!("pruned {pruned} audit records before {before}"),
            )
            .await?;
            println!(
                "{}",
                serde_json::json!({"pruned": pruned, "before": before})
            );
        }
    }
    Ok(())
}

pub async fn client(action: ClientAction) -> anyhow::Result<()> {
    match action {
        ClientAction::Create {
            database,
            municipality,
            name,
            description,
            datasets,
            days,
            public_key,
        } => {
            let public_key = match public_key {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    Some(
                        serde_json::from_str::<serde_json::Value>(&text).with_context(|| {
                            format!("{} does not hold a JWK (JSON)", path.display())
                        })?,
                    )
                }
                None => None,
            };
            let Some(days) = u32::try_from(days)
                .ok()
                .filter(|d| (1..=MAX_DAYS).contains(d))
            else {
                bail!("--days must be between 1 and {MAX_DAYS}");
            };
            let control = database.connect().await?;
            let municipality = MunicipalityCode::from_code_or_name(&municipality)?;
            let catalogue = control.load_catalogue().await?;
            let is_known = |id: &str| catalogue.iter().any(|d| d.id.as_str() == id);
            let input = NewClient {
                name,
                description,
                datasets,
                expires_in_days: Some(days),
                public_key,
                municipality: None,
            };
            let (created, facts) = register_for(&control, is_known, &municipality, input)
                .await
                .map_err(cli_error)?;
            audit_cli(
                &control,
                "client create",
                facts.municipality,
                facts.columns.unwrap_or_default(),
            )
            .await?;
            println!("{}", shown(&created));
        }
        ClientAction::List {
            database,
            municipality,
        } => {
            let municipality = municipality
                .as_deref()
                .map(MunicipalityCode::from_code_or_name)
                .transpose()?;
            let control = database.connect().await?;
            let within = match &municipality {
                Some(m) => Within::Municipality(m.as_str()),
                None => Within::Any,
            };
            let (list, facts) = list_within(&control, within).await.map_err(cli_error)?;
            audit_cli(
                &control,
                "client list",
                facts.municipality,
                format!("listed {} machine clients", list.clients.len()),
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        ClientAction::Rotate {
            database,
            client_id,
        } => {
            let control = database.connect().await?;
            let (rotated, facts) = rotate_within(&control, Within::Any, &client_id)
                .await
                .map_err(|e| not_found(e, &client_id))?;
            audit_cli(
                &control,
                "client rotate",
                facts.municipality,
                facts.columns.unwrap_or_default(),
            )
            .await?;
            println!(
                "{}",
                serde_json::json!({
                    "client_id": rotated.client_id,
                    "client_secret": rotated.client_secret,
                    "note": "the secret is shown once; the old one stopped working now",
                })
            );
        }
        ClientAction::Disable {
            database,
            client_id,
        } => change(database, &client_id, false).await?,
        ClientAction::Delete {
            database,
            client_id,
        } => change(database, &client_id, true).await?,
    }
    Ok(())
}

/// Disables or deletes a client, audited like the admin API's routes.
async fn change(database: Database, client_id: &str, delete: bool) -> anyhow::Result<()> {
    let control = database.connect().await?;
    let facts = change_within(&control, Within::Any, client_id, delete)
        .await
        .map_err(|e| not_found(e, client_id))?;
    let (action, key) = if delete {
        ("client delete", "deleted")
    } else {
        ("client disable", "disabled")
    };
    audit_cli(
        &control,
        action,
        facts.municipality,
        facts.columns.unwrap_or_default(),
    )
    .await?;
    println!("{}", serde_json::json!({ key: client_id }));
    Ok(())
}

fn cli_error(error: AppError) -> anyhow::Error {
    anyhow::anyhow!("{error}")
}

fn not_found(error: AppError, client_id: &str) -> anyhow::Error {
    match error {
        AppError::NotFound => {
            anyhow::anyhow!("no client {client_id}: `dap client list` shows the registered clients")
        }
        other => cli_error(other),
    }
}

/// What `dap client create` prints: the client, and its secret once.
fn shown(created: &CreatedClient) -> serde_json::Value {
    let client = &created.client;
    let mut shown = serde_json::json!({
        "client_id": client.client_id,
        "name": client.name,
        "description": client.description,
        "municipality": client.municipality,
        "datasets": client.datasets,
        "expires_at": client.expires_at,
    });
    match &created.client_secret {
        None => shown["token_endpoint_auth_method"] = "private_key_jwt".into(),
        Some(secret) => {
            shown["client_secret"] = secret.clone().into();
            shown["note"] = "the secret is shown once; dap stores only its hash".into();
        }
    }
    shown
}
