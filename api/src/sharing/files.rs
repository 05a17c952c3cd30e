//! `GET <prefix>/files/<token>`: the bytes a signed file link stands for, with single
//! byte ranges (clients read Parquet footers first). The link is the credential, as the
//! protocol intends; a request that also carries a credential must be the link's caller.

use actix_web::body::SizedStream;
use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use bytes::Bytes;

use super::wire::SharingError;
use crate::app::{AppError, Core};
use crate::rest::extract::{Caller, request_context};

/// Serves one file link.
pub async fn file(
    req: HttpRequest,
    core: web::Data<Core>,
    token: web::Path<String>,
) -> Result<HttpResponse, SharingError> {
    let ctx = request_context(&req);
    let caller = if req.headers().contains_key(header::AUTHORIZATION) {
        Some(Caller::from_request(&req, &mut Payload::None).await?.0)
    } else {
        None
    };
    let (link, principal) = match core.sharing_link(&token, caller.as_ref()) {
        Ok(found) => found,
        Err(error) => {
            core.audit_request(&ctx, caller.as_ref(), None, Some(&error))
                .await?;
            return Err(error.into());
        }
    };
    // The range, and the first bytes of a GET, are part of the audited work: a request
    // refused for its range, or for a file that can no longer be read, is recorded so.
    let work = async {
        let (served, facts) = core.sharing_file(&link, &principal).await?;
        let total = served.body.len();
        let span = range(&req, total)?;
        let (start, end) = span.unwrap_or((0, total));
        // HEAD sizes the file (clients do before reading ranges): its length, no bytes read.
        let head = req.method() == Method::HEAD;
        let bytes = if head {
            None
        } else {
            Some(core.sharing_read(&served, start..end).await?)
        };
        let part = (!head).then_some(start..end);
        let facts = Core::sharing_served(facts, total, part);
        Ok(((total, span, bytes), facts))
    };
    let (total, span, bytes) = core.audited(&ctx, &principal, Some(&link.d), work).await?;
    let (mut response, start, end) = match span {
        Some((start, end)) => {
            let mut r = HttpResponse::build(StatusCode::PARTIAL_CONTENT);
            r.insert_header((
                header::CONTENT_RANGE,
                format!("bytes {start}-{}/{total}", end - 1),
            ));
            (r, start, end)
        }
        None => (HttpResponse::Ok(), 0, total),
    };
    let mut response = match bytes {
        None => response.body(SizedStream::new(
            end - start,
            futures::stream::empty::<Result<Bytes, actix_web::Error>>(),
        )),
        Some(bytes) => response.body(SizedStream::new(end - start, bytes)),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.apache.parquet"),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The one byte range `Range: bytes=…` asks for, as `start..end`; `None` for the whole.
fn range(req: &HttpRequest, total: u64) -> Result<Option<(u64, u64)>, AppError> {
    let Some(value) = req.headers().get(header::RANGE) else {
        return Ok(None);
    };
    let bad = || {
        AppError::InvalidParameter(format!(
            "Range must be one range within the file's {total} bytes, e.g. bytes=0-1023"
        ))
    };
    let spec = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().strip_prefix("bytes="))
        .ok_or_else(bad)?;
    let (first, last) = spec.split_once('-').ok_or_else(bad)?;
    let parse = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    let (start, end) = match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, false) => (total.saturating_sub(parse(last)?), total),
        (false, true) => (parse(first)?, total),
        (false, false) => (parse(first)?, parse(last)?.saturating_add(1).min(total)),
        (true, true) => return Err(bad()),
    };
    if start >= end {
        return Err(bad());
    }
    Ok(Some((start, end)))
}
