//! `dap deliver`: send a file to `POST /api/v1/datasets/{id}/deliveries` as a machine
//! client. Credentials come from the environment: `DAP_CLIENT_ID` and
//! `DAP_CLIENT_SECRET` are exchanged at the server's `/oauth/token` (client credentials,
//! HTTP Basic) for a 15-minute token, or `DAP_TOKEN` is used as it is. The file is
//! streamed, never read into memory whole; its format follows its extension.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use dap_openapi::model::deliveries::DeliveryReceipt;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// How the client proves who it is.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// Client id and secret, exchanged for a token first.
    Client { id: String, secret: SecretString },
    /// A bearer token.
    Token(SecretString),
}

impl Credentials {
    /// From `DAP_CLIENT_ID` + `DAP_CLIENT_SECRET`, else `DAP_TOKEN`.
    pub fn from_env() -> anyhow::Result<Self> {
        match (
            std::env::var("DAP_CLIENT_ID"),
            std::env::var("DAP_CLIENT_SECRET"),
            std::env::var("DAP_TOKEN"),
        ) {
            (Ok(id), Ok(secret), _) => Ok(Self::Client {
                id,
                secret: secret.into(),
            }),
            (_, _, Ok(token)) => Ok(Self::Token(token.into())),
            _ => bail!(
                "set DAP_CLIENT_ID and DAP_CLIENT_SECRET (a machine client with a delivery right), or DAP_TOKEN"
            ),
        }
    }
}

/// What to deliver.
#[derive(Debug, Clone)]
pub struct DeliverOptions {
    pub server: Url,
    pub credentials: Credentials,
    pub dataset: String,
    pub file: PathBuf,
    /// `upsert`, `replace` or `delete`.
    pub mode: String,
    pub period: Option<String>,
    pub period_column: Option<String>,
    pub delivery_id: Option<String>,
    pub municipality: Option<String>,
}

/// The Content-Type of a delivery file, by its extension.
fn content_type(file: &Path) -> anyhow::Result<&'static str> {
    let extension = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("csv") => Ok("text/csv"),
        Some("ndjson" | "jsonl") => Ok("application/x-ndjson"),
        Some("parquet") => Ok("application/vnd.apache.parquet"),
        _ => bail!(
            "{}: name the file .csv, .ndjson (or .jsonl) or .parquet so its format is known",
            file.display()
        ),
    }
}

fn base(server: &Url) -> Url {
    let mut base = server.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base
}

/// A bearer token for the credentials.
async fn token(client: &reqwest::Client, options: &DeliverOptions) -> anyhow::Result<String> {
    let (id, secret) = match &options.credentials {
        Credentials::Token(token) => return Ok(token.expose_secret().to_owned()),
        Credentials::Client { id, secret } => (id, secret),
    };
    let response = client
        .post(base(&options.server).join("oauth/token")?)
        .basic_auth(id, Some(secret.expose_secret()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    match body["access_token"].as_str() {
        Some(token) if status.is_success() => Ok(token.to_owned()),
        _ => bail!("the token endpoint refused client {id}: HTTP {status}: {body}"),
    }
}

/// Sends the file; the receipt, or the server's refusal as the error.
pub async fn deliver(options: &DeliverOptions) -> anyhow::Result<DeliveryReceipt> {
    let content_type = content_type(&options.file)?;
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()?;
    let token = token(&client, options).await?;
    let mut url =
        base(&options.server).join(&format!("api/v1/datasets/{}/deliveries", options.dataset))?;
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("mode", &options.mode);
        for (name, value) in [
            ("period", &options.period),
            ("period_column", &options.period_column),
            ("delivery_id", &options.delivery_id),
            ("municipality", &options.municipality),
        ] {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
    }
    let file = tokio::fs::File::open(&options.file)
        .await
        .with_context(|| format!("cannot open {}", options.file.display()))?;
    let length = file.metadata().await?.len();
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
    let response = client
        .post(url)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .header(reqwest::header::CONTENT_LENGTH, length)
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("the delivery was refused: HTTP {status}: {text}");
    }
    Ok(serde_json::from_str(&text)?)
}
