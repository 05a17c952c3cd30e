//! The OData error format: `{"error": {"code": "...", "message": "..."}}` with the status
//! of the core's error class (the REST mapping, [`crate::rest::error::status`]), 501 for
//! what OData defines and dap does not support, and `WWW-Authenticate: Basic realm="dap"`
//! on 401 so Excel and Power BI prompt for a user name and password (the personal access
//! token). 5xx bodies are opaque; the cause goes to the log.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::app::identity::TokenRefusal;
use crate::app::{AppError, ErrorClass};

/// How to sign in to a feed.
const SIGN_IN: &str = "sign in: give a personal access token as the password of HTTP Basic (any user name), or a bearer token";
use crate::rest::error::status;

/// An error as an OData client reads it.
#[derive(Debug)]
pub struct ODataError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Why a credential was refused, when it was.
    pub refusal: Option<TokenRefusal>,
    /// The core's error this one translates, if any: what the audit record of a request
    /// refused before the core was called says (a hidden dataset is `dataset_not_found`
    /// there as on every surface).
    cause: Option<Box<AppError>>,
}

impl ODataError {
    /// 501: a feature of OData that dap does not offer; `message` says what it does.
    pub fn not_implemented(message: String) -> Self {
        Self {
            status: StatusCode::NOT_IMPLEMENTED,
            code: "not_implemented".into(),
            message,
            refusal: None,
            cause: None,
        }
    }

    /// 400: a malformed request; `message` says how to fix it.
    pub fn bad_request(message: String) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_parameter".into(),
            message,
            refusal: None,
            cause: None,
        }
    }

    /// The core's error this one translates; `None` for a refusal of OData's own (a
    /// malformed or unsupported request), which is audited as an invalid parameter.
    pub fn cause(&self) -> Option<&AppError> {
        self.cause.as_deref()
    }
}

impl std::fmt::Display for ODataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<AppError> for ODataError {
    fn from(error: AppError) -> Self {
        let status = status(error.class());
        if status.is_server_error() {
            tracing::error!(error = ?error, "odata request failed");
        }
        if let AppError::InvalidToken(cause) = &error {
            tracing::info!(%cause, "credential refused");
        }
        let refusal = error.token_refusal();
        let message = match refusal {
            Some(TokenRefusal::Missing) => SIGN_IN.into(),
            Some(refusal) => format!("{}; {SIGN_IN}", refusal.description()),
            None => error.public_message(),
        };
        Self {
            status,
            code: error.code().to_owned(),
            message,
            refusal,
            cause: Some(Box::new(error)),
        }
    }
}

impl ResponseError for ODataError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header(("OData-Version", "4.0"));
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="dap", charset="UTF-8""#),
            ));
            // A refused credential also gets RFC 6750's reason, as a second challenge;
            // a request without one gets only Basic, so Excel and Power BI keep offering
            // the user name and password dialog.
            if let Some(refusal) = self.refusal.filter(|r| *r != TokenRefusal::Missing) {
                response.append_header((
                    header::WWW_AUTHENTICATE,
                    crate::rest::error::bearer_challenge(refusal),
                ));
            }
        }
        if let Some(value) = status_class(self.status).and_then(crate::rest::error::retry_after) {
            response.insert_header((header::RETRY_AFTER, value));
        }
        response.json(serde_json::json!({
            "error": {"code": self.code, "message": self.message}
        }))
    }
}

fn status_class(status: StatusCode) -> Option<ErrorClass> {
    match status {
        StatusCode::SERVICE_UNAVAILABLE => Some(ErrorClass::Unavailable),
        StatusCode::TOO_MANY_REQUESTS => Some(ErrorClass::TooManyRequests),
        _ => None,
    }
}
