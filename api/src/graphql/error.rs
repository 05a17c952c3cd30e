//! GraphQL errors with the REST vocabulary in `extensions.code`.

use async_graphql::{ErrorExtensions, ServerError};

use crate::error::ApiError;

/// A request-level error with `code`.
pub fn gql_error(code: &str, message: impl Into<String>) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
    error
}

/// A field error with `code`.
pub fn field_error(code: &str, message: impl Into<String>) -> async_graphql::Error {
    let code = code.to_owned();
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code.as_str()))
}

/// The GraphQL form of an API error: 5xx causes go to the log, the message stays opaque.
pub fn from_api(error: ApiError) -> async_graphql::Error {
    if error.code() == "internal_error" {
        tracing::error!(error = ?error, "graphql field failed");
    }
    field_error(error.code(), error.to_string())
}

/// The GraphQL form of a lake error: like REST, but a column the caller may not use has
/// its own code.
pub fn from_lake(error: dap_lake::Error) -> async_graphql::Error {
    match error {
        dap_lake::Error::UnknownColumn { .. } => field_error("unknown_column", error.to_string()),
        other => from_api(ApiError::from(other)),
    }
}

/// Gives every error without a code one: async-graphql's own limits get
/// `query_too_complex`, parse and validation errors `invalid_query`.
pub fn ensure_codes(errors: &mut [ServerError]) {
    for error in errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if has_code {
            continue;
        }
        let code = if error.message.contains("too complex")
            || error.message.contains("nested too deep")
            || error.message.contains("too many directives")
        {
            "query_too_complex"
        } else {
            "invalid_query"
        };
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
}
