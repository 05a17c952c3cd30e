//! How dap pull authenticates: a bearer token it was given, or a machine client's id and
//! secret, with which it gets a token from the server's `/oauth/token` itself and gets a
//! new one before the old one expires (and once more when the server says 401).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

/// What dap pull authenticates with.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A bearer token got elsewhere (`--token` or `DAP_TOKEN`); it is not renewed.
    Token(SecretString),
    /// A machine client (OAuth 2 client credentials, `client_secret_post`).
    Client {
        client_id: String,
        client_secret: SecretString,
    },
}

/// A token is renewed when less than this share of its lifetime is left (at least
/// [`MIN_MARGIN`] before it expires), so a request never starts with a token about to
/// expire.
const RENEW_AT_REMAINING: f64 = 0.2;
const MIN_MARGIN: Duration = Duration::from_secs(30);

/// The token in use and when it must be renewed.
#[derive(Debug)]
struct Current {
    token: SecretString,
    renew_at: Option<Instant>,
}

/// The credentials of one run and the token they gave.
#[derive(Debug)]
pub(super) struct Session {
    credentials: Credentials,
    token_url: url::Url,
    current: Mutex<Option<Current>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

impl Session {
    pub(super) fn new(credentials: Credentials, server: &url::Url) -> anyhow::Result<Self> {
        let mut base = server.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(Self {
            credentials,
            token_url: base.join("oauth/token")?,
            current: Mutex::new(None),
        })
    }

    /// True when a refused token can be replaced by a new one.
    pub(super) fn renewable(&self) -> bool {
        matches!(self.credentials, Credentials::Client { .. })
    }

    /// The bearer token for the next request: a client's token is fetched on first use
    /// and renewed when it is near its expiry.
    pub(super) async fn bearer(&self, http: &reqwest::Client) -> anyhow::Result<String> {
        let (client_id, client_secret) = match &self.credentials {
            Credentials::Token(token) => return Ok(token.expose_secret().to_owned()),
            Credentials::Client {
                client_id,
                client_secret,
            } => (client_id, client_secret),
        };
        let mut current = self.current.lock().await;
        if let Some(c) = current.as_ref()
            && c.renew_at.is_none_or(|at| Instant::now() < at)
        {
            return Ok(c.token.expose_secret().to_owned());
        }
        let fresh = self.fetch(http, client_id, client_secret).await?;
        let token = fresh.token.expose_secret().to_owned();
        *current = Some(fresh);
        Ok(token)
    }

    /// Forgets the current token after the server refused it, so the next
    /// [`Self::bearer`] gets a new one.
    pub(super) async fn refused(&self) {
        *self.current.lock().await = None;
    }

    async fn fetch(
        &self,
        http: &reqwest::Client,
        client_id: &str,
        client_secret: &SecretString,
    ) -> anyhow::Result<Current> {
        let response = http
            .post(self.token_url.clone())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", client_secret.expose_secret()),
            ])
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.token_url))?;
        let status = response.status();
        if !status.is_success() {
            // The OAuth error body says why (unknown, disabled or expired client, wrong
            // secret); it never repeats the secret.
            bail!(
                "{}: HTTP {status}: {} (client {client_id})",
                self.token_url,
                response.text().await.unwrap_or_default()
            );
        }
        let answer: TokenAnswer = response
            .json()
            .await
            .context("the token endpoint's answer is not an OAuth token response")?;
        let renew_at = answer.expires_in.map(|secs| {
            let lifetime = Duration::from_secs(secs);
            let margin = lifetime.mul_f64(RENEW_AT_REMAINING).max(MIN_MARGIN);
            Instant::now() + lifetime.saturating_sub(margin)
        });
        Ok(Current {
            token: SecretString::from(answer.access_token),
            renew_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use actix_web::{App, HttpResponse, HttpServer, web};

    use super::*;

    /// A token endpoint that hands out `token-1`, `token-2`, … living `lifetime` seconds,
    /// and counts the requests.
    fn token_endpoint(lifetime: u64) -> (url::Url, Arc<AtomicU64>) {
        let issued = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&issued);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("addr"));
        let server = HttpServer::new(move || {
            let counter = Arc::clone(&counter);
            // Any path: the session posts to <server>/oauth/token.
            App::new().default_service(web::to(move |form: web::Form<Vec<(String, String)>>| {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let ok = form
                    .iter()
                    .any(|(k, v)| k == "client_secret" && v == "s3cret");
                async move {
                    if ok {
                        HttpResponse::Ok().json(serde_json::json!({
                            "access_token": format!("token-{n}"),
                            "token_type": "Bearer",
                            "expires_in": lifetime,
                        }))
                    } else {
                        HttpResponse::Unauthorized().json(serde_json::json!({
                            "error": "invalid_client",
                        }))
                    }
                }
            }))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(server);
        (url.parse().expect("url"), issued)
    }

    fn client(secret: &str) -> Credentials {
        Credentials::Client {
            client_id: "dap-test".into(),
            client_secret: secret.into(),
        }
    }

    #[actix_web::test]
    async fn a_client_token_is_reused_while_fresh_and_renewed_near_expiry_or_when_refused() {
        let http = reqwest::Client::new();
        // A 15-minute token is fetched once and reused.
        let (server, issued) = token_endpoint(900);
        let session = Session::new(client("s3cret"), &server).expect("session");
        assert!(session.renewable());
        assert_eq!(session.bearer(&http).await.expect("first"), "token-1");
        assert_eq!(session.bearer(&http).await.expect("again"), "token-1");
        assert_eq!(issued.load(Ordering::SeqCst), 1);
        // After a 401 the next request gets a new token.
        session.refused().await;
        assert_eq!(session.bearer(&http).await.expect("renewed"), "token-2");

        // A token within its renewal margin is replaced before it is used again.
        let (server, issued) = token_endpoint(10);
        let session = Session::new(client("s3cret"), &server).expect("session");
        assert_eq!(session.bearer(&http).await.expect("first"), "token-1");
        assert_eq!(session.bearer(&http).await.expect("renewed"), "token-2");
        assert_eq!(issued.load(Ordering::SeqCst), 2);

        // A wrong secret: the endpoint's answer, never the secret.
        let session = Session::new(client("wrong-secret"), &server).expect("session");
        let error = session.bearer(&http).await.unwrap_err().to_string();
        assert!(
            error.contains("401") && error.contains("invalid_client"),
            "{error}"
        );
        assert!(!error.contains("wrong-secret"), "{error}");
    }

    #[tokio::test]
    async fn a_given_token_is_used_as_it_is_and_not_renewable() {
        let session = Session::new(
            Credentials::Token(SecretString::from("abc")),
            &"http://127.0.0.1:1/base".parse().expect("url"),
        )
        .expect("session");
        assert_eq!(
            session.token_url.as_str(),
            "http://127.0.0.1:1/base/oauth/token"
        );
        assert!(!session.renewable());
        let http = reqwest::Client::new();
        assert_eq!(session.bearer(&http).await.expect("token"), "abc");
    }
}
