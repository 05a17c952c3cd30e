//! The control plane on SQLite and PostgreSQL: same migrations, same behaviour.
//!
//! PostgreSQL comes from `DAP_TEST_POSTGRES_URL` (default: the machine's local server,
//! database `test`). Each test creates its own database. When the server cannot be
//! reached the PostgreSQL tests say so and pass, unless `DAP_REQUIRE_POSTGRES=1`
//! (set by `.ci/run`), which makes them fail.

use dap_schema::{AuditOutcome, AuditRecord, ControlPlane};
use sea_orm::{ConnectionTrait, Database};

use crate::helpers::spawn_app_with;

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh PostgreSQL database, or `None` (with a loud note) when none is reachable.
pub(crate) async fn fresh_postgres() -> Option<String> {
    let admin = std::env::var("DAP_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.into());
    let required = std::env::var("DAP_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    let connection = match Database::connect(admin.as_str()).await {
        Ok(c) => c,
        Err(e) if !required => {
            eprintln!("SKIPPED PostgreSQL control-plane test: {admin} is not reachable ({e})");
            return None;
        }
        Err(e) => {
            panic!("PostgreSQL required (DAP_REQUIRE_POSTGRES=1) but {admin} is not reachable: {e}")
        }
    };
    let name = format!("dap_test_{}", uuid_like());
    connection
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    Some(format!("{base}/{name}"))
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}_{}", std::process::id(), nanos % 1_000_000_000_000)
}

async fn catalogue_and_audit_round_trip(url: &str) {
    let control = ControlPlane::connect(url)
        .await
        .expect("connect and migrate");
    // Migrations are idempotent: a second process starting on the same database is fine.
    ControlPlane::connect(url).await.expect("second connect");
    let demo = dap_lake::demo::datasets();
    for def in &demo {
        control.upsert_dataset(def).await.expect("upsert");
    }
    let mut changed = demo[0].clone();
    changed.title_en = "Postings (renamed)".into();
    changed.columns.pop();
    control.upsert_dataset(&changed).await.expect("replace");
    let mut expected = demo.clone();
    expected[0] = changed;
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(control.load_catalogue().await.expect("load"), expected);

    let mut record = AuditRecord::new("req-1", "GET /x", AuditOutcome::Denied);
    record.subject = Some("anna".into());
    record.reason = Some("dataset_not_found".into());
    record.table_version = Some(7);
    control.append_audit(&record).await.expect("audit");
    let stored = control.audit_by_request("req-1").await.expect("query");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].outcome, "denied");
    assert_eq!(stored[0].subject.as_deref(), Some("anna"));
    assert_eq!(stored[0].table_version, Some(7));
    control.ping().await.expect("ping");
}

#[tokio::test]
async fn the_control_plane_works_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cp.sqlite").display()
    );
    catalogue_and_audit_round_trip(&url).await;
}

#[tokio::test]
async fn the_control_plane_works_on_postgres() {
    let Some(url) = fresh_postgres().await else {
        return;
    };
    catalogue_and_audit_round_trip(&url).await;
    drop_postgres(&url).await;
}

#[tokio::test]
async fn the_whole_app_serves_and_audits_on_postgres() {
    let Some(url) = fresh_postgres().await else {
        return;
    };
    let url_copy = url.clone();
    let app = spawn_app_with(Some(url)).await;
    let answer = app
        .get(
            "/api/v1/datasets/borger.befolkning/rows?limit=4",
            Some(&app.analyst("0250")),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.rows().iter().all(|r| r["kommunekode"] == "0250"));
    let records = app.audit_of(&answer).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].rows_returned, Some(4));
    drop(app);
    drop_postgres(&url_copy).await;
}

/// Every surface on PostgreSQL, whose columns have lengths (SQLite's do not): each
/// request is answered and audited with its full action (the route of a Delta Sharing
/// query is longer than the 64 characters the audit log first had room for).
#[tokio::test]
async fn every_surface_serves_and_audits_on_postgres() {
    let Some(url) = fresh_postgres().await else {
        return;
    };
    let url_copy = url.clone();
    let app = spawn_app_with(Some(url)).await;
    let token = app.analyst("0101");
    let table = "/delta-sharing/shares/dap/schemas/oekonomi/tables/posteringer";
    let query = app
        .client
        .post(format!("{}{table}/query", app.address))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("query");
    assert_eq!(query.status().as_u16(), 200);
    let text = query.text().await.expect("body");
    let file = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|l| l["file"]["url"].as_str().map(str::to_owned))
        .expect("a file");
    let key_figure = app.state.key_figures.all()[0].id.clone();
    let paths = [
        format!("{table}/metadata"),
        format!("{table}/version"),
        format!("{table}/changes?startingVersion=0"),
        file.trim_start_matches(&app.address).to_owned(),
        "/odata/oekonomi_posteringer?$top=2".into(),
        format!("/api/v1/key-figures/{key_figure}"),
        "/api/v1/datasets/oekonomi.posteringer/export?format=csv".into(),
    ];
    for path in &paths {
        let answer = app.get(path, Some(&token)).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        let records = app.audit_of(&answer).await;
        assert!(!records.is_empty(), "{path} is audited");
        assert!(
            records.iter().all(|r| r.outcome == "allowed"),
            "{path}: {records:?}"
        );
    }
    let long = app
        .state
        .control
        .connection()
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT max(length(action)) AS n FROM audit_events",
        ))
        .await
        .expect("query")
        .and_then(|row| row.try_get::<i32>("", "n").ok())
        .unwrap_or_default();
    assert!(long > 64, "the longest action recorded whole: {long}");
    drop(app);
    drop_postgres(&url_copy).await;
}

/// Drops a test database (best effort; connections still open are terminated).
pub(crate) async fn drop_postgres(url: &str) {
    let Some((_, name)) = url.rsplit_once('/') else {
        return;
    };
    let admin = std::env::var("DAP_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.into());
    if let Ok(connection) = Database::connect(admin.as_str()).await {
        let _ = connection
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
}

#[tokio::test]
async fn two_processes_on_one_postgres_see_each_others_revocations_at_once() {
    let Some(url) = fresh_postgres().await else {
        return;
    };
    let first = spawn_app_with(Some(url.clone())).await;
    let second = spawn_app_with(Some(url.clone())).await;
    let path = "/api/v1/datasets/borger.befolkning/rows?limit=1";

    // A personal token made through the first process works on the second…
    let response = first
        .client
        .post(format!("{}/api/v1/me/tokens", first.address))
        .bearer_auth(first.analyst("0101"))
        .json(&serde_json::json!({"name": "bi", "datasets": ["borger.befolkning"]}))
        .send()
        .await
        .expect("create");
    let created: serde_json::Value = response.json().await.expect("json");
    let pat = created["token"].as_str().expect("token").to_owned();
    assert_eq!(second.get(path, Some(&pat)).await.status, 200);
    // …and revoking it through the first is refused by the second on the next request.
    let id = created["id"].as_str().expect("id");
    let revoked = first
        .client
        .delete(format!("{}/api/v1/me/tokens/{id}", first.address))
        .bearer_auth(first.analyst("0101"))
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status().as_u16(), 204);
    assert_eq!(second.get(path, Some(&pat)).await.status, 401);

    // The same for a machine client's token: both processes share the signing keys.
    let secret = dap_auth::secrets::new_secret();
    let client = dap_schema::MachineClient {
        client_id: dap_auth::secrets::new_id("dap-"),
        name: format!("client {}", dap_auth::secrets::new_id("dap-")),
        description: None,
        municipality: "0101".into(),
        datasets: vec!["borger.befolkning".into()],
        expires_at: chrono::Utc::now() + chrono::Duration::days(1),
        disabled: false,
        public_key: None,
    };
    let hash = dap_auth::secrets::hash_secret(&secret).expect("hash");
    first
        .state
        .control
        .insert_machine_client(&client, &hash)
        .await
        .expect("insert");
    let token: serde_json::Value = first
        .client
        .post(format!("{}/oauth/token", first.address))
        .basic_auth(&client.client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let machine = token["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    assert_eq!(second.get(path, Some(&machine)).await.status, 200);
    first
        .state
        .control
        .disable_machine_client(&client.client_id)
        .await
        .expect("disable");
    assert_eq!(second.get(path, Some(&machine)).await.status, 401);
    drop((first, second));
    drop_postgres(&url).await;
}
