//! Streaming response bodies that end with an audit record.
//!
//! An export is audited twice: before the first byte (in [`Core::audited`], which
//! fails the request if the record cannot be written) and when the stream ends, with
//! the number of rows sent. If the closing record cannot be written the stream ends
//! with an error, so the client never sees a complete, unaudited download. A client that
//! disconnects mid-way gets an `export_aborted` record with the rows encoded so far. A client that
//! disconnects mid-way gets an `export_aborted` record with the rows encoded so far.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix_web::web;
use bytes::Bytes;
use dap_auth::Principal;
use dap_lake::export::Export;
use dap_schema::AuditOutcome;
use futures::Stream;

use crate::app::{AuditFacts, Core, RequestContext};

enum Phase {
    Streaming,
    Done,
}

struct State {
    export: Export,
    app: web::Data<Core>,
    ctx: RequestContext,
    principal: Arc<Principal>,
    dataset: String,
    facts: AuditFacts,
    phase: Phase,
}

/// The body of an export response.
pub fn audited_body(
    export: Export,
    app: web::Data<Core>,
    ctx: RequestContext,
    principal: Principal,
    dataset: String,
    facts: AuditFacts,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
    let state = State {
        export,
        app,
        ctx,
        principal: Arc::new(principal),
        dataset,
        facts,
        phase: Phase::Streaming,
    };
    futures::stream::unfold(state, |mut state| async move {
        if let Phase::Done = state.phase {
            return None;
        }
        match state.export.chunks.recv().await {
            Some(Ok(chunk)) => Some((Ok(chunk), state)),
            Some(Err(error)) => {
                tracing::error!(%error, "export failed while streaming");
                let _ = close(&state, AuditOutcome::Failed, "export_failed").await;
                state.phase = Phase::Done;
                Some((
                    Err(actix_web::error::ErrorInternalServerError("export failed")),
                    state,
                ))
            }
            None => {
                state.phase = Phase::Done;
                match close(&state, AuditOutcome::Allowed, "export_completed").await {
                    Ok(()) => None,
                    Err(error) => {
                        tracing::error!(%error, "closing audit record could not be written");
                        Some((
                            Err(actix_web::error::ErrorInternalServerError(
                                "audit unavailable",
                            )),
                            state,
                        ))
                    }
                }
            }
        }
    })
}

impl Drop for State {
    /// A client that goes away mid-download drops the body: record how far it got.
    fn drop(&mut self) {
        if let Phase::Done = self.phase {
            return;
        }
        let record = closing_record(self, AuditOutcome::Failed, "export_aborted");
        let app = self.app.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = app.control.append_audit(&record).await {
                    tracing::error!(%error, "the audit record of an aborted export could not be written");
                }
            });
        }
    }
}

async fn close(
    state: &State,
    outcome: AuditOutcome,
    reason: &str,
) -> Result<(), dap_schema::Error> {
    state
        .app
        .control
        .append_audit(&closing_record(state, outcome, reason))
        .await
}

fn closing_record(state: &State, outcome: AuditOutcome, reason: &str) -> dap_schema::AuditRecord {
    let mut record = state.ctx.record(Some(&state.principal), outcome);
    record.dataset = Some(state.dataset.clone());
    state.facts.apply(&mut record);
    record.rows_returned = i64::try_from(state.export.rows.load(Ordering::Relaxed)).ok();
    record.reason = Some(reason.to_owned());
    record
}
