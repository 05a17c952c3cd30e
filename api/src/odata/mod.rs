//! The OData v4 surface under `/odata/`, for Excel's and Power BI's "From OData feed":
//! the service document, `$metadata`, one entity set per dataset the caller may read,
//! and `/{set}/$count`. It parses OData ([`options`], [`filter`], [`pushdown`]), makes
//! one call into the core inside [`Core::audited`] and encodes the answer ([`encode`],
//! [`metadata`]); it adds no rule of its own. Paging is the core's: `@odata.nextLink`
//! carries the core's signed cursor, bound to the caller, as `$skiptoken`.
//!
//! The routes are OData's, not part of dap's REST contract, so they are registered by
//! hand (and listed as such in the OpenAPI test).

pub mod auth;
pub mod encode;
pub mod error;
pub mod filter;
pub mod key_figures;
mod lex;
pub mod metadata;
pub mod options;
pub mod pushdown;

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};
use dap_auth::Principal;
use dap_openapi::model::key_figures::KeyFigureSummary;
use dap_schema::AccessScope;

use self::auth::ODataCaller;
use self::error::ODataError;
use self::options::Options;
use crate::app::datasets::Target;
use crate::app::paging::PageRequest;
use crate::app::{AppError, Core};
use crate::rest::extract::request_context;

const JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true";

/// Mounts `/odata/`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/odata")
            .route("", web::get().to(service_document))
            .route("/", web::get().to(service_document))
            .route("/$metadata", web::get().to(metadata_document))
            .route("/{set}/$count", web::get().to(count))
            .route("/{set}", web::get().to(entity_set)),
    );
}

/// Where the feed lives, as clients must call it back: the configured public URL, else
/// the host the request came to.
fn base(req: &HttpRequest, core: &Core) -> String {
    match &core.public_url {
        Some(url) => format!("{}/odata", url.as_str().trim_end_matches('/')),
        None => {
            let info = req.connection_info();
            format!("{}://{}/odata", info.scheme(), info.host())
        }
    }
}

fn odata_response(status: actix_web::http::StatusCode) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::build(status);
    response.insert_header(("OData-Version", "4.0"));
    response
}

/// The readable scopes of the caller and the key figures it may compare, audited as one
/// request.
async fn scopes(
    req: &HttpRequest,
    core: &Core,
    principal: &Principal,
) -> Result<(Vec<AccessScope>, Vec<KeyFigureSummary>), ODataError> {
    let ctx = request_context(req);
    let options = match Options::parse(req.query_string()) {
        Ok(options) => options,
        Err(error) => return Err(refused(core, &ctx, principal, None, error).await),
    };
    let municipality = options.municipality.as_deref();
    let work = async {
        let (scopes, facts) = core.readable_scopes(principal, municipality).await?;
        // Key figures are there for a caller acting for a municipality; one acting for
        // none (a platform operator) still gets its datasets.
        let figures = match core.list_key_figures(principal, municipality).await {
            Ok((list, _)) => list.key_figures,
            Err(AppError::DatasetNotFound | AppError::MunicipalityNotGranted(_)) => Vec::new(),
            Err(other) => return Err(other),
        };
        let figures = figures
            .into_iter()
            .filter(key_figures::publishable)
            .collect();
        Ok(((scopes, figures), facts))
    };
    Ok(core.audited(&ctx, principal, None, work).await?)
}

/// Audits a request refused while it was being read, and returns the refusal.
async fn refused(
    core: &Core,
    ctx: &crate::app::RequestContext,
    principal: &Principal,
    dataset: Option<String>,
    error: ODataError,
) -> ODataError {
    let malformed;
    let audited = match error.cause() {
        Some(cause) => cause,
        None => {
            malformed = AppError::InvalidParameter(error.message.clone());
            &malformed
        }
    };
    match core
        .audit_request(ctx, Some(principal), dataset, Some(audited))
        .await
    {
        Ok(()) => error,
        Err(audit) => audit.into(),
    }
}

async fn service_document(
    req: HttpRequest,
    core: web::Data<Core>,
    ODataCaller(principal): ODataCaller,
) -> Result<HttpResponse, ODataError> {
    let (scopes, figures) = scopes(&req, &core, &principal).await?;
    let body = metadata::service_document(&base(&req, &core), &scopes, &figures);
    Ok(odata_response(actix_web::http::StatusCode::OK)
        .content_type(JSON)
        .body(body.to_string()))
}

async fn metadata_document(
    req: HttpRequest,
    core: web::Data<Core>,
    ODataCaller(principal): ODataCaller,
) -> Result<HttpResponse, ODataError> {
    let (scopes, figures) = scopes(&req, &core, &principal).await?;
    let xml = metadata::csdl(&scopes, &figures).map_err(AppError::internal)?;
    // OData's media type for CSDL XML; Power Query accepts `application/xml` here and
    // refuses the document under any other type.
    Ok(odata_response(actix_web::http::StatusCode::OK)
        .content_type("application/xml")
        .body(xml))
}

/// The dataset behind an entity set name, among those the caller sees; `None` answers
/// 404 like a dataset that does not exist.
fn dataset_of(core: &Core, principal: &Principal, set: &str) -> Result<String, ODataError> {
    if set.contains('(') {
        return Err(ODataError::not_implemented(
            "addressing an entity by key is not supported; use $filter on the key, e.g. $filter=posteringsid eq 1".into(),
        ));
    }
    core.visible_datasets(principal)
        .iter()
        .map(|d| d.id.to_string())
        .find(|id| metadata::set_name(id) == set)
        .ok_or_else(|| AppError::DatasetNotFound.into())
}

/// Whether `set` names a key figure (`noegletal_…`) rather than a dataset the caller sees.
fn is_key_figure(core: &Core, principal: &Principal, set: &str) -> bool {
    set.starts_with(key_figures::PREFIX)
        && !core
            .visible_datasets(principal)
            .iter()
            .any(|d| metadata::set_name(d.id.as_str()) == set)
}

/// The page and count a request answers with.
struct Answer {
    page: crate::app::paging::Page,
    rows: usize,
    count: Option<u64>,
    next: Option<String>,
}

async fn entity_set(
    req: HttpRequest,
    core: web::Data<Core>,
    ODataCaller(principal): ODataCaller,
    set: web::Path<String>,
) -> Result<HttpResponse, ODataError> {
    if is_key_figure(&core, &principal, &set) {
        return key_figures::read(&req, &core, &principal, &set, false).await;
    }
    let ctx = request_context(&req);
    let read = || {
        let options = Options::parse(req.query_string())?;
        let dataset = dataset_of(&core, &principal, &set)?;
        Ok::<_, ODataError>((options, dataset))
    };
    let (options, dataset) = match read() {
        Ok(read) => read,
        Err(error) => {
            let set = Some(set.chars().take(130).collect());
            return Err(refused(&core, &ctx, &principal, set, error).await);
        }
    };
    let size = options.page_size(max_page_size(&req));
    let target = Target {
        dataset: &dataset,
        municipality: options.municipality.as_deref(),
    };
    let request = PageRequest {
        query: options.row_query(size),
        cursor: options.skiptoken.as_ref().map(|(_, c)| c.clone()),
        surface: "odata",
    };
    let work = async {
        let (page, mut facts) = core.read_page(&principal, target, request).await?;
        let count = match options.count {
            true => Some(
                core.count_rows(&principal, target, options.count_query())
                    .await?
                    .0,
            ),
            false => None,
        };
        // $top counts from $skip: the page that reaches it is cut there and ends the feed.
        let served_before = page.offset.saturating_sub(options.skip);
        let wanted = options
            .top
            .map_or(u64::MAX, |t| t.saturating_sub(served_before));
        let rows = usize::try_from(wanted)
            .unwrap_or(usize::MAX)
            .min(page.batch.num_rows());
        let last = served_before + rows as u64 >= options.top.unwrap_or(u64::MAX);
        let next = page.next_cursor.clone().filter(|_| !last);
        facts.rows_returned = Some(rows);
        Ok((
            Answer {
                page,
                rows,
                count,
                next,
            },
            facts,
        ))
    };
    let answer = core.audited(&ctx, &principal, Some(&dataset), work).await?;
    respond(&req, &core, &set, &options, size, answer)
}

fn respond(
    req: &HttpRequest,
    core: &Core,
    set: &str,
    options: &Options,
    size: u64,
    answer: Answer,
) -> Result<HttpResponse, ODataError> {
    let base = base(req, core);
    let ieee754 = options.ieee754 || accepts_ieee754(req);
    let context = match &options.select {
        Some(columns) => format!("{base}/$metadata#{set}({})", columns.join(",")),
        None => format!("{base}/$metadata#{set}"),
    };
    let mut body = format!("{{\"@odata.context\":{}", json_text(&context)?).into_bytes();
    if let Some(count) = answer.count {
        body.extend_from_slice(format!(",\"@odata.count\":{count}").as_bytes());
    }
    body.extend_from_slice(b",\"value\":");
    body.extend(encode::rows(&answer.page.batch, answer.rows, ieee754)?);
    if let Some(cursor) = &answer.next {
        let mut pairs = options.pairs.clone();
        pairs.push(("$skiptoken".into(), format!("{size}.{cursor}")));
        let query = serde_urlencoded::to_string(&pairs).map_err(AppError::internal)?;
        let link = format!("{base}/{set}?{query}");
        body.extend_from_slice(format!(",\"@odata.nextLink\":{}", json_text(&link)?).as_bytes());
    }
    body.push(b'}');
    let mut response = odata_response(actix_web::http::StatusCode::OK);
    if max_page_size(req).is_some() {
        response.insert_header(("Preference-Applied", format!("odata.maxpagesize={size}")));
    }
    let content_type = format!("{JSON};IEEE754Compatible={ieee754}");
    Ok(response.content_type(content_type).body(body))
}

fn json_text(s: &str) -> Result<String, ODataError> {
    Ok(serde_json::to_string(s).map_err(AppError::internal)?)
}

async fn count(
    req: HttpRequest,
    core: web::Data<Core>,
    ODataCaller(principal): ODataCaller,
    set: web::Path<String>,
) -> Result<HttpResponse, ODataError> {
    if is_key_figure(&core, &principal, &set) {
        return key_figures::read(&req, &core, &principal, &set, true).await;
    }
    let ctx = request_context(&req);
    let read = || {
        let options = Options::parse(req.query_string())?;
        let dataset = dataset_of(&core, &principal, &set)?;
        Ok::<_, ODataError>((options, dataset))
    };
    let (options, dataset) = match read() {
        Ok(read) => read,
        Err(error) => {
            let set = Some(set.chars().take(130).collect());
            return Err(refused(&core, &ctx, &principal, set, error).await);
        }
    };
    let target = Target {
        dataset: &dataset,
        municipality: options.municipality.as_deref(),
    };
    let work = core.count_rows(&principal, target, options.count_query());
    let count = core.audited(&ctx, &principal, Some(&dataset), work).await?;
    Ok(odata_response(actix_web::http::StatusCode::OK)
        .content_type(ContentType::plaintext())
        .body(count.to_string()))
}

/// `Prefer: odata.maxpagesize=N`.
fn max_page_size(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| {
            p.trim()
                .strip_prefix("odata.maxpagesize=")?
                .trim()
                .parse()
                .ok()
        })
}

/// `IEEE754Compatible=true` in `Accept` (in `$format`, [`Options::ieee754`]): decimals
/// and 64-bit integers as strings, for clients that read JSON numbers as doubles.
fn accepts_ieee754(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase()
        .contains("ieee754compatible=true")
}
