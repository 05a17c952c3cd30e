//! Streaming response bodies that end with an audit record.
//!
//! An export is audited twice: before the first byte (in [`Core::audited`], which fails
//! the request if the record cannot be written) and when the stream ends, with the rows
//! the client received. The last chunk is held back until the closing record is written:
//! if it cannot be, the stream ends with an error *without* its last chunk (a Parquet or
//! XLSX file without its footer, a JSON array without its end, the last rows of a CSV),
//! so the client never holds a complete download that is not audited.
//!
//! A stream that does not complete is recorded as `interrupted`, with the rows handed to
//! the connection so far: the client went away (`export_aborted`), did not read for the
//! send timeout (`export_send_timeout`: the export is ended and what it held released),
//! or the server shut down (`export_shutdown`). Those records are written on the
//! server's runtime and counted, so a shutdown waits for them
//! ([`crate::app::exports::Exports::settle`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::web;
use bytes::Bytes;
use dap_auth::Principal;
use dap_lake::export::Chunk;
use dap_schema::AuditOutcome;
use futures::Stream;
use tokio::sync::mpsc;

use crate::app::datasets::Download;
use crate::app::exports::ExportPermit;
use crate::app::metrics::Delivery;
use crate::app::{AppError, AuditFacts, Core, RequestContext};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Streaming,
    /// The end was reached; the closing record is being written.
    Closing,
    /// Ended by the send timeout; the next poll answers an error.
    TimedOut,
    Done,
}

/// What the stream and its watchdog share.
struct Inner {
    chunks: Option<mpsc::Receiver<dap_lake::Result<Chunk>>>,
    permit: Option<ExportPermit>,
    /// The chunk read ahead, handed out only once the next one (or the closing record)
    /// is there.
    held: Option<Chunk>,
    /// Rows of the chunks handed to the connection.
    delivered: u64,
    phase: Phase,
    /// When the last chunk was handed out, while the connection has not asked for the
    /// next one: the client is not reading.
    waiting_since: Option<Instant>,
}

impl Inner {
    /// Ends the export: stops the encoder (its channel closes) and frees its place.
    fn release(&mut self) {
        self.chunks = None;
        self.held = None;
        self.permit = None;
    }
}

/// Facts for the closing record.
struct Closing {
    app: web::Data<Core>,
    ctx: RequestContext,
    principal: Principal,
    dataset: String,
    facts: AuditFacts,
}

impl Closing {
    /// Counts a chunk handed to the connection in the metrics.
    fn handed_out(&self, chunk: &Chunk) {
        let metrics = &self.app.metrics;
        metrics.served(
            metrics.surface_of_action(&self.ctx.action),
            Delivery::Export,
            self.facts.municipality.as_deref(),
            chunk.rows,
            chunk.bytes.len() as u64,
        );
    }

    fn record(&self, outcome: AuditOutcome, reason: &str, rows: u64) -> dap_schema::AuditRecord {
        let mut record = self.ctx.record(Some(&self.principal), outcome);
        record.dataset = Some(self.dataset.clone());
        self.facts.apply(&mut record);
        record.rows_returned = i64::try_from(rows).ok();
        record.reason = Some(reason.to_owned());
        record
    }

    /// Writes an `interrupted` (or failed) record in the background, counted by the
    /// export register so shutdown waits for it.
    fn spawn(&self, outcome: AuditOutcome, reason: &'static str, rows: u64) {
        let record = self.record(outcome, reason, rows);
        let app = self.app.clone();
        self.app.exports.spawn_record(async move {
            if let Err(error) = app.append_audit(&record).await {
                tracing::error!(%error, reason, "the closing audit record of an export could not be written");
            }
        });
    }
}

type Pending = Pin<Box<dyn Future<Output = Result<(), AppError>> + Send>>;

/// The body of an export response.
pub struct AuditedBody {
    inner: Arc<Mutex<Inner>>,
    closing: Arc<Closing>,
    writing: Option<Pending>,
}

/// The body of `download`, recorded as it ends.
pub fn audited_body(
    download: Download,
    app: web::Data<Core>,
    ctx: RequestContext,
    principal: Principal,
    dataset: String,
    facts: AuditFacts,
) -> AuditedBody {
    let timeout = app.exports.send_timeout();
    let inner = Arc::new(Mutex::new(Inner {
        chunks: Some(download.export.chunks),
        permit: Some(download.permit),
        held: None,
        delivered: 0,
        phase: Phase::Streaming,
        waiting_since: None,
    }));
    let closing = Arc::new(Closing {
        app,
        ctx,
        principal,
        dataset,
        facts,
    });
    watch(Arc::downgrade(&inner), Arc::downgrade(&closing), timeout);
    AuditedBody {
        inner,
        closing,
        writing: None,
    }
}

/// Ends the export when its client has not asked for the next chunk within `timeout`.
fn watch(inner: Weak<Mutex<Inner>>, closing: Weak<Closing>, timeout: Duration) {
    let tick = (timeout / 4).max(Duration::from_millis(100));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(tick).await;
            let (Some(inner), Some(closing)) = (inner.upgrade(), closing.upgrade()) else {
                return;
            };
            let Ok(mut state) = inner.lock() else {
                return;
            };
            if state.phase != Phase::Streaming {
                return;
            }
            if state
                .waiting_since
                .is_some_and(|since| since.elapsed() >= timeout)
            {
                state.phase = Phase::TimedOut;
                state.release();
                let rows = state.delivered;
                drop(state);
                tracing::warn!(
                    dataset = %closing.dataset,
                    timeout_secs = timeout.as_secs(),
                    "export ended: the client did not read within the send timeout"
                );
                closing.spawn(AuditOutcome::Interrupted, "export_send_timeout", rows);
                return;
            }
        }
    });
}

impl Stream for AuditedBody {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(writing) = this.writing.as_mut() {
            let written = match writing.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(written) => written,
            };
            this.writing = None;
            let Ok(mut state) = this.inner.lock() else {
                return Poll::Ready(None);
            };
            let last = state.held.take();
            state.phase = Phase::Done;
            state.release();
            return match written {
                Ok(()) => {
                    if let Some(last) = last {
                        state.delivered += last.rows;
                        this.closing.handed_out(&last);
                        Poll::Ready(Some(Ok(last.bytes)))
                    } else {
                        Poll::Ready(None)
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "closing audit record could not be written; the export ends without its last chunk");
                    Poll::Ready(Some(Err(actix_web::error::ErrorInternalServerError(
                        "audit unavailable",
                    ))))
                }
            };
        }
        let Ok(mut state) = this.inner.lock() else {
            return Poll::Ready(None);
        };
        state.waiting_since = None;
        match state.phase {
            Phase::Done | Phase::Closing => return Poll::Ready(None),
            Phase::TimedOut => {
                state.phase = Phase::Done;
                return Poll::Ready(Some(Err(actix_web::error::ErrorRequestTimeout(
                    "send timeout",
                ))));
            }
            Phase::Streaming => {}
        }
        loop {
            let Some(chunks) = state.chunks.as_mut() else {
                return Poll::Ready(None);
            };
            match chunks.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Some(previous) = state.held.replace(chunk) {
                        state.delivered += previous.rows;
                        this.closing.handed_out(&previous);
                        state.waiting_since = Some(Instant::now());
                        return Poll::Ready(Some(Ok(previous.bytes)));
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    tracing::error!(%error, "export failed while streaming");
                    state.phase = Phase::Done;
                    state.release();
                    let rows = state.delivered;
                    drop(state);
                    this.closing
                        .spawn(AuditOutcome::Failed, "export_failed", rows);
                    return Poll::Ready(Some(Err(actix_web::error::ErrorInternalServerError(
                        "export failed",
                    ))));
                }
                Poll::Ready(None) => {
                    // Complete: record it with every row, then hand out the last chunk.
                    state.phase = Phase::Closing;
                    let rows = state.delivered + state.held.as_ref().map_or(0, |c| c.rows);
                    drop(state);
                    let record =
                        this.closing
                            .record(AuditOutcome::Allowed, "export_completed", rows);
                    let app = this.closing.app.clone();
                    this.writing = Some(Box::pin(async move { app.append_audit(&record).await }));
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for AuditedBody {
    /// A body dropped before it completed: the client went away, or the server is
    /// shutting down.
    fn drop(&mut self) {
        let Ok(mut state) = self.inner.lock() else {
            return;
        };
        if !matches!(state.phase, Phase::Streaming | Phase::Closing) {
            return;
        }
        state.phase = Phase::Done;
        state.release();
        let rows = state.delivered;
        drop(state);
        let reason = if self.closing.app.exports.shutting_down() {
            "export_shutdown"
        } else {
            "export_aborted"
        };
        self.closing.spawn(AuditOutcome::Interrupted, reason, rows);
    }
}
