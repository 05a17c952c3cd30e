//! The audit log is a hash chain: changing, removing or reordering one record makes
//! verification name exactly that record, on SQLite and PostgreSQL; concurrent writers
//! (two connection pools, as two replicas) extend one chain; retention pruning leaves a
//! chain that still verifies.

use dap_schema::audit_chain::Break;
use dap_schema::entity::audit_event;
use dap_schema::{AuditOutcome, AuditRecord, ControlPlane};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use crate::control_plane::{drop_postgres, fresh_postgres};

async fn sqlite() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cp.sqlite").display()
    );
    (dir, url)
}

fn record(i: i64) -> AuditRecord {
    let mut r = AuditRecord::new(
        format!("req-{i}"),
        "GET /api/v1/datasets/{id}/rows",
        AuditOutcome::Allowed,
    );
    r.subject = Some(format!("user-{i}"));
    r.municipality = Some("0101".into());
    r.dataset = Some("oekonomi.posteringer".into());
    r.rows_returned = Some(i);
    // Written a month ago, so retention (which keeps at least a day) may prune it.
    r.occurred_at -= chrono::Duration::days(30);
    r
}

async fn filled(url: &str, n: i64) -> ControlPlane {
    let control = ControlPlane::connect(url).await.expect("connect");
    for i in 1..=n {
        control.append_audit(&record(i)).await.expect("append");
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

async fn first_break(control: &ControlPlane) -> Option<(Break, i64)> {
    let report = control.verify_audit().await.expect("verify");
    report.first_break.map(|(kind, _, seq)| (kind, seq))
}

/// Each tampering, on a fresh chain of 8 records, and what verification must say.
async fn tampering_is_named(url_for: impl AsyncFn() -> (String, Option<tempfile::TempDir>)) {
    // Intact.
    let (url, _keep) = url_for().await;
    let control = filled(&url, 8).await;
    let report = control.verify_audit().await.expect("verify");
    assert_eq!((report.records_checked, report.first_break), (8, None));

    // Changed: one field of record 3.
    let mut edited: audit_event::ActiveModel = at(&control, 3).await.into();
    edited.rows_returned = Set(Some(999_999));
    edited.update(control.connection()).await.expect("edit");
    assert_eq!(first_break(&control).await, Some((Break::Changed, 3)));

    // Removed: record 5 deleted.
    let (url, _keep) = url_for().await;
    let control = filled(&url, 8).await;
    audit_event::Entity::delete_by_id(at(&control, 5).await.id)
        .exec(control.connection())
        .await
        .expect("delete");
    assert_eq!(first_break(&control).await, Some((Break::Removed, 5)));

    // Reordered: the contents of records 4 and 6 swapped between their rows.
    let (url, _keep) = url_for().await;
    let control = filled(&url, 8).await;
    let (four, six) = (at(&control, 4).await, at(&control, 6).await);
    let park = |m: &audit_event::Model, seq: i64| {
        let mut a: audit_event::ActiveModel = m.clone().into();
        a.seq = Set(seq);
        a
    };
    // Through a free seq, because seq is unique.
    park(&four, -4)
        .update(control.connection())
        .await
        .expect("park");
    let mut moved: audit_event::ActiveModel = six.clone().into();
    moved.id = Set(four.id);
    moved.update(control.connection()).await.expect("move 6");
    let mut moved: audit_event::ActiveModel = four.clone().into();
    moved.id = Set(six.id);
    moved.update(control.connection()).await.expect("move 4");
    assert_eq!(first_break(&control).await, Some((Break::Reordered, 4)));

    // The newest record removed: the head still says 8.
    let (url, _keep) = url_for().await;
    let control = filled(&url, 8).await;
    audit_event::Entity::delete_by_id(at(&control, 8).await.id)
        .exec(control.connection())
        .await
        .expect("delete last");
    assert_eq!(first_break(&control).await, Some((Break::TailRemoved, 8)));

    // Retention: pruning the oldest leaves a verifiable chain, and tampering after it
    // is still found.
    let (url, _keep) = url_for().await;
    let control = filled(&url, 8).await;
    let cut = at(&control, 5).await.occurred_at;
    let pruned = control.prune_audit(cut).await.expect("prune");
    assert!((1..=4).contains(&pruned), "{pruned}");
    let report = control.verify_audit().await.expect("verify");
    assert_eq!(report.first_break, None);
    assert_eq!(report.records_checked + pruned, 8);
    control
        .append_audit(&record(9))
        .await
        .expect("append after prune");
    assert_eq!(first_break(&control).await, None);
    let mut edited: audit_event::ActiveModel = at(&control, 7).await.into();
    edited.subject = Set(Some("someone-else".into()));
    edited.update(control.connection()).await.expect("edit");
    assert_eq!(first_break(&control).await, Some((Break::Changed, 7)));
}

#[tokio::test]
async fn tampering_is_named_on_sqlite() {
    tampering_is_named(async || {
        let (dir, url) = sqlite().await;
        (url, Some(dir))
    })
    .await;
}

#[tokio::test]
async fn tampering_is_named_on_postgres() {
    if fresh_postgres().await.is_none() {
        return;
    }
    let made = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&made);
    tampering_is_named(async move || {
        let url = fresh_postgres().await.expect("postgres");
        log.lock().expect("lock").push(url.clone());
        (url, None)
    })
    .await;
    let urls = made.lock().expect("lock").clone();
    for url in urls {
        drop_postgres(&url).await;
    }
}

async fn concurrent_writers_extend_one_chain(url: &str) {
    let one = ControlPlane::connect(url).await.expect("connect");
    let two = ControlPlane::connect(url).await.expect("connect again");
    let mut tasks = Vec::new();
    for i in 0..40 {
        let control = if i % 2 == 0 { one.clone() } else { two.clone() };
        tasks.push(tokio::spawn(async move {
            control.append_audit(&record(i)).await
        }));
    }
    for task in tasks {
        task.await.expect("join").expect("append");
    }
    let report = one.verify_audit().await.expect("verify");
    assert_eq!((report.records_checked, report.first_break), (40, None));
}

#[tokio::test]
async fn concurrent_writers_extend_one_chain_on_sqlite() {
    let (_dir, url) = sqlite().await;
    concurrent_writers_extend_one_chain(&url).await;
}

#[tokio::test]
async fn concurrent_writers_extend_one_chain_on_postgres() {
    let Some(url) = fresh_postgres().await else {
        return;
    };
    concurrent_writers_extend_one_chain(&url).await;
    drop_postgres(&url).await;
}

/// A record whose bounded fields are longer than their columns is written, cut to the
/// columns' lengths, and the chain verifies against what was stored.
async fn overlong_fields_are_cut_to_their_columns(url: &str) {
    let control = ControlPlane::connect(url).await.expect("connect");
    let mut long = AuditRecord::new("r".repeat(100), "A".repeat(300), AuditOutcome::Denied);
    long.reason = Some("x".repeat(100));
    long.source_addr = Some("1".repeat(100));
    long.client_id = Some("c".repeat(200));
    long.dataset = Some("d".repeat(200));
    control.append_audit(&long).await.expect("append");
    let stored = at(&control, 1).await;
    assert_eq!(stored.action.chars().count(), 255);
    assert_eq!(stored.request_id.chars().count(), 64);
    assert_eq!(stored.reason.as_deref().map(str::len), Some(64));
    assert_eq!(stored.client_id.as_deref().map(str::len), Some(128));
    assert_eq!(first_break(&control).await, None);
}

#[tokio::test]
async fn overlong_fields_are_cut_to_their_columns_on_sqlite() {
    let (_dir, url) = sqlite().await;
    overlong_fields_are_cut_to_their_columns(&url).await;
}

#[tokio::test]
async fn overlong_fields_are_cut_to_their_columns_on_postgres() {
    let Some(url) = fresh_postgres().await else {
        return;
    };
    overlong_fields_are_cut_to_their_columns(&url).await;
    drop_postgres(&url).await;
}
