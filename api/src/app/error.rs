//! The one table of error codes. Every surface maps an [`AppError`] once: REST to a status
//! and `{"code", "message"}`, GraphQL to `extensions.code`, the CLI to an exit message.
//!
//! 4xx messages are precise and say how to fix the request; the messages of
//! [`ErrorClass::Internal`] errors are opaque and their cause goes to the log.

use dap_auth::Denial;
use dap_schema::AuditOutcome;

use super::identity::TokenRefusal;

/// What kind of failure an error is; each surface maps the class, not the variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// No acceptable credential (HTTP 401).
    Unauthenticated,
    /// Authenticated, but without the right (403).
    Forbidden,
    /// Does not exist, or the caller may not see it (404).
    NotFound,
    /// The resource exists, but not for this method (405).
    MethodNotAllowed,
    /// Malformed or unanswerable input (400).
    BadRequest,
    /// None of the offered representations is acceptable (406).
    NotAcceptable,
    /// The request contradicts what was done before under the same name (409).
    Conflict,
    /// The request body is too large (413).
    PayloadTooLarge,
    /// The caller has too many requests of this kind under way (429).
    TooManyRequests,
    /// Temporarily unable to answer (503).
    Unavailable,
    /// dap's fault (500).
    Internal,
}

/// Where in an input a mistake is, so that a form can show the message next to the
/// field it is about (the wire error is the same `invalid_parameter`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputField {
    /// A field of the input, by its API name, e.g. `name`, `datasets`, `valid_until`.
    Named(&'static str),
    /// The filter on this column.
    Filter(String),
}

/// Everything an operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Missing, malformed, expired or otherwise unacceptable credential. The cause is
    /// logged; the caller learns only its [`TokenRefusal`] kind.
    #[error("the credential was refused: {}", TokenRefusal::of(.0).description())]
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
    NotFound,
    #[error("no such token")]
    TokenNotFound,
    /// No key figure with this id; the message lists the key figures.
    #[error("{0}")]
    KeyFigureNotFound(String),
    #[error("{0}")]
    Forbidden(String),
    /// The path exists, but not for this method; carries the allowed methods.
    #[error("method not allowed here; allowed: {0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    InvalidParameter(String),
    /// Malformed input in one field, which the error names.
    #[error("{message}")]
    InvalidField { field: InputField, message: String },
    /// A column the caller may not use: unknown, or not visible to them.
    #[error("{0}")]
    UnknownColumn(String),
    #[error("{0}")]
    InvalidCursor(String),
    #[error("{0}")]
    NotAcceptable(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    VersionNotAvailable(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A delivery that failed validation: refused whole, with its first problems.
    #[error("{0}")]
    DeliveryRejected(dap_lake::deliver::Rejection),
    /// A delivery sent under the id of another delivery (another file, mode or period).
    #[error("{0}")]
    DeliveryIdInUse(String),
    /// A GraphQL document that does not parse or validate.
    #[error("{0}")]
    InvalidQuery(String),
    #[error("{0}")]
    BatchTooLarge(String),
    #[error("{0}")]
    QueryTooComplex(String),
    #[error("{0}")]
    TooManyAliases(String),
    #[error("{0}")]
    Timeout(String),
    /// The dataset is registered but its table cannot be read now (the cause is logged,
    /// never returned: it names storage locations).
    #[error("the dataset is temporarily unavailable; try again later")]
    DatasetUnavailable(#[source] dap_lake::Error),
    /// The caller already runs as many exports as one caller may.
    #[error("{0}")]
    TooManyExports(String),
    /// The server runs as many exports as it may; any caller's next one must wait.
    #[error("{0}")]
    ServerBusy(String),
    /// The audit record could not be written: fail closed. A transient cause (the
    /// database busy or unreachable) is "try again" (503), any other is ours (500).
    #[error("{}", if .0.is_transient() { "the access log cannot be written right now, so nothing is served; try again shortly" } else { "internal error" })]
    AuditUnavailable(#[source] dap_schema::Error),
    /// The control-plane database is busy or unreachable for the moment.
    #[error("the service is temporarily unavailable; try again shortly")]
    ControlPlaneUnavailable(#[source] dap_schema::Error),
    #[error("service not ready")]
    NotReady(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    /// The table: stable snake_case code and class of every error.
    fn entry(&self) -> (&'static str, ErrorClass) {
        use ErrorClass as C;
        match self {
            Self::InvalidToken(_) => ("invalid_token", C::Unauthenticated),
            Self::InsufficientAssurance(_) => ("insufficient_assurance", C::Forbidden),
            Self::MunicipalityNotGranted(_) => ("municipality_not_granted", C::Forbidden),
            Self::MunicipalityRequired(_) => ("municipality_required", C::BadRequest),
            Self::DatasetNotFound => ("dataset_not_found", C::NotFound),
            Self::NotFound => ("not_found", C::NotFound),
            Self::TokenNotFound => ("token_not_found", C::NotFound),
            Self::KeyFigureNotFound(_) => ("key_figure_not_found", C::NotFound),
            Self::Forbidden(_) => ("forbidden", C::Forbidden),
            Self::MethodNotAllowed(_) => ("method_not_allowed", C::MethodNotAllowed),
            Self::InvalidParameter(_) | Self::InvalidField { .. } => {
                ("invalid_parameter", C::BadRequest)
            }
            Self::UnknownColumn(_) => ("unknown_column", C::BadRequest),
            Self::InvalidCursor(_) => ("invalid_cursor", C::BadRequest),
            Self::NotAcceptable(_) => ("not_acceptable", C::NotAcceptable),
            Self::TooLarge(_) => ("result_too_large", C::BadRequest),
            Self::VersionNotAvailable(_) => ("version_not_available", C::BadRequest),
            Self::PayloadTooLarge(_) => ("payload_too_large", C::PayloadTooLarge),
            Self::DeliveryRejected(_) => ("delivery_rejected", C::BadRequest),
            Self::DeliveryIdInUse(_) => ("delivery_id_in_use", C::Conflict),
            Self::InvalidQuery(_) => ("invalid_query", C::BadRequest),
            Self::BatchTooLarge(_) => ("batch_too_large", C::BadRequest),
            Self::QueryTooComplex(_) => ("query_too_complex", C::BadRequest),
            Self::TooManyAliases(_) => ("too_many_aliases", C::BadRequest),
            Self::Timeout(_) => ("timeout", C::BadRequest),
            Self::DatasetUnavailable(_) => ("dataset_unavailable", C::Unavailable),
            Self::NotReady(_) => ("not_ready", C::Unavailable),
            Self::TooManyExports(_) => ("too_many_exports", C::TooManyRequests),
            Self::ServerBusy(_) => ("server_busy", C::Unavailable),
            Self::AuditUnavailable(e) if e.is_transient() => ("audit_unavailable", C::Unavailable),
            Self::ControlPlaneUnavailable(_) => ("control_plane_unavailable", C::Unavailable),
            Self::AuditUnavailable(_) | Self::Internal(_) => ("internal_error", C::Internal),
        }
    }

    /// Stable snake_case code; the table above is the contract.
    pub fn code(&self) -> &'static str {
        self.entry().0
    }

    /// The kind of failure, which each surface maps to its own status.
    pub fn class(&self) -> ErrorClass {
        self.entry().1
    }

    /// How a request that failed with this error is audited: our fault is `failed`,
    /// everything else a `denied` request.
    pub fn outcome(&self) -> AuditOutcome {
        match self.class() {
            ErrorClass::Internal | ErrorClass::Unavailable => AuditOutcome::Failed,
            _ => AuditOutcome::Denied,
        }
    }

    /// The message a client sees: precise for the caller's mistakes, opaque for ours.
    pub fn public_message(&self) -> String {
        self.to_string()
    }

    /// Why a credential was refused, for the surfaces' challenges; `None` for every
    /// other error.
    pub fn token_refusal(&self) -> Option<TokenRefusal> {
        match self {
            Self::InvalidToken(cause) => Some(TokenRefusal::of(cause)),
            _ => None,
        }
    }

    /// A mistake in the input field `field` (its API name).
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field: InputField::Named(field),
            message: message.into(),
        }
    }

    /// This error as a mistake in input field `field`, if it is a plain
    /// [`Self::InvalidParameter`]; any other error unchanged.
    #[must_use]
    pub fn in_field(self, field: &'static str) -> Self {
        match self {
            Self::InvalidParameter(message) => Self::invalid(field, message),
            other => other,
        }
    }

    /// The input field a mistake is about, when the error names one.
    pub fn field(&self) -> Option<&InputField> {
        match self {
            Self::InvalidField { field, .. } => Some(field),
            _ => None,
        }
    }

    /// An internal error from any cause.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::Internal(cause.into())
    }
}

impl From<Denial> for AppError {
    fn from(denial: Denial) -> Self {
        match denial {
            Denial::NotFound => Self::DatasetNotFound,
            Denial::InsufficientAssurance { .. } => Self::InsufficientAssurance(denial.to_string()),
            Denial::MunicipalityRequired(_) => Self::MunicipalityRequired(denial.to_string()),
            Denial::MunicipalityNotGranted(_) => Self::MunicipalityNotGranted(denial.to_string()),
        }
    }
}

impl From<dap_lake::Error> for AppError {
    fn from(error: dap_lake::Error) -> Self {
        use dap_lake::Error as E;
        match error {
            E::VersionNotAvailable { .. } | E::ChangeRangeNotAvailable { .. } => {
                Self::VersionNotAvailable(error.to_string())
            }
            E::TooLargeForXlsx { .. } => Self::TooLarge(error.to_string()),
            E::UnknownColumn { .. } => Self::UnknownColumn(error.to_string()),
            E::InvalidFilter { ref column, .. } => Self::InvalidField {
                field: InputField::Filter(column.clone()),
                message: error.to_string(),
            },
            e if e.is_unavailable() => Self::DatasetUnavailable(e),
            e if e.is_client_error() => Self::InvalidParameter(e.to_string()),
            e => Self::Internal(e.into()),
        }
    }
}

impl From<dap_schema::Error> for AppError {
    fn from(error: dap_schema::Error) -> Self {
        if error.is_transient() {
            Self::ControlPlaneUnavailable(error)
        } else {
            Self::Internal(error.into())
        }
    }
}
