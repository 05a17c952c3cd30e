//! A caller sees its own municipality's rows and nothing else, however it asks.

use dap_schema::NsisLevel;
use serde_json::Value;

use crate::helpers::spawn_app;

fn municipalities(rows: &[Value]) -> Vec<String> {
    let mut codes: Vec<String> = rows
        .iter()
        .map(|r| r["kommunekode"].as_str().unwrap_or("?").to_owned())
        .collect();
    codes.sort();
    codes.dedup();
    codes
}

#[tokio::test]
async fn a_filter_on_another_municipality_returns_nothing() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    for dataset in [
        "oekonomi.posteringer",
        "aeldre.hjemmepleje",
        "infrastruktur.it_systemer",
    ] {
        let answer = app
            .get(
                &format!("/api/v1/datasets/{dataset}/rows?filter=kommunekode:eq:0751"),
                Some(&token),
            )
            .await;
        assert_eq!(answer.status, 200, "{dataset}: {}", answer.body);
        assert_eq!(answer.rows(), Vec::<Value>::new(), "{dataset}");
        assert_eq!(answer.body["row_count"], 0);
    }
}

#[tokio::test]
async fn an_in_list_with_other_municipalities_returns_only_ones_own() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let rows = app
        .all_rows(
            "oekonomi.posteringer",
            "filter=kommunekode:in:0751,0101,0147&filter=kommunekode:ne:0999&limit=9",
            &token,
        )
        .await;
    assert_eq!(municipalities(&rows), vec!["0101"]);
    let oracle = app
        .oracle(
            "oekonomi.posteringer",
            "SELECT * FROM t WHERE kommunekode = '0101' ORDER BY posteringsid",
        )
        .await;
    assert_eq!(rows, oracle);
}

#[tokio::test]
async fn every_municipality_sees_exactly_its_own_rows() {
    let app = spawn_app().await;
    for code in ["0101", "0250", "0751", "0860"] {
        let rows = app
            .all_rows(
                "infrastruktur.it_systemer",
                "limit=1000",
                &app.analyst(code),
            )
            .await;
        assert_eq!(municipalities(&rows), vec![code.to_owned()]);
        assert_eq!(rows.len(), 42, "{code}: 14 domains × 3 systems");
    }
}

#[tokio::test]
async fn a_cursor_issued_to_another_municipality_is_refused() {
    let app = spawn_app().await;
    let aarhus = app.analyst("0751");
    let first = app
        .get(
            "/api/v1/datasets/oekonomi.posteringer/rows?limit=5",
            Some(&aarhus),
        )
        .await;
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let copenhagen = app.analyst("0101");
    let answer = app
        .get(
            &format!("/api/v1/datasets/oekonomi.posteringer/rows?limit=5&cursor={cursor}"),
            Some(&copenhagen),
        )
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["code"], "invalid_cursor");
    assert!(!answer.body.to_string().contains("0751"));
    // A cursor is also bound to the subject: another user of the same municipality.
    let colleague = app
        .dev
        .token(
            "colleague",
            "0751",
            &crate::helpers::READ_ROLES
                .iter()
                .map(|r| (*r).to_owned())
                .collect::<Vec<_>>(),
            NsisLevel::Substantial,
            chrono::Duration::minutes(5),
        )
        .expect("token");
    let answer = app
        .get(
            &format!("/api/v1/datasets/oekonomi.posteringer/rows?limit=5&cursor={cursor}"),
            Some(&colleague),
        )
        .await;
    assert_eq!(answer.body["code"], "invalid_cursor");
}

#[tokio::test]
async fn a_dataset_outside_the_callers_roles_is_a_404_like_a_missing_one() {
    let app = spawn_app().await;
    let economist = app.token("0101", &["laes-oekonomi"], NsisLevel::High);
    let listing = app.get("/api/v1/datasets", Some(&economist)).await;
    assert_eq!(listing.status, 200);
    let ids: Vec<&str> = listing.body["datasets"]
        .as_array()
        .expect("datasets")
        .iter()
        .filter_map(|d| d["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["oekonomi.posteringer"]);

    let hidden = app
        .get("/api/v1/datasets/aeldre.hjemmepleje/rows", Some(&economist))
        .await;
    let missing = app
        .get("/api/v1/datasets/aeldre.findes_ikke/rows", Some(&economist))
        .await;
    let malformed = app
        .get("/api/v1/datasets/..%2F..%2Fetc/rows", Some(&economist))
        .await;
    for answer in [&hidden, &missing, &malformed] {
        assert_eq!(answer.status, 404);
        assert_eq!(answer.body, hidden.body);
    }
    let described = app
        .get("/api/v1/datasets/aeldre.hjemmepleje", Some(&economist))
        .await;
    assert_eq!(described.status, 404);
    assert_eq!(described.body["code"], "dataset_not_found");
}

#[tokio::test]
async fn personal_data_needs_substantial_assurance() {
    let app = spawn_app().await;
    let low = app.token("0101", crate::helpers::READ_ROLES, NsisLevel::Low);
    let answer = app
        .get("/api/v1/datasets/aeldre.hjemmepleje/rows", Some(&low))
        .await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.body["code"], "insufficient_assurance");
    assert!(answer.body.get("rows").is_none());
    let public = app
        .get(
            "/api/v1/datasets/borger.befolkning/rows?limit=1",
            Some(&low),
        )
        .await;
    assert_eq!(public.status, 200);
}

#[tokio::test]
async fn naming_a_municipality_the_token_does_not_grant_is_refused() {
    let app = spawn_app().await;
    let answer = app
        .get(
            "/api/v1/datasets/oekonomi.posteringer/rows?municipality=0751",
            Some(&app.analyst("0101")),
        )
        .await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.body["code"], "municipality_not_granted");
    let own = app
        .get(
            "/api/v1/datasets/oekonomi.posteringer/rows?municipality=0101&limit=1",
            Some(&app.analyst("0101")),
        )
        .await;
    assert_eq!(own.status, 200);
}

#[tokio::test]
async fn a_scan_plans_only_the_files_of_the_callers_partition() {
    let app = spawn_app().await;
    let principal = app
        .state
        .verifier
        .verify(&app.analyst("0250"))
        .await
        .expect("principal");
    let dataset = app
        .state
        .catalogue
        .get("oekonomi.posteringer")
        .expect("dataset");
    let scope = dap_auth::policy::authorize(&principal, &dataset, None).expect("scope");
    let files = app.state.lake.scan_files(&scope).await.expect("files");
    // Two table versions, each wrote one file per municipality.
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files.iter().all(|f| f.starts_with("kommunekode=0250/")),
        "{files:?}"
    );
}
