//! `POST /graphql`: the catalogue as a GraphQL schema, read through the same access
//! scope and lake scan as REST.
//!
//! Order of work per request: authenticate (`Caller`, 401 like REST) → read the body with
//! a hard cap (413 before any parsing) → parse the JSON → cap the batch → per operation
//! check nesting, aliases, dataset fields and the estimated cost → execute under a
//! timeout → one audit record for the request besides one per read field, appended in
//! one wait at the end (fail closed: nothing is answered unless all are written).

mod admin;
mod catalogue;
mod error;
mod filter;
mod key_figures;
pub mod limits;
mod order;
mod resolve;
mod schema;

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use async_graphql::dynamic::Schema;
use async_graphql::{BatchRequest, BatchResponse, Response};
use dap_auth::Principal;
use dap_openapi::ErrorBody;
use dap_schema::DatasetDef;
use utoipa_actix_web::service_config::ServiceConfig;

use self::error::{ensure_codes, request_error};
use self::limits::{DatasetFields, MAX_BATCH};
use self::resolve::Gql;
use crate::app::{AppError, Core, ErrorClass};
use crate::rest::extract::{Caller, request_context};

/// Largest request body; larger ones get 413 before anything is parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest a request may run.
pub const EXECUTION_TIMEOUT: Duration = Duration::from_secs(20);

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(graphql);
}

/// The schema of the current catalogue, rebuilt when the catalogue changes.
#[derive(Default)]
pub struct SchemaCache {
    /// Built schemas by the fingerprint of the datasets they show.
    built: RwLock<HashMap<u64, Arc<Built>>>,
}

/// Distinct schemas kept (one per set of visible datasets); the cache starts over when full.
const MAX_SCHEMAS: usize = 64;

impl std::fmt::Debug for SchemaCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SchemaCache")
    }
}

struct Built {
    schema: Schema,
    fields: DatasetFields,
}

impl SchemaCache {
    /// The schema of the datasets `principal` sees ([`Core::visible_datasets`], the same
    /// list as every surface's), each with the columns they may see
    /// ([`Core::dataset_as_seen`]): a dataset or column the caller may not see is not in
    /// their schema at all, as REST answers 404 for it. Rebuilt when those change.
    fn get(&self, core: &Core, principal: &Principal) -> Result<Arc<Built>, AppError> {
        let datasets: Vec<Arc<DatasetDef>> = core
            .visible_datasets(principal)
            .iter()
            .map(|d| core.dataset_as_seen(principal, d))
            .collect();
        let mut hasher = DefaultHasher::new();
        for d in &datasets {
            serde_json::to_string(d.as_ref())
                .map_err(AppError::internal)?
                .hash(&mut hasher);
        }
        let fingerprint = hasher.finish();
        if let Ok(built) = self.built.read()
            && let Some(built) = built.get(&fingerprint)
        {
            return Ok(Arc::clone(built));
        }
        // Suggestions name fields; outside demo mode they stay off.
        let suggestions = core.demo_mode();
        let (schema, fields) = schema::build(&datasets, suggestions)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("graphql schema: {e:?}")))?;
        tracing::info!(datasets = datasets.len(), "GraphQL schema built");
        let built = Arc::new(Built { schema, fields });
        if let Ok(mut cache) = self.built.write() {
            if cache.len() >= MAX_SCHEMAS {
                cache.clear();
            }
            cache.insert(fingerprint, Arc::clone(&built));
        }
        Ok(built)
    }
}

/// A GraphQL request or response (`{"query": ...}` / `{"data": ..., "errors": [...]}`), or a
/// list of up to 10 of them (a batch).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum GraphqlDocument {
    #[schema(value_type = Object)]
    One(serde_json::Value),
    #[schema(value_type = Vec<Object>)]
    Batch(Vec<serde_json::Value>),
}

/// Runs GraphQL operations (one, or a batch of up to 10) over the datasets the caller may
/// see.
///
/// Body: `{"query": "...", "variables": {...}, "operationName": "..."}` or a list of
/// those. Every dataset has a field `<domain>_<name>` (rows: `where`, `orderBy`,
/// `first`/`after`, `asOfVersion`/`asOfTimestamp`, `municipality`) and
/// `<domain>_<name>_aggregate` (count, sum/avg/min/max, `groupBy`); `datasets` and `me`
/// describe the catalogue and the caller; `keyFigures` and `keyFigure(id, year, group)`
/// give key figures across municipalities after disclosure control. Errors carry a stable code in
/// `extensions.code`. Limits: body 64 KiB, batch 10, 16 aliases, 10 dataset fields,
/// depth 15, estimated cost 50,000 (a page costs `first` × its selected fields), 20 s.
#[utoipa::path(
    tag = "graphql",
    security(("municipal_broker" = []), ("dap_token" = []), ("machine_client" = [])),
    request_body(content = GraphqlDocument, content_type = "application/json",
        description = "A GraphQL request or a list of up to 10",
        example = json!({"query": "{ oekonomi_posteringer(first: 2) { tableVersion nodes { aar beloeb } pageInfo { hasNextPage endCursor } } }"})),
    responses(
        (status = 200, description = "GraphQL response (or a list); errors carry `extensions.code`", body = GraphqlDocument),
        (status = 400, description = "Body is not a GraphQL request, or the batch is too large", body = GraphqlDocument),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody,
         headers(("WWW-Authenticate" = String, description = "Bearer realm=\"dap\", error=\"invalid_token\", error_description=\"why: expired, not valid yet, revoked, another audience, untrusted issuer, malformed, or not verifiable\""))),
        (status = 413, description = "Body larger than 64 KiB", body = ErrorBody),
        (status = 500, description = "Internal error (opaque)", body = ErrorBody),
    )
)]
#[post("/graphql")]
pub async fn graphql(
    req: HttpRequest,
    core: web::Data<Core>,
    schemas: web::Data<SchemaCache>,
    Caller(principal): Caller,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let ledger = Arc::new(core.audit_ledger());
    let gql = Gql {
        core: core.clone(),
        principal: principal.clone(),
        request: ctx.clone(),
        audit: Arc::clone(&ledger),
    };
    let answer = match crate::rest::input::body(&req, payload, MAX_BODY_BYTES).await {
        Err(error) => Ok(refuse(error)),
        Ok(body) => match schemas.get(&core, &principal) {
            Ok(built) => Ok(run(&built, body, gql).await),
            Err(e) => Err(e),
        },
    };
    // The request's own record, after its read fields' records, in one wait: refusals
    // before execution are denials with their code; if a record cannot be written,
    // nothing is returned.
    let refusal = match &answer {
        Ok((_, refusal)) => refusal.as_ref(),
        Err(e) => Some(e),
    };
    core.audit_request_with(&ledger, &ctx, Some(&principal), refusal)
        .await?;
    answer.map(|(response, _)| response)
}

/// A refusal before execution: an error REST-style for a body that is not GraphQL at
/// all (too large), else a GraphQL response with the error.
fn refuse(error: AppError) -> (HttpResponse, Option<AppError>) {
    let response = if error.class() == ErrorClass::PayloadTooLarge {
        HttpResponse::build(crate::rest::error::status(error.class()))
            .json(crate::rest::error::body(&error))
    } else {
        let status = if matches!(error, AppError::Timeout(_)) {
            StatusCode::OK
        } else {
            crate::rest::error::status(error.class())
        };
        HttpResponse::build(status).json(Response::from_errors(vec![request_error(&error)]))
    };
    (response, Some(error))
}

/// Runs the request; the second value is the first refusal (before execution, or of a
/// limit), which the request's audit record names.
async fn run(built: &Built, body: web::Bytes, gql: Gql) -> (HttpResponse, Option<AppError>) {
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(e) => {
            return refuse(AppError::InvalidQuery(format!(
                "the body is not a GraphQL request ({{\"query\": ...}} or a list of those): {e}"
            )));
        }
    };
    let (requests, single) = match batch {
        BatchRequest::Single(request) => (vec![request], true),
        BatchRequest::Batch(requests) => (requests, false),
    };
    // Checked before anything is parsed or run: a batch of 1,000 runs nothing.
    if requests.len() > MAX_BATCH || requests.is_empty() {
        return refuse(AppError::BatchTooLarge(format!(
            "a batch holds 1 to {MAX_BATCH} operations; this one has {}",
            requests.len()
        )));
    }
    let gql = Arc::new(gql);
    let execute = async {
        let mut responses = Vec::with_capacity(requests.len());
        let mut refusal = None;
        for mut request in requests {
            let response = match limits::check(&mut request, &built.fields) {
                Err(error) => {
                    let response = Response::from_errors(vec![request_error(&error)]);
                    refusal.get_or_insert(error);
                    response
                }
                Ok(()) => {
                    // The executor answers fields in the order they finish; the
                    // response goes back into the query's order (see order.rs).
                    let document = request.parsed_query().ok().cloned();
                    let operation = request.operation_name.clone();
                    let request = request.data(Arc::clone(&gql));
                    let mut response = built.schema.execute(request).await;
                    if let Some(document) = &document {
                        order::in_selection_order(
                            document,
                            operation.as_deref(),
                            &mut response.data,
                        );
                    }
                    response
                }
            };
            responses.push(response);
        }
        (responses, refusal)
    };
    let (mut responses, refusal) = match tokio::time::timeout(EXECUTION_TIMEOUT, execute).await {
        Ok(done) => done,
        Err(_) => {
            return refuse(AppError::Timeout(format!(
                "the request took longer than {} s; ask for fewer rows or narrow the filter",
                EXECUTION_TIMEOUT.as_secs()
            )));
        }
    };
    for response in &mut responses {
        ensure_codes(&mut response.errors);
    }
    // async-graphql's own limits and validation refuse a document before it runs: the
    // request's record is then a denial with that code, as for dap's own limits.
    let refusal = refusal.or_else(|| {
        responses
            .iter()
            .flat_map(|r| r.errors.iter())
            .find_map(crate::graphql::error::refusal_of)
    });
    let response = match (single, responses.pop()) {
        (true, Some(response)) => BatchResponse::Single(response),
        (_, last) => {
            responses.extend(last);
            BatchResponse::Batch(responses)
        }
    };
    (HttpResponse::Ok().json(response), refusal)
}
