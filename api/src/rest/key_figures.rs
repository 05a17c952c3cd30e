//! `/api/v1/key-figures`: key figures across all municipalities, after disclosure
//! control. Each handler parses, calls one operation of the core (`app::key_figures`)
//! inside the audit, and encodes (JSON, or a file with `format=csv` or `format=xlsx`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use dap_openapi::model::key_figures::{KeyFigureList, KeyFigureTable};
use dap_openapi::{DatasetErrors, ErrorBody};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::app::key_figures::{ComparisonGroup, KeyFigureRequest, export};
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
        ("year" = Option<String>, Query, description = "The year (a filter on the key figure's year dimension `aar`)", example = "2025"),
        ("filter" = Option<Vec<String>>, Query, explode = true, description = "`dimension:eq:value` or `dimension:in:v1,v2` on the key figure's dimensions, repeatable (AND)", example = json!(["funktion:eq:05.32.32"])),
        ("group" = Option<String>, Query, description = "`all` (default: all 98 and the country), `region` (the caller's region, its total and the country), `size` (the caller's population band, its total and the country), `country` (the caller and the country), or comma-separated municipality codes (plus the caller's own, no group total)", example = "region"),
        ("format" = Option<String>, Query, description = "`json` (default), `csv` (semicolon-separated, legend as `#` lines, one line per cell) or `xlsx` (sheet Noegletal and a legend sheet Forklaring); suppressed cells show `..`, undefined ones `-`", example = "json"),
        ("municipality" = Option<String>, Query, description = "Municipality code to act for, when the token grants several", example = "0101"),
    ),
    responses(
        (status = 200, description = "The key figure after disclosure control", body = KeyFigureTable,
         content(
            (KeyFigureTable = "application/json"),
            (String = "text/csv"),
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
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
    let mut format = Format::Json;
    let work = async {
        let params = Params::parse(
            req.query_string(),
            &["year", "filter", "group", "format", "municipality"],
        )?;
        format = Format::parse(params.text("format").as_deref())?;
        let group = ComparisonGroup::parse(params.text("group").as_deref())?;
        let municipality = params.text("municipality");
        let year = params.text("year");
        let request = KeyFigureRequest {
            id: &id,
            municipality: municipality.as_deref(),
            year: year.as_deref(),
            filters: params.filter_specs()?,
            group,
        };
        core.key_figure(&principal, request).await
    };
    let table = core.audited(&ctx, &principal, None, work).await?;
    let attachment = |extension: &str| {
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}.{extension}\"", table.summary.id),
        )
    };
    Ok(match format {
        Format::Json => HttpResponse::Ok().json(table),
        Format::Csv => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
            .insert_header(attachment("csv"))
            .body(export::to_csv(&table)),
        Format::Xlsx => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, XLSX))
            .insert_header(attachment("xlsx"))
            .body(export::to_xlsx(&table)?),
    })
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The answer's encoding.
#[derive(Debug, Clone, Copy)]
enum Format {
    Json,
    Csv,
    Xlsx,
}

impl Format {
    fn parse(raw: Option<&str>) -> Result<Self, AppError> {
        match raw {
            None | Some("json") => Ok(Self::Json),
            Some("csv") => Ok(Self::Csv),
            Some("xlsx") => Ok(Self::Xlsx),
            Some(other) => Err(AppError::InvalidParameter(format!(
                "format '{}' is not offered; use json, csv or xlsx",
                other.chars().take(20).collect::<String>()
            ))),
        }
    }
}
