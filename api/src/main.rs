//! The `dap` command: serve, run the demo, issue demo tokens.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

mod cli;

use cli::admin::{AuditAction, ClientAction, Database, audit, audit_cli, client};
use dap_api::delivery_client::{Credentials as DeliveryCredentials, DeliverOptions};
use dap_api::demo::{self, DemoOptions};
use dap_api::pull::{Credentials, MirrorFormat, PullOptions, pull};
use dap_api::{Application, Settings, telemetry};
use dap_lake::demo::Progress;

#[derive(Debug, Parser)]
#[command(
    name = "dap",
    version,
    about = "Direct data access to the municipal data warehouse"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run on the embedded default: SQLite and a local lake with demo data for all 98 municipalities.
    Demo {
        #[arg(long, default_value = "./dap-data")]
        data_dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: SocketAddr,
        /// Rows per municipality per dataset (default 120), used when a table is generated:
        /// on first start. Tables that exist already are kept as they are.
        #[arg(long)]
        rows_per_municipality: Option<usize>,
        /// A config file whose identity settings (`issuers`, `public_url`, `login`),
        /// export limits, `log_format`, `metrics_listen` and `min_free_disk_percent` apply
        /// too: the demo data behind a real OIDC broker, observed as in production. When it
        /// names a lake (`[lake]`, e.g. in Azure Blob Storage) or a `database_url`, the demo
        /// data is generated there and served from there.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Serve with a configuration file and DAP_* environment variables.
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        bind: Option<SocketAddr>,
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Mirror a dataset into a local Delta table (or Parquet files): a full export the
    /// first time, only the changes on every later run.
    Pull {
        /// dap's base URL, e.g. http://127.0.0.1:8080
        #[arg(long)]
        server: url::Url,
        /// Bearer token (or set DAP_TOKEN); it is not renewed. A scheduled job uses
        /// --client-id instead.
        #[arg(long, env = "DAP_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// A machine client's id (`dap client create`): dap pull gets its tokens from the
        /// server and renews them itself. The secret comes from DAP_CLIENT_SECRET or
        /// --client-secret-file, never from the command line.
        #[arg(long, env = "DAP_CLIENT_ID")]
        client_id: Option<String>,
        /// A file holding the client's secret (its first line).
        #[arg(long)]
        client_secret_file: Option<PathBuf>,
        /// Dataset id, e.g. oekonomi.posteringer
        #[arg(long)]
        dataset: String,
        /// Directory of the mirror.
        #[arg(long)]
        into: PathBuf,
        /// delta (default) or parquet.
        #[arg(long, default_value = "delta")]
        format: String,
        /// Municipality code, when the token grants several.
        #[arg(long)]
        municipality: Option<String>,
        /// Replace the folder's mirror (or Delta table) with a full pull in one commit, where
        /// a pull would refuse: another server, dataset, municipality or column set.
        #[arg(long)]
        replace: bool,
    },
    /// Deliver a file of your municipality's rows to a dataset (CSV, NDJSON or Parquet,
    /// by extension), as a machine client: DAP_CLIENT_ID and DAP_CLIENT_SECRET from the
    /// environment (or DAP_TOKEN). Prints the receipt.
    Deliver {
        /// dap's base URL, e.g. http://127.0.0.1:8080
        #[arg(long)]
        server: url::Url,
        /// Dataset id, e.g. oekonomi.posteringer
        #[arg(long)]
        dataset: String,
        /// The file: .csv, .ndjson/.jsonl or .parquet
        #[arg(long)]
        file: PathBuf,
        /// upsert (by the key columns), replace (a period) or delete (by keys).
        #[arg(long, default_value = "upsert")]
        mode: String,
        /// For --mode replace: 2024, 2024-03, 2024-03-31 or 2024-03-01..2024-03-15.
        #[arg(long)]
        period: Option<String>,
        /// For --mode replace: the period's date column, when the dataset has several.
        #[arg(long)]
        period_column: Option<String>,
        /// Your id of this delivery; a retry with the same id applies once, another delivery
        /// under it is refused. Default: the file's SHA-256 (for delete and replace, with
        /// the mode and period).
        #[arg(long)]
        delivery_id: Option<String>,
        /// Municipality code, when the credentials grant several.
        #[arg(long)]
        municipality: Option<String>,
    },
    /// Maintain every dataset's table once: compact each municipality's partition,
    /// checkpoint, vacuum by the retention policy (`deliveries.keep_versions_days`).
    /// `dap serve` does this every `deliveries.maintenance_hours`.
    Maintain {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Only this dataset.
        #[arg(long)]
        dataset: Option<String>,
    },
    /// Machine clients (OAuth 2 client credentials) of a municipality.
    Client {
        #[command(subcommand)]
        action: ClientAction,
    },
    /// dap's token signing keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Print the OpenAPI document (the committed openapi/openapi.json).
    Openapi,
    /// Print a demo token (demo mode only: signed with the data directory's dev issuer key).
    Token {
        #[arg(long, default_value = "./dap-data")]
        data_dir: PathBuf,
        /// The municipality: its code or name, e.g. 0101 or København. Required, except
        /// for the platform operator (`--subject demo-operator`).
        #[arg(long)]
        municipality: Option<String>,
        /// Comma-separated role short names, e.g. laes-oekonomi,it-administration; unknown
        /// names are refused with the list of known ones. Default: every domain's read role.
        #[arg(long, value_delimiter = ',')]
        roles: Option<Vec<String>>,
        /// NSIS level: Low, Substantial or High.
        #[arg(long, default_value = "Substantial")]
        loa: String,
        /// Lifetime, e.g. 30m, 1h, 2d.
        #[arg(long, default_value = "1h")]
        ttl: String,
        #[arg(long, default_value = "demo-analyst")]
        subject: String,
    },
}

/// Where the control plane is: a demo data directory or a database URL.
#[derive(Debug, Subcommand)]
enum KeysAction {
    /// Create a new signing key; older keys keep verifying the tokens they signed.
    Rotate {
        #[command(flatten)]
        database: Database,
    },
}

/// jemalloc hands memory freed after a burst (e.g. many exports) back to the system
/// within seconds (its background threads purge dirty pages); glibc's malloc keeps it.
/// Its arenas are set where it is built (`.cargo/config.toml`: one per CPU).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo {
            data_dir,
            bind,
            rows_per_municipality,
            config,
        } => {
            let configured = config
                .as_deref()
                .map(|p| Settings::load(Some(p)))
                .transpose()?;
            telemetry::init(configured.as_ref().is_some_and(|s| s.log_format == "json"));
            let options = DemoOptions {
                data_dir,
                bind,
                rows_per_municipality: rows_per_municipality
                    .unwrap_or(dap_lake::demo::DEFAULT_ROWS_PER_MUNICIPALITY),
            };
            let mut settings = demo::settings(&options)?;
            if let Some(configured) = configured {
                settings = demo::with_config(settings, configured);
            }
            let mut existing = Vec::new();
            let created = demo::prepare_reporting_with(&options, &settings, &mut |progress| match progress {
                Progress::Existing { dataset } => existing.push(dataset),
                Progress::Creating {
                    dataset,
                    index,
                    total,
                } => eprintln!(
                    "generating demo data {index}/{total}: {dataset} (98 municipalities x {} rows) ...",
                    options.rows_per_municipality
                ),
                Progress::Created { dataset, rows } => {
                    eprintln!("  {dataset}: {rows} rows written");
                }
            })
            .await?;
            if !created.is_empty() {
                eprintln!("created demo tables: {}", created.join(", "));
            }
            if let Some(note) =
                demo::rows_option_ignored(&options.data_dir, rows_per_municipality, &existing)
            {
                eprintln!("{note}");
            }
            let app = Application::build(settings).await?;
            print_demo_help(&options, app.port());
            app.run_until_stopped().await?;
        }
        Command::Serve {
            config,
            bind,
            database_url,
        } => {
            let mut settings = Settings::load(config.as_deref())?;
            if let Some(bind) = bind {
                settings.bind = bind;
            }
            if let Some(url) = database_url {
                settings.database_url = url;
            }
            telemetry::init(settings.log_format == "json");
            let app = Application::build(settings).await?;
            tracing::info!(port = app.port(), "dap is serving");
            app.run_until_stopped().await?;
        }
        Command::Pull {
            server,
            token,
            client_id,
            client_secret_file,
            dataset,
            into,
            format,
            municipality,
            replace,
        } => {
            let format = match format.as_str() {
                "delta" => MirrorFormat::Delta,
                "parquet" => MirrorFormat::Parquet,
                other => bail!("--format {other}: use delta or parquet"),
            };
            let options = PullOptions {
                server,
                credentials: pull_credentials(token, client_id, client_secret_file)?,
                dataset,
                into,
                format,
                municipality,
                replace,
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            };
            let report = pull(&options).await?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Command::Deliver {
            server,
            dataset,
            file,
            mode,
            period,
            period_column,
            delivery_id,
            municipality,
        } => {
            let options = DeliverOptions {
                server,
                credentials: DeliveryCredentials::from_env()?,
                dataset,
                file,
                mode,
                period,
                period_column,
                delivery_id,
                municipality,
            };
            let receipt = dap_api::delivery_client::deliver(&options).await?;
            println!("{}", serde_json::to_string(&receipt)?);
        }
        Command::Maintain { config, dataset } => {
            let settings = Settings::load(config.as_deref())?;
            telemetry::init(settings.log_format == "json");
            let control = dap_schema::ControlPlane::connect(&settings.database_url).await?;
            let catalogue = dap_api::app::Catalogue::load(&control).await?;
            let runtime = std::sync::Arc::new(dap_lake::LakeRuntime::new(settings.lake.threads)?);
            let lake = settings.lake.open(runtime).await?;
            let datasets: Vec<_> = catalogue
                .all()
                .iter()
                .filter(|d| dataset.as_deref().is_none_or(|id| d.id.as_str() == id))
                .cloned()
                .collect();
            if datasets.is_empty() {
                bail!("no dataset to maintain");
            }
            let policy = settings.deliveries.maintenance_policy();
            let mut failed = 0;
            for (id, report) in
                dap_api::app::maintenance::maintain_all(&lake, &datasets, &policy).await
            {
                match report {
                    Ok(report) => println!("{}", serde_json::to_string(&report)?),
                    Err(error) => {
                        failed += 1;
                        eprintln!("{id}: {error}");
                    }
                }
            }
            if failed > 0 {
                bail!("{failed} table(s) could not be maintained");
            }
        }
        Command::Client { action } => client(action).await?,
        Command::Audit { action } => audit(action).await?,
        Command::Keys {
            action: KeysAction::Rotate { database },
        } => {
            let control = database.connect().await?;
            let (kid, seed) = dap_auth::DapKeys::generate();
            control.rotate_signing_key(&kid, &seed).await?;
            audit_cli(
                &control,
                "keys rotate",
                None,
                format!("new signing key {kid}"),
            )
            .await?;
            println!("{{\"kid\": \"{kid}\"}}");
        }
        Command::Openapi => print!("{}", dap_api::openapi::document_json()?),
        Command::Token {
            data_dir,
            municipality,
            roles,
            loa,
            ttl,
            subject,
        } => {
            let token = demo::demo_token(demo::TokenRequest {
                data_dir: &data_dir,
                municipality: municipality.as_deref(),
                roles,
                loa: &loa,
                ttl: parse_ttl(&ttl)?,
                subject: &subject,
            })
            .await?;
            println!("{token}");
        }
    }
    Ok(())
}

/// dap pull's credentials: a machine client (id, and the secret from DAP_CLIENT_SECRET or
/// a file) when an id is given, else a bearer token.
fn pull_credentials(
    token: Option<String>,
    client_id: Option<String>,
    secret_file: Option<PathBuf>,
) -> anyhow::Result<Credentials> {
    let Some(client_id) = client_id else {
        return match token {
            Some(token) => Ok(Credentials::Token(token.into())),
            None => bail!(
                "dap pull needs credentials: --client-id ID with the secret in DAP_CLIENT_SECRET \
                 or --client-secret-file FILE (a machine client; tokens are renewed), or \
                 --token TOKEN / DAP_TOKEN"
            ),
        };
    };
    let secret = match (secret_file, std::env::var("DAP_CLIENT_SECRET")) {
        (Some(path), _) => std::fs::read_to_string(&path)
            .with_context(|| format!("--client-secret-file {}", path.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
        (None, Ok(secret)) => secret.trim().to_owned(),
        (None, Err(_)) => bail!(
            "--client-id {client_id}: put the client's secret in DAP_CLIENT_SECRET or in a file \
             named by --client-secret-file (not on the command line, where other users see it)"
        ),
    };
    if secret.is_empty() {
        bail!("the secret of client {client_id} is empty");
    }
    Ok(Credentials::Client {
        client_id,
        client_secret: secret.into(),
    })
}

fn parse_ttl(text: &str) -> anyhow::Result<chrono::Duration> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = number
        .parse()
        .with_context(|| format!("ttl '{text}': use e.g. 30m, 1h or 2d"))?;
    let ttl = match unit {
        "s" => chrono::Duration::seconds(n),
        "m" => chrono::Duration::minutes(n),
        "h" | "" => chrono::Duration::hours(n),
        "d" => chrono::Duration::days(n),
        _ => bail!("ttl '{text}': use e.g. 30m, 1h or 2d"),
    };
    if ttl <= chrono::Duration::zero() || ttl > chrono::Duration::days(90) {
        bail!("ttl must be between 1 second and 90 days");
    }
    Ok(ttl)
}

fn print_demo_help(options: &DemoOptions, port: u16) {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "dap".into());
    let dir = options.data_dir.display();
    let host = options.bind.ip();
    println!(
        "\ndap demo is serving http://{host}:{port}  (data in {dir}, 98 municipalities)\n\n\
         Get a token for København (0101):\n\
         \x20 TOKEN=$({exe} token --data-dir {dir} --municipality 0101)\n\n\
         Read rows:\n\
         \x20 curl -s -H \"Authorization: Bearer $TOKEN\" 'http://{host}:{port}/api/v1/datasets/oekonomi.posteringer/rows?limit=5&filter=aar:eq:2025'\n\n\
         List datasets:  curl -s -H \"Authorization: Bearer $TOKEN\" http://{host}:{port}/api/v1/datasets\n"
    );
}
