//! Liveness and readiness.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::app::Core;
use crate::app::health::Check;
use crate::rest::login::LoginState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(live).service(ready);
}

/// Liveness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Live {
    #[schema(example = "ok")]
    pub status: String,
}

/// Readiness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready`, or `not_ready` when a check fails or a token issuer's keys are unknown
    /// (answered with 503 and `Retry-After`).
    #[schema(example = "ready")]
    pub status: String,
    /// Datasets in the served catalogue.
    pub datasets: usize,
    /// Each dependency: `ok`, or why it fails.
    pub checks: Checks,
    /// Datasets served at their last good version because a newer commit cannot be
    /// read (reported; not a reason to be unready).
    pub stale_datasets: Vec<StaleDataset>,
    /// The configured token issuers; one that is not ready has not answered OpenID
    /// Connect discovery yet (dap retries in the background; the log says why), and its
    /// tokens are refused meanwhile.
    pub issuers: Vec<IssuerReady>,
    /// The browser login's broker, when browser login is configured; until it has
    /// answered discovery, `/auth/login` answers 503.
    pub login: Option<IssuerReady>,
}

/// The checks behind readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    /// The control-plane database answers.
    #[schema(example = "ok")]
    pub control_plane: String,
    /// An audit record could be appended now (its write lock is free).
    #[schema(example = "ok")]
    pub audit_log: String,
    /// The lake's storage answers.
    #[schema(example = "ok")]
    pub lake: String,
    /// The local disks dap writes to have at least `min_free_disk_percent` free.
    #[schema(example = "ok")]
    pub disk: String,
}

/// A dataset served at an older version than its table's log has.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaleDataset {
    #[schema(example = "oekonomi.posteringer")]
    pub dataset: String,
    /// The version served.
    pub serving_version: Option<u64>,
    /// The newest version in the log (unreadable).
    pub latest_version: u64,
    /// Since when (RFC 3339).
    pub since: String,
}

/// Whether one token issuer's tokens can be verified.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuerReady {
    #[schema(example = "https://broker.example/realms/kommune")]
    pub issuer: String,
    pub ready: bool,
}

/// The process is up.
#[utoipa::path(tag = "health", responses((status = 200, description = "The process is up", body = Live)))]
#[get("/health/live")]
async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Live {
        status: "ok".into(),
    })
}

fn check(c: &Check) -> String {
    match c {
        Check::Ok => "ok".into(),
        Check::Failing(why) => (*why).to_owned(),
    }
}

/// The control plane answers, an audit record could be written, the lake's storage
/// answers and every token issuer's keys are known; each is reported.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = Ready),
        (status = 503, description = "A check fails (see `checks`), or a token issuer has not answered discovery yet (`ready: false`); `Retry-After` says when to ask again", body = Ready),
    )
)]
#[get("/health/ready")]
async fn ready(state: web::Data<Core>, login: Option<web::Data<LoginState>>) -> HttpResponse {
    let readiness = state.readiness().await;
    let issuers: Vec<IssuerReady> = state
        .verifier
        .issuers()
        .into_iter()
        .map(|i| IssuerReady {
            issuer: i.issuer,
            ready: i.ready,
        })
        .collect();
    let login = login
        .as_ref()
        .and_then(|l| l.status())
        .map(|(issuer, ready)| IssuerReady {
            issuer: issuer.to_owned(),
            ready,
        });
    let ready = readiness.is_ready()
        && issuers.iter().all(|i| i.ready)
        && login.as_ref().is_none_or(|l| l.ready);
    let body = Ready {
        status: if ready { "ready" } else { "not_ready" }.into(),
        datasets: readiness.datasets,
        checks: Checks {
            control_plane: check(&readiness.control_plane),
            audit_log: check(&readiness.audit_log),
            lake: check(&readiness.lake),
            disk: check(&readiness.disk),
        },
        stale_datasets: readiness
            .stale
            .iter()
            .map(|s| StaleDataset {
                dataset: s.dataset.clone(),
                serving_version: s.serving,
                latest_version: s.latest,
                since: s.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            })
            .collect(),
        issuers,
        login,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header((actix_web::http::header::RETRY_AFTER, "5"))
            .json(body)
    }
}
