//! Exports under way: how many may run at once (in total and per caller), how long a
//! client may leave one unread, and the closing audit records still being written, so a
//! shutdown can wait for the record of every export it cuts off.
//!
//! An export holds a scan and its encoder (tens of megabytes) for as long as it runs. A
//! caller that opens many and never reads would hold all of them: the limits refuse the
//! next one with `too_many_exports` (429, or 503 when the whole server is full, both with
//! `Retry-After`), and the send timeout ends an export its client has not read from for
//! that long, releasing what it held.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dap_auth::Principal;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::AppError;

/// Limits on exports (`[exports]` in the configuration).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportLimits {
    /// Exports running at once on this replica, all callers together.
    pub max_concurrent: usize,
    /// Exports running at once for one caller (one subject of one issuer).
    pub max_per_caller: usize,
    /// Seconds an export may wait for its client to read before it is ended.
    pub send_timeout_secs: u64,
}

impl Default for ExportLimits {
    fn default() -> Self {
        Self {
            max_concurrent: 32,
            max_per_caller: 4,
            send_timeout_secs: 60,
        }
    }
}

impl ExportLimits {
    /// Refuses limits that would refuse every export or never time out.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_concurrent == 0 || self.max_per_caller == 0 {
            return Err("exports.max_concurrent and exports.max_per_caller must be at least 1, e.g. max_concurrent = 32, max_per_caller = 4".into());
        }
        if self.max_per_caller > self.max_concurrent {
            return Err(format!(
                "exports.max_per_caller ({}) cannot exceed exports.max_concurrent ({})",
                self.max_per_caller, self.max_concurrent
            ));
        }
        if self.send_timeout_secs == 0 {
            return Err("exports.send_timeout_secs must be at least 1, e.g. 60".into());
        }
        Ok(())
    }
}

#[derive(Default)]
struct Open {
    total: usize,
    by_caller: HashMap<String, usize>,
}

struct Shared {
    limits: ExportLimits,
    /// Set when the server begins to shut down: exports cut off from now on are
    /// recorded as ended by the shutdown.
    shutting_down: std::sync::atomic::AtomicBool,
    open: Mutex<Open>,
    /// Closing records being written.
    pending: AtomicUsize,
    settled: Notify,
    /// The runtime closing records are written on: the server's own, which outlives the
    /// worker that served (and may be dropping) the export.
    runtime: Option<tokio::runtime::Handle>,
}

/// The register of exports (cheap to clone).
#[derive(Clone)]
pub struct Exports(Arc<Shared>);

impl std::fmt::Debug for Exports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exports")
            .field("limits", &self.0.limits)
            .field("running", &self.running())
            .finish()
    }
}

/// One admitted export; dropping it frees its place.
pub struct ExportPermit {
    shared: Arc<Shared>,
    caller: String,
}

impl Exports {
    /// A register with these limits; closing records run on the current runtime.
    pub fn new(limits: ExportLimits) -> Self {
        Self(Arc::new(Shared {
            limits,
            shutting_down: std::sync::atomic::AtomicBool::new(false),
            open: Mutex::new(Open::default()),
            pending: AtomicUsize::new(0),
            settled: Notify::new(),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }))
    }

    /// How long an export may go unread.
    pub fn send_timeout(&self) -> Duration {
        Duration::from_secs(self.0.limits.send_timeout_secs)
    }

    /// Admits one more export for `principal`, or refuses it with the limit it hit.
    pub fn admit(&self, principal: &Principal) -> Result<ExportPermit, AppError> {
        let caller = format!("{}\u{0}{}", principal.issuer, principal.subject);
        let limits = &self.0.limits;
        let mut open = self
            .0
            .open
            .lock()
            .map_err(|_| AppError::internal(anyhow::anyhow!("export register poisoned")))?;
        if open.total >= limits.max_concurrent {
            return Err(AppError::ServerBusy(format!(
                "the server is running its maximum of {} exports; retry shortly",
                limits.max_concurrent
            )));
        }
        let mine = open.by_caller.get(&caller).copied().unwrap_or(0);
        if mine >= limits.max_per_caller {
            return Err(AppError::TooManyExports(format!(
                "you have {mine} exports running, the most one caller may have at once; finish or cancel one and retry"
            )));
        }
        open.total += 1;
        *open.by_caller.entry(caller.clone()).or_insert(0) += 1;
        Ok(ExportPermit {
            shared: Arc::clone(&self.0),
            caller,
        })
    }

    /// Marks the start of a shutdown.
    pub fn begin_shutdown(&self) {
        self.0.shutting_down.store(true, Ordering::SeqCst);
    }

    /// True once the server has begun to shut down.
    pub fn shutting_down(&self) -> bool {
        self.0.shutting_down.load(Ordering::SeqCst)
    }

    /// Exports running now.
    pub fn running(&self) -> usize {
        self.0.open.lock().map(|o| o.total).unwrap_or(0)
    }

    /// Writes a closing record in the background, on the server's runtime, counted so
    /// [`Self::settle`] can wait for it.
    pub fn spawn_record<F>(&self, write: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let shared = Arc::clone(&self.0);
        shared.pending.fetch_add(1, Ordering::SeqCst);
        let task = async move {
            write.await;
            if shared.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
                shared.settled.notify_waiters();
            }
        };
        match self
            .0
            .runtime
            .clone()
            .or_else(|| tokio::runtime::Handle::try_current().ok())
        {
            Some(runtime) => {
                runtime.spawn(task);
            }
            None => {
                tracing::error!("no runtime to write an export's closing audit record on");
                self.0.pending.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// Waits (at most `within`) until no export is running and every closing record is
    /// written: called after the server stopped, so exports it cut off are recorded.
    pub async fn settle(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let settled = self.0.settled.notified();
            if self.running() == 0 && self.0.pending.load(Ordering::SeqCst) == 0 {
                return true;
            }
            let wake = tokio::time::sleep(Duration::from_millis(50));
            tokio::select! {
                () = settled => {}
                () = wake => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
        }
    }
}

impl std::fmt::Debug for ExportPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExportPermit")
    }
}

impl Drop for ExportPermit {
    fn drop(&mut self) {
        if let Ok(mut open) = self.shared.open.lock() {
            open.total = open.total.saturating_sub(1);
            if let Some(n) = open.by_caller.get_mut(&self.caller) {
                *n -= 1;
                if *n == 0 {
                    open.by_caller.remove(&self.caller);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(subject: &str) -> Principal {
        Principal::from_grants(
            subject.into(),
            "https://issuer.test".into(),
            dap_auth::CallerKind::User,
            Default::default(),
            dap_schema::NsisLevel::Substantial,
        )
    }

    #[tokio::test]
    async fn limits_apply_per_caller_and_in_total_and_free_on_drop() {
        let exports = Exports::new(ExportLimits {
            max_concurrent: 3,
            max_per_caller: 2,
            send_timeout_secs: 1,
        });
        let a1 = exports.admit(&caller("a")).expect("a1");
        let _a2 = exports.admit(&caller("a")).expect("a2");
        let refused = exports.admit(&caller("a")).expect_err("a3 refused");
        assert_eq!(refused.code(), "too_many_exports");
        let _b1 = exports.admit(&caller("b")).expect("b1");
        let full = exports.admit(&caller("c")).expect_err("c refused");
        assert_eq!(full.code(), "server_busy");
        drop(a1);
        assert_eq!(exports.running(), 2);
        exports.admit(&caller("c")).expect("c after a1 ended");
    }

    #[tokio::test]
    async fn settle_waits_for_closing_records() {
        let exports = Exports::new(ExportLimits::default());
        let written = Arc::new(AtomicUsize::new(0));
        let w = Arc::clone(&written);
        exports.spawn_record(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            w.fetch_add(1, Ordering::SeqCst);
        });
        assert!(exports.settle(Duration::from_secs(10)).await);
        assert_eq!(written.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn limits_that_refuse_everything_are_refused() {
        let mut limits = ExportLimits::default();
        assert!(limits.validate().is_ok());
        limits.max_per_caller = 0;
        assert!(limits.validate().is_err());
        limits = ExportLimits {
            max_per_caller: 40,
            ..ExportLimits::default()
        };
        assert!(limits.validate().is_err());
    }
}
