//! Request input into typed wire values: drop-in `Query`, `Path` and `Json` extractors
//! whose refusals name the parameter or field, say what was expected and give an example
//! ([`crate::app::input`]), instead of actix's "Query deserialize error: premature end of
//! input". Every text value is checked first ([`input::check_text`]). utoipa recognises
//! them by name, as it does actix's own.
//!
//! Every refusal is audited (invariant 5). `Query` and `Json` never fail extraction: they
//! hold the decoded value or its refusal, which [`Query::value`] and [`Json::value`] give
//! back inside the handler's audited work, so the record names the caller. A `Path` is
//! refused while routing, as a credential is ([`crate::rest::extract::Caller`]), and
//! writes its own record before the caller is known.

use actix_web::dev::Payload;
use actix_web::error::JsonPayloadError;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{FromRequest, HttpRequest, web};
use bytes::BytesMut;
use futures::StreamExt;
use futures::future::{LocalBoxFuture, Ready, ready};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::app::input::{self, Kind};
use crate::app::{AppError, Core};
use crate::rest::extract::request_context;

const QUERY: Kind = "query parameter";
const PATH: Kind = "path parameter";
const FIELD: Kind = "field";

/// The largest JSON request body the API reads.
pub const JSON_LIMIT: usize = 16 * 1024;

/// The query string as `T`, or why it is not one.
#[derive(Debug)]
pub struct Query<T>(Result<T, AppError>);

impl<T> Query<T> {
    /// The decoded value; its refusal belongs in the handler's audited work.
    pub fn value(self) -> Result<T, AppError> {
        self.0
    }

    /// The decoded value, for a route no one has signed in to (login, the sign-in
    /// page): its refusal is recorded before anyone is known, as a refused credential
    /// is.
    pub async fn value_or_record(self, core: &Core, req: &HttpRequest) -> Result<T, AppError> {
        match self.0 {
            Ok(value) => Ok(value),
            Err(refusal) => Err(refused_anonymously(core, req, None, refusal).await),
        }
    }
}

/// A JSON request body (at most [`JSON_LIMIT`] bytes) as `T`, or why it is not one.
#[derive(Debug)]
pub struct Json<T>(Result<T, AppError>);

impl<T> Json<T> {
    /// The decoded value; its refusal belongs in the handler's audited work.
    pub fn value(self) -> Result<T, AppError> {
        self.0
    }
}

/// The route's path parameters as `T`.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T> Path<T> {
    /// The decoded value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Path<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

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
        ready(Ok(Self(query(req.query_string()))))
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
        let core = req.app_data::<web::Data<Core>>().cloned();
        let req = req.clone();
        Box::pin(async move {
            let refusal = match (checked, path.await) {
                (Ok(()), Ok(path)) => return Ok(Self(path.into_inner())),
                (Err(e), _) => e,
                (Ok(()), Err(e)) => {
                    AppError::InvalidParameter(format!("the path does not fit this route: {e}"))
                }
            };
            let core = core
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("application core missing")))?;
            let dataset = req
                .match_info()
                .get("id")
                .map(crate::app::audit::audited_dataset);
            Err(refused_anonymously(&core, &req, dataset, refusal).await)
        })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // actix reads the body (content type, size limit, JSON syntax); the typed
        // decoding is ours, to name the field.
        let raw = web::JsonBody::<Box<RawValue>>::new(req, payload, None, true).limit(JSON_LIMIT);
        Box::pin(async move {
            let value = match raw.await {
                Ok(raw) => json(raw.get()),
                Err(e) => Err(json_payload_error(&e)),
            };
            Ok(Self(value))
        })
    }
}

/// Records the refusal of a request's input made before anyone is known (a path that
/// does not fit, a login page's parameters) and gives the refusal back, or the failure
/// to record it.
pub async fn refused_anonymously(
    core: &Core,
    req: &HttpRequest,
    dataset: Option<String>,
    refusal: AppError,
) -> AppError {
    match core
        .audit_request(&request_context(req), None, dataset, Some(&refusal))
        .await
    {
        Ok(()) => refusal,
        Err(e) => e,
    }
}

/// A request body of at most `limit` bytes, refused as soon as it is known to be larger.
/// Read inside the handler's audited work, so that a refusal is audited.
pub async fn body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, AppError> {
    let too_large =
        || AppError::PayloadTooLarge(format!("the request body is larger than {limit} bytes"));
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|_| AppError::InvalidParameter("the request body could not be read".into()))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The words for a body that is wrong as a whole (also the JsonConfig error handler's).
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
