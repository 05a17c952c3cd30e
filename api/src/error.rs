//! The one table of error codes and how each maps to HTTP.
//!
//! Wire body: `{"code": "...", "message": "..."}`. 4xx messages are precise and say how
//! to fix the request; 5xx messages are opaque and the cause goes to the log.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use dap_auth::Denial;
use dap_openapi::ErrorBody;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing, malformed, expired or otherwise unacceptable token. The cause is logged,
    /// never returned.
    #[error("the bearer token is missing or invalid")]
    InvalidToken(#[source] dap_auth::Error),
    #[error("{0}")]
    InsufficientAssurance(String),
    #[error("{0}")]
    MunicipalityNotGranted(String),
    #[error("{0}")]
    MunicipalityRequired(String),
    /// The dataset does not exist or the caller may not see it.
    #[error("dataset not found")]
    DatasetNotFound,
    #[error("no such resource")]
    RouteNotFound,
    #[error("no such token")]
    TokenNotFound,
    #[error("{0}")]
    Forbidden(String),
    /// The path exists, but not for this method; carries the allowed methods.
    #[error("method not allowed here; allowed: {0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    InvalidCursor(String),
    #[error("{0}")]
    NotAcceptable(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    VersionNotAvailable(String),
    /// The audit record could not be written: fail closed.
    #[error("internal error")]
    AuditUnavailable(#[source] dap_schema::Error),
    #[error("service not ready")]
    NotReady(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// Stable snake_case code; the table below is the contract.
    pub fn code(&self) -> &'static str {
        self.entry().0
    }

    fn entry(&self) -> (&'static str, StatusCode) {
        match self {
            Self::InvalidToken(_) => ("invalid_token", StatusCode::UNAUTHORIZED),
            Self::InsufficientAssurance(_) => ("insufficient_assurance", StatusCode::FORBIDDEN),
            Self::MunicipalityNotGranted(_) => ("municipality_not_granted", StatusCode::FORBIDDEN),
            Self::MunicipalityRequired(_) => ("municipality_required", StatusCode::BAD_REQUEST),
            Self::DatasetNotFound => ("dataset_not_found", StatusCode::NOT_FOUND),
            Self::RouteNotFound => ("not_found", StatusCode::NOT_FOUND),
            Self::TokenNotFound => ("token_not_found", StatusCode::NOT_FOUND),
            Self::Forbidden(_) => ("forbidden", StatusCode::FORBIDDEN),
            Self::MethodNotAllowed(_) => ("method_not_allowed", StatusCode::METHOD_NOT_ALLOWED),
            Self::InvalidParameter(_) => ("invalid_parameter", StatusCode::BAD_REQUEST),
            Self::InvalidCursor(_) => ("invalid_cursor", StatusCode::BAD_REQUEST),
            Self::NotAcceptable(_) => ("not_acceptable", StatusCode::NOT_ACCEPTABLE),
            Self::TooLarge(_) => ("result_too_large", StatusCode::BAD_REQUEST),
            Self::VersionNotAvailable(_) => ("version_not_available", StatusCode::BAD_REQUEST),
            Self::AuditUnavailable(_) | Self::Internal(_) => {
                ("internal_error", StatusCode::INTERNAL_SERVER_ERROR)
            }
            Self::NotReady(_) => ("not_ready", StatusCode::SERVICE_UNAVAILABLE),
        }
    }

    /// The audited reason: the code, for every error.
    pub fn reason(&self) -> String {
        self.code().to_owned()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.entry().1
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
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            ));
        }
        response.json(ErrorBody {
            code: self.code().to_owned(),
            // Display of 5xx variants is deliberately generic.
            message: self.to_string(),
        })
    }
}

impl From<Denial> for ApiError {
    fn from(denial: Denial) -> Self {
        match denial {
            Denial::NotFound => Self::DatasetNotFound,
            Denial::InsufficientAssurance { .. } => Self::InsufficientAssurance(denial.to_string()),
            Denial::MunicipalityRequired(_) => Self::MunicipalityRequired(denial.to_string()),
            Denial::MunicipalityNotGranted(_) => Self::MunicipalityNotGranted(denial.to_string()),
        }
    }
}

impl From<dap_lake::Error> for ApiError {
    fn from(error: dap_lake::Error) -> Self {
        use dap_lake::Error as E;
        match error {
            E::VersionNotAvailable { .. } | E::ChangeRangeNotAvailable { .. } => {
                Self::VersionNotAvailable(error.to_string())
            }
            E::TooLargeForXlsx { .. } => Self::TooLarge(error.to_string()),
            e if e.is_client_error() => Self::InvalidParameter(e.to_string()),
            e => Self::Internal(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;

    use super::*;

    #[actix_web::test]
    async fn every_error_maps_to_its_code_and_status_and_5xx_bodies_are_opaque() {
        let cases: Vec<(ApiError, &str, u16)> = vec![
            (
                ApiError::InvalidToken(dap_auth::Error::MissingToken),
                "invalid_token",
                401,
            ),
            (
                ApiError::InsufficientAssurance("x".into()),
                "insufficient_assurance",
                403,
            ),
            (
                ApiError::MunicipalityNotGranted("x".into()),
                "municipality_not_granted",
                403,
            ),
            (
                ApiError::MunicipalityRequired("x".into()),
                "municipality_required",
                400,
            ),
            (ApiError::DatasetNotFound, "dataset_not_found", 404),
            (ApiError::RouteNotFound, "not_found", 404),
            (ApiError::TokenNotFound, "token_not_found", 404),
            (ApiError::Forbidden("x".into()), "forbidden", 403),
            (
                ApiError::MethodNotAllowed("GET".into()),
                "method_not_allowed",
                405,
            ),
            (
                ApiError::InvalidParameter("x".into()),
                "invalid_parameter",
                400,
            ),
            (ApiError::InvalidCursor("x".into()), "invalid_cursor", 400),
            (ApiError::NotAcceptable("x".into()), "not_acceptable", 406),
            (ApiError::TooLarge("x".into()), "result_too_large", 400),
            (
                ApiError::VersionNotAvailable("x".into()),
                "version_not_available",
                400,
            ),
            (ApiError::NotReady("db down".into()), "not_ready", 503),
            (
                ApiError::Internal(anyhow::anyhow!("secret path /var/lib/x")),
                "internal_error",
                500,
            ),
        ];
        for (error, code, status) in cases {
            let response = error.error_response();
            assert_eq!(response.status().as_u16(), status, "{code}");
            let body = to_bytes(response.into_body()).await.unwrap_or_default();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            assert_eq!(body["code"], code);
            if status >= 500 {
                assert!(!body.to_string().contains("secret"), "5xx leaks: {body}");
            }
        }
        let response = ApiError::InvalidToken(dap_auth::Error::UnknownKey).error_response();
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some(r#"Bearer error="invalid_token""#)
        );
    }
}
