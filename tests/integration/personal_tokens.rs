//! Personal access tokens for BI tools: created by a signed-in person, limited to named
//! datasets, shown once, stored as a digest, revoked at once.

use dap_schema::NsisLevel;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

async fn post(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/api/v1/me/tokens", app.address))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn delete(app: &TestApp, token: &str, id: &str) -> u16 {
    app.client
        .delete(format!("{}/api/v1/me/tokens/{id}", app.address))
        .bearer_auth(token)
        .send()
        .await
        .expect("delete")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_personal_token_reads_only_its_datasets_and_dies_when_revoked() {
    let app = spawn_app().await;
    let anna = app.analyst("0101");
    let (status, created) = post(
        &app,
        &anna,
        json!({"name": "Power BI økonomi", "datasets": ["oekonomi.posteringer"]}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let pat = created["token"].as_str().expect("token").to_owned();
    assert!(pat.starts_with("dap_pat_"));
    let days = (chrono::DateTime::parse_from_rfc3339(created["expires_at"].as_str().expect("exp"))
        .expect("time")
        .with_timezone(&chrono::Utc)
        - chrono::Utc::now())
    .num_days();
    assert!(
        (29..=30).contains(&days),
        "default lifetime 30 days, got {days}"
    );

    let rows = app
        .all_rows("oekonomi.posteringer", "limit=100", &pat)
        .await;
    assert_eq!(rows.len(), crate::helpers::ROWS);
    assert!(rows.iter().all(|r| r["kommunekode"] == "0101"));
    assert_eq!(
        app.get("/api/v1/datasets/aeldre.hjemmepleje/rows", Some(&pat))
            .await
            .status,
        404
    );
    let listing = app.get("/api/v1/datasets", Some(&pat)).await;
    assert_eq!(listing.body["datasets"].as_array().map(Vec::len), Some(1));

    let list = app.get("/api/v1/me/tokens", Some(&anna)).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["tokens"][0]["id"], created["id"]);
    assert_eq!(list.body["tokens"][0]["municipalities"], json!(["0101"]));
    let listed = app.audit_of(&list).await;
    assert_eq!(listed.len(), 1, "the listing is audited");
    assert_eq!(
        (listed[0].outcome.as_str(), listed[0].rows_returned),
        ("allowed", Some(1))
    );
    // A personal token may not manage tokens: refused, and the refusal recorded.
    let refused = app.get("/api/v1/me/tokens", Some(&pat)).await;
    assert_eq!(refused.status, 403);
    let records = app.audit_of(&refused).await;
    assert_eq!(records.len(), 1, "the refusal is audited");
    assert_eq!(
        (records[0].outcome.as_str(), records[0].reason.as_deref()),
        ("denied", Some("forbidden"))
    );
    assert!(
        !list.body.to_string().contains(&pat),
        "a listing must never show the token"
    );
    let stored = app
        .state
        .control
        .personal_tokens_of("urn:dap:dev-issuer", "analyst")
        .await
        .expect("stored");
    assert_ne!(stored[0].token_hash, pat);
    assert_eq!(stored[0].token_hash.len(), 64);

    let id = created["id"].as_str().expect("id");
    let other = app
        .dev
        .token(
            "bent",
            "0101",
            &["laes-oekonomi".to_owned()],
            NsisLevel::Substantial,
            chrono::Duration::minutes(5),
        )
        .expect("token");
    assert_eq!(
        delete(&app, &other, id).await,
        404,
        "nobody else can revoke it"
    );
    assert_eq!(delete(&app, &anna, id).await, 204);
    let refused = app
        .get("/api/v1/datasets/oekonomi.posteringer/rows", Some(&pat))
        .await;
    assert_eq!(
        (refused.status, refused.body["code"].as_str()),
        (401, Some("invalid_token"))
    );
    assert_eq!(delete(&app, &anna, id).await, 404, "already revoked");
}

#[tokio::test]
async fn token_requests_are_checked() {
    let app = spawn_app().await;
    let anna = app.analyst("0101");
    let cases = [
        (
            json!({"name": "x", "datasets": ["oekonomi.posteringer"], "expires_in_days": 91}),
            400,
        ),
        (
            json!({"name": "x", "datasets": ["oekonomi.posteringer"], "expires_in_days": 0}),
            400,
        ),
        (
            json!({"name": "", "datasets": ["oekonomi.posteringer"]}),
            400,
        ),
        (json!({"name": "x", "datasets": []}), 400),
        (json!({"name": "x", "datasets": ["findes.ikke"]}), 404),
        (
            json!({"name": "x", "datasets": ["oekonomi.posteringer"], "extra": 1}),
            400,
        ),
    ];
    for (body, status) in cases {
        let (got, answer) = post(&app, &anna, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(answer.get("token").is_none());
    }
    let economist = app.token("0101", &["laes-oekonomi"], NsisLevel::Substantial);
    let (status, _) = post(
        &app,
        &economist,
        json!({"name": "x", "datasets": ["aeldre.hjemmepleje"]}),
    )
    .await;
    assert_eq!(
        status, 404,
        "a dataset the owner cannot see cannot go into a token"
    );

    let (_, created) = post(
        &app,
        &anna,
        json!({"name": "x", "datasets": ["oekonomi.posteringer"], "expires_in_days": 90}),
    )
    .await;
    let pat = created["token"].as_str().expect("token");
    let (status, answer) = post(
        &app,
        pat,
        json!({"name": "y", "datasets": ["oekonomi.posteringer"]}),
    )
    .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (403, Some("forbidden")),
        "a token cannot make tokens"
    );
}

#[tokio::test]
async fn me_describes_the_caller() {
    let app = spawn_app().await;
    let answer = app
        .get(
            "/api/v1/me",
            Some(&app.token("0250", &["laes-borger"], NsisLevel::High)),
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["grants"], json!({"0250": ["laes-borger"]}));
    assert_eq!(answer.body["assurance_level"], "High");
    assert_eq!(answer.body["kind"], "user");
}
