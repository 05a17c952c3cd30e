//! The Delta Sharing wire: the protocol's error body (mapped once from [`AppError`]),
//! its NDJSON answers and the address links are built under.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

use crate::app::identity::TokenRefusal;
use crate::app::sharing::{ChangeAction, FileAction, TableMetadata};
use crate::app::{AppError, Core, ErrorClass};

/// The protocol's name of the version header.
pub const VERSION_HEADER: &str = "delta-table-version";
const NDJSON: &str = "application/x-ndjson; charset=utf-8";

/// An [`AppError`] answered with the protocol's body `{"errorCode", "message"}`.
#[derive(Debug)]
pub struct SharingError(pub AppError);

impl From<AppError> for SharingError {
    fn from(error: AppError) -> Self {
        Self(error)
    }
}

impl std::fmt::Display for SharingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The protocol's error code of an error class.
fn error_code(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::Unauthenticated => "UNAUTHENTICATED",
        ErrorClass::Forbidden => "PERMISSION_DENIED",
        ErrorClass::NotFound => "RESOURCE_DOES_NOT_EXIST",
        ErrorClass::MethodNotAllowed
        | ErrorClass::BadRequest
        | ErrorClass::NotAcceptable
        | ErrorClass::Conflict
        | ErrorClass::PayloadTooLarge => "INVALID_PARAMETER_VALUE",
        ErrorClass::TooManyRequests => "RESOURCE_LIMIT_EXCEEDED",
        ErrorClass::Unavailable => "TEMPORARILY_UNAVAILABLE",
        ErrorClass::Internal => "INTERNAL_ERROR",
    }
}

impl ResponseError for SharingError {
    fn status_code(&self) -> StatusCode {
        crate::rest::error::status(self.0.class())
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = ?self.0, "sharing request failed");
        }
        let mut response = HttpResponse::build(status);
        if let AppError::InvalidToken(cause) = &self.0 {
            tracing::info!(%cause, "token refused");
            response.insert_header((
                header::WWW_AUTHENTICATE,
                crate::rest::error::bearer_challenge(TokenRefusal::of(cause)),
            ));
        }
        if let Some(value) = crate::rest::error::retry_after(self.0.class()) {
            response.insert_header((header::RETRY_AFTER, value));
        }
        // A missing table reads the same whatever made it missing.
        let message = match self.0.class() {
            ErrorClass::NotFound => {
                "no such share, schema or table; list them with GET /shares/{share}/all-tables"
                    .to_owned()
            }
            _ => self.0.public_message(),
        };
        response.json(json!({"errorCode": error_code(self.0.class()), "message": message}))
    }
}

/// The address links are built under: the configured public URL, else the address
/// the request was sent to.
pub fn base_url(req: &HttpRequest, core: &Core) -> String {
    let info = req.connection_info();
    core.reachable_at(&format!("{}://{}", info.scheme(), info.host()))
}

/// The `protocol` and `metaData` lines every table answer starts with.
pub fn header_lines(metadata: &TableMetadata) -> String {
    let protocol = json!({"protocol": {"minReaderVersion": 1}});
    let meta = json!({"metaData": {
        "id": metadata.id,
        "name": metadata.name,
        "description": metadata.description,
        "format": {"provider": "parquet"},
        "schemaString": metadata.schema_string,
        "partitionColumns": [],
        "configuration": {"enableChangeDataFeed": metadata.change_data_feed.to_string()},
        "version": metadata.version,
    }});
    format!("{protocol}\n{meta}\n")
}

/// One `file` line.
pub fn file_line(file: &FileAction) -> String {
    let stats = json!({"numRecords": file.num_records}).to_string();
    let line = json!({"file": {
        "url": file.url,
        "id": file.id,
        "partitionValues": {},
        "size": file.size,
        "stats": stats,
        "expirationTimestamp": file.expiration_timestamp,
    }});
    format!("{line}\n")
}

/// One `cdf` line: a commit's changes to the caller's rows.
pub fn change_line(change: &ChangeAction) -> String {
    let file = &change.file;
    let line = json!({"cdf": {
        "url": file.url,
        "id": file.id,
        "partitionValues": {},
        "size": file.size,
        "version": change.version,
        "timestamp": change.timestamp,
        "expirationTimestamp": file.expiration_timestamp,
    }});
    format!("{line}\n")
}

/// An NDJSON answer for table `version`.
pub fn ndjson(version: u64, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, NDJSON))
        .insert_header((VERSION_HEADER, version.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}
