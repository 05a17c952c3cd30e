//! Jobs that one replica of several runs at a time (table maintenance, audit pruning):
//! each runs under a lease in the shared control plane (`dap_schema::leases`). A replica
//! that takes the lease runs the job; the others skip that round. The lease expires, so
//! a replica that died mid-job holds it no longer than its hold time.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use dap_schema::ControlPlane;

/// The lease under which one replica maintains the tables.
pub const MAINTENANCE_LEASE: &str = "table-maintenance";
/// The lease under which one replica prunes the audit log.
pub const AUDIT_PRUNING_LEASE: &str = "audit-pruning";

/// This replica among those sharing a control plane. A restarted process is a new
/// replica (the random part), so it never inherits a lease it did not take.
#[derive(Debug, Clone)]
pub struct Replica {
    id: String,
}

impl Default for Replica {
    fn default() -> Self {
        Self::new()
    }
}

impl Replica {
    /// A new replica name: the process id and a random part.
    pub fn new() -> Self {
        Self {
            id: format!(
                "dap-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ),
        }
    }

    /// The name leases are held under.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs `job` when this replica takes (or still holds) `lease` for `hold`, and
    /// answers its result; `None` when another replica holds the lease, or when the
    /// control plane cannot say (then nobody runs the job this round, and the next round
    /// tries again). Of replicas whose schedules fire within `hold` of each other, one
    /// runs the job. While the job runs the lease is renewed every third of `hold`; when
    /// a renewal is refused (another replica took the lease) or the control plane has not
    /// answered for the whole hold, the job is stopped at its next await (table
    /// maintenance commits are atomic, so a stopped run leaves no partial commit).
    pub async fn lead<T>(
        &self,
        control: &ControlPlane,
        lease: &str,
        hold: Duration,
        job: impl Future<Output = T>,
    ) -> Option<T> {
        let now = Utc::now();
        let span = chrono::Duration::from_std(hold).unwrap_or(chrono::Duration::hours(1));
        match control.take_lease(lease, &self.id, now, now + span).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(lease, "another replica holds the lease; skipped this round");
                return None;
            }
            Err(error) => {
                tracing::warn!(lease, %error, "lease not taken: the control plane did not answer; skipped this round");
                return None;
            }
        }
        let renew = async {
            let mut held_until = now + span;
            let mut tick = tokio::time::interval((hold / 3).max(Duration::from_secs(1)));
            tick.tick().await;
            loop {
                tick.tick().await;
                let now = Utc::now();
                match control.take_lease(lease, &self.id, now, now + span).await {
                    Ok(true) => held_until = now + span,
                    Ok(false) => return "another replica took the lease",
                    Err(error) if now >= held_until => {
                        tracing::warn!(lease, %error, "lease not renewed");
                        return "the lease expired while the control plane did not answer";
                    }
                    Err(error) => tracing::warn!(lease, %error, "lease not renewed; retrying"),
                }
            }
        };
        tokio::select! {
            done = job => Some(done),
            why = renew => {
                tracing::warn!(lease, why, "job stopped: this replica no longer holds its lease");
                None
            }
        }
    }
}
