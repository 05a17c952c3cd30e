//! Liveness and readiness.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::app::AppError;
use crate::app::Core;
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
    /// `ready`, or `not_ready` while a token issuer's keys are unknown.
    #[schema(example = "ready")]
    pub status: String,
    /// Datasets in the served catalogue.
    pub datasets: usize,
    /// The configured token issuers; one that is not ready has not answered OpenID
    /// Connect discovery yet (dap retries in the background; the log says why), and its
    /// tokens are refused meanwhile.
    pub issuers: Vec<IssuerReady>,
    /// The browser login's broker, when browser login is configured; until it has
    /// answered discovery, `/auth/login` answers 503.
    pub login: Option<IssuerReady>,
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

/// The control-plane database answers, the catalogue is loaded and every token issuer's
/// keys are known.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = Ready),
        (status = 503, description = "A token issuer has not answered discovery yet (`status: not_ready`, the issuer with `ready: false`), or the control-plane database does not answer (an error body)", body = Ready),
    )
)]
#[get("/health/ready")]
async fn ready(
    state: web::Data<Core>,
    login: Option<web::Data<LoginState>>,
) -> Result<HttpResponse, AppError> {
    state
        .control
        .ping()
        .await
        .map_err(|e| AppError::NotReady(e.to_string()))?;
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
    let ready = issuers.iter().all(|i| i.ready) && login.as_ref().is_none_or(|l| l.ready);
    let answer = Ready {
        status: if ready { "ready" } else { "not_ready" }.into(),
        datasets: state.catalogue.len(),
        issuers,
        login,
    };
    Ok(if ready {
        HttpResponse::Ok().json(answer)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "5"))
            .json(answer)
    })
}
