//! Typed settings, validated at startup.
//!
//! Layering: defaults → config file (`--config`, unknown keys refused) → `DAP_*`
//! environment variables (nested keys with `__`, e.g. `DAP_LAKE__REFRESH_SECS`) →
//! command-line flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use dap_auth::{KombitClaims, PlainClaims};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use jsonwebtoken::Algorithm;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// All settings of a dap process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// `sqlite://path?mode=rwc` or `postgres://user@host/db`.
    pub database_url: String,
    pub lake: LakeSettings,
    /// Token issuers whose bearer tokens are accepted (OIDC discovery).
    #[serde(default)]
    pub issuers: Vec<IssuerSettings>,
    /// Demo mode: the dev issuer's key lives in this directory and its tokens are
    /// accepted. Set only by `dap demo`, never from a config file or the environment, so a
    /// production server cannot be switched into accepting demo tokens.
    #[serde(skip)]
    pub demo_dir: Option<PathBuf>,
    /// Key that signs paging cursors; at least 32 bytes. Replicas must share it.
    #[serde(skip_serializing)]
    pub cursor_secret: Option<SecretString>,
    /// `text` or `json` logs.
    #[serde(default = "default_log_format")]
    pub log_format: String,
    /// The address clients reach dap at, e.g. `https://dap.kommune.dk/`: the login's
    /// redirect URI is built from it, and `<public_url>oauth/token` is accepted as the
    /// audience of client assertions.
    #[serde(default)]
    pub public_url: Option<url::Url>,
    /// Interactive login for browsers (authorization code + PKCE); off when absent.
    #[serde(default)]
    pub login: Option<LoginSettings>,
    /// Days of audit records to keep; older ones are pruned hourly, leaving a checkpoint
    /// so the chain still verifies. Absent: keep everything.
    #[serde(default)]
    pub audit_retention_days: Option<u32>,
    /// People who manage the catalogue (register datasets, classify columns, map roles),
    /// by issuer and subject.
    #[serde(default)]
    pub platform_operators: Vec<crate::app::access::Operator>,
    /// Where the Delta Sharing protocol is served (Power BI, pandas, Spark).
    #[serde(default = "default_sharing_prefix")]
    pub sharing_prefix: String,
    /// Limits on exports: concurrent per caller and in total, and the send timeout.
    #[serde(default)]
    pub exports: crate::app::exports::ExportLimits,
    /// On SIGTERM/SIGINT, how long requests under way may finish before their
    /// connections are closed (exports cut off then are recorded as `interrupted`).
    #[serde(default = "default_shutdown_timeout_secs")]
    pub shutdown_timeout_secs: u64,
    /// Deliveries: size limit, staging directory, table maintenance schedule.
    #[serde(default)]
    pub deliveries: DeliverySettings,
    /// Where Prometheus scrapes `/metrics`: a listen address of its own, e.g.
    /// `127.0.0.1:9464`, never the public one. Absent: no metrics endpoint.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// `/health/ready` fails (`checks.disk`) when a local disk dap writes to (the SQLite
    /// control plane, a local lake, the delivery staging directory) has less free space
    /// than this, in percent.
    #[serde(default = "default_min_free_disk_percent")]
    pub min_free_disk_percent: u8,
    /// Minutes a browser session (console or API cookie) may go unused before it ends
    /// and the person signs in again; the absolute lifetime applies as well.
    #[serde(default = "default_session_idle_minutes")]
    pub session_idle_minutes: u32,
}

fn default_session_idle_minutes() -> u32 {
    30
}

fn default_min_free_disk_percent() -> u8 {
    5
}

fn default_shutdown_timeout_secs() -> u64 {
    30
}

/// How deliveries are received and tables kept fast to read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// Largest delivery file accepted, in bytes (larger: 413).
    #[serde(default = "default_delivery_max_bytes")]
    pub max_bytes: u64,
    /// Most rows one delivery may hold (more: 400). Validation keeps every key it has
    /// seen to find duplicates, about 80 bytes a row, so this bounds its memory.
    #[serde(default = "default_delivery_max_rows")]
    pub max_rows: u64,
    /// Directory for uploads being validated (the system's temporary directory when
    /// absent); give it room for the largest delivery twice.
    #[serde(default)]
    pub staging_dir: Option<PathBuf>,
    /// Hours between table maintenance runs in `dap serve` (compaction, checkpoint,
    /// vacuum); 0 turns the schedule off (run `dap maintain` instead).
    #[serde(default = "default_maintenance_hours")]
    pub maintenance_hours: u64,
    /// Days table versions stay readable (time travel, the change feed); vacuum removes
    /// only files older versions need. History itself is kept as data, not as versions.
    #[serde(default = "default_keep_versions_days")]
    pub keep_versions_days: u32,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            max_bytes: default_delivery_max_bytes(),
            max_rows: default_delivery_max_rows(),
            staging_dir: None,
            maintenance_hours: default_maintenance_hours(),
            keep_versions_days: default_keep_versions_days(),
        }
    }
}

fn default_delivery_max_bytes() -> u64 {
    512 * 1024 * 1024
}
fn default_delivery_max_rows() -> u64 {
    5_000_000
}
fn default_maintenance_hours() -> u64 {
    24
}
fn default_keep_versions_days() -> u32 {
    30
}

impl DeliverySettings {
    /// The maintenance policy these settings ask for.
    pub fn maintenance_policy(&self) -> dap_lake::maintain::MaintenancePolicy {
        dap_lake::maintain::MaintenancePolicy {
            keep_versions_days: self.keep_versions_days,
            ..Default::default()
        }
    }
}

fn default_sharing_prefix() -> String {
    "/delta-sharing".into()
}

/// dap as an OpenID Connect client of the broker, for browser logins.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginSettings {
    /// The broker; must also be one of `[[issuers]]`, whose rules check its access tokens.
    pub issuer: String,
    pub client_id: String,
    /// Absent: a public client (PKCE only).
    #[serde(default, skip_serializing)]
    pub client_secret: Option<SecretString>,
    /// Scopes to ask for (`openid` is always included).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// RFC 8707 resource indicator to send, for brokers that issue JWT access tokens per
    /// resource (e.g. `https://dap.kommune.dk`).
    #[serde(default)]
    pub resource: Option<String>,
    /// Session lifetime in hours (1 to 24).
    #[serde(default = "default_session_hours")]
    pub session_hours: i64,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into()]
}
fn default_session_hours() -> i64 {
    8
}

/// Where the Delta tables live and how often dap looks for new versions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeSettings {
    /// Directory or URL that relative table locations resolve against.
    pub root: String,
    /// Seconds between checks for new table versions and catalogue changes.
    #[serde(default = "default_refresh_secs")]
    pub refresh_secs: u64,
    /// Worker threads of the lake runtime.
    #[serde(default = "default_lake_threads")]
    pub threads: usize,
    /// MiB of decoded partitions kept in memory for paged reads (`/rows`, GraphQL and
    /// OData pages): a page then filters and sorts rows already decoded instead of
    /// decoding the partition's files again. 0 turns it off. A partition larger than a
    /// quarter of this is always read from its files.
    #[serde(default = "default_page_cache_mb")]
    pub page_cache_mb: usize,
    /// How the object store named by `root` is reached (`az://`, `abfss://`, `s3://`).
    /// Absent values come from the store's own environment variables (`AZURE_STORAGE_*`,
    /// `AWS_*`), then from the platform (managed identity, instance profile).
    #[serde(default)]
    pub storage: StorageSettings,
}

/// Credentials and endpoint of the lake's object store. Secrets are never serialised or
/// shown by `Debug`. Environment: `DAP_LAKE__STORAGE__ACCOUNT_NAME`, and so on.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// Azure: the storage account (`devstoreaccount1` for Azurite).
    #[serde(default)]
    pub account_name: Option<String>,
    /// Azure: the account's access key.
    #[serde(default, skip_serializing)]
    pub access_key: Option<SecretString>,
    /// Azure: a shared access signature (SAS) token instead of the key.
    #[serde(default, skip_serializing)]
    pub sas_token: Option<SecretString>,
    /// The store's endpoint, for emulators and S3-compatible stores: e.g.
    /// `http://127.0.0.1:10000/devstoreaccount1` (Azurite) or `https://s3.example.dk`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Allow plain HTTP to the endpoint (emulators only).
    #[serde(default)]
    pub allow_http: bool,
    /// S3: the region.
    #[serde(default)]
    pub region: Option<String>,
    /// S3: the access key id.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// S3: the secret access key.
    #[serde(default, skip_serializing)]
    pub secret_access_key: Option<SecretString>,
    /// S3: a session token, with temporary credentials.
    #[serde(default, skip_serializing)]
    pub session_token: Option<SecretString>,
    /// Further delta-rs/object_store options, passed as they are (no secrets here: they
    /// are shown in the configuration), e.g. `AWS_S3_LOCKING_PROVIDER = "dynamodb"` or
    /// `aws_conditional_put = "etag"` for several writers on S3.
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
}

impl StorageSettings {
    /// The options delta-rs gets for a lake at `root`: Azure keys for Azure URLs, AWS
    /// keys for S3 URLs, nothing for a local directory.
    pub fn options_for(&self, root: &url::Url) -> anyhow::Result<dap_lake::StorageOptions> {
        use dap_lake::storage::StoreKind;
        use secrecy::ExposeSecret;
        let secret = |s: &Option<SecretString>| s.as_ref().map(|s| s.expose_secret().to_owned());
        let flag = |b: bool| b.then(|| "true".to_owned());
        let named: Vec<(&str, Option<String>)> = match StoreKind::of(root)? {
            StoreKind::Local => return Ok(dap_lake::StorageOptions::default()),
            StoreKind::Azure => vec![
                ("azure_storage_account_name", self.account_name.clone()),
                ("azure_storage_account_key", secret(&self.access_key)),
                ("azure_storage_sas_key", secret(&self.sas_token)),
                ("azure_storage_endpoint", self.endpoint.clone()),
                ("azure_allow_http", flag(self.allow_http)),
            ],
            StoreKind::S3 => vec![
                ("AWS_REGION", self.region.clone()),
                ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
                ("AWS_SECRET_ACCESS_KEY", secret(&self.secret_access_key)),
                ("AWS_SESSION_TOKEN", secret(&self.session_token)),
                ("AWS_ENDPOINT_URL", self.endpoint.clone()),
                ("AWS_ALLOW_HTTP", flag(self.allow_http)),
            ],
        };
        Ok(named
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
            .chain(self.options.iter().map(|(k, v)| (k.clone(), v.clone())))
            .collect())
    }
}

impl LakeSettings {
    /// The lake these settings name: at a URL (an object store, reached with
    /// `storage`) or in a local directory. An unsupported scheme or an object store
    /// that cannot be set up from the options (no account, no bucket) fails here, with the
    /// setting to fix; nothing is read yet.
    pub async fn open(
        &self,
        runtime: std::sync::Arc<dap_lake::LakeRuntime>,
    ) -> anyhow::Result<std::sync::Arc<dap_lake::Lake>> {
        let settings = self;
        let root = settings.root.as_str();
        let lake = match url::Url::parse(root) {
            // One-letter schemes are Windows drive letters, not URLs.
            Ok(url) if url.scheme().len() > 1 => {
                let mut url = url;
                if !url.path().ends_with('/') {
                    url.set_path(&format!("{}/", url.path()));
                }
                let options = settings
                    .storage
                    .options_for(&url)
                    .with_context(|| format!("lake.root {root}"))?;
                dap_lake::Lake::new(url, runtime).with_storage(options)
            }
            _ => dap_lake::Lake::local(std::path::Path::new(root), runtime)?,
        };
        let lake = lake.with_page_cache(settings.page_cache_mb.saturating_mul(1024 * 1024));
        let lake = std::sync::Arc::new(lake);
        lake.check_storage().await.map_err(|error| {
            anyhow::anyhow!(
                "lake.root {root}: {error}. Set the store's account or bucket and credentials in \
             [lake.storage] (account_name, access_key or sas_token for Azure; region, \
             access_key_id, secret_access_key for S3; endpoint and allow_http for emulators), \
             as DAP_LAKE__STORAGE__* variables, or as the store's own AZURE_STORAGE_* / AWS_* \
             variables"
            )
        })?;
        Ok(lake)
    }
}

/// One accepted token issuer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSettings {
    /// Exact `iss`; discovery reads `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// Required `aud`.
    pub audience: String,
    /// Accepted signature algorithms.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<Algorithm>,
    /// Clock-skew leeway in seconds (at most 120).
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    /// Accepted JOSE `typ` header values, e.g. `["at+jwt"]` (RFC 9068) to refuse ID
    /// tokens; absent: any `typ`.
    #[serde(default)]
    pub typ: Option<Vec<String>>,
    /// How claims become a principal: `claims` (plain claim names, see `claims`) or
    /// `kombit` (OIO BPP privilege list from KOMBIT's Context Handler, see `kombit`).
    #[serde(default)]
    pub profile: ClaimProfile,
    /// Names of the claims that carry municipality, roles and NSIS level (`claims` profile).
    #[serde(default)]
    pub claims: PlainClaims,
    /// Claim names of the `kombit` profile.
    #[serde(default)]
    pub kombit: KombitClaims,
}

/// The claim mapping profile of an issuer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimProfile {
    #[default]
    Claims,
    Kombit,
}

impl IssuerSettings {
    /// The configured claim mapper.
    pub fn mapper(&self) -> std::sync::Arc<dyn dap_auth::ClaimMapper> {
        match self.profile {
            ClaimProfile::Claims => std::sync::Arc::new(self.claims.clone()),
            ClaimProfile::Kombit => std::sync::Arc::new(self.kombit.clone()),
        }
    }
}

fn default_log_format() -> String {
    "text".into()
}
fn default_refresh_secs() -> u64 {
    5
}
fn default_page_cache_mb() -> usize {
    dap_lake::DEFAULT_PAGE_CACHE_BYTES / (1024 * 1024)
}
fn default_lake_threads() -> usize {
    2
}
fn default_algorithms() -> Vec<Algorithm> {
    vec![Algorithm::RS256, Algorithm::PS256, Algorithm::ES256]
}
fn default_leeway() -> u64 {
    30
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://dap-data/dap.sqlite?mode=rwc".into(),
            lake: LakeSettings {
                root: "dap-data/lake".into(),
                refresh_secs: default_refresh_secs(),
                threads: default_lake_threads(),
                page_cache_mb: default_page_cache_mb(),
                storage: StorageSettings::default(),
            },
            issuers: Vec::new(),
            demo_dir: None,
            cursor_secret: None,
            log_format: default_log_format(),
            public_url: None,
            login: None,
            audit_retention_days: None,
            platform_operators: Vec::new(),
            sharing_prefix: default_sharing_prefix(),
            exports: crate::app::exports::ExportLimits::default(),
            shutdown_timeout_secs: default_shutdown_timeout_secs(),
            deliveries: DeliverySettings::default(),
            metrics_listen: None,
            min_free_disk_percent: default_min_free_disk_percent(),
            session_idle_minutes: default_session_idle_minutes(),
        }
    }
}

impl Settings {
    /// Defaults, then the config file, then `DAP_*` variables.
    pub fn load(config: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Self::default()));
        if let Some(path) = config {
            if !path.exists() {
                bail!("config file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file(path));
        }
        let settings: Self = figment
            // The CLI's credentials (dap pull, dap deliver), DAP_LOG and the test scripts'
            // variables are not settings.
            .merge(
                Env::prefixed("DAP_")
                    .ignore(&[
                        "token",
                        "client_id",
                        "client_secret",
                        "log",
                        "bin",
                        "venv",
                        "sharing_venv",
                        "sharing_python",
                        "require_postgres",
                        "e2e_strict",
                        "test_postgres_url",
                    ])
                    .split("__"),
            )
            .extract()
            .context("invalid configuration")?;
        Ok(settings)
    }

    /// The local directories dap writes to, whose free space readiness checks: the
    /// SQLite control plane's, a local lake's root and the delivery staging directory.
    pub fn local_disks(&self) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        if let Some(rest) = self.database_url.strip_prefix("sqlite:") {
            let file = rest.trim_start_matches("//");
            let file = file.split('?').next().unwrap_or_default();
            if !file.is_empty() && !file.starts_with(":memory:") {
                paths.push(PathBuf::from(file));
            }
        }
        match url::Url::parse(&self.lake.root) {
            Ok(url) if url.scheme() == "file" => paths.extend(url.to_file_path().ok()),
            Ok(url) if url.scheme().len() > 1 => {}
            _ => paths.push(PathBuf::from(&self.lake.root)),
        }
        paths.push(
            self.deliveries
                .staging_dir
                .clone()
                .unwrap_or_else(std::env::temp_dir),
        );
        paths
    }

    /// Checks what cannot be expressed in types.
    pub fn validate(&self) -> anyhow::Result<()> {
        let minimum = dap_schema::audit_retention::MIN_RETENTION_DAYS;
        if self.audit_retention_days.is_some_and(|d| d < minimum) {
            bail!(
                "audit_retention_days must be at least {minimum}: a shorter retention removes the records of requests still being answered and the anchor of yesterday's chain head"
            );
        }
        if self.issuers.is_empty() && self.demo_dir.is_none() {
            bail!(
                "no token issuer configured: add an [[issuers]] entry (issuer, audience) or run `dap demo`"
            );
        }
        for issuer in &self.issuers {
            if issuer.leeway_secs > dap_auth::verifier::MAX_LEEWAY_SECS {
                bail!("issuer {}: leeway_secs must be at most 120", issuer.issuer);
            }
            if issuer.algorithms.is_empty()
                || issuer
                    .algorithms
                    .iter()
                    .any(|a| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
            {
                bail!(
                    "issuer {}: algorithms must list asymmetric algorithms only (RS256, PS256, ES256, EdDSA, …)",
                    issuer.issuer
                );
            }
            if issuer.audience.is_empty() {
                bail!("issuer {}: audience is required", issuer.issuer);
            }
        }
        if let Some(login) = &self.login {
            if self.public_url.is_none() {
                bail!(
                    "login needs public_url: the broker redirects browsers back to <public_url>auth/callback"
                );
            }
            if !self.issuers.iter().any(|i| i.issuer == login.issuer) {
                bail!(
                    "login.issuer {} must also be configured under [[issuers]]: its access tokens are checked by those rules",
                    login.issuer
                );
            }
            if !(1..=24).contains(&login.session_hours) {
                bail!("login.session_hours must be between 1 and 24");
            }
        }
        if !(1..=1440).contains(&self.session_idle_minutes) {
            bail!("session_idle_minutes must be between 1 and 1440 (a day), e.g. 30");
        }
        let prefix = self.sharing_prefix.trim_matches('/');
        if prefix.is_empty()
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/'))
            || [
                "api",
                "graphql",
                "oauth",
                "auth",
                "health",
                "docs",
                ".well-known",
            ]
            .iter()
            .any(|taken| prefix.split('/').next() == Some(*taken))
        {
            bail!(
                "sharing_prefix must be a path of its own, e.g. /delta-sharing (letters, digits, -, _ and /; not under /api, /graphql, /oauth, /auth, /health or /docs)"
            );
        }
        self.exports.validate().map_err(anyhow::Error::msg)?;
        if self.lake.refresh_secs == 0 {
            bail!("lake.refresh_secs must be at least 1");
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!("log_format must be text or json");
        }
        if self.min_free_disk_percent > 50 {
            bail!("min_free_disk_percent must be at most 50, e.g. 5");
        }
        if self
            .metrics_listen
            .is_some_and(|m| m == self.bind && m.port() != 0)
        {
            bail!(
                "metrics_listen must differ from bind: /metrics is served on an address of its own, e.g. 127.0.0.1:9464"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retention_shorter_than_the_minimum_is_refused_at_startup() {
        let mut settings = Settings {
            demo_dir: Some("dap-data".into()),
            ..Settings::default()
        };
        settings.audit_retention_days = Some(0);
        let message = settings.validate().err().map(|e| e.to_string());
        assert!(message.is_some_and(|m| m.contains("at least 1")));
        settings.audit_retention_days = Some(1);
        assert!(settings.validate().is_ok());
    }

    /// The documented configurations name only settings that exist, and validate:
    /// `deploy/dap.toml` and every TOML block of the README.
    #[test]
    fn the_documented_configurations_load_and_validate() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let deploy = Settings::load(Some(&root.join("deploy/dap.toml"))).expect("deploy/dap.toml");
        deploy.validate().expect("deploy/dap.toml validates");
        assert_eq!(deploy.log_format, "json");
        assert_eq!(
            deploy.metrics_listen.map(|a| a.port()),
            Some(9464),
            "metrics on their own port"
        );
        assert_ne!(
            deploy.metrics_listen.map(|a| a.port()),
            Some(deploy.bind.port())
        );
        let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
        let blocks: Vec<&str> = readme
            .split("```toml\n")
            .skip(1)
            .map(|b| b.split("```").next().unwrap_or_default())
            .collect();
        assert!(!blocks.is_empty());
        for block in blocks {
            let file = tempfile::NamedTempFile::new().expect("temp file");
            std::fs::write(file.path(), block).expect("write");
            let mut settings =
                Settings::load(Some(file.path())).unwrap_or_else(|e| panic!("{e:#}\n{block}"));
            if !block.contains("[[issuers]]") {
                // A fragment (e.g. only the lake): the identity part is in another block.
                settings.demo_dir = Some(PathBuf::from("/tmp"));
            }
            settings
                .validate()
                .unwrap_or_else(|e| panic!("{e:#}\n{block}"));
        }
    }

    #[test]
    fn metrics_are_never_on_the_public_address() {
        let mut settings = Settings {
            demo_dir: Some(PathBuf::from("/tmp")),
            ..Settings::default()
        };
        settings.metrics_listen = Some(settings.bind);
        assert!(settings.validate().is_err());
        settings.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 9464)));
        assert!(settings.validate().is_ok());
    }

    #[test]
    fn the_local_disks_are_the_sqlite_file_the_local_lake_and_staging() {
        let settings = Settings {
            database_url: "sqlite:///var/lib/dap/dap.sqlite?mode=rwc".into(),
            ..Settings::default()
        };
        let disks = settings.local_disks();
        assert_eq!(disks[0], PathBuf::from("/var/lib/dap/dap.sqlite"));
        assert_eq!(disks[1], PathBuf::from("dap-data/lake"));
        let mut remote = Settings {
            database_url: "postgres://dap@db/dap".into(),
            ..Settings::default()
        };
        remote.lake.root = "az://warehouse/delta".into();
        assert_eq!(remote.local_disks(), vec![std::env::temp_dir()]);
    }

    #[test]
    fn storage_settings_become_the_options_of_the_lake_url_s_store() {
        let storage = StorageSettings {
            account_name: Some("devstoreaccount1".into()),
            access_key: Some(SecretString::from("a2V5LXZhbHVl")),
            endpoint: Some("http://127.0.0.1:10000/devstoreaccount1".into()),
            allow_http: true,
            region: Some("eu-north-1".into()),
            access_key_id: Some("AKIA".into()),
            secret_access_key: Some(SecretString::from("c2VjcmV0")),
            ..StorageSettings::default()
        };
        let url = |u: &str| url::Url::parse(u).expect("url");
        let azure = format!(
            "{:?}",
            storage.options_for(&url("az://lake/p/")).expect("az")
        );
        for key in [
            "azure_storage_account_name",
            "azure_storage_account_key",
            "azure_storage_endpoint",
            "azure_allow_http",
        ] {
            assert!(azure.contains(key), "{azure}");
        }
        assert!(
            !azure.contains("AWS_") && !azure.contains("a2V5LXZhbHVl"),
            "{azure}"
        );
        let s3 = format!(
            "{:?}",
            storage.options_for(&url("s3://bucket/p/")).expect("s3")
        );
        for key in [
            "AWS_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ENDPOINT_URL",
        ] {
            assert!(s3.contains(key), "{s3}");
        }
        assert!(!s3.contains("azure_") && !s3.contains("c2VjcmV0"), "{s3}");
        let local = storage
            .options_for(&url("file:///tmp/lake/"))
            .expect("local");
        assert_eq!(local, dap_lake::StorageOptions::default());
        assert!(storage.options_for(&url("ftp://host/lake/")).is_err());
    }

    #[test]
    fn storage_secrets_are_neither_shown_nor_serialised() {
        let mut settings = Settings::default();
        settings.lake.storage.access_key = Some(SecretString::from("a2V5LXZhbHVl"));
        settings.lake.storage.sas_token = Some(SecretString::from("sv=2024&sig=c2ln"));
        settings.lake.storage.secret_access_key = Some(SecretString::from("c2VjcmV0"));
        let shown = format!("{settings:?}");
        let stored = serde_json::to_string(&settings).expect("json");
        for secret in ["a2V5LXZhbHVl", "c2ln", "c2VjcmV0"] {
            assert!(!shown.contains(secret), "{shown}");
            assert!(!stored.contains(secret), "{stored}");
        }
    }

    #[test]
    fn storage_settings_are_read_from_the_config_file() {
        use secrecy::ExposeSecret;
        let text = "[lake]\nroot = \"az://lake/dap\"\n[lake.storage]\naccount_name = \"acct\"\naccess_key = \"a2V5\"\nallow_http = true\n";
        let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string(text))
            .extract()
            .expect("settings");
        let storage = &settings.lake.storage;
        assert_eq!(storage.account_name.as_deref(), Some("acct"));
        assert!(storage.allow_http);
        assert_eq!(
            storage
                .access_key
                .as_ref()
                .map(|k| k.expose_secret().to_owned()),
            Some("a2V5".to_owned())
        );
        let unknown = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string("[lake.storage]\naccount = \"acct\"\n"))
            .extract::<Settings>();
        assert!(unknown.is_err(), "unknown storage keys are refused");
    }

    #[test]
    fn the_sharing_prefix_must_be_a_path_of_its_own() {
        let mut settings = Settings {
            demo_dir: Some(PathBuf::from("/tmp")),
            ..Settings::default()
        };
        assert!(settings.validate().is_ok(), "the default /delta-sharing");
        for bad in [
            "/",
            "",
            "/api/v1/sharing",
            "/graphql",
            "/delta sharing",
            "/x?y",
        ] {
            settings.sharing_prefix = bad.into();
            assert!(settings.validate().is_err(), "{bad}");
        }
        settings.sharing_prefix = "/kommune/delta-sharing/".into();
        assert!(settings.validate().is_ok());
    }
}
