//! The composition root: `Application::build(settings)` builds the core's services,
//! mounts every surface on them, binds; `run_until_stopped()` serves.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware;
use actix_web::{App, HttpServer, web};
use anyhow::{Context, bail};
use dap_auth::{DapKeys, DevIssuer, IssuerConfig, TokenVerifier};
use dap_lake::LakeRuntime;
use dap_schema::ControlPlane;
use secrecy::ExposeSecret;
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;

use crate::app::{AdminCache, AppError, Catalogue, Core, CursorSigner, IssuerKeys, KeyFigures};
use crate::graphql::SchemaCache;
use crate::rest::fallback::{RouteTable, fallback};
use crate::rest::login::{Login, LoginState};
use crate::rest::observe;
use crate::settings::Settings;
use crate::{graphql, rest, sharing};

/// Timeout for every request dap makes to a token issuer.
const ISSUER_TIMEOUT: Duration = Duration::from_secs(5);

/// A bound, ready-to-run dap server.
pub struct Application {
    port: u16,
    server: Server,
    core: web::Data<Core>,
    refresh: Duration,
    retention_days: Option<u32>,
    /// Table maintenance: how often, and by which policy (`None`: off).
    maintenance: Option<(Duration, dap_lake::maintain::MaintenancePolicy)>,
    /// Retries discovery of the issuers that did not answer at startup.
    discovery: Option<tokio::task::JoinHandle<()>>,
    /// `/metrics` on its own listen address, when configured.
    metrics: Option<(u16, Server)>,
}

/// First pause between discovery attempts of an unreachable issuer; it doubles up to
/// [`DISCOVERY_RETRY_MAX`].
const DISCOVERY_RETRY_FIRST: Duration = Duration::from_secs(1);
const DISCOVERY_RETRY_MAX: Duration = Duration::from_secs(60);

/// A browser login whose broker did not answer discovery at startup.
struct PendingLogin {
    state: web::Data<LoginState>,
    settings: crate::settings::LoginSettings,
    public_url: url::Url,
    key: Vec<u8>,
}

/// Retries discovery of `pending` issuers (and of the login's broker) with exponential
/// backoff until each succeeds.
async fn retry_discovery(
    mut pending: Vec<dap_auth::PendingIssuer>,
    mut login: Option<PendingLogin>,
) {
    let mut pause = DISCOVERY_RETRY_FIRST;
    while !pending.is_empty() || login.is_some() {
        tokio::time::sleep(pause).await;
        if let Some(p) = login.take() {
            match Login::discover(&p.settings, &p.public_url, p.key.clone(), ISSUER_TIMEOUT).await {
                Ok(discovered) => {
                    p.state.discovered(discovered);
                    tracing::info!(issuer = %p.settings.issuer, "login broker discovered");
                }
                Err(error) => {
                    tracing::warn!(
                        issuer = %p.settings.issuer,
                        reason = format!("{error:#}"),
                        "login broker discovery failed again"
                    );
                    login = Some(p);
                }
            }
        }
        let mut still = Vec::new();
        for issuer in pending {
            match issuer.discover(ISSUER_TIMEOUT).await {
                Ok(()) => tracing::info!(
                    issuer = issuer.issuer(),
                    "token issuer discovered; its tokens are accepted now"
                ),
                Err(error) => {
                    tracing::warn!(
                        issuer = issuer.issuer(),
                        reason = %error,
                        retry_in_secs = (pause * 2).min(DISCOVERY_RETRY_MAX).as_secs(),
                        "token issuer discovery failed again"
                    );
                    still.push(issuer);
                }
            }
        }
        pending = still;
        pause = (pause * 2).min(DISCOVERY_RETRY_MAX);
    }
}

impl Application {
    /// Connects to the control plane, opens the lake, discovers issuers and binds.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.validate()?;
        let control = ControlPlane::connect(&settings.database_url)
            .await
            .context("cannot open the control-plane database")?;
        let runtime = Arc::new(LakeRuntime::new(settings.lake.threads)?);
        let lake = settings.lake.open(runtime).await?;
        let issuer_keys = IssuerKeys::load(&control).await?;
        let mut verifier = TokenVerifier::new().with_shared_issuer(
            DapKeys::issuer_config(),
            Arc::clone(&issuer_keys.verifier_keys),
        );
        let mut dev_jwks = None;
        if let Some(dir) = &settings.demo_dir {
            let issuer = DevIssuer::load_or_create(dir)?;
            dev_jwks = Some(serde_json::to_value(issuer.jwks()?)?);
            verifier = verifier.with_issuer(issuer.issuer_config(), issuer.key_set()?);
        }
        let mut pending = Vec::new();
        for issuer in &settings.issuers {
            let config = IssuerConfig {
                issuer: issuer.issuer.clone(),
                audience: issuer.audience.clone(),
                algorithms: issuer.algorithms.clone(),
                leeway_secs: issuer.leeway_secs,
                mapper: issuer.mapper(),
                allowed_typ: issuer.typ.clone(),
            };
            let (with_issuer, issuer) = verifier.with_pending_issuer(config);
            verifier = with_issuer;
            // An issuer that does not answer now must not keep dap (and the other
            // issuers' callers) down: its tokens are refused until a retry succeeds.
            if let Err(error) = issuer.discover(ISSUER_TIMEOUT).await {
                tracing::warn!(
                    issuer = issuer.issuer(),
                    reason = %error,
                    "token issuer discovery failed; its tokens are refused until a retry in the background succeeds (see /health/ready)"
                );
                pending.push(issuer);
            }
        }
        let key = cursor_key(&settings)?;
        let mut pending_login = None;
        let login = match (&settings.login, &settings.public_url) {
            (Some(login), Some(public_url)) => {
                let discovered =
                    Login::discover(login, public_url, key.clone(), ISSUER_TIMEOUT).await;
                let state = web::Data::new(LoginState::configured(
                    &login.issuer,
                    discovered
                        .map_err(|error| {
                            tracing::warn!(
                                issuer = %login.issuer,
                                reason = format!("{error:#}"),
                                "login broker discovery failed; /auth/login answers 503 until a retry in the background succeeds (see /health/ready)"
                            );
                        })
                        .ok(),
                ));
                if !state.status().is_some_and(|(_, ready)| ready) {
                    pending_login = Some(PendingLogin {
                        state: state.clone(),
                        settings: login.clone(),
                        public_url: public_url.clone(),
                        key: key.clone(),
                    });
                }
                state
            }
            _ => web::Data::new(LoginState::default()),
        };
        let discovery = (!pending.is_empty() || pending_login.is_some())
            .then(|| tokio::spawn(retry_discovery(pending, pending_login)));
        let cursors = CursorSigner::new(key);
        let catalogue = Catalogue::load(&control).await?;
        let core = web::Data::new(Core {
            audit: crate::app::audit_writer::AuditWriter::start(control.clone()),
            control,
            lake,
            verifier,
            catalogue,
            cursors,
            dev_jwks,
            issuer_keys,
            public_url: settings.public_url.clone(),
            operators: settings.platform_operators.clone(),
            admin: AdminCache::default(),
            sharing: crate::app::sharing::Sharing::new(&settings.sharing_prefix),
            key_figures: KeyFigures::default(),
            exports: crate::app::exports::Exports::new(settings.exports.clone()),
            deliveries: crate::app::deliveries::DeliveryConfig {
                max_bytes: settings.deliveries.max_bytes,
                max_rows: settings.deliveries.max_rows,
                staging_dir: settings.deliveries.staging_dir.clone(),
            },
            metrics: crate::app::metrics::Metrics::new(&settings.sharing_prefix),
            disk: crate::app::health::DiskCheck::new(
                settings.local_disks(),
                settings.min_free_disk_percent,
            ),
            session_idle: chrono::Duration::minutes(i64::from(settings.session_idle_minutes)),
        });
        core.admin
            .reload(&core.control)
            .await
            .context("cannot read municipality settings")?;
        core.key_figures
            .reload(&core.control)
            .await
            .context("cannot read key-figure definitions")?;
        let routes = web::Data::new(RouteTable::from_document(&crate::openapi::document()));
        let schemas = web::Data::new(SchemaCache::default());
        let listener = TcpListener::bind(settings.bind)
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let server_core = core.clone();
        let server = HttpServer::new(move || {
            let (app, document) = App::new()
                .into_utoipa_app()
                .openapi(dap_openapi::base())
                .configure(rest::configure)
                .configure(graphql::configure)
                .split_for_parts();
            // Outermost last: the id is assigned before the log span opens; metrics
            // see the answer every surface gave.
            app.wrap(middleware::from_fn(observe::record_metrics))
                .wrap(TracingLogger::<observe::RequestSpan>::new())
                .wrap(middleware::from_fn(observe::request_id))
                .app_data(server_core.clone())
                .app_data(routes.clone())
                .app_data(login.clone())
                .app_data(schemas.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(16 * 1024)
                        .error_handler(|error, _| rest::input::json_payload_error(&error).into()),
                )
                .app_data(web::QueryConfig::default().error_handler(|error, _| {
                    AppError::InvalidParameter(format!("the query string is not valid: {error}"))
                        .into()
                }))
                .configure(sharing::configure(&server_core.sharing.prefix))
                .service(dap_openapi::docs_ui(document))
                // OData's own protocol, outside the REST contract (see odata/mod.rs).
                .configure(crate::odata::configure)
                // The web console (server-rendered pages over the same core).
                .configure(crate::console::configure)
                .route("/docs", web::get().to(docs_redirect))
                .default_service(web::to(fallback))
        })
        .shutdown_timeout(settings.shutdown_timeout_secs)
        .on_connect(stalled_connections_abort(Duration::from_secs(
            settings.exports.send_timeout_secs * 2 + 10,
        )))
        .listen(listener)?
        .run();
        let metrics = match settings.metrics_listen {
            Some(address) => Some(metrics_server(address, core.clone())?),
            None => None,
        };
        Ok(Self {
            port,
            server,
            core,
            discovery,
            metrics,
            refresh: Duration::from_secs(settings.lake.refresh_secs),
            retention_days: settings.audit_retention_days,
            maintenance: (settings.deliveries.maintenance_hours > 0).then(|| {
                (
                    Duration::from_secs(settings.deliveries.maintenance_hours * 3600),
                    settings.deliveries.maintenance_policy(),
                )
            }),
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on, when `metrics_listen` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// The application core (tests use it to reach the control plane).
    pub fn core(&self) -> Arc<Core> {
        self.core.clone().into_inner()
    }

    /// Serves until the server is stopped, refreshing tables and catalogue meanwhile.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // Of several replicas on one control plane, one prunes and one maintains per
        // round: each job runs under its lease (app/leader.rs).
        let replica = crate::app::leader::Replica::new();
        let pruner = self.retention_days.map(|days| {
            let core = self.core.clone();
            let replica = replica.clone();
            tokio::spawn(async move {
                let every = Duration::from_secs(3600);
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    let before = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
                    let pruned = replica
                        .lead(
                            &core.control,
                            crate::app::leader::AUDIT_PRUNING_LEASE,
                            every.mul_f64(0.9),
                            core.control.prune_audit(before),
                        )
                        .await;
                    match pruned {
                        None | Some(Ok(0)) => {}
                        Some(Ok(n)) => {
                            tracing::info!(pruned = n, "audit records past retention pruned")
                        }
                        Some(Err(error)) => tracing::warn!(%error, "audit pruning failed"),
                    }
                }
            })
        });
        let maintainer = self.maintenance.clone().map(|(every, policy)| {
            let core = self.core.clone();
            let replica = replica.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                // The first tick is immediate: the first run is one interval after start.
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let datasets = core.catalogue.all();
                    replica
                        .lead(
                            &core.control,
                            crate::app::leader::MAINTENANCE_LEASE,
                            every.mul_f64(0.9),
                            crate::app::maintenance::maintain_all(&core.lake, &datasets, &policy),
                        )
                        .await;
                }
            })
        });
        let core = self.core.clone();
        let refresh = self.refresh;
        let refresher = tokio::spawn(async move {
            let mut tick = tokio::time::interval(refresh);
            tick.tick().await;
            loop {
                tick.tick().await;
                core.refresh().await;
            }
        });
        // actix stops on SIGINT/SIGTERM by itself (draining for 30 s); this marks the
        // moment so exports it cuts off are recorded as ended by the shutdown.
        let exports = self.core.exports.clone();
        let signals = tokio::spawn(async move {
            shutdown_signal().await;
            exports.begin_shutdown();
        });
        let metrics = self.metrics.map(|(_, server)| {
            let handle = server.handle();
            (tokio::spawn(server), handle)
        });
        let result = self.server.await;
        if let Some((task, handle)) = metrics {
            handle.stop(false).await;
            task.abort();
        }
        signals.abort();
        self.core.exports.begin_shutdown();
        if !self.core.exports.settle(Duration::from_secs(10)).await {
            tracing::error!(
                running = self.core.exports.running(),
                "shutdown: not every export's closing audit record was written within 10 s"
            );
        }
        refresher.abort();
        if let Some(discovery) = self.discovery {
            discovery.abort();
        }
        if let Some(pruner) = pruner {
            pruner.abort();
        }
        if let Some(maintainer) = maintainer {
            maintainer.abort();
        }
        result
    }
}

/// Sets TCP_USER_TIMEOUT on every accepted connection: the kernel aborts a connection
/// whose peer has acknowledged nothing (or kept a zero window) for `after`, so a client
/// that stops reading does not keep the connection and its buffers forever. It is well
/// over the export send timeout (which ends the export itself first): the window may
/// close while the socket's send buffer still fills, before the export notices.
fn stalled_connections_abort(
    after: Duration,
) -> impl Fn(&dyn std::any::Any, &mut actix_web::dev::Extensions) + Send + Sync + 'static {
    move |connection, _| {
        if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>()
            && let Err(error) = socket2::SockRef::from(tcp).set_tcp_user_timeout(Some(after))
        {
            tracing::debug!(%error, "TCP_USER_TIMEOUT not set");
        }
    }
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn cursor_key(settings: &Settings) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &settings.cursor_secret {
        let key = secret.expose_secret().as_bytes().to_vec();
        if key.len() < 32 {
            bail!("cursor_secret must be at least 32 bytes");
        }
        return Ok(key);
    }
    match &settings.demo_dir {
        Some(dir) => crate::demo::cursor_key(dir),
        None => bail!(
            "cursor_secret is required (DAP_CURSOR_SECRET): at least 32 random bytes, the same on every replica"
        ),
    }
}

/// `/metrics` alone, on its own address: the public listener does not serve it, so it
/// is reachable only where the operator opens that address (a scrape network).
fn metrics_server(
    address: std::net::SocketAddr,
    core: web::Data<Core>,
) -> anyhow::Result<(u16, Server)> {
    let listener = TcpListener::bind(address)
        .with_context(|| format!("cannot listen on metrics_listen {address}"))?;
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(core.clone())
            .route("/metrics", web::get().to(observe::metrics))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok((port, server))
}

/// `/docs` → `/docs/`, where Swagger UI lives.
async fn docs_redirect() -> actix_web::HttpResponse {
    actix_web::HttpResponse::PermanentRedirect()
        .insert_header((actix_web::http::header::LOCATION, "/docs/"))
        .finish()
}
