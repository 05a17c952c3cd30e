//! Readiness: whether this replica can serve, per cause, so a load balancer routes
//! around a replica whose audit log, control plane or lake is not answering.

use std::time::Duration;

use super::Core;

/// How long one probe may take before it counts as failing.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// One dependency's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Ok,
    /// Failing, with a short cause that names no secret or location.
    Failing(&'static str),
}

impl Check {
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok)
    }
}

/// A table served at an older version than its log has (a newer commit is unreadable).
#[derive(Debug, Clone)]
pub struct StaleDataset {
    pub dataset: String,
    pub serving: Option<u64>,
    pub latest: u64,
    pub since: chrono::DateTime<chrono::Utc>,
}

/// The replica's readiness.
#[derive(Debug, Clone)]
pub struct Readiness {
    pub control_plane: Check,
    pub audit_log: Check,
    pub lake: Check,
    pub datasets: usize,
    /// Datasets served at their last good version: reported, not a reason to take the
    /// replica out (every replica reads the same lake).
    pub stale: Vec<StaleDataset>,
}

impl Readiness {
    /// Ready when every dependency answers.
    pub fn is_ready(&self) -> bool {
        self.control_plane.is_ok() && self.audit_log.is_ok() && self.lake.is_ok()
    }
}

async fn probe<F, E>(what: &'static str, work: F, failing: &'static str) -> Check
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    match tokio::time::timeout(PROBE_TIMEOUT, work).await {
        Ok(Ok(())) => Check::Ok,
        Ok(Err(error)) => {
            tracing::warn!(%error, check = what, "readiness check failed");
            Check::Failing(failing)
        }
        Err(_) => {
            tracing::warn!(check = what, "readiness check timed out");
            Check::Failing("timed out")
        }
    }
}

impl Core {
    /// Probes the control plane, the audit log (an append's write lock, rolled back) and
    /// the lake's storage, concurrently.
    pub async fn readiness(&self) -> Readiness {
        let (control_plane, audit_log, lake) = tokio::join!(
            probe("control_plane", self.control.ping(), "does not answer"),
            probe(
                "audit_log",
                self.control.probe_audit_append(),
                "cannot be written"
            ),
            probe("lake", self.lake.probe(), "storage does not answer"),
        );
        let stale = self
            .lake
            .stale_tables()
            .into_iter()
            .filter_map(|(location, table)| {
                let dataset = self
                    .catalogue
                    .all()
                    .iter()
                    .find(|d| self.lake.location(d).is_ok_and(|u| u.as_str() == location))?
                    .id
                    .to_string();
                Some(StaleDataset {
                    dataset,
                    serving: table.serving,
                    latest: table.latest,
                    since: table.since,
                })
            })
            .collect();
        Readiness {
            control_plane,
            audit_log,
            lake,
            datasets: self.catalogue.len(),
            stale,
        }
    }
}
