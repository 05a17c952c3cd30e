//! Audit writes under load: many concurrent requests on SQLite and PostgreSQL are all
//! answered (no 500 "database is locked"), each has its own record, and the chain that
//! the one writer extended in batches verifies intact.

use dap_schema::{AuditOutcome, AuditRecord, ControlPlane};
use futures::StreamExt;

use crate::control_plane::{drop_postgres, fresh_postgres};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const REQUESTS: usize = 96;
/// Requests in flight at once (a debug build on a shared machine answers slowly, and
/// actix drops connections whose request it has not read within 5 s).
const IN_FLIGHT: usize = 16;

async fn concurrent_requests_are_all_audited(app: &TestApp) {
    // Arrange
    let token = app.analyst("0101");
    let before = app.state.control.verify_audit().await.expect("verify");
    // Act: many requests at once; each waits for its own record.
    let answers: Vec<_> = futures::stream::iter(0..REQUESTS)
        .map(|_| {
            let token = token.clone();
            async move { app.get("/api/v1/datasets", Some(&token)).await }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    // Assert
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.body);
        let records = app.audit_of(answer).await;
        assert_eq!(records.len(), 1, "one record per request");
        assert_eq!(records[0].outcome, "allowed");
    }
    let report = app.state.control.verify_audit().await.expect("verify");
    assert_eq!(report.first_break, None);
    assert_eq!(
        report.records_checked,
        before.records_checked + REQUESTS as u64
    );
}

#[tokio::test]
async fn concurrent_requests_are_all_audited_on_sqlite() {
    let app = spawn_app().await;
    concurrent_requests_are_all_audited(&app).await;
}

#[tokio::test]
async fn concurrent_requests_are_all_audited_on_postgres() {
    let Some(url) = fresh_postgres().await else {
        return;
    };
    let app = spawn_app_with(Some(url.clone())).await;
    concurrent_requests_are_all_audited(&app).await;
    drop_postgres(&url).await;
}

#[tokio::test]
async fn a_batch_extends_the_chain_in_order_and_verifies() {
    // Arrange
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cp.sqlite").display()
    );
    let control = ControlPlane::connect(&url).await.expect("connect");
    control
        .append_audit(&AuditRecord::new("one", "first", AuditOutcome::Allowed))
        .await
        .expect("append");
    let batch: Vec<AuditRecord> = (0..5)
        .map(|i| AuditRecord::new(format!("batch-{i}"), "batched", AuditOutcome::Allowed))
        .collect();
    // Act
    control.append_audits(&batch).await.expect("append batch");
    control.append_audits(&[]).await.expect("empty batch");
    // Assert
    let report = control.verify_audit().await.expect("verify");
    assert_eq!((report.records_checked, report.first_break), (6, None));
    assert_eq!(report.head_seq, 6);
    for (i, seq) in (2..=6).enumerate() {
        let records = control
            .audit_by_request(&format!("batch-{i}"))
            .await
            .expect("query");
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [seq]);
    }
}
