//! Request input into typed wire values: drop-in `Query`, `Path` and `Json` extractors
//! whose refusals name the parameter or field, say what was expected and give an example
//! ([`crate::app::input`]), instead of actix's "Query deserialize error: premature end of
//! input". Every text value is checked first ([`input::check_text`]). utoipa recognises
//! them by name, as it does actix's own.

use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::error::JsonPayloadError;
use actix_web::{FromRequest, HttpRequest, web};
use futures::future::{LocalBoxFuture, Ready, ready};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::app::AppError;
use crate::app::input::{self, Kind};

const QUERY: Kind = "query parameter";
const PATH: Kind = "path parameter";
const FIELD: Kind = "field";

macro_rules! wrapper {
    ($name:ident) => {
        impl<T> $name<T> {
            /// The decoded value.
            pub fn into_inner(self) -> T {
                self.0
            }
        }

        impl<T> Deref for $name<T> {
            type Target = T;
            fn deref(&self) -> &T {
                &self.0
            }
        }
    };
}

/// The query string as `T`.
#[derive(Debug)]
pub struct Query<T>(pub T);
wrapper!(Query);

/// The route's path parameters as `T`.
#[derive(Debug)]
pub struct Path<T>(pub T);
wrapper!(Path);

/// A JSON request body as `T` (at most the configured `JsonConfig` limit).
#[derive(Debug)]
pub struct Json<T>(pub T);
wrapper!(Json);

/// Decodes a query string, refusing control characters and naming the parameter that
/// does not decode.
pub fn query<T: DeserializeOwned>(text: &str) -> Result<T, AppError> {
    for (name, value) in url::form_urlencoded::parse(text.as_bytes()) {
        input::check_text(QUERY, &name, &value)?;
    }
    let pairs = url::form_urlencoded::parse(text.as_bytes());
    serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(pairs))
        .map_err(|e| input::invalid(QUERY, &e.path().to_string(), &e.inner().to_string()))
}

/// Decodes a JSON text, naming the field that does not decode.
pub fn json<T: DeserializeOwned>(text: &str) -> Result<T, AppError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| input::invalid(FIELD, &e.path().to_string(), &e.inner().to_string()))
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(query(req.query_string()).map(Self))
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Path<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let checked = req
            .match_info()
            .iter()
            .try_for_each(|(name, value)| input::check_text(PATH, name, value));
        let path = web::Path::<T>::from_request(req, payload);
        Box::pin(async move {
            checked?;
            path.await.map(|p| Self(p.into_inner())).map_err(|e| {
                AppError::InvalidParameter(format!("the path does not fit this route: {e}"))
            })
        })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // actix reads the body (content type, size limit, JSON syntax: the JsonConfig
        // error handler words those); the typed decoding is ours, to name the field.
        let raw = web::Json::<Box<RawValue>>::from_request(req, payload);
        Box::pin(async move {
            let raw = raw.await?;
            Ok(json(raw.get()).map(Self)?)
        })
    }
}

/// The JsonConfig error handler's words: the body as a whole is wrong.
pub fn json_payload_error(error: &JsonPayloadError) -> AppError {
    match error {
        JsonPayloadError::ContentType => AppError::InvalidParameter(
            "the body must be JSON: send the header Content-Type: application/json".into(),
        ),
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            AppError::PayloadTooLarge(format!("the JSON body is larger than {limit} bytes"))
        }
        JsonPayloadError::Deserialize(e) => AppError::InvalidParameter(format!(
            "the body is not valid JSON ({e}): send one JSON object, e.g. {{\"datasets\": [\"oekonomi.posteringer\"]}}"
        )),
        other => AppError::InvalidParameter(format!("the JSON body could not be read: {other}")),
    }
}
