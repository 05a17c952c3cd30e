//! The REST mapping of the core's errors, in one place: [`ErrorClass`] → HTTP status,
//! `{"code": "...", "message": "..."}` as the body, `WWW-Authenticate` on 401 and `Allow`
//! on 405. 5xx bodies are opaque; the cause goes to the log.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use dap_openapi::ErrorBody;
use dap_openapi::model::deliveries::DeliveryProblem;

use crate::app::identity::TokenRefusal;
use crate::app::{AppError, ErrorClass};

/// The HTTP status of an error class.
pub fn status(class: ErrorClass) -> StatusCode {
    match class {
        ErrorClass::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorClass::Forbidden => StatusCode::FORBIDDEN,
        ErrorClass::NotFound => StatusCode::NOT_FOUND,
        ErrorClass::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorClass::BadRequest => StatusCode::BAD_REQUEST,
        ErrorClass::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
        ErrorClass::Conflict => StatusCode::CONFLICT,
        ErrorClass::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorClass::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ErrorClass::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `Retry-After` for the classes that pass by themselves (busy, unavailable), on every
/// HTTP surface.
pub fn retry_after(class: ErrorClass) -> Option<HeaderValue> {
    matches!(class, ErrorClass::Unavailable | ErrorClass::TooManyRequests)
        .then(|| HeaderValue::from_static("5"))
}

/// The RFC 6750 challenge for a refused credential: `Bearer realm="dap"` alone when the
/// request carried none (section 3.1: no error code then), else with
/// `error="invalid_token"` and the refusal's `error_description`.
pub fn bearer_challenge(refusal: TokenRefusal) -> HeaderValue {
    const PLAIN: &str = r#"Bearer realm="dap", error="invalid_token""#;
    if refusal == TokenRefusal::Missing {
        return HeaderValue::from_static(r#"Bearer realm="dap""#);
    }
    let challenge = format!(r#"{PLAIN}, error_description="{}""#, refusal.description());
    HeaderValue::from_str(&challenge).unwrap_or(HeaderValue::from_static(PLAIN))
}

/// The wire body of an error.
pub fn body(error: &AppError) -> ErrorBody {
    ErrorBody {
        code: error.code().to_owned(),
        // Display of internal errors is deliberately generic.
        message: error.public_message(),
        problems: match error {
            AppError::DeliveryRejected(rejection) => Some(
                rejection
                    .problems
                    .iter()
                    .map(|p| DeliveryProblem {
                        line: p.line,
                        column: p.column.clone(),
                        message: p.message.clone(),
                    })
                    .collect(),
            ),
            _ => None,
        },
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        status(self.class())
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        let mut response = HttpResponse::build(status);
        if let Self::MethodNotAllowed(methods) = self
            && let Ok(value) = HeaderValue::from_str(methods)
        {
            response.insert_header((header::ALLOW, value));
        }
        if let Self::InvalidToken(cause) = self {
            tracing::info!(%cause, "token refused");
            response.insert_header((
                header::WWW_AUTHENTICATE,
                bearer_challenge(TokenRefusal::of(cause)),
            ));
        }
        if let Some(value) = retry_after(self.class()) {
            response.insert_header((header::RETRY_AFTER, value));
        }
        response.json(body(self))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;

    use super::*;

    /// A transient control-plane failure, as a broken connection reports it.
    fn locked(what: &str) -> dap_schema::Error {
        dap_schema::Error::Database(sea_orm::DbErr::Conn(sea_orm::RuntimeErr::Internal(
            what.into(),
        )))
    }

    #[actix_web::test]
    async fn every_error_maps_to_its_code_and_status_and_5xx_bodies_are_opaque() {
        let x = || "x".to_owned();
        let cases: Vec<(AppError, &str, u16)> = vec![
            (
                AppError::InvalidToken(dap_auth::Error::MissingToken),
                "invalid_token",
                401,
            ),
            (
                AppError::InsufficientAssurance(x()),
                "insufficient_assurance",
                403,
            ),
            (
                AppError::MunicipalityNotGranted(x()),
                "municipality_not_granted",
                403,
            ),
            (
                AppError::MunicipalityRequired(x()),
                "municipality_required",
                400,
            ),
            (AppError::DatasetNotFound, "dataset_not_found", 404),
            (AppError::NotFound, "not_found", 404),
            (AppError::TokenNotFound, "token_not_found", 404),
            (
                AppError::KeyFigureNotFound(x()),
                "key_figure_not_found",
                404,
            ),
            (AppError::Forbidden(x()), "forbidden", 403),
            (
                AppError::MethodNotAllowed("GET".into()),
                "method_not_allowed",
                405,
            ),
            (AppError::InvalidParameter(x()), "invalid_parameter", 400),
            (AppError::invalid("name", x()), "invalid_parameter", 400),
            (AppError::UnknownColumn(x()), "unknown_column", 400),
            (AppError::InvalidCursor(x()), "invalid_cursor", 400),
            (AppError::NotAcceptable(x()), "not_acceptable", 406),
            (AppError::TooLarge(x()), "result_too_large", 400),
            (
                AppError::VersionNotAvailable(x()),
                "version_not_available",
                400,
            ),
            (AppError::PayloadTooLarge(x()), "payload_too_large", 413),
            (
                AppError::DeliveryRejected(dap_lake::deliver::Rejection {
                    problems: Vec::new(),
                    more: false,
                }),
                "delivery_rejected",
                400,
            ),
            (AppError::DeliveryIdInUse(x()), "delivery_id_in_use", 409),
            (AppError::InvalidQuery(x()), "invalid_query", 400),
            (AppError::BatchTooLarge(x()), "batch_too_large", 400),
            (AppError::QueryTooComplex(x()), "query_too_complex", 400),
            (AppError::TooManyAliases(x()), "too_many_aliases", 400),
            (AppError::Timeout(x()), "timeout", 400),
            (
                AppError::DatasetUnavailable(dap_lake::Error::TableUnavailable {
                    dataset: "x".into(),
                    reason: "secret path".into(),
                }),
                "dataset_unavailable",
                503,
            ),
            (AppError::NotReady("db down".into()), "not_ready", 503),
            (AppError::TooManyExports(x()), "too_many_exports", 429),
            (AppError::ServerBusy(x()), "server_busy", 503),
            (
                AppError::AuditUnavailable(locked("secret audit lock")),
                "audit_unavailable",
                503,
            ),
            (
                AppError::from(locked("secret control lock")),
                "control_plane_unavailable",
                503,
            ),
            (
                AppError::AuditUnavailable(dap_schema::Error::AuditChain("secret head".into())),
                "internal_error",
                500,
            ),
            (
                AppError::Internal(anyhow::anyhow!("secret path /var/lib/x")),
                "internal_error",
                500,
            ),
        ];
        for (error, code, status) in cases {
            let response = error.error_response();
            assert_eq!(response.status().as_u16(), status, "{code}");
            assert_eq!(
                response.headers().contains_key("retry-after"),
                status == 429 || status == 503,
                "Retry-After on {code}"
            );
            let body = to_bytes(response.into_body()).await.unwrap_or_default();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            assert_eq!(body["code"], code);
            if status >= 500 {
                assert!(!body.to_string().contains("secret"), "5xx leaks: {body}");
            }
        }
        let challenge = |error: dap_auth::Error| {
            AppError::InvalidToken(error)
                .error_response()
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(
            challenge(dap_auth::Error::UnknownKey).as_deref(),
            Some(
                r#"Bearer realm="dap", error="invalid_token", error_description="the token could not be verified""#
            )
        );
        assert_eq!(
            challenge(dap_auth::Error::MissingToken).as_deref(),
            Some(r#"Bearer realm="dap""#)
        );
    }
}
