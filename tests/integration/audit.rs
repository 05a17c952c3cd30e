//! Every read and every denial leaves an audit record before the response; without
//! an audit log there is no data.

use dap_schema::NsisLevel;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_read_is_audited_with_what_was_read() {
    let app = spawn_app().await;
    let answer = app
        .get(
            "/api/v1/datasets/oekonomi.posteringer/rows?select=posteringsid,beloeb&filter=aar:eq:2024&limit=3",
            Some(&app.analyst("0101")),
        )
        .await;
    assert_eq!(answer.status, 200);
    let records = app.audit_of(&answer).await;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.outcome, "allowed");
    assert_eq!(r.subject.as_deref(), Some("analyst"));
    assert_eq!(r.municipality.as_deref(), Some("0101"));
    assert_eq!(r.dataset.as_deref(), Some("oekonomi.posteringer"));
    assert_eq!(r.table_version, Some(2));
    assert_eq!(r.columns.as_deref(), Some("posteringsid,beloeb"));
    assert_eq!(r.filter.as_deref(), Some("aar eq 2024"));
    assert_eq!(r.rows_returned, Some(3));
    assert_eq!(r.nsis_level.as_deref(), Some("Substantial"));
    assert_eq!(r.action, "GET /api/v1/datasets/{id}/rows");
    assert_eq!(r.source_addr.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn every_denial_is_audited_with_its_reason() {
    let app = spawn_app().await;
    let economist = app.token("0101", &["laes-oekonomi"], NsisLevel::Low);
    let low = app.token("0101", crate::helpers::READ_ROLES, NsisLevel::Low);
    let cases = [
        (
            "/api/v1/datasets/oekonomi.posteringer/rows",
            None,
            "invalid_token",
            None,
        ),
        (
            "/api/v1/datasets/aeldre.hjemmepleje/rows",
            Some(economist.clone()),
            "dataset_not_found",
            Some("0101"),
        ),
        (
            "/api/v1/datasets/aeldre.hjemmepleje/rows",
            Some(low),
            "insufficient_assurance",
            Some("0101"),
        ),
        (
            "/api/v1/datasets/oekonomi.posteringer/rows?filter=x:eq:1",
            Some(economist.clone()),
            "unknown_column",
            Some("0101"),
        ),
        (
            "/api/v1/datasets/oekonomi.posteringer/rows?cursor=forged",
            Some(economist),
            "invalid_cursor",
            Some("0101"),
        ),
    ];
    for (path, token, reason, municipality) in cases {
        let answer = app.get(path, token.as_deref()).await;
        assert!(answer.status >= 400, "{path}");
        let records = app.audit_of(&answer).await;
        assert_eq!(records.len(), 1, "{path}");
        assert_eq!(records[0].outcome, "denied", "{path}");
        assert_eq!(records[0].reason.as_deref(), Some(reason), "{path}");
        assert_eq!(records[0].municipality.as_deref(), municipality, "{path}");
        assert!(records[0].dataset.is_some(), "{path}");
        assert_eq!(records[0].rows_returned, None);
    }
}

#[tokio::test]
async fn without_an_audit_log_data_requests_fail_instead_of_answering_unlogged() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    use sea_orm::ConnectionTrait;
    app.state
        .control
        .connection()
        .execute_unprepared("ALTER TABLE audit_events RENAME TO audit_events_offline")
        .await
        .expect("rename");
    let answer = app
        .get(
            "/api/v1/datasets/oekonomi.posteringer/rows?limit=5",
            Some(&token),
        )
        .await;
    assert_eq!(answer.status, 500);
    assert_eq!(answer.body["code"], "internal_error");
    assert_eq!(answer.body["message"], "internal error");
    assert!(answer.body.get("rows").is_none());
    let denied = app
        .get("/api/v1/datasets/oekonomi.posteringer/rows", None)
        .await;
    assert_eq!(
        denied.status, 500,
        "an unaudited denial must not pass either"
    );
}

#[tokio::test]
async fn health_endpoints_answer() {
    let app = spawn_app().await;
    let live = app.get("/health/live", None).await;
    assert_eq!(
        (live.status, live.body["status"].as_str()),
        (200, Some("ok"))
    );
    let ready = app.get("/health/ready", None).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.body["datasets"], 5);
    let unknown = app.get("/no/such/route", None).await;
    assert_eq!(
        (unknown.status, unknown.body["code"].as_str()),
        (404, Some("not_found"))
    );
}
