//! `/api/v1/key-figures`: key figures across all municipalities, after disclosure
//! control. Each handler parses, calls one operation of the core (`app::key_figures`)
//! inside the audit, and encodes (JSON, or CSV with `format=csv`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use dap_openapi::model::key_figures::{KeyFigureList, KeyFigureTable};
use dap_openapi::{DatasetErrors, ErrorBody};
use dap_schema::MunicipalityCode;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::app::key_figures::{ComparisonGroup, KeyFigureRequest};
use crate::app::{AppError, Core};
use crate::rest::extract::{Caller, request_context};
use crate::rest::input::Path;
use crate::rest::params::Params;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_key_figures).service(key_figure);
}

/// Lists the key figures; any caller acting for a municipality may see them.
#[utoipa::path(
    tag = "key-figures",
    security(("municipal_broker" = []), ("dap_token" = []), ("machine_client" = [])),
    params(
        ("municipality" = Option<String>, Query, description = "Municipality code to act for, when the token grants several", example = "0101"),
    ),
    responses(
        (status = 200, description = "Key figures and their disclosure rules", body = KeyFigureList),
        (status = 400, description = "Unknown parameter, or several municipalities and none named", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody,
         headers(("WWW-Authenticate" = String, description = "Bearer realm=\"dap\", error=\"invalid_token\", error_description=\"why: expired, not valid yet, revoked, another audience, untrusted issuer, malformed, or not verifiable\""))),
        (status = 403, description = "Municipality not granted", body = ErrorBody),
        (status = 404, description = "The caller acts for no municipality", body = ErrorBody),
        (status = 500, description = "Internal error (opaque)", body = ErrorBody),
    )
)]
#[get("/api/v1/key-figures")]
async fn list_key_figures(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let params = Params::parse(req.query_string(), &["municipality"])?;
        core.list_key_figures(&principal, params.text("municipality").as_deref())
            .await
    };
    let list = core.audited(&ctx, &principal, None, work).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// One key figure for every municipality of the comparison group and the country, with
/// small groups suppressed (primary and complementary suppression).
#[utoipa::path(
    tag = "key-figures",
    security(("municipal_broker" = []), ("dap_token" = []), ("machine_client" = [])),
    params(
        ("id" = String, Path, description = "Key figure id", example = "nettoudgift-pr-indbygger"),
        ("filter" = Option<Vec<String>>, Query, explode = true, description = "`dimension:eq:value` or `dimension:in:v1,v2` on the key figure's dimensions, repeatable (AND)", example = json!(["aar:eq:2025"])),
        ("group" = Option<String>, Query, description = "`all` (default), or comma-separated municipality codes to compare with (the caller's own is always included)", example = "0147,0151,0153"),
        ("format" = Option<String>, Query, description = "`json` (default) or `csv` (semicolon-separated rows, one per cell)", example = "json"),
        ("municipality" = Option<String>, Query, description = "Municipality code to act for, when the token grants several", example = "0101"),
    ),
    responses(
        (status = 200, description = "The key figure after disclosure control", body = KeyFigureTable,
         content(
            (KeyFigureTable = "application/json"),
            (String = "text/csv"),
         )),
        DatasetErrors,
    )
)]
#[get("/api/v1/key-figures/{id}")]
async fn key_figure(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let mut csv = false;
    let work = async {
        let params = Params::parse(
            req.query_string(),
            &["filter", "group", "format", "municipality"],
        )?;
        csv = match params.text("format").as_deref() {
            None | Some("json") => false,
            Some("csv") => true,
            Some(other) => {
                return Err(AppError::InvalidParameter(format!(
                    "format '{}' is not offered; use json or csv",
                    other.chars().take(20).collect::<String>()
                )));
            }
        };
        let group = group(params.text("group").as_deref())?;
        let municipality = params.text("municipality");
        let request = KeyFigureRequest {
            id: &id,
            municipality: municipality.as_deref(),
            filters: params.filter_specs()?,
            group,
        };
        core.key_figure(&principal, request).await
    };
    let table = core.audited(&ctx, &principal, None, work).await?;
    if csv {
        return Ok(HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.csv\"", table.summary.id),
            ))
            .body(to_csv(&table)));
    }
    Ok(HttpResponse::Ok().json(table))
}

fn group(raw: Option<&str>) -> Result<ComparisonGroup, AppError> {
    match raw {
        None | Some("all") => Ok(ComparisonGroup::All),
        Some(list) => list
            .split(',')
            .map(|code| {
                MunicipalityCode::parse(code.trim()).map_err(|_| {
                    AppError::InvalidParameter(format!(
                        "group: '{}' is not a municipality code; give `all` or four-digit codes separated by commas (e.g. 0147,0151)",
                        code.chars().take(10).collect::<String>()
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(ComparisonGroup::Selected),
    }
}

/// One line per cell: municipality, name, own, dimensions, total, value, status, reason, rank.
fn to_csv(table: &KeyFigureTable) -> String {
    let dims: Vec<&str> = table
        .summary
        .dimensions
        .iter()
        .map(|d| d.column.as_str())
        .collect();
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut header: Vec<String> = vec!["kommunekode".into(), "navn".into(), "egen".into()];
    header.extend(dims.iter().map(|d| (*d).to_owned()));
    header.extend(["i_alt", "vaerdi", "status", "aarsag", "rang"].map(String::from));
    let mut out = header.join(";");
    out.push_str("\r\n");
    for c in &table.cells {
        let mut line = vec![
            c.municipality.clone().unwrap_or_default(),
            quote(&c.name),
            c.own.to_string(),
        ];
        line.extend(
            dims.iter()
                .map(|d| quote(c.dimensions.get(*d).map_or("", String::as_str))),
        );
        line.extend([
            c.total.to_string(),
            c.value.map(|v| v.to_string()).unwrap_or_default(),
            c.status.to_owned(),
            c.reason.unwrap_or_default().to_owned(),
            c.rank.map(|r| r.to_string()).unwrap_or_default(),
        ]);
        out.push_str(&line.join(";"));
        out.push_str("\r\n");
    }
    out
}
