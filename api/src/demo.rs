//! The embedded default: a data directory with a SQLite control plane, a local Delta
//! lake of generated data for all 98 municipalities, and the demo issuer's key.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dap_auth::DevIssuer;
use dap_lake::demo::Progress;
use dap_schema::{ControlPlane, MunicipalityCode, NsisLevel};
use rand::RngCore;

use crate::settings::Settings;

/// What `dap demo` needs to know.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub data_dir: PathBuf,
    pub bind: std::net::SocketAddr,
    pub rows_per_municipality: usize,
}

/// Settings for serving the demo from `data_dir`.
pub fn settings(options: &DemoOptions) -> anyhow::Result<Settings> {
    let dir = std::path::absolute(&options.data_dir)?;
    let mut settings = Settings {
        bind: options.bind,
        database_url: format!("sqlite://{}?mode=rwc", dir.join("dap.sqlite").display()),
        demo_dir: Some(dir.clone()),
        ..Settings::default()
    };
    settings.lake.root = dir.join("lake").display().to_string();
    // `dap token --subject demo-operator` is the demo's platform operator.
    settings
        .platform_operators
        .push(crate::app::access::Operator {
            issuer: dap_auth::dev_issuer::DEV_ISSUER.into(),
            subject: DEMO_OPERATOR.into(),
        });
    Ok(settings)
}

/// Creates whatever is missing in the data directory: the lake tables and the
/// catalogue entries. Existing data is reused as it is.
pub async fn prepare(options: &DemoOptions) -> anyhow::Result<Vec<String>> {
    prepare_with(options, &settings(options)?).await
}

/// Like [`prepare`], telling `report` how the generation of each table goes.
pub async fn prepare_reporting(
    options: &DemoOptions,
    report: &mut (dyn FnMut(Progress) + Send),
) -> anyhow::Result<Vec<String>> {
    prepare_inner(options, &settings(options)?, report).await
}

/// Like [`prepare_with`], telling `report` how the generation of each table goes.
pub async fn prepare_reporting_with(
    options: &DemoOptions,
    settings: &Settings,
    report: &mut (dyn FnMut(Progress) + Send),
) -> anyhow::Result<Vec<String>> {
    prepare_inner(options, settings, report).await
}

/// The demo's settings with what a config file given to `dap demo --config` sets: its
/// identity settings (`issuers`, `public_url`, `login`), export limits and shutdown
/// timeout, and, when the file names them, its lake (e.g. the demo data in Azure Blob
/// Storage) and control-plane database (e.g. PostgreSQL shared by several demo
/// replicas). The demo issuer's key and the cursor key stay in the data directory.
pub fn with_config(mut settings: Settings, config: Settings) -> Settings {
    let defaults = Settings::default();
    settings.issuers = config.issuers;
    settings.public_url = config.public_url;
    settings.login = config.login;
    settings.exports = config.exports;
    settings.shutdown_timeout_secs = config.shutdown_timeout_secs;
    settings.log_format = config.log_format;
    settings.metrics_listen = config.metrics_listen;
    settings.min_free_disk_percent = config.min_free_disk_percent;
    settings.session_idle_minutes = config.session_idle_minutes;
    if config.lake.root != defaults.lake.root {
        settings.lake = config.lake;
    }
    if config.database_url != defaults.database_url {
        settings.database_url = config.database_url;
    }
    settings
}

/// Like [`prepare`], with the catalogue in `settings.database_url` (e.g. PostgreSQL).
pub async fn prepare_with(
    options: &DemoOptions,
    settings: &Settings,
) -> anyhow::Result<Vec<String>> {
    prepare_inner(options, settings, &mut |_| {}).await
}

/// What `dap demo` says when `--rows-per-municipality` was given but tables of the data
/// directory exist already: they are kept as they are, so the option changes nothing
/// for them.
pub fn rows_option_ignored(
    data_dir: &Path,
    rows_per_municipality: Option<usize>,
    existing: &[String],
) -> Option<String> {
    let rows = rows_per_municipality?;
    if existing.is_empty() {
        return None;
    }
    let dir = data_dir.display();
    Some(format!(
        "note: --rows-per-municipality {rows} is ignored for the {} tables that already exist \
         in {dir} ({}); it applies only when a table is generated. To regenerate the demo \
         data with {rows} rows per municipality, stop dap and remove the directory \
         (rm -r {dir}), or start with another --data-dir",
        existing.len(),
        existing.join(", ")
    ))
}

async fn prepare_inner(
    options: &DemoOptions,
    settings: &Settings,
    report: &mut (dyn FnMut(Progress) + Send),
) -> anyhow::Result<Vec<String>> {
    std::fs::create_dir_all(&options.data_dir)
        .with_context(|| format!("cannot create {}", options.data_dir.display()))?;
    // The lake `dap serve` would open with these settings: a local directory (created
    // here) or an object store (its container or bucket must exist).
    if url::Url::parse(&settings.lake.root).is_err() {
        std::fs::create_dir_all(&settings.lake.root)?;
    }
    let runtime = std::sync::Arc::new(dap_lake::LakeRuntime::new(settings.lake.threads)?);
    let lake = settings.lake.open(runtime).await?;
    let created = dap_lake::demo::create_lake_reporting(
        lake.root(),
        lake.storage(),
        options.rows_per_municipality,
        report,
    )
    .await?;
    // The demo issuer's key, so `dap token` works as soon as the data directory exists.
    dap_auth::DevIssuer::load_or_create(&std::path::absolute(&options.data_dir)?)?;
    let control = ControlPlane::connect(&settings.database_url).await?;
    let existing = control.load_catalogue().await?;
    for def in dap_lake::demo::datasets() {
        if !existing.iter().any(|d| d.id == def.id) {
            control.upsert_dataset(&def).await?;
        }
    }
    // The demo's key figures, once: an operator may change or remove them afterwards.
    if control.key_figures().await?.is_empty() {
        for def in dap_lake::benchmark::seeded::demo_key_figures() {
            control
                .put_key_figure(&def.id, serde_json::to_string(&def)?, "dap demo")
                .await?;
        }
    }
    Ok(created)
}

/// The demo's cursor key, created on first use.
pub fn cursor_key(dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = dir.join("cursor.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return URL_SAFE_NO_PAD
            .decode(text.trim())
            .context("cursor.key is corrupt; delete it to make a new one");
    }
    let mut key = vec![0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    std::fs::create_dir_all(dir)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(&path)?
        .write_all(URL_SAFE_NO_PAD.encode(&key).as_bytes())?;
    Ok(key)
}

/// Every demo domain's read role; not the role for sensitive columns.
pub fn default_roles() -> Vec<String> {
    let roles: std::collections::BTreeSet<String> = dap_lake::demo::datasets()
        .into_iter()
        .map(|d| d.read_role)
        .collect();
    roles.into_iter().collect()
}

/// The roles a demo token may carry: every dataset's read role (the demo's and any an
/// operator registered in the data directory's catalogue), sensitive columns, IT
/// administration and key figures.
pub async fn known_roles(data_dir: &Path) -> anyhow::Result<std::collections::BTreeSet<String>> {
    use dap_auth::roles::{IT_ADMIN, KEY_FIGURES, SENSITIVE};
    let mut roles: std::collections::BTreeSet<String> = default_roles().into_iter().collect();
    roles.extend([SENSITIVE, IT_ADMIN, KEY_FIGURES].map(str::to_owned));
    if data_dir.join("dap.sqlite").exists() {
        let options = DemoOptions {
            data_dir: data_dir.to_path_buf(),
            bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            rows_per_municipality: 0,
        };
        let control = ControlPlane::connect(&settings(&options)?.database_url).await?;
        roles.extend(
            control
                .load_catalogue()
                .await?
                .into_iter()
                .map(|d| d.read_role),
        );
    }
    Ok(roles)
}

/// The subject of the demo's platform operator (see [`settings`]).
pub const DEMO_OPERATOR: &str = "demo-operator";

/// What `dap token` was asked for.
#[derive(Debug)]
pub struct TokenRequest<'a> {
    pub data_dir: &'a Path,
    pub municipality: Option<&'a str>,
    pub roles: Option<Vec<String>>,
    pub loa: &'a str,
    pub ttl: chrono::Duration,
    pub subject: &'a str,
}

/// Signs the token: the municipality by code or name (the platform operator needs
/// none), roles that the demo knows (default: every domain's read role).
pub async fn demo_token(request: TokenRequest<'_>) -> anyhow::Result<String> {
    let dir = request.data_dir;
    let issuer = DevIssuer::load(dir).with_context(|| {
        format!(
            "no demo issuer key in {}: start `dap demo --data-dir {}` first",
            dir.display(),
            dir.display()
        )
    })?;
    let municipality = match request.municipality {
        Some(m) => Some(MunicipalityCode::from_code_or_name(m)?),
        None if request.subject == DEMO_OPERATOR => None,
        None => bail!(
            "--municipality is required: the code or name of the municipality the token acts \
             for, e.g. --municipality 0101 or --municipality København (only the platform \
             operator, --subject {DEMO_OPERATOR}, needs none)"
        ),
    };
    let loa: NsisLevel = request.loa.parse()?;
    let known = known_roles(dir).await?;
    let roles = match request.roles {
        Some(roles) => {
            let roles: Vec<String> = roles
                .into_iter()
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty())
                .collect();
            let unknown: Vec<&String> = roles.iter().filter(|r| !known.contains(*r)).collect();
            if !unknown.is_empty() {
                bail!(
                    "--roles: unknown role {}; the demo knows: {}",
                    unknown
                        .iter()
                        .map(|r| format!("'{r}'"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    known.iter().cloned().collect::<Vec<_>>().join(", ")
                );
            }
            roles
        }
        None => default_roles(),
    };
    Ok(issuer.token_for(
        request.subject,
        municipality.as_ref().map(MunicipalityCode::as_str),
        &roles,
        loa,
        request.ttl,
    )?)
}
