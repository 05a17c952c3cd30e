//! The Delta Sharing surface (protocol of `delta-io/delta-sharing`, `PROTOCOL.md`), served
//! under a configurable prefix (default `/delta-sharing`): Power BI, the `delta-sharing`
//! Python connector and Spark read dap's datasets as shared tables. Each handler parses
//! the request, makes one audited call into the core ([`crate::app::sharing`]) and
//! encodes the protocol's answer; errors use the protocol's body ([`wire::SharingError`]).
//!
//! These routes are the protocol's, not dap's REST contract, so they are registered by
//! hand (the OpenAPI test allows lines marked `protocol surface: Delta Sharing`).

mod files;
pub mod wire;

use actix_web::{HttpRequest, HttpResponse, guard, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::app::Core;
use crate::app::sharing::{QueryRequest, SharedTable, TableRef};
use crate::rest::extract::{Caller, request_context};
use crate::rest::input::Query;
use wire::{SharingError, VERSION_HEADER, base_url, change_line, file_line, header_lines, ndjson};

type Answer = Result<HttpResponse, SharingError>;
type Authenticated = Result<Caller, crate::app::AppError>;

/// Mounts the protocol under `prefix`.
pub fn configure(prefix: &str) -> impl FnOnce(&mut web::ServiceConfig) + use<> {
    let prefix = prefix.to_owned();
    move |cfg| {
        let get_or_head = || web::route().guard(guard::Any(guard::Get()).or(guard::Head()));
        let tables = "/shares/{share}/schemas/{schema}/tables";
        let table = "/shares/{share}/schemas/{schema}/tables/{table}";
        cfg.service(
            web::scope(&prefix) // protocol surface: Delta Sharing
                .route("/shares", web::get().to(list_shares)) // protocol surface: Delta Sharing
                .route("/shares/{share}", web::get().to(get_share)) // protocol surface: Delta Sharing
                .route("/shares/{share}/schemas", web::get().to(list_schemas)) // protocol surface: Delta Sharing
                .route(tables, web::get().to(list_tables)) // protocol surface: Delta Sharing
                .route("/shares/{share}/all-tables", web::get().to(all_tables)) // protocol surface: Delta Sharing
                .route(&format!("{table}/version"), get_or_head().to(version)) // protocol surface: Delta Sharing
                .route(&format!("{table}/metadata"), web::get().to(metadata)) // protocol surface: Delta Sharing
                .route(&format!("{table}/query"), web::post().to(query)) // protocol surface: Delta Sharing
                .route(&format!("{table}/changes"), web::get().to(changes)) // protocol surface: Delta Sharing
                .route("/files/{token}", get_or_head().to(files::file)), // protocol surface: Delta Sharing
        );
    }
}

fn table_item(t: &SharedTable) -> serde_json::Value {
    json!({"name": t.name, "schema": t.schema, "share": t.share, "shareId": t.share, "id": t.id})
}

fn items(items: Vec<serde_json::Value>) -> HttpResponse {
    // One page holds everything: a caller sees at most the catalogue's datasets.
    HttpResponse::Ok().json(json!({"items": items}))
}

async fn list_shares(req: HttpRequest, core: web::Data<Core>, caller: Authenticated) -> Answer {
    let Caller(principal) = caller?;
    let ctx = request_context(&req);
    let work = async { Ok((core.sharing_shares(), Default::default())) };
    let shares = core.audited(&ctx, &principal, None, work).await?;
    Ok(items(
        shares.iter().map(|s| json!({"name": s, "id": s})).collect(),
    ))
}

async fn get_share(
    req: HttpRequest,
    core: web::Data<Core>,
    caller: Authenticated,
    path: web::Path<String>,
) -> Answer {
    let Caller(principal) = caller?;
    let ctx = request_context(&req);
    let work = async { Ok((core.sharing_share(&path)?, Default::default())) };
    let share = core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::Ok().json(json!({"share": {"name": share, "id": share}})))
}

async fn list_schemas(
    req: HttpRequest,
    core: web::Data<Core>,
    caller: Authenticated,
    path: web::Path<String>,
) -> Answer {
    let Caller(principal) = caller?;
    let ctx = request_context(&req);
    let work = async { Ok((core.sharing_schemas(&principal, &path)?, Default::default())) };
    let schemas = core.audited(&ctx, &principal, None, work).await?;
    Ok(items(
        schemas
            .iter()
            .map(|s| json!({"name": s, "share": path.as_str()}))
            .collect(),
    ))
}

async fn list_tables(
    req: HttpRequest,
    core: web::Data<Core>,
    caller: Authenticated,
    path: web::Path<(String, String)>,
) -> Answer {
    let Caller(principal) = caller?;
    let ctx = request_context(&req);
    let (share, schema) = path.into_inner();
    let work = async {
        let tables = core.sharing_schema_tables(&principal, &share, &schema)?;
        Ok((tables, Default::default()))
    };
    let tables = core.audited(&ctx, &principal, None, work).await?;
    Ok(items(tables.iter().map(table_item).collect()))
}

async fn all_tables(
    req: HttpRequest,
    core: web::Data<Core>,
    caller: Authenticated,
    path: web::Path<String>,
) -> Answer {
    let Caller(principal) = caller?;
    let ctx = request_context(&req);
    let work = async {
        Ok((
            core.sharing_tables(&principal, &path, None)?,
            Default::default(),
        ))
    };
    let tables = core.audited(&ctx, &principal, None, work).await?;
    Ok(items(tables.iter().map(table_item).collect()))
}

/// The share, schema and table of a table route.
type TablePath = web::Path<(String, String, String)>;

fn table_ref(path: &(String, String, String)) -> TableRef<'_> {
    TableRef {
        share: &path.0,
        schema: &path.1,
        table: &path.2,
    }
}

/// The dataset id a table route names, for the audit record.
fn audited_table(path: &(String, String, String)) -> String {
    format!("{}.{}", path.1, path.2)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionParams {
    starting_timestamp: Option<String>,
}

async fn version(
    req: HttpRequest,
    core: web::Data<Core>,
    caller: Authenticated,
    path: TablePath,
    params: Query<VersionParams>,
) -> Answer {
    let Caller(principal) = caller?;
    let ctx = request_context(&req);
    let dataset = audited_table(&path);
    // A refusal of the parameters is audited like any other.
    let work = async {
        if params.value()?.starting_timestamp.is_some() {
            return Err(crate::app::AppError::InvalidParameter(
                "startingTimestamp is not supported; ask without it for the current version".into(),
            ));
        }
        core.sharing_version(&principal, table_ref(&path)).await
    };
    let version = core.audited(&ctx, &principal, Some(&dataset), work).await?;
    Ok(HttpResponse::Ok()
        .insert_header((VERSION_HEADER, version.to_string()))
        .finish())
}

async fn metadata(
    req: HttpRequest,
    core: web::Data<Core>,
    caller: Authenticated,
    path: TablePath,
) -> Answer {
    let Caller(principal) = caller?;
    let ctx = request_context(&req);
    let dataset = audited_table(&path);
    let work = core.sharing_metadata(&principal, table_ref(&path));
    let metadata = core.audited(&ctx, &principal, Some(&dataset), work).await?;
    Ok(ndjson(metadata.version, header_lines(&metadata)))
}

/// The body of a query. Predicate hints are accepted and not used: the protocol lets a
/// server ignore them (the client filters again), and every file returned is already
/// only the caller's rows.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryBody {
    #[allow(dead_code)]
    predicate_hints: Option<Vec<String>>,
    #[allow(dead_code)]
    json_predicate_hints: Option<String>,
    limit_hint: Option<u64>,
    version: Option<u64>,
    timestamp: Option<String>,
    starting_version: Option<u64>,
}

fn parse_query(body: &[u8]) -> Result<QueryRequest, crate::app::AppError> {
    use crate::app::AppError::InvalidParameter;
    let body: QueryBody = if body.iter().all(u8::is_ascii_whitespace) {
        QueryBody::default()
    } else {
        let text = std::str::from_utf8(body)
            .map_err(|_| InvalidParameter("the query body is not UTF-8 JSON".into()))?;
        crate::rest::input::json(text)?
    };
    if body.starting_version.is_some() {
        return Err(InvalidParameter(
            "startingVersion on /query is not supported; read changes with GET .../changes".into(),
        ));
    }
    if body.version.is_some() && body.timestamp.is_some() {
        return Err(InvalidParameter(
            "give version or timestamp, not both".into(),
        ));
    }
    let timestamp = body
        .timestamp
        .map(|t| {
            DateTime::parse_from_rfc3339(&t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    InvalidParameter("timestamp must be RFC 3339, e.g. 2025-01-31T12:00:00Z".into())
                })
        })
        .transpose()?;
    Ok(QueryRequest {
        version: body.version,
        timestamp,
        limit_hint: body.limit_hint,
    })
}

/// The largest query body read (predicate hints included).
const MAX_QUERY_BYTES: usize = 256 * 1024;

async fn query(
    req: HttpRequest,
    core: web::Data<Core>,
    caller: Authenticated,
    path: TablePath,
    payload: web::Payload,
) -> Answer {
    let Caller(principal) = caller?;
    let ctx = request_context(&req);
    let dataset = audited_table(&path);
    let base = base_url(&req, &core);
    let work = async {
        let body = crate::rest::input::body(&req, payload, MAX_QUERY_BYTES).await?;
        let request = parse_query(&body)?;
        core.sharing_query(&principal, table_ref(&path), request, &base)
            .await
    };
    let answer = core.audited(&ctx, &principal, Some(&dataset), work).await?;
    let mut out = header_lines(&answer.metadata);
    for file in &answer.files {
        out.push_str(&file_line(file));
    }
    Ok(ndjson(answer.metadata.version, out))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangesParams {
    starting_version: Option<u64>,
    ending_version: Option<u64>,
    starting_timestamp: Option<String>,
    ending_timestamp: Option<String>,
}

async fn changes(
    req: HttpRequest,
    core: web::Data<Core>,
    caller: Authenticated,
    path: TablePath,
    params: Query<ChangesParams>,
) -> Answer {
    let Caller(principal) = caller?;
    let ctx = request_context(&req);
    let dataset = audited_table(&path);
    let base = base_url(&req, &core);
    let work = async {
        use crate::app::AppError::InvalidParameter;
        let params = params.value()?;
        if params.starting_timestamp.is_some() || params.ending_timestamp.is_some() {
            return Err(InvalidParameter(
                "startingTimestamp and endingTimestamp are not supported; use startingVersion and endingVersion".into(),
            ));
        }
        let from = params.starting_version.ok_or_else(|| {
            InvalidParameter("startingVersion is required, e.g. ?startingVersion=0".into())
        })?;
        core.sharing_changes(
            &principal,
            table_ref(&path),
            from,
            params.ending_version,
            &base,
        )
        .await
    };
    let answer = core.audited(&ctx, &principal, Some(&dataset), work).await?;
    let mut out = header_lines(&answer.metadata);
    for change in &answer.changes {
        out.push_str(&change_line(change));
    }
    Ok(ndjson(answer.metadata.version, out))
}
