//! Leases: of several replicas on one control plane, one runs table maintenance and
//! audit pruning per round (app/leader.rs), on SQLite and PostgreSQL alike.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use dap_api::app::leader::{MAINTENANCE_LEASE, Replica};
use dap_schema::ControlPlane;

use crate::control_plane::{drop_postgres, fresh_postgres};

async fn sqlite() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("leases.sqlite").display()
    );
    (dir, url)
}

/// Take, refuse, renew, expire, release: the lease's whole life, with explicit clocks.
async fn a_lease_has_one_holder_until_it_expires(url: &str) {
    let control = ControlPlane::connect(url).await.expect("connect");
    let t = |s: i64| {
        Utc.timestamp_opt(1_800_000_000 + s, 0)
            .single()
            .expect("time")
    };
    assert!(
        control
            .take_lease("job", "a", t(0), t(60))
            .await
            .expect("take")
    );
    assert!(
        !control
            .take_lease("job", "b", t(10), t(70))
            .await
            .expect("refused")
    );
    assert!(
        control
            .take_lease("other", "b", t(10), t(70))
            .await
            .expect("another lease"),
        "leases are independent of each other"
    );
    // The holder renews its own lease before it expires.
    assert!(
        control
            .take_lease("job", "a", t(50), t(110))
            .await
            .expect("renew")
    );
    assert!(
        !control
            .take_lease("job", "b", t(100), t(160))
            .await
            .expect("still a's")
    );
    assert_eq!(
        control.lease("job").await.expect("read"),
        Some(("a".to_owned(), t(110)))
    );
    // Expired: another replica takes it over, and the old holder is refused.
    assert!(
        control
            .take_lease("job", "b", t(110), t(170))
            .await
            .expect("take over")
    );
    assert!(
        !control
            .take_lease("job", "a", t(120), t(180))
            .await
            .expect("a refused")
    );
    // Released by a replica that does not hold it: nothing happens.
    control
        .release_lease("job", "a")
        .await
        .expect("release by non-holder");
    assert!(
        !control
            .take_lease("job", "a", t(121), t(181))
            .await
            .expect("a refused again")
    );
    // Released by its holder: free at once.
    control.release_lease("job", "b").await.expect("release");
    assert!(
        control
            .take_lease("job", "a", t(122), t(182))
            .await
            .expect("free")
    );
}

/// Replicas racing for the same lease at the same moment: exactly one gets it.
async fn racing_replicas_get_one_lease(url: &str) {
    let one = ControlPlane::connect(url).await.expect("connect");
    let two = ControlPlane::connect(url).await.expect("connect again");
    for round in 0..5 {
        let name = format!("race-{round}");
        let now = Utc::now();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let control = if i % 2 == 0 { one.clone() } else { two.clone() };
            let name = name.clone();
            tasks.push(tokio::spawn(async move {
                control
                    .take_lease(
                        &name,
                        &format!("replica-{i}"),
                        now,
                        now + chrono::Duration::hours(1),
                    )
                    .await
                    .expect("take")
            }));
        }
        let mut winners = 0;
        for task in tasks {
            winners += usize::from(task.await.expect("join"));
        }
        assert_eq!(winners, 1, "round {round}: one replica holds the lease");
    }
}

/// The scheduler's view: two replicas' maintenance rounds fire together; one runs.
async fn one_replica_runs_a_leased_job(url: &str) {
    let control = ControlPlane::connect(url).await.expect("connect");
    let (a, b) = (Replica::new(), Replica::new());
    assert_ne!(a.id(), b.id());
    let runs = Arc::new(AtomicUsize::new(0));
    let job = |runs: Arc<AtomicUsize>| async move { runs.fetch_add(1, Ordering::SeqCst) };
    let hold = Duration::from_secs(3600);
    let first = a
        .lead(&control, MAINTENANCE_LEASE, hold, job(runs.clone()))
        .await;
    let second = b
        .lead(&control, MAINTENANCE_LEASE, hold, job(runs.clone()))
        .await;
    assert_eq!(first, Some(0));
    assert_eq!(second, None, "the other replica skips the round");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // The holder's next round renews and runs again.
    assert_eq!(
        a.lead(&control, MAINTENANCE_LEASE, hold, job(runs.clone()))
            .await,
        Some(1)
    );
    let (holder, _) = control
        .lease(MAINTENANCE_LEASE)
        .await
        .expect("read")
        .expect("held");
    assert_eq!(holder, a.id());
}

#[tokio::test]
async fn leases_on_sqlite() {
    let (_dir, url) = sqlite().await;
    a_lease_has_one_holder_until_it_expires(&url).await;
    let (_dir, url) = sqlite().await;
    racing_replicas_get_one_lease(&url).await;
    let (_dir, url) = sqlite().await;
    one_replica_runs_a_leased_job(&url).await;
    let (_dir, url) = sqlite().await;
    a_long_job_renews_its_lease(&url).await;
}

#[tokio::test]
async fn leases_on_postgres() {
    let Some(url) = fresh_postgres().await else {
        return;
    };
    a_lease_has_one_holder_until_it_expires(&url).await;
    racing_replicas_get_one_lease(&url).await;
    one_replica_runs_a_leased_job(&url).await;
    a_long_job_renews_its_lease(&url).await;
    drop_postgres(&url).await;
}

/// A job that outlasts the hold keeps its lease (renewed while it runs): the other
/// replica's round meanwhile is skipped.
async fn a_long_job_renews_its_lease(url: &str) {
    let control = ControlPlane::connect(url).await.expect("connect");
    let (a, b) = (Replica::new(), Replica::new());
    let hold = Duration::from_secs(3);
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let long = {
        let control = control.clone();
        tokio::spawn(async move {
            a.lead(&control, "long-job", hold, async move {
                let _ = started_tx.send(());
                // Twice the hold: without renewal the lease would expire half way.
                tokio::time::sleep(hold * 2).await;
                "done"
            })
            .await
        })
    };
    started_rx.await.expect("the job started");
    tokio::time::sleep(hold + Duration::from_secs(1)).await;
    let during = b.lead(&control, "long-job", hold, async { "b ran" }).await;
    assert_eq!(during, None, "the lease was renewed while the job ran");
    assert_eq!(long.await.expect("join"), Some("done"));
}
