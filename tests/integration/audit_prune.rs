//! Retention pruning cannot hide tampering (issue 12): `prune_audit` verifies the records
//! it would remove, and their link to the first record kept, and refuses, naming the
//! record, when they do not verify; and it refuses to keep less than a day. The CLI's
//! `dap audit prune` and the server's hourly retention both go through it. On SQLite
//! and PostgreSQL.

use chrono::{DateTime, Duration, Utc};
use dap_schema::audit_chain::{Break, chain_hash};
use dap_schema::entity::audit_event;
use dap_schema::{AuditOutcome, AuditRecord, ControlPlane};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter,
};

use crate::control_plane::{drop_postgres, fresh_postgres};

/// Record `i` was written `i` hours after a month ago.
fn written(i: i64) -> DateTime<Utc> {
    let base = Utc::now() - Duration::days(30);
    base - Duration::nanoseconds(i64::from(base.timestamp_subsec_nanos())) + Duration::hours(i)
}

/// A cut-off that removes records 1 to `n` (retention keeps the later ones).
fn after(n: i64) -> DateTime<Utc> {
    written(n) + Duration::minutes(30)
}

async fn filled(url: &str, n: i64) -> ControlPlane {
    let control = ControlPlane::connect(url).await.expect("connect");
    for i in 1..=n {
        let mut r = AuditRecord::new(format!("req-{i}"), "GET /x", AuditOutcome::Allowed);
        r.occurred_at = written(i);
        r.subject = Some(format!("user-{i}"));
        r.rows_returned = Some(i);
        control.append_audit(&r).await.expect("append");
    }
    control
}

async fn at(control: &ControlPlane, seq: i64) -> audit_event::Model {
    audit_event::Entity::find()
        .filter(audit_event::Column::Seq.eq(seq))
        .one(control.connection())
        .await
        .expect("query")
        .expect("record")
}

async fn count(control: &ControlPlane) -> u64 {
    audit_event::Entity::find()
        .count(control.connection())
        .await
        .expect("count")
}

async fn first_break(control: &ControlPlane) -> Option<(Break, i64)> {
    let report = control.verify_audit().await.expect("verify");
    report.first_break.map(|(kind, _, seq)| (kind, seq))
}

/// Prunes records 1 to 4 and expects a refusal naming `seq`, with nothing pruned and
/// verification still naming the same record.
async fn refused(control: &ControlPlane, seq: i64, kind: Break) {
    let before = count(control).await;
    let refusal = control.prune_audit(after(4)).await;
    let message = refusal.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains(&format!("record {seq}")), "{message:?}");
    assert_eq!(count(control).await, before, "nothing was pruned");
    assert_eq!(first_break(control).await, Some((kind, seq)));
}

/// Changes record `seq` and gives it the hash its new content has, as someone would who
/// knows how the chain is computed.
async fn rewrite(control: &ControlPlane, seq: i64) {
    let mut record = at(control, seq).await;
    let mut active: audit_event::ActiveModel = record.clone().into();
    record.subject = Some("someone-else".into());
    record.hash = chain_hash(&record.prev_hash, record.seq, &record);
    active.subject = Set(record.subject);
    active.hash = Set(record.hash);
    active.update(control.connection()).await.expect("rewrite");
}

async fn prune_refuses_to_hide_tampering(
    url_for: impl AsyncFn() -> (String, Option<tempfile::TempDir>),
) {
    // An edited record in the part to be removed.
    let (url, _keep) = url_for().await;
    let control = filled(&url, 8).await;
    let mut edited: audit_event::ActiveModel = at(&control, 3).await.into();
    edited.rows_returned = Set(Some(999_999));
    edited.update(control.connection()).await.expect("edit");
    refused(&control, 3, Break::Changed).await;

    // A deleted record in the part to be removed.
    let (url, _keep) = url_for().await;
    let control = filled(&url, 8).await;
    audit_event::Entity::delete_by_id(at(&control, 2).await.id)
        .exec(control.connection())
        .await
        .expect("delete");
    refused(&control, 2, Break::Removed).await;

    // The last record to be removed rewritten with a matching hash: only the first
    // record kept shows it (its link no longer matches).
    let (url, _keep) = url_for().await;
    let control = filled(&url, 8).await;
    rewrite(&control, 4).await;
    refused(&control, 5, Break::Changed).await;

    // The same when no record is kept: the chain head no longer matches.
    let (url, _keep) = url_for().await;
    let control = filled(&url, 4).await;
    rewrite(&control, 4).await;
    refused(&control, 5, Break::TailRemoved).await;

    // Intact: records 1 to 4 go, the rest verifies; tampering after the removed part
    // is left for verify to name, not hidden.
    let (url, _keep) = url_for().await;
    let control = filled(&url, 8).await;
    let mut edited: audit_event::ActiveModel = at(&control, 7).await.into();
    edited.subject = Set(Some("x".into()));
    edited.update(control.connection()).await.expect("edit");
    assert_eq!(control.prune_audit(after(4)).await.expect("prune"), 4);
    assert_eq!(first_break(&control).await, Some((Break::Changed, 7)));
}

async fn prune_keeps_at_least_a_day(url: &str) {
    let control = filled(url, 3).await;
    let mut recent = AuditRecord::new("req-now", "GET /x", AuditOutcome::Allowed);
    recent.occurred_at = Utc::now() - Duration::hours(2);
    control.append_audit(&recent).await.expect("append");
    for cut in [Utc::now(), Utc::now() - Duration::hours(1)] {
        let refusal = control.prune_audit(cut).await;
        let message = refusal.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("at least 1 day"), "{message:?}");
        assert_eq!(count(&control).await, 4);
    }
    let pruned = control
        .prune_audit(Utc::now() - Duration::days(1))
        .await
        .expect("a day is kept");
    assert_eq!((pruned, count(&control).await), (3, 1));
    assert_eq!(first_break(&control).await, None);
}

async fn sqlite() -> (String, Option<tempfile::TempDir>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cp.sqlite").display()
    );
    (url, Some(dir))
}

#[tokio::test]
async fn prune_refuses_to_hide_tampering_on_sqlite() {
    prune_refuses_to_hide_tampering(sqlite).await;
    let (url, _dir) = sqlite().await;
    prune_keeps_at_least_a_day(&url).await;
}

#[tokio::test]
async fn prune_refuses_to_hide_tampering_on_postgres() {
    if fresh_postgres().await.is_none() {
        return;
    }
    let made = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&made);
    prune_refuses_to_hide_tampering(async move || {
        let url = fresh_postgres().await.expect("postgres");
        log.lock().expect("lock").push(url.clone());
        (url, None)
    })
    .await;
    let url = fresh_postgres().await.expect("postgres");
    prune_keeps_at_least_a_day(&url).await;
    let mut urls = made.lock().expect("lock").clone();
    urls.push(url);
    for url in urls {
        drop_postgres(&url).await;
    }
}
