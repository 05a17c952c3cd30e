//! Faults handled like a production gateway: export limits and the send timeout, a
//! closing record that cannot be written, readiness per cause, and refusals audited as
//! denials.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use actix_web::web;
use bytes::Bytes;
use dap_api::app::datasets::Download;
use dap_api::app::identity::Credential;
use dap_api::app::{AuditFacts, Core, RequestContext};
use dap_api::rest::streaming::audited_body;
use dap_lake::export::{Chunk, Export, Format};
use futures::StreamExt;
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, TransactionTrait,
};
use serde_json::json;
use tokio::sync::mpsc;

use crate::helpers::{READ_ROLES, TestApp, spawn_app, spawn_app_tuned};

/// A demo token of a person of its own (limits count per subject).
fn person(app: &TestApp, subject: &str, municipality: &str) -> String {
    let roles: Vec<String> = READ_ROLES.iter().map(|r| (*r).to_owned()).collect();
    app.dev
        .token(
            subject,
            municipality,
            &roles,
            dap_schema::NsisLevel::Substantial,
            chrono::Duration::minutes(10),
        )
        .expect("token")
}

type Sender = mpsc::Sender<dap_lake::Result<Chunk>>;

/// An export whose chunks the test feeds, streamed through the same body as `/export`.
async fn fed_export(
    app: &TestApp,
    request_id: &str,
) -> (Sender, dap_api::rest::streaming::AuditedBody) {
    let core: web::Data<Core> = web::Data::from(Arc::clone(&app.state));
    let token = app.analyst("0101");
    let principal = core
        .authenticate(Credential::Bearer(token))
        .await
        .expect("token");
    let (tx, rx) = mpsc::channel(4);
    let export = Export {
        version: 0,
        chunks: rx,
        rows: Arc::new(AtomicU64::new(0)),
    };
    let permit = core.exports.admit(&principal).expect("admitted");
    let download = Download {
        export,
        format: Format::Ndjson,
        filename: "x.ndjson".into(),
        permit,
    };
    let ctx = RequestContext::new(request_id.into(), None, "GET test export".into());
    let body = audited_body(
        download,
        core,
        ctx,
        principal,
        "oekonomi.posteringer".into(),
        AuditFacts::default(),
    );
    (tx, body)
}

fn chunk(text: &str) -> dap_lake::Result<Chunk> {
    Ok(Chunk {
        bytes: Bytes::from(text.to_owned()),
        rows: 1,
    })
}

/// Waits (bounded) until `done` holds; the bound is a hang guard, not a timing claim.
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..600 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 60 s");
}

/// Holds the SQLite control plane's write lock, as a long writer on another process would.
pub(crate) async fn lock_sqlite(app: &TestApp) -> (DatabaseConnection, DatabaseTransaction) {
    let url = format!(
        "sqlite://{}?mode=rw",
        app.data_dir.path().join("dap.sqlite").display()
    );
    let other = Database::connect(url).await.expect("second connection");
    let txn = other.begin().await.expect("begin");
    txn.execute_unprepared("UPDATE audit_head SET seq = seq WHERE id = 1")
        .await
        .expect("take the write lock");
    (other, txn)
}

#[tokio::test]
async fn an_export_its_client_does_not_read_is_ended_by_the_send_timeout_and_recorded() {
    let app = spawn_app_tuned(|s| s.exports.send_timeout_secs = 1).await;
    let (tx, mut body) = fed_export(&app, "req-send-timeout").await;
    for text in ["a\n", "b\n", "c\n"] {
        tx.send(chunk(text)).await.expect("fed");
    }

    // The client reads one chunk, then stops reading.
    let first = body.next().await.expect("a chunk").expect("ok");
    assert_eq!(first, Bytes::from("a\n"));

    // The export is ended: its encoder's channel closes, its place is freed, and the
    // record says interrupted with the one row the client received.
    eventually("the encoder's channel closing", async || tx.is_closed()).await;
    assert_eq!(app.state.exports.running(), 0);
    eventually("the closing record", async || {
        app.audit_records("req-send-timeout").await.len() == 1
    })
    .await;
    let record = &app.audit_records("req-send-timeout").await[0];
    assert_eq!(record.outcome, "interrupted");
    assert_eq!(record.reason.as_deref(), Some("export_send_timeout"));
    assert_eq!(record.rows_returned, Some(1));

    // A client that comes back gets an error, not the rest of the export.
    assert!(body.next().await.expect("an item").is_err());
    assert!(body.next().await.is_none());
}

#[tokio::test]
async fn a_completed_export_is_recorded_with_every_row_before_its_last_chunk() {
    let app = spawn_app().await;
    let (tx, body) = fed_export(&app, "req-complete").await;
    for text in ["a\n", "b\n", "c\n"] {
        tx.send(chunk(text)).await.expect("fed");
    }
    drop(tx);
    let got: Vec<Bytes> = body.map(|c| c.expect("ok")).collect().await;
    assert_eq!(got, vec![Bytes::from("a\n"), "b\n".into(), "c\n".into()]);
    let records = app.audit_records("req-complete").await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, "allowed");
    assert_eq!(records[0].reason.as_deref(), Some("export_completed"));
    assert_eq!(records[0].rows_returned, Some(3));
    assert_eq!(app.state.exports.running(), 0);
}

#[tokio::test]
async fn an_export_whose_closing_record_cannot_be_written_ends_without_its_last_chunk() {
    let app = spawn_app().await;
    let (tx, mut body) = fed_export(&app, "req-closing-fails").await;
    for text in ["a\n", "b\n", "LAST\n"] {
        tx.send(chunk(text)).await.expect("fed");
    }
    drop(tx);
    let mut got = Vec::new();
    got.push(body.next().await.expect("a").expect("ok"));
    got.push(body.next().await.expect("b").expect("ok"));

    // The audit log is locked while the export reaches its end.
    let (_other, txn) = lock_sqlite(&app).await;
    let end = body.next().await.expect("the end");
    txn.rollback().await.expect("release");

    assert!(end.is_err(), "the stream must end with an error: {end:?}");
    assert!(body.next().await.is_none());
    assert_eq!(got, vec![Bytes::from("a\n"), "b\n".into()]);
    assert_eq!(app.state.exports.running(), 0);
}

#[tokio::test]
async fn a_client_that_goes_away_is_recorded_as_interrupted_with_the_rows_it_got() {
    let app = spawn_app().await;
    let (tx, mut body) = fed_export(&app, "req-gone").await;
    for text in ["a\n", "b\n", "c\n"] {
        tx.send(chunk(text)).await.expect("fed");
    }
    body.next().await.expect("a").expect("ok");
    body.next().await.expect("b").expect("ok");
    drop(body);
    eventually("the closing record", async || {
        app.audit_records("req-gone").await.len() == 1
    })
    .await;
    let record = &app.audit_records("req-gone").await[0];
    assert_eq!(record.outcome, "interrupted");
    assert_eq!(record.reason.as_deref(), Some("export_aborted"));
    assert_eq!(record.rows_returned, Some(2));
    assert!(tx.is_closed());
}

#[tokio::test]
async fn exports_beyond_the_limits_are_refused_with_retry_after_and_audited() {
    let app = spawn_app_tuned(|s| {
        s.exports.max_concurrent = 2;
        s.exports.max_per_caller = 1;
    })
    .await;
    let token = app.analyst("0101");
    let principal = app
        .state
        .authenticate(Credential::Bearer(token.clone()))
        .await
        .expect("token");
    let held = app.state.exports.admit(&principal).expect("first export");

    // The same caller's second export: 429.
    let path = "/api/v1/datasets/oekonomi.posteringer/export?format=csv";
    let answer = app.get(path, Some(&token)).await;
    assert_eq!(answer.status, 429, "{:?}", answer.body);
    assert_eq!(answer.body["code"], "too_many_exports");
    assert!(answer.headers.contains_key("retry-after"));
    let record = &app.audit_of(&answer).await[0];
    assert_eq!(
        (record.outcome.as_str(), record.reason.as_deref()),
        ("denied", Some("too_many_exports"))
    );

    // Another caller fills the server: the next anyone asks for is 503.
    let other = app
        .state
        .authenticate(Credential::Bearer(person(&app, "other-analyst", "0751")))
        .await
        .expect("token");
    let _other_held = app.state.exports.admit(&other).expect("second export");
    let third = person(&app, "third-analyst", "0147");
    let answer = app.get(path, Some(&third)).await;
    assert_eq!(answer.status, 503, "{:?}", answer.body);
    assert_eq!(answer.body["code"], "server_busy");
    assert!(answer.headers.contains_key("retry-after"));

    // Freed places are usable again.
    drop(held);
    let answer = app.get(path, Some(&token)).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
}

#[tokio::test]
async fn readiness_reports_a_locked_audit_log_and_recovers() {
    let app = spawn_app().await;
    let ready = app.get("/health/ready", None).await;
    assert_eq!(ready.status, 200, "{:?}", ready.body);
    assert_eq!(
        ready.body["checks"],
        json!({"control_plane": "ok", "audit_log": "ok", "lake": "ok", "disk": "ok"})
    );

    let (_other, txn) = lock_sqlite(&app).await;
    let locked = app.get("/health/ready", None).await;
    txn.rollback().await.expect("release");
    assert_eq!(locked.status, 503, "{:?}", locked.body);
    assert_eq!(locked.body["status"], "not_ready");
    assert_ne!(locked.body["checks"]["audit_log"], "ok");
    assert_eq!(locked.body["checks"]["control_plane"], "ok");
    assert!(locked.headers.contains_key("retry-after"));

    let again = app.get("/health/ready", None).await;
    assert_eq!(again.status, 200, "{:?}", again.body);
}

#[tokio::test]
async fn readiness_reports_an_unreadable_lake() {
    let app = spawn_app().await;
    let lake = app.data_dir.path().join("lake");
    let moved = app.data_dir.path().join("lake-away");
    std::fs::rename(&lake, &moved).expect("move the lake away");
    let answer = app.get("/health/ready", None).await;
    std::fs::rename(&moved, &lake).expect("move it back");
    assert_eq!(answer.status, 503, "{:?}", answer.body);
    assert_ne!(answer.body["checks"]["lake"], "ok");
    let again = app.get("/health/ready", None).await;
    assert_eq!(again.status, 200, "{:?}", again.body);
}

#[tokio::test]
async fn a_graphql_document_refused_before_it_runs_is_audited_as_a_denial() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    for (query, code) in [
        ("{ no_such_field }", "invalid_query"),
        ("{ me { subject ", "invalid_query"),
    ] {
        let response = app
            .client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&token)
            .json(&json!({ "query": query }))
            .send()
            .await
            .expect("graphql");
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("request id")
            .to_owned();
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["errors"][0]["extensions"]["code"], code, "{body}");
        let records = app.audit_records(&request_id).await;
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(
            (records[0].outcome.as_str(), records[0].reason.as_deref()),
            ("denied", Some(code)),
            "{query}"
        );
    }
}

#[tokio::test]
async fn a_locked_audit_log_answers_503_with_retry_after_not_500() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let (_other, txn) = lock_sqlite(&app).await;
    let answer = app.get("/api/v1/datasets", Some(&token)).await;
    txn.rollback().await.expect("release");
    assert_eq!(answer.status, 503, "{:?}", answer.body);
    assert_eq!(answer.body["code"], "audit_unavailable");
    assert!(answer.headers.contains_key("retry-after"));
}
