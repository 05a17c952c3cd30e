//! Each caller sees the version of its own data: a commit that touched only another
//! municipality (or, under a data constraint, only rows the caller may not see) moves
//! nothing the caller is told — describe, rows, export file names, the change feed's
//! default range, GraphQL — while time travel to any existing version still works, and
//! `as_of` agrees with the commit times `/versions` reports.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const POPULATION: &str = "borger.befolkning";
const ABSENCE: &str = "personale.fravaer";

/// Commits an update to `dataset` that changes only the rows `predicate` selects, and
/// returns the new table version.
async fn update_directly(app: &TestApp, dataset: &str, predicate: &str, column: &str) -> u64 {
    let table = deltalake::open_table(app.lake_url(dataset))
        .await
        .expect("open");
    let (table, metrics) = table
        .update()
        .with_predicate(predicate)
        .with_update(column, format!("{column} + 1"))
        .await
        .expect("update");
    assert!(
        metrics.num_updated_rows > 0,
        "{predicate} updates some rows"
    );
    table.version().expect("version")
}

/// Waits until `token`'s describe of `dataset` states `version` (the lake refreshes
/// every second in tests).
async fn wait_for_version(app: &TestApp, dataset: &str, token: &str, version: u64) {
    for _ in 0..50 {
        let detail = app
            .get(&format!("/api/v1/datasets/{dataset}"), Some(token))
            .await;
        if detail.body["table_version"].as_u64() == Some(version) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("{dataset} did not reach version {version} within 10 s");
}

/// What every surface tells `token` about `dataset`'s version.
#[derive(Debug, PartialEq)]
struct Told {
    describe: Option<u64>,
    versions_head: Option<u64>,
    rows: Option<u64>,
    export_name: String,
    changes_name: String,
    graphql_rows: Option<u64>,
    graphql_catalogue: Option<u64>,
}

async fn told(app: &TestApp, dataset: &str, token: &str) -> (Told, Value) {
    let detail = app
        .get(&format!("/api/v1/datasets/{dataset}"), Some(token))
        .await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    let versions = app
        .get(&format!("/api/v1/datasets/{dataset}/versions"), Some(token))
        .await;
    let rows = app
        .get(
            &format!("/api/v1/datasets/{dataset}/rows?limit=1"),
            Some(token),
        )
        .await;
    let disposition = |path: String| async move {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .bearer_auth(token)
            .send()
            .await
            .expect("download");
        assert_eq!(response.status(), 200, "{path}");
        response.headers()["content-disposition"]
            .to_str()
            .unwrap_or_default()
            .to_owned()
    };
    let export_name = disposition(format!("/api/v1/datasets/{dataset}/export?format=csv")).await;
    let changes_name = disposition(format!(
        "/api/v1/datasets/{dataset}/changes?from_version=0&format=csv"
    ))
    .await;
    let field = dataset.replace('.', "_");
    let query = format!("{{ {field}(first: 1) {{ tableVersion }} datasets {{ id version }} }}");
    let graphql: Value = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("graphql")
        .json()
        .await
        .expect("json");
    let graphql_catalogue = graphql["data"]["datasets"]
        .as_array()
        .and_then(|all| all.iter().find(|d| d["id"] == dataset))
        .and_then(|d| d["version"].as_u64());
    let told = Told {
        describe: detail.body["table_version"].as_u64(),
        versions_head: versions.body["versions"][0]["version"].as_u64(),
        rows: rows.body["table_version"].as_u64(),
        export_name,
        changes_name,
        graphql_rows: graphql["data"][&field]["tableVersion"].as_u64(),
        graphql_catalogue,
    };
    (told, detail.body)
}

fn expected(dataset: &str, municipality: &str, version: u64) -> Told {
    Told {
        describe: Some(version),
        versions_head: Some(version),
        rows: Some(version),
        export_name: format!("attachment; filename=\"{dataset}_v{version}_{municipality}.csv\""),
        changes_name: format!(
            "attachment; filename=\"{dataset}_changes_0-{version}_{municipality}.csv\""
        ),
        graphql_rows: Some(version),
        graphql_catalogue: Some(version),
    }
}

#[tokio::test]
async fn another_municipalitys_commit_moves_nothing_the_caller_is_told() {
    // Arrange: the demo's population table has versions 0 and 1 for everyone.
    let app = spawn_app().await;
    let (own, other) = (app.analyst("0101"), app.analyst("0751"));
    let (before, detail_before) = told(&app, POPULATION, &own).await;
    assert_eq!(before, expected(POPULATION, "0101", 1));

    // Act: a load job corrects only Aarhus' (0751) rows.
    let version = update_directly(&app, POPULATION, "kommunekode = '0751'", "antal").await;
    assert_eq!(version, 2);
    wait_for_version(&app, POPULATION, &other, 2).await;

    // Assert: København is told exactly what it was told before, Aarhus the new version.
    let (after, detail_after) = told(&app, POPULATION, &own).await;
    assert_eq!(after, expected(POPULATION, "0101", 1));
    assert_eq!(detail_after["updated_at"], detail_before["updated_at"]);
    let (theirs, _) = told(&app, POPULATION, &other).await;
    assert_eq!(theirs, expected(POPULATION, "0751", 2));
}

/// Invariant 8: a commit that changed only another municipality's rows is not part of
/// the caller's history. Asking for it, or for any later version, is refused exactly
/// as a version that does not exist, with the caller's own version as the last; the
/// change feed from after it is empty whatever the start.
#[tokio::test]
async fn a_caller_can_neither_reach_nor_learn_versions_after_its_own() {
    let app = spawn_app().await;
    let own = app.analyst("0101");
    update_directly(&app, POPULATION, "kommunekode = '0751'", "antal").await;
    wait_for_version(&app, POPULATION, &app.analyst("0751"), 2).await;

    let all = |version: &str| {
        let query = format!("limit=1000&version={version}");
        let app = &app;
        let own = own.clone();
        async move { app.all_rows(POPULATION, &query, &own).await }
    };
    let at_own = all("1").await;
    assert!(!at_own.is_empty());
    let refusal = |version: u64| {
        let app = &app;
        let own = own.clone();
        async move {
            let answer = app
                .get(
                    &format!("/api/v1/datasets/{POPULATION}/rows?version={version}&limit=1"),
                    Some(&own),
                )
                .await;
            assert_eq!(answer.status, 400, "{}", answer.body);
            assert_eq!(answer.body["code"], "version_not_available");
            answer.body["message"]
                .as_str()
                .unwrap_or_default()
                .replace(&version.to_string(), "N")
        }
    };
    let existing = refusal(2).await;
    assert!(existing.contains("versions 0 to 1"), "{existing}");
    assert_eq!(
        existing,
        refusal(3).await,
        "2 exists, 3 does not: the same answer"
    );
    assert_eq!(existing, refusal(99).await);
    // Delta Sharing and GraphQL time travel go through the same rule.
    let sharing = app
        .client
        .post(format!(
            "{}/delta-sharing/shares/dap/schemas/borger/tables/befolkning/query",
            app.address
        ))
        .bearer_auth(&own)
        .json(&json!({"version": 2}))
        .send()
        .await
        .expect("query");
    assert_eq!(sharing.status().as_u16(), 400);
    // The change feed: an end after the caller's version is refused like one after the
    // table's; a start after it is an empty feed, whatever the start.
    for to in [2, 99] {
        let answer = app
            .get(
                &format!("/api/v1/datasets/{POPULATION}/changes?from_version=0&to_version={to}"),
                Some(&own),
            )
            .await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        let message = answer.body["message"].as_str().unwrap_or_default();
        assert!(message.contains("versions 0 to 1"), "{message}");
    }
    for from in [2, 99] {
        let since = app
            .client
            .get(format!(
                "{}/api/v1/datasets/{POPULATION}/changes?from_version={from}&format=ndjson",
                app.address
            ))
            .bearer_auth(&own)
            .send()
            .await
            .expect("changes");
        assert_eq!(since.status(), 200, "from_version={from}");
        let name = since
            .headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(name.contains(&format!("{from}-{from}")), "{name}");
        assert_eq!(since.text().await.expect("body"), "");
    }
    // A cursor chain started at the caller's version reads every row once.
    let paged = app
        .all_rows(POPULATION, "limit=7&select=aar,kvartal,alder,koen", &own)
        .await;
    assert_eq!(paged.len(), at_own.len());
}

#[tokio::test]
async fn a_constrained_caller_is_told_the_version_of_the_rows_it_may_see() {
    // Arrange: in the test lake Frederikssund's (0250) units 0250-org-00 and 0250-org-01
    // both have rows in the demo's two versions (every unit has late months too).
    let app = spawn_app().await;
    let constrained = app.kombit.sign(&app.kombit.kombit_claims_constrained(
        &[(
            "29189129",
            &["laes-personale"],
            &[(dap_lake::demo::ORG_UNIT_CONSTRAINT, "0250-org-01")],
        )],
        "Substantial",
    ));
    let whole = app.analyst("0250");

    // Act: a commit changes only unit 0250-org-00.
    let predicate = "kommunekode = '0250' AND organisationsenhed = '0250-org-00'";
    let version = update_directly(&app, ABSENCE, predicate, "fravaersdage").await;
    wait_for_version(&app, ABSENCE, &whole, version).await;

    // Assert: the whole municipality sees the new version; the constrained caller the
    // last version that changed its unit (the one before this commit), the same on every
    // surface as in /versions.
    let (all, _) = told(&app, ABSENCE, &whole).await;
    assert_eq!(all, expected(ABSENCE, "0250", version));
    let (unit, detail) = told(&app, ABSENCE, &constrained).await;
    assert_eq!(unit, expected(ABSENCE, "0250", version - 1));
    let versions = app
        .get(
            &format!("/api/v1/datasets/{ABSENCE}/versions"),
            Some(&constrained),
        )
        .await;
    assert_eq!(
        versions.body["versions"][0]["version"],
        detail["table_version"]
    );
    assert_eq!(
        versions.body["versions"][0]["timestamp"],
        detail["updated_at"]
    );
}

/// Delivery receipts count and date the whole municipality's rows: a caller narrowed to
/// some of them is refused the list and not told when the last delivery was, on REST
/// and in the console, while the whole municipality sees both.
#[tokio::test]
async fn a_constrained_caller_is_not_shown_the_municipalitys_deliveries() {
    // Arrange: a delivery of Frederikssund's absences, on record.
    let app = spawn_app().await;
    let delivered_at = chrono::Utc::now();
    app.state
        .control
        .insert_delivery_receipt(dap_schema::deliveries::DeliveryReceipt {
            dataset: ABSENCE.into(),
            municipality: "0250".into(),
            delivery_id: "fravaer-1".into(),
            mode: "upsert".into(),
            table_version: 1,
            rows_inserted: 40,
            rows_updated: 2,
            rows_deleted: 0,
            delivered_at,
            delivered_by: "hr-system".into(),
            fingerprint: None,
        })
        .await
        .expect("receipt");
    let constrained = app.kombit.sign(&app.kombit.kombit_claims_constrained(
        &[(
            "29189129",
            &["laes-personale"],
            &[(dap_lake::demo::ORG_UNIT_CONSTRAINT, "0250-org-01")],
        )],
        "Substantial",
    ));
    let whole = app.analyst("0250");
    let receipts = format!("/api/v1/datasets/{ABSENCE}/deliveries");
    let detail = format!("/api/v1/datasets/{ABSENCE}");

    // Act
    let listed = app.get(&receipts, Some(&whole)).await;
    let refused = app.get(&receipts, Some(&constrained)).await;
    let described = app.get(&detail, Some(&whole)).await;
    let narrowed = app.get(&detail, Some(&constrained)).await;

    // Assert
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["receipts"][0]["delivery_id"], "fravaer-1");
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.body["code"], "forbidden");
    assert!(
        refused.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("data constraints")),
        "{}",
        refused.body
    );
    assert!(
        described.body["last_delivery_at"].is_string(),
        "{}",
        described.body
    );
    assert_eq!(narrowed.status, 200, "{}", narrowed.body);
    assert_eq!(
        narrowed.body["last_delivery_at"],
        Value::Null,
        "{}",
        narrowed.body
    );
    // The console session of the same person: the page is shown, without receipts.
    let principal = app
        .state
        .authenticate(dap_api::app::identity::Credential::Bearer(constrained))
        .await
        .expect("principal");
    let session = app
        .state
        .start_session(&principal, 1)
        .await
        .expect("session");
    let page = crate::console::get(
        &app,
        &format!("/console/datasets/{ABSENCE}"),
        Some(&session),
    )
    .await;
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("html");
    assert!(!html.contains("fravaer-1"), "the console shows no receipt");
}

#[tokio::test]
async fn as_of_a_commit_time_from_versions_reads_that_version() {
    let app = spawn_app().await;
    let own = app.analyst("0101");
    let versions = app
        .get("/api/v1/datasets/oekonomi.posteringer/versions", Some(&own))
        .await;
    let listed = versions.body["versions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(listed.len(), 3, "{}", versions.body);
    for entry in &listed {
        let instant = entry["timestamp"].as_str().expect("timestamp");
        let answer = app
            .get(
                &format!(
                    "/api/v1/datasets/oekonomi.posteringer/rows?limit=1&as_of={}",
                    instant.replace('+', "%2B")
                ),
                Some(&own),
            )
            .await;
        assert_eq!(answer.status, 200, "as_of={instant}: {}", answer.body);
        assert_eq!(
            answer.body["table_version"], entry["version"],
            "as_of={instant}"
        );
    }
    // Describe's commit time is the same notion: the head of /versions.
    let detail = app
        .get("/api/v1/datasets/oekonomi.posteringer", Some(&own))
        .await;
    assert_eq!(detail.body["updated_at"], listed[0]["timestamp"]);

    // An instant before the first commit: version_not_available, naming the range.
    let first = listed[listed.len() - 1]["timestamp"].as_str().expect("ts");
    let first = chrono::DateTime::parse_from_rfc3339(first).expect("rfc3339");
    let early = (first - chrono::Duration::milliseconds(1)).to_rfc3339();
    let refused = app
        .get(
            &format!(
                "/api/v1/datasets/oekonomi.posteringer/rows?as_of={}",
                early.replace('+', "%2B")
            ),
            Some(&own),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.body["code"], "version_not_available",
        "{}",
        refused.body
    );
    let message = refused.body["message"].as_str().unwrap_or_default();
    assert!(message.contains("versions 0 to 2"), "{message}");
    assert!(
        message.contains("no table version was committed"),
        "{message}"
    );
}

/// delta-rs removes commit files older than `delta.logRetentionDuration` when it writes
/// a checkpoint, so after a month of operation the log no longer starts at version 0:
/// the history and the change feed start at the first commit the log holds, and a range
/// before it is a 400 that names it, not a 500; also on a replica that had read the log
/// before the cleanup.
#[tokio::test]
async fn history_and_changes_start_where_a_cleaned_up_log_starts() {
    let app = spawn_app().await;
    let own = app.analyst("0101");
    let path = format!("/api/v1/datasets/{POPULATION}/versions");
    let before = app.get(&path, Some(&own)).await;
    assert_eq!(before.status, 200, "{}", before.body);

    // A commit of 0101's rows with a checkpoint, then the cleanup of commit 0.
    let version = update_directly(&app, POPULATION, "kommunekode = '0101'", "antal").await;
    let table = deltalake::open_table(app.lake_url(POPULATION))
        .await
        .expect("open");
    deltalake::checkpoints::create_checkpoint(&table, None)
        .await
        .expect("checkpoint");
    let log = app
        .lake_url(POPULATION)
        .to_file_path()
        .expect("path")
        .join("_delta_log");
    std::fs::remove_file(log.join(format!("{:020}.json", 0))).expect("remove commit 0");
    wait_for_version(&app, POPULATION, &own, version).await;

    let after = app.get(&path, Some(&own)).await;
    assert_eq!(after.status, 200, "{}", after.body);
    let listed: Vec<u64> = after.body["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["version"].as_u64())
        .collect();
    assert_eq!(listed.first(), Some(&version), "{}", after.body);
    assert!(listed.iter().all(|v| *v >= 1), "{listed:?}");
    let changes = app
        .get(
            &format!("/api/v1/datasets/{POPULATION}/changes?from_version=0"),
            Some(&own),
        )
        .await;
    assert_eq!(changes.status, 400, "{}", changes.body);
    let message = changes.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("versions 1 to {version}")),
        "{message}"
    );
    // Delta Sharing's change feed refuses the same range, never answering it in part.
    let sharing = app
        .get(
            "/delta-sharing/shares/dap/schemas/borger/tables/befolkning/changes?startingVersion=0",
            Some(&own),
        )
        .await;
    assert_eq!(sharing.status, 400, "{}", sharing.body);
    let message = sharing.body["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("(1 to {version})")), "{message}");
    let since = app
        .client
        .get(format!(
            "{}/api/v1/datasets/{POPULATION}/changes?from_version=1&format=ndjson",
            app.address
        ))
        .bearer_auth(&own)
        .send()
        .await
        .expect("changes");
    assert_eq!(since.status(), 200);
    assert!(!since.text().await.expect("body").is_empty());
}
