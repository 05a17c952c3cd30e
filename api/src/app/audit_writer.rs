//! One writer for the audit chain. Requests hand their record to one task, which appends
//! whatever has queued up meanwhile in one transaction (one chain-head lock per batch,
//! not per request) and tells each request when its own record is durable. Without it,
//! every request took the head's write lock itself: on SQLite the requests queued on the
//! database lock (and past its busy timeout failed with "database is locked").
//!
//! A request still fails closed: it waits for its record's commit and gets the error if
//! it was not written. A failed batch is retried one record at a time, so each request
//! gets its own record's outcome and one bad record does not fail the others.

use dap_schema::{AuditRecord, ControlPlane};
use tokio::sync::{mpsc, oneshot};

/// Records appended in one transaction at most.
const MAX_BATCH: usize = 256;
/// Records waiting for the writer at most; further requests wait to queue.
const QUEUE: usize = 4096;

type Done = oneshot::Sender<Result<(), dap_schema::Error>>;

/// Hands records to the writer task.
#[derive(Debug, Clone)]
pub struct AuditWriter {
    queue: mpsc::Sender<(AuditRecord, Done)>,
}

impl AuditWriter {
    /// Starts the writer task on the current runtime.
    pub fn start(control: ControlPlane) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(write(control, pending));
        Self { queue }
    }

    /// Appends `records` (queued together, in order) and returns once all are committed;
    /// the first failure when one was not.
    pub async fn append_all(&self, records: Vec<AuditRecord>) -> Result<(), dap_schema::Error> {
        let stopped = || dap_schema::Error::AuditChain("the audit writer has stopped".into());
        let mut commits = Vec::with_capacity(records.len());
        for record in records {
            let (done, committed) = oneshot::channel();
            self.queue
                .send((record, done))
                .await
                .map_err(|_| stopped())?;
            commits.push(committed);
        }
        let mut outcome = Ok(());
        for committed in commits {
            let appended = committed.await.map_err(|_| stopped()).and_then(|r| r);
            if outcome.is_ok() {
                outcome = appended;
            }
        }
        outcome
    }
}

async fn write(control: ControlPlane, mut pending: mpsc::Receiver<(AuditRecord, Done)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while pending.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let records: Vec<AuditRecord> = batch.iter().map(|(r, _)| r.clone()).collect();
        let count = records.len();
        match isolated(&control, move |control| async move {
            control.append_audits(&records).await
        })
        .await
        {
            Ok(()) => {
                for (_, done) in batch.drain(..) {
                    // A request that went away no longer waits; its record is written.
                    let _ = done.send(Ok(()));
                }
            }
            Err(error) => {
                tracing::warn!(%error, records = count, "audit batch failed; appending its records one by one");
                for (record, done) in batch.drain(..) {
                    let outcome = isolated(&control, move |control| async move {
                        control.append_audit(&record).await
                    })
                    .await;
                    let _ = done.send(outcome);
                }
            }
        }
    }
}

/// Runs one append in a task of its own, so that a panic inside it (a driver, the
/// hashing) fails that append only: the writer lives on and later requests are served.
async fn isolated<F, Fut>(control: &ControlPlane, append: F) -> Result<(), dap_schema::Error>
where
    F: FnOnce(ControlPlane) -> Fut,
    Fut: std::future::Future<Output = Result<(), dap_schema::Error>> + Send + 'static,
{
    match tokio::spawn(append(control.clone())).await {
        Ok(outcome) => outcome,
        Err(error) => {
            tracing::error!(%error, "an audit append panicked; its records are not written");
            Err(dap_schema::Error::AuditChain(
                "the audit append failed unexpectedly".into(),
            ))
        }
    }
}
