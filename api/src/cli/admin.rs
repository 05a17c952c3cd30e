//! The administrative commands of the `dap` CLI: machine clients and the audit log,
//! run on the server against its control-plane database. They call the core's
//! operations (`dap_api::app`) and write the core's audit record for a local command.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use dap_api::app::AppError;
use dap_api::app::admin::clients::{MAX_DAYS, disable_any, register_for};
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
        /// The municipality the client reads for.
        #[arg(long)]
        municipality: String,
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
    /// Disable a client: its tokens are refused from the next request on.
    Disable {
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
            let municipality = MunicipalityCode::parse(&municipality)?;
            let catalogue = control.load_catalogue().await?;
            let is_known = |id: &str| catalogue.iter().any(|d| d.id.as_str() == id);
            let input = NewClient {
                datasets,
                expires_in_days: Some(days),
                public_key,
                municipality: None,
            };
            let (created, facts) = register_for(&control, is_known, &municipality, input)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            audit_cli(
                &control,
                "client create",
                facts.municipality,
                facts.columns.unwrap_or_default(),
            )
            .await?;
            println!("{}", shown(&created));
        }
        ClientAction::Disable {
            database,
            client_id,
        } => {
            let control = database.connect().await?;
            let facts = match disable_any(&control, &client_id).await {
                Err(AppError::NotFound) => bail!("no client {client_id}"),
                other => other.map_err(|e| anyhow::anyhow!("{e}"))?,
            };
            audit_cli(
                &control,
                "client disable",
                None,
                facts.columns.unwrap_or_default(),
            )
            .await?;
            println!("{{\"disabled\": \"{client_id}\"}}");
        }
    }
    Ok(())
}

/// What `dap client create` prints: the client, and its secret once.
fn shown(created: &CreatedClient) -> serde_json::Value {
    let client = &created.client;
    let mut shown = serde_json::json!({
        "client_id": client.client_id,
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
