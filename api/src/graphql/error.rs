//! The GraphQL mapping of the core's errors, in one place: the code of [`AppError`] in
//! `extensions.code`; internal causes go to the log and the message stays opaque.

use async_graphql::{ErrorExtensions, ServerError};

use crate::app::{AppError, ErrorClass};

fn log(error: &AppError) {
    if error.class() == ErrorClass::Internal {
        tracing::error!(error = ?error, "graphql request failed");
    }
}

/// A request-level error (before or around execution).
pub fn request_error(error: &AppError) -> ServerError {
    log(error);
    let mut server = ServerError::new(error.public_message(), None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", error.code());
    server.extensions = Some(extensions);
    server
}

/// A field error.
pub fn field_error(error: AppError) -> async_graphql::Error {
    log(&error);
    let code = error.code();
    async_graphql::Error::new(error.public_message()).extend_with(|_, e| e.set("code", code))
}

/// A field error for input the caller must fix.
pub fn invalid(message: impl Into<String>) -> async_graphql::Error {
    field_error(AppError::InvalidParameter(message.into()))
}

/// The code of a GraphQL error, as audited.
pub fn code_of(error: &ServerError) -> Option<String> {
    error
        .extensions
        .as_ref()
        .and_then(|x| x.get("code"))
        .map(|v| v.to_string().trim_matches('"').to_owned())
}

/// The refusal an error of a whole document stands for (a limit, or a document that
/// does not parse or validate), for the request's audit record; field errors have
/// records of their own.
pub fn refusal_of(error: &ServerError) -> Option<AppError> {
    let message = error.message.clone();
    match code_of(error)?.as_str() {
        "query_too_complex" => Some(AppError::QueryTooComplex(message)),
        "too_many_aliases" => Some(AppError::TooManyAliases(message)),
        "invalid_query" => Some(AppError::InvalidQuery(message)),
        _ => None,
    }
}

/// Gives every error without a code one: async-graphql's own limits get
/// `query_too_complex`, parse and validation errors `invalid_query`.
pub fn ensure_codes(errors: &mut [ServerError]) {
    for error in errors {
        if code_of(error).is_some() {
            continue;
        }
        let message = error.message.clone();
        let code = if message.contains("too complex")
            || message.contains("nested too deep")
            || message.contains("too many directives")
        {
            AppError::QueryTooComplex(message)
        } else {
            AppError::InvalidQuery(message)
        }
        .code();
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
}
