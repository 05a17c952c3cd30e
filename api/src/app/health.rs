//! Readiness: whether this replica can serve, per cause, so a load balancer routes
//! around a replica whose audit log, control plane or lake is not answering.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
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
    /// Free space on the disks the control plane, the lake and deliveries write to.
    pub disk: Check,
    pub datasets: usize,
    /// Datasets served at their last good version: reported, not a reason to take the
    /// replica out (every replica reads the same lake).
    pub stale: Vec<StaleDataset>,
}

impl Readiness {
    /// Ready when every dependency answers.
    pub fn is_ready(&self) -> bool {
        self.control_plane.is_ok()
            && self.audit_log.is_ok()
            && self.lake.is_ok()
            && self.disk.is_ok()
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
            disk: self.disk.check(),
            datasets: self.catalogue.len(),
            stale,
        }
    }
}

/// Space on one filesystem, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub available: u64,
    pub total: u64,
}

/// How free space is measured: the operating system's, or a test's stand-in.
pub trait FreeSpace: Send + Sync + std::fmt::Debug {
    fn space(&self, path: &Path) -> std::io::Result<Space>;
}

/// `statvfs(2)`: the space available to an unprivileged writer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Statvfs;

impl FreeSpace for Statvfs {
    fn space(&self, path: &Path) -> std::io::Result<Space> {
        let stat = rustix::fs::statvfs(path)?;
        Ok(Space {
            available: stat.f_bavail.saturating_mul(stat.f_frsize),
            total: stat.f_blocks.saturating_mul(stat.f_frsize),
        })
    }
}

/// Readiness of the local disks: a replica whose disk is (nearly) full cannot write
/// audit records (SQLite), stage deliveries or spill sorts, so it is taken out before
/// requests start failing.
#[derive(Debug)]
pub struct DiskCheck {
    paths: Vec<PathBuf>,
    min_free_percent: u8,
    probe: RwLock<Arc<dyn FreeSpace>>,
}

impl DiskCheck {
    /// Checks `paths` (or their nearest existing parent) with `statvfs`.
    pub fn new(paths: Vec<PathBuf>, min_free_percent: u8) -> Self {
        Self {
            paths,
            min_free_percent,
            probe: RwLock::new(Arc::new(Statvfs)),
        }
    }

    /// Measures with `probe` from now on (tests).
    pub fn set_probe(&self, probe: Arc<dyn FreeSpace>) {
        if let Ok(mut current) = self.probe.write() {
            *current = probe;
        }
    }

    /// Failing when any checked disk has less than the minimum free.
    pub fn check(&self) -> Check {
        let Ok(probe) = self.probe.read().map(|p| Arc::clone(&p)) else {
            return Check::Ok;
        };
        for path in &self.paths {
            let Some(existing) = path.ancestors().find(|p| p.exists()) else {
                continue;
            };
            match probe.space(existing) {
                Ok(space) if self.too_full(space) => {
                    tracing::warn!(
                        path = %existing.display(),
                        available = space.available,
                        total = space.total,
                        min_free_percent = self.min_free_percent,
                        "readiness: disk nearly full"
                    );
                    return Check::Failing("nearly full");
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(path = %existing.display(), %error, "readiness: free space unknown");
                }
            }
        }
        Check::Ok
    }

    fn too_full(&self, space: Space) -> bool {
        u128::from(space.available) * 100
            < u128::from(space.total) * u128::from(self.min_free_percent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed(Space);

    impl FreeSpace for Fixed {
        fn space(&self, _: &Path) -> std::io::Result<Space> {
            Ok(self.0)
        }
    }

    #[test]
    fn a_disk_below_the_minimum_fails_and_the_real_one_is_measured() {
        let dir = std::env::temp_dir();
        let check = DiskCheck::new(vec![dir.join("not-yet/created.sqlite")], 5);
        let real = Statvfs.space(&dir).expect("statvfs");
        assert!(real.total > 0 && real.available <= real.total, "{real:?}");
        check.set_probe(Arc::new(Fixed(Space {
            available: 4,
            total: 100,
        })));
        assert_eq!(check.check(), Check::Failing("nearly full"));
        check.set_probe(Arc::new(Fixed(Space {
            available: 5,
            total: 100,
        })));
        assert_eq!(check.check(), Check::Ok);
    }
}
