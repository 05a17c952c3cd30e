//! The embedded default: a data directory with a SQLite control plane, a local Delta
//! lake of generated data for all 98 municipalities, and the demo issuer's key.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dap_schema::ControlPlane;
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
            subject: "demo-operator".into(),
        });
    Ok(settings)
}

/// Creates whatever is missing in the data directory: the lake tables and the
/// catalogue entries. Existing data is reused as it is.
pub async fn prepare(options: &DemoOptions) -> anyhow::Result<Vec<String>> {
    prepare_with(options, &settings(options)?).await
}

/// Like [`prepare`], with the catalogue in `settings.database_url` (e.g. PostgreSQL).
pub async fn prepare_with(
    options: &DemoOptions,
    settings: &Settings,
) -> anyhow::Result<Vec<String>> {
    std::fs::create_dir_all(&options.data_dir)
        .with_context(|| format!("cannot create {}", options.data_dir.display()))?;
    let lake_dir = Path::new(&settings.lake.root);
    std::fs::create_dir_all(lake_dir)?;
    let root = url::Url::from_directory_path(lake_dir)
        .map_err(|_| anyhow::anyhow!("{} is not an absolute path", lake_dir.display()))?;
    let created = dap_lake::demo::create_lake(&root, options.rows_per_municipality).await?;
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
