//! One way of writing an instant on every surface: RFC 3339 in UTC with `Z`, as
//! `dap_schema::time::rfc3339` writes it (the change feed's `_commit_timestamp` in every
//! text format, `/versions`, GraphQL's `updatedAt`, the audit log as JSON, NDJSON and CSV).

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// `2026-01-31T12:00:00Z` or with a fraction (`…00.25Z`): a UTC instant as dap writes it.
fn is_dap_instant(text: &str) -> bool {
    let Some(rest) = text.strip_suffix('Z') else {
        return false;
    };
    chrono::NaiveDateTime::parse_from_str(rest, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        && text.len() >= "2026-01-31T12:00:00Z".len()
        && text.as_bytes()[10] == b'T'
}

async fn text(app: &TestApp, path: &str, token: &str) -> String {
    let response = app
        .client
        .get(format!("{}{path}", app.address))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.expect("text")
}

#[tokio::test]
async fn every_surface_writes_instants_one_way() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let dataset = "oekonomi.posteringer";

    // /versions: the reference form.
    let versions = app
        .get(
            &format!("/api/v1/datasets/{dataset}/versions"),
            Some(&token),
        )
        .await;
    let version_times: Vec<(u64, String)> = versions.body["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| Some((v["version"].as_u64()?, v["timestamp"].as_str()?.to_owned())))
        .collect();
    assert!(!version_times.is_empty(), "{}", versions.body);
    for (_, t) in &version_times {
        assert!(is_dap_instant(t), "/versions: {t}");
    }

    // The change feed, as NDJSON and JSON: the same instants, written the same way.
    let feed = text(
        &app,
        &format!("/api/v1/datasets/{dataset}/changes?from_version=0&format=ndjson"),
        &token,
    )
    .await;
    let mut seen = 0;
    for line in feed.lines() {
        let row: Value = serde_json::from_str(line).expect("json line");
        let t = row["_commit_timestamp"].as_str().expect("a text instant");
        assert!(is_dap_instant(t), "_commit_timestamp: {t}");
        let version = row["_commit_version"].as_u64().expect("version");
        let listed = version_times.iter().find(|(v, _)| *v == version);
        assert_eq!(
            listed.map(|(_, t)| t.as_str()),
            Some(t),
            "the feed and /versions name one instant per version"
        );
        seen += 1;
    }
    assert!(seen > 0);

    // CSV: the same form in its column.
    let csv = text(
        &app,
        &format!("/api/v1/datasets/{dataset}/changes?from_version=2&format=csv"),
        &token,
    )
    .await;
    let mut lines = csv.split("\r\n").filter(|l| !l.is_empty());
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let at = header
        .iter()
        .position(|h| *h == "_commit_timestamp")
        .expect("column");
    for line in lines {
        let t = line.split(',').nth(at).expect("field");
        assert!(is_dap_instant(t), "CSV _commit_timestamp: {t}");
    }

    // GraphQL's updatedAt.
    let answer = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&token)
        .json(&json!({"query": "{ datasets { id updatedAt } }"}))
        .send()
        .await
        .expect("graphql")
        .json::<Value>()
        .await
        .expect("json");
    let datasets = answer["data"]["datasets"].as_array().expect("datasets");
    for d in datasets {
        let t = d["updatedAt"].as_str().expect("updatedAt");
        assert!(is_dap_instant(t), "updatedAt: {t}");
    }

    // The audit log as CSV (and JSON) for the municipality's administrator.
    let admin = app.token(
        "0101",
        &["it-administration"],
        dap_schema::NsisLevel::Substantial,
    );
    let audit = text(&app, "/api/v1/admin/audit?format=csv", &admin).await;
    let mut lines = audit.split("\r\n").filter(|l| !l.is_empty());
    assert!(
        lines
            .next()
            .expect("header")
            .starts_with("id,seq,occurred_at")
    );
    let mut records = 0;
    for line in lines {
        let t = line.split(',').nth(2).expect("occurred_at");
        assert!(is_dap_instant(t), "audit CSV occurred_at: {t}");
        records += 1;
    }
    assert!(records > 0);
    let page = app.get("/api/v1/admin/audit", Some(&admin)).await;
    for r in page.body["records"].as_array().expect("records") {
        let t = r["occurred_at"].as_str().expect("occurred_at");
        assert!(is_dap_instant(t), "audit JSON occurred_at: {t}");
    }
}

#[test]
fn the_instant_check_knows_the_forms() {
    assert!(is_dap_instant("2026-01-31T12:00:00Z"));
    assert!(is_dap_instant("2026-01-31T12:00:00.123Z"));
    assert!(!is_dap_instant("2026-01-31T12:00:00.123"));
    assert!(!is_dap_instant("2026-01-31T12:00:00+00:00"));
    assert!(!is_dap_instant("2026-01-31 12:00:00Z"));
}
