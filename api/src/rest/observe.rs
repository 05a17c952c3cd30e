//! What every HTTP request leaves behind for operators: a request id (taken from a load
//! balancer's `X-Request-Id` when it is a sane short token, else new), returned as
//! `X-Request-Id` and quoted in the body of every 5xx answer; one log span per request
//! that every log line inside it carries (id, method, route template, status, never the
//! path's query or a header); and the request's metrics. Also the `/metrics` endpoint,
//! served on its own listen address (see `startup`).

use std::time::Instant;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, web};
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

use crate::app::Core;
use crate::app::metrics::ServedRequest;

const X_REQUEST_ID: &str = "x-request-id";
/// The longest 5xx body that is rewritten to carry the request id (they are small).
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// The id of the request being handled (in the request's extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An incoming id is kept only when it is short and plain (letters, digits, `-`, `_`,
/// `.`, `:`): it lands in logs, audit records and headers, so it must not carry
/// anything a caller could use to forge lines or smuggle data.
pub fn sane_request_id(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The request's id, from the extensions (set by [`request_id`]).
pub fn request_id_of(req: &actix_web::HttpRequest) -> Option<String> {
    req.extensions().get::<RequestId>().map(|id| id.0.clone())
}

/// Outermost middleware: assigns the request id, returns it as `X-Request-Id`, and
/// adds it to the JSON body of a 5xx answer (whose message is opaque), so an operator
/// can find the request's log lines and audit record from what a caller quotes.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<BoxBody>>, Error> {
    let id = req
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane_request_id(v))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), ToOwned::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    let response = next.call(req).await?;
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let mut response = if response.status().is_server_error() && json {
        let (request, response) = response.into_parts();
        let (head, body) = response.into_parts();
        let body = match actix_web::body::to_bytes_limited(body, ERROR_BODY_LIMIT).await {
            Ok(Ok(bytes)) => with_request_id(&bytes, &id),
            // Unreadable or oversized: the header still carries the id.
            _ => BoxBody::new(actix_web::body::None::new()),
        };
        ServiceResponse::new(request, head.set_body(body)).map_into_right_body()
    } else {
        response.map_into_boxed_body().map_into_left_body()
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(X_REQUEST_ID), value);
    }
    Ok(response)
}

/// The JSON object `body` with `"request_id"` added (other bodies unchanged).
fn with_request_id(body: &[u8], id: &str) -> BoxBody {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut object)) => {
            object.insert("request_id".into(), id.into());
            BoxBody::new(serde_json::Value::Object(object).to_string())
        }
        _ => BoxBody::new(bytes::Bytes::copy_from_slice(body)),
    }
}

/// Innermost middleware: records the request's metrics once its answer is ready.
pub async fn record_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let core = req.app_data::<web::Data<Core>>().cloned();
    let response = next.call(req).await?;
    if let Some(core) = core {
        let request = response.request();
        let route = request.match_pattern();
        let surface = core
            .metrics
            .surface_of(route.as_deref().unwrap_or_else(|| request.path()));
        let body_bytes = match response.response().body().size() {
            actix_web::body::BodySize::Sized(n) => Some(n),
            _ => None,
        };
        core.metrics.request(&ServedRequest {
            surface,
            route: route.as_deref(),
            method: request.method().as_str(),
            status: response.status().as_u16(),
            elapsed: started.elapsed(),
            body_bytes,
        });
    }
    Ok(response)
}

/// The log span of a request: its id, method and route template. Not the path (ids a
/// caller chose), not the query string (filter values), not a header (tokens).
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        tracing::info_span!(
            "request",
            request_id = %id,
            method = %request.method(),
            route = %route,
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let status = match outcome {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        span.record("status", status.as_u16());
        span.in_scope(|| tracing::info!(status = status.as_u16(), "request answered"));
    }
}

/// `GET /metrics` on the metrics listener.
pub async fn metrics(core: web::Data<Core>) -> HttpResponse {
    match core.render_metrics() {
        Ok(text) => HttpResponse::Ok()
            .content_type(crate::app::metrics::CONTENT_TYPE)
            .body(text),
        Err(error) => {
            tracing::error!(%error, "metrics could not be encoded");
            HttpResponse::InternalServerError().finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_request_ids_are_accepted() {
        assert!(sane_request_id("0b3d2f0e-6c1a-4bde-9f3e-2a7c1d5e8f90"));
        assert!(sane_request_id("lb-1700000000.123:7"));
        for bad in [
            "",
            "has space",
            "line\nbreak",
            "quote\"",
            "Bearer eyJ",
            &"x".repeat(65),
        ] {
            assert!(!sane_request_id(bad), "{bad:?}");
        }
    }
}
