//! Interactive login for browsers: OpenID Connect authorization code flow with PKCE
//! (`openidconnect`), against the same broker whose access tokens dap accepts. The
//! broker's access token is verified like any bearer token; the resulting principal is
//! kept server-side in a session, and the browser gets only an opaque session cookie.

use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse,
};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::app::AppError;
use url::Url;

use crate::settings::LoginSettings;

type HmacSha256 = Hmac<Sha256>;
type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
    EndpointMaybeSet,
>;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "dap_session";
/// Name of the short-lived cookie that carries the login state to the callback.
pub const STATE_COOKIE: &str = "dap_login";
/// How long a started login may take.
pub const LOGIN_SECONDS: i64 = 600;

/// A configured login: the broker's client and how sessions are made.
pub struct Login {
    client: Client,
    http: reqwest::Client,
    scopes: Vec<String>,
    resource: Option<String>,
    /// Session lifetime.
    pub session_hours: i64,
    /// Cookies get `Secure` when dap is served over https.
    pub secure_cookies: bool,
    key: SecretSlice<u8>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Login")
    }
}

/// What travels from `/auth/login` to `/auth/callback` in the signed state cookie.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub return_to: String,
    /// Seconds since the epoch after which the login is void.
    pub expires: i64,
}

/// The outcome of a successful callback: the broker's access token, to be verified.
pub struct Completed {
    pub access_token: String,
    pub id_subject: String,
}

impl Login {
    /// Discovers the broker and prepares the client; the redirect URI is
    /// `<public_url>/auth/callback`.
    pub async fn discover(
        settings: &LoginSettings,
        public_url: &Url,
        key: Vec<u8>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        let metadata =
            CoreProviderMetadata::discover_async(IssuerUrl::new(settings.issuer.clone())?, &http)
                .await
                .with_context(|| format!("login: discovery of {} failed", settings.issuer))?;
        let token_url = metadata
            .token_endpoint()
            .cloned()
            .context("login: the broker names no token endpoint")?;
        let redirect = public_url
            .join("auth/callback")
            .context("login: public_url cannot be joined")?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(settings.client_id.clone()),
            settings
                .client_secret
                .as_ref()
                .map(|s| ClientSecret::new(s.expose_secret().to_owned())),
        )
        .set_token_uri(token_url)
        .set_redirect_uri(RedirectUrl::from_url(redirect));
        Ok(Self {
            client,
            http,
            scopes: settings.scopes.clone(),
            resource: settings.resource.clone(),
            session_hours: settings.session_hours,
            secure_cookies: public_url.scheme() == "https",
            key: key.into(),
        })
    }

    /// The broker's authorization URL and the pending login to keep in a cookie.
    pub fn start(&self, return_to: String) -> (Url, PendingLogin) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in self.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if let Some(resource) = &self.resource {
            request = request.add_extra_param("resource", resource.clone());
        }
        let (url, state, nonce) = request.url();
        let pending = PendingLogin {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            return_to,
            expires: chrono::Utc::now().timestamp() + LOGIN_SECONDS,
        };
        (url, pending)
    }

    /// Exchanges the code (with the PKCE verifier) and checks the ID token's signature,
    /// issuer, audience and nonce.
    pub async fn complete(
        &self,
        pending: &PendingLogin,
        code: String,
    ) -> anyhow::Result<Completed> {
        let mut request = self
            .client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()));
        if let Some(resource) = &self.resource {
            request = request.add_extra_param("resource", resource.clone());
        }
        let response = request
            .request_async(&self.http)
            .await
            .context("the broker refused the authorization code")?;
        let id_token = response
            .id_token()
            .context("the broker's token response has no ID token")?;
        let claims = id_token
            .claims(
                &self.client.id_token_verifier(),
                &Nonce::new(pending.nonce.clone()),
            )
            .context("the ID token is not valid")?;
        Ok(Completed {
            access_token: response.access_token().secret().clone(),
            id_subject: claims.subject().as_str().to_owned(),
        })
    }

    fn mac(&self) -> anyhow::Result<HmacSha256> {
        let mut mac = HmacSha256::new_from_slice(self.key.expose_secret())?;
        mac.update(b"dap-login-state\n");
        Ok(mac)
    }

    /// `payload.signature`, both base64url.
    pub fn seal(&self, pending: &PendingLogin) -> anyhow::Result<String> {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(pending)?);
        let mut mac = self.mac()?;
        mac.update(payload.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        Ok(format!("{payload}.{signature}"))
    }

    /// The pending login of a state cookie, if it is genuine and not expired.
    pub fn open(&self, sealed: &str) -> Option<PendingLogin> {
        let (payload, signature) = sealed.split_once('.')?;
        let mut mac = self.mac().ok()?;
        mac.update(payload.as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(signature).ok()?)
            .ok()?;
        let pending: PendingLogin =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (pending.expires > chrono::Utc::now().timestamp()).then_some(pending)
    }
}

/// A safe place to go after login: a path on this server, never another site.
pub fn safe_return_to(requested: Option<&str>) -> String {
    match requested {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && path.len() <= 512
                && path.chars().all(|c| c.is_ascii_graphic()) =>
        {
            path.to_owned()
        }
        _ => "/api/v1/me".to_owned(),
    }
}

/// Browser login as app data: not configured (its routes answer 404), or configured with
/// the broker's issuer URL and, once its discovery has succeeded, the login itself (until
/// then its routes answer 503 and readiness names the broker).
#[derive(Debug, Default)]
pub struct LoginState {
    issuer: Option<String>,
    login: std::sync::OnceLock<Login>,
}

impl LoginState {
    /// A login at `issuer`, discovered or not yet.
    pub fn configured(issuer: &str, login: Option<Login>) -> Self {
        let state = Self {
            issuer: Some(issuer.to_owned()),
            login: std::sync::OnceLock::new(),
        };
        if let Some(login) = login {
            let _ = state.login.set(login);
        }
        state
    }

    /// Sets the login once its discovery has succeeded.
    pub fn discovered(&self, login: Login) {
        let _ = self.login.set(login);
    }

    /// The broker's issuer URL and whether its login works now; `None` when browser
    /// login is not configured.
    pub fn status(&self) -> Option<(&str, bool)> {
        self.issuer
            .as_deref()
            .map(|issuer| (issuer, self.login.get().is_some()))
    }

    /// The login, [`AppError::NotReady`] while its broker has not answered discovery, or
    /// [`AppError::NotFound`] when browser login is not configured.
    pub fn get(&self) -> Result<&Login, AppError> {
        match (self.login.get(), &self.issuer) {
            (Some(login), _) => Ok(login),
            (None, Some(issuer)) => Err(AppError::NotReady(format!(
                "login: the broker {issuer} has not answered discovery yet"
            ))),
            (None, None) => Err(AppError::NotFound),
        }
    }
}
