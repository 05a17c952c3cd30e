//! `/api/v1/datasets/{id}/deliveries`: a municipality's systems deliver rows (the file
//! streamed to a temporary file, never held in memory) and list their receipts. The
//! rules are the core's (`app::deliveries`); the handler only moves bytes.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use dap_openapi::model::deliveries::{DeliveryReceipt, DeliveryReceiptList};
use dap_openapi::{DatasetErrors, ErrorBody};
use futures::StreamExt;

use crate::app::deliveries::{DeliveryParams, Upload};
use crate::app::{AppError, Core};
use crate::rest::extract::{Caller, request_context};
use crate::rest::input::Path;
use crate::rest::params::Params;

const DELIVERY_PARAMS: &[&str] = &[
    "mode",
    "period",
    "period_column",
    "delivery_id",
    "municipality",
];

/// Delivers rows of the caller's municipality: `upsert` by the key columns (default),
/// `replace` a period, or `delete` by keys. The file is validated whole before anything
/// is written; an invalid file is refused whole with its first problems (at most 100) by
/// line and column. A valid file is applied as one commit, once per `delivery_id`: a
/// retried delivery answers with the first receipt (`replayed: true`).
#[utoipa::path(
    tag = "deliveries",
    security(("municipal_broker" = []), ("machine_client" = [])),
    params(
        ("id" = String, Path, description = "Dataset id", example = "oekonomi.posteringer"),
        ("mode" = Option<String>, Query, description = "`upsert` (default), `replace` or `delete`"),
        ("period" = Option<String>, Query, description = "For `replace`: `2024`, `2024-03`, `2024-03-31` or `2024-03-01..2024-03-15`", example = "2024-03"),
        ("period_column" = Option<String>, Query, description = "For `replace`: the date column of the period, when the dataset has several"),
        ("delivery_id" = Option<String>, Query, description = "Your id of this delivery (1-128 of A-Z a-z 0-9 . _ -); default `sha256-<hex>` of the file (for `delete` and `replace`, of the file with the mode and period); another delivery under a used id is 409", example = "2024-03-31-bogfoering"),
        ("municipality" = Option<String>, Query, description = "Municipality code to deliver for, when the token grants several", example = "0101"),
    ),
    request_body(
        description = "The rows: CSV with a header line (`text/csv`, `,` or `;`), NDJSON (`application/x-ndjson`) or Parquet (`application/vnd.apache.parquet`). `kommunekode` may be left out (dap fills it in); if present it must be the caller's on every row.",
        content(
            (String = "text/csv"),
            (String = "application/x-ndjson"),
            (Vec<u8> = "application/vnd.apache.parquet"),
        )
    ),
    responses(
        (status = 200, description = "Applied (or applied before: `replayed`)", body = DeliveryReceipt),
        (status = 400, description = "Refused whole, nothing written: `delivery_rejected` with `problems`, or a bad parameter or Content-Type, or an upload that ended early", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody,
         headers(("WWW-Authenticate" = String, description = "Bearer error=\"invalid_token\""))),
        (status = 403, description = "No delivery right for the dataset in the municipality", body = ErrorBody),
        (status = 404, description = "No such dataset, or the caller may not see it", body = ErrorBody),
        (status = 409, description = "`delivery_id_in_use`: the delivery id names another delivery (another file, mode or period) applied before; nothing written", body = ErrorBody),
        (status = 413, description = "The file is larger than the configured limit", body = ErrorBody),
        (status = 500, description = "Internal error (opaque)", body = ErrorBody),
    )
)]
#[post("/api/v1/datasets/{id}/deliveries")]
async fn deliver(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    id: Path<String>,
    mut payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let params = Params::parse(req.query_string(), DELIVERY_PARAMS)?;
        let params = DeliveryParams {
            municipality: params.text("municipality"),
            mode: params.text("mode"),
            period: params.text("period"),
            period_column: params.text("period_column"),
            delivery_id: params.text("delivery_id"),
        };
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let plan = core
            .plan_delivery(&principal, &id, &params, content_type)
            .await?;
        let upload = receive(&core, &mut payload).await?;
        core.deliver(plan, upload).await
    };
    let receipt = core.audited(&ctx, &principal, Some(&id), work).await?;
    Ok(HttpResponse::Ok().json(receipt))
}

/// Streams the request body into the core's upload sink. A body that ends before its
/// announced length (the client went away) is refused: nothing is written.
async fn receive(core: &Core, payload: &mut web::Payload) -> Result<Upload, AppError> {
    let mut sink = core.upload_sink()?;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            AppError::InvalidParameter(format!(
                "the upload did not arrive whole ({e}); nothing was written: send the file again"
            ))
        })?;
        sink.write(&chunk).await?;
    }
    sink.finish().await
}

/// The receipts of the caller's municipality for the dataset, newest first.
///
/// A role narrowed by data constraints to part of the municipality's rows is refused
/// (403): receipts count and date the whole municipality's rows.
#[utoipa::path(
    tag = "deliveries",
    security(("municipal_broker" = []), ("dap_token" = []), ("machine_client" = [])),
    params(
        ("id" = String, Path, description = "Dataset id", example = "oekonomi.posteringer"),
        ("municipality" = Option<String>, Query, description = "Municipality code to act for, when the token grants several", example = "0101"),
    ),
    responses(
        (status = 200, description = "The receipts", body = DeliveryReceiptList),
        DatasetErrors,
    )
)]
#[get("/api/v1/datasets/{id}/deliveries")]
async fn list_deliveries(
    req: HttpRequest,
    core: web::Data<Core>,
    Caller(principal): Caller,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    let ctx = request_context(&req);
    let work = async {
        let params = Params::parse(req.query_string(), &["municipality"])?;
        let municipality = params.text("municipality");
        core.list_deliveries(&principal, &id, municipality.as_deref())
            .await
    };
    let list = core.audited(&ctx, &principal, Some(&id), work).await?;
    Ok(HttpResponse::Ok().json(list))
}
