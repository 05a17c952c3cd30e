//! A dataset and its table: registration checks the table against the definition, a
//! table that disappears makes only its own dataset unavailable (listing and the other
//! tables keep working), and a dataset can be removed from the catalogue.

use std::sync::Arc;

use dap_schema::{AccessScope, ColumnType, ControlPlane, DatasetDef, DatasetId, MunicipalityCode};
use serde_json::{Value, json};

use crate::control_plane::{drop_postgres, fresh_postgres};
use crate::helpers::{TestApp, spawn_app};

const POPULATION: &str = "borger.befolkning";

fn def(app: &TestApp, id: &str) -> DatasetDef {
    app.state
        .catalogue
        .get(id)
        .expect("dataset")
        .as_ref()
        .clone()
}

fn scope(def: &DatasetDef, code: &str) -> AccessScope {
    AccessScope::granted_by_policy(
        Arc::new(def.clone()),
        MunicipalityCode::parse(code).expect("code"),
        def.columns.iter().map(|c| c.name.clone()).collect(),
        "tester".into(),
    )
}

async fn delete_round_trip(url: &str) {
    let control = ControlPlane::connect(url).await.expect("connect");
    for def in dap_lake::demo::datasets() {
        control.upsert_dataset(&def).await.expect("upsert");
    }
    let id = DatasetId::parse(POPULATION).expect("id");

    let existed = control.delete_dataset(&id).await.expect("delete");
    let again = control.delete_dataset(&id).await.expect("delete again");

    assert!(existed);
    assert!(!again, "a second delete finds nothing");
    let ids: Vec<String> = control
        .load_catalogue()
        .await
        .expect("load")
        .iter()
        .map(|d| d.id.to_string())
        .collect();
    assert_eq!(ids.len(), 4);
    assert!(!ids.contains(&POPULATION.to_owned()), "{ids:?}");
    // Its columns went with it: registering it again starts from the new definition.
    let mut fewer = dap_lake::demo::datasets()
        .into_iter()
        .find(|d| d.id == id)
        .expect("demo");
    fewer.columns.truncate(2);
    control
        .upsert_dataset(&fewer)
        .await
        .expect("register again");
    let stored = control.load_catalogue().await.expect("load");
    let stored = stored.iter().find(|d| d.id == id).expect("registered");
    assert_eq!(stored.columns, fewer.columns);
}

#[tokio::test]
async fn deleting_a_dataset_removes_it_and_its_columns_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cp.sqlite").display()
    );
    delete_round_trip(&url).await;
}

#[tokio::test]
async fn deleting_a_dataset_removes_it_and_its_columns_on_postgres() {
    let Some(url) = fresh_postgres().await else {
        return;
    };
    delete_round_trip(&url).await;
    drop_postgres(&url).await;
}

#[tokio::test]
async fn registration_checks_the_table_and_lists_every_difference() {
    let app = spawn_app().await;
    let good = def(&app, POPULATION);
    app.state
        .lake
        .check_table(&good)
        .await
        .expect("the demo table matches");

    let mut nowhere = good.clone();
    nowhere.location = "borger/nope".into();
    let error = app
        .state
        .lake
        .check_table(&nowhere)
        .await
        .expect_err("no table");
    assert!(error.is_client_error());
    let message = error.to_string();
    assert!(message.contains("borger/nope/"), "{message}");
    assert!(
        message.contains("no Delta table can be opened"),
        "{message}"
    );
    assert!(
        !app.data_dir.path().join("lake/borger/nope").exists(),
        "checking must not create a table"
    );

    let mut wrong = good.clone();
    wrong.columns[5].name = "antal_borgere".into();
    wrong.columns[3].data_type = ColumnType::String;
    wrong.tenant_column = "aar".into();
    let message = app
        .state
        .lake
        .check_table(&wrong)
        .await
        .expect_err("mismatch")
        .to_string();
    assert!(
        message.contains(
            "column 'alder' is declared string but the table stores Int32; declare it as int32"
        ),
        "{message}"
    );
    assert!(
        message.contains("column 'antal_borgere' is declared but the table has no such column"),
        "{message}"
    );
    assert!(
        message.contains("partitioned by [kommunekode], not by the tenant column 'aar'"),
        "{message}"
    );
}

/// Removes a dataset's table from the lake behind dap's back.
fn remove_table(app: &TestApp, dataset: &str) {
    let path = app.lake_url(dataset).to_file_path().expect("path");
    std::fs::remove_dir_all(path).expect("remove table");
}

#[tokio::test]
async fn a_table_that_disappears_makes_only_its_dataset_unavailable() {
    // Arrange: every table has been opened once.
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let listing = app.get("/api/v1/datasets", Some(&token)).await;
    let ids: Vec<String> = listing.body["datasets"]
        .as_array()
        .expect("datasets")
        .iter()
        .map(|d| d["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    for id in &ids {
        assert_eq!(
            app.get(&format!("/api/v1/datasets/{id}"), Some(&token))
                .await
                .status,
            200
        );
    }

    // Act: the population table is removed; the staff table gets a new version.
    remove_table(&app, POPULATION);
    let staff = deltalake::open_table(app.lake_url("personale.fravaer"))
        .await
        .expect("open");
    staff
        .update()
        .with_predicate("kommunekode = '0101'")
        .with_update("fravaersdage", "fravaersdage + 1")
        .await
        .expect("update");

    // Assert: the other table moves on; the lost one is "unavailable", not a crash.
    let mut served = false;
    for _ in 0..50 {
        let detail = app
            .get("/api/v1/datasets/personale.fravaer", Some(&token))
            .await;
        if detail.body["table_version"] == 2 {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(served, "the staff table's new version is served");
    let population = def(&app, POPULATION);
    let error = app
        .state
        .lake
        .table_info(&scope(&population, "0101"))
        .await
        .expect_err("gone");
    assert!(error.is_unavailable(), "{error:?}");
    assert!(!error.is_client_error());
    // Listing still works, REST and GraphQL; only the lost dataset's version is missing.
    let listing = app.get("/api/v1/datasets", Some(&token)).await;
    assert_eq!(listing.status, 200);
    assert_eq!(
        listing.body["datasets"].as_array().map(Vec::len),
        Some(ids.len())
    );
    let graphql: Value = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&token)
        .json(&json!({"query": "{ datasets { id version } }"}))
        .send()
        .await
        .expect("graphql")
        .json()
        .await
        .expect("json");
    let items = graphql["data"]["datasets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), ids.len(), "{graphql}");
    for item in items {
        assert_eq!(
            item["version"].is_null(),
            item["id"] == POPULATION,
            "{item}"
        );
    }
}

/// The admin API checks a registration against the table, a dataset whose table
/// disappeared answers 503 (and the listing still works), and DELETE removes a dataset.
#[tokio::test]
async fn the_admin_api_checks_registrations_deletes_datasets_and_answers_503() {
    let app = spawn_app().await;
    let operator = app
        .dev
        .token(
            "demo-operator",
            "0101",
            &[],
            dap_schema::NsisLevel::Substantial,
            chrono::Duration::minutes(10),
        )
        .expect("token");
    let analyst = app.analyst("0101");
    let path = "/api/v1/admin/catalogue/borger.nope";
    let mut nope = serde_json::to_value(def(&app, POPULATION)).expect("json");
    nope["id"] = json!("borger.nope");
    nope["location"] = json!("borger/nope");
    let put = app
        .client
        .put(format!("{}{path}", app.address))
        .bearer_auth(&operator)
        .json(&nope)
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 400);
    let body: Value = put.json().await.expect("json");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no Delta table"),
        "{body}"
    );

    remove_table(&app, POPULATION);
    let lost = app
        .get(&format!("/api/v1/datasets/{POPULATION}"), Some(&analyst))
        .await;
    assert_eq!(
        (lost.status, lost.body["code"].as_str()),
        (503, Some("dataset_unavailable"))
    );
    assert!(
        !lost.body.to_string().contains("borger/"),
        "a 503 names no storage location: {}",
        lost.body
    );
    let listing = app.get("/api/v1/datasets", Some(&analyst)).await;
    assert_eq!(listing.status, 200, "listing survives a lost table");

    let deleted = app
        .client
        .delete(format!(
            "{}/api/v1/admin/catalogue/{POPULATION}",
            app.address
        ))
        .bearer_auth(&operator)
        .send()
        .await
        .expect("delete");
    let deleted_request_id = deleted
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(deleted.status(), 204);
    let gone = app
        .get(&format!("/api/v1/datasets/{POPULATION}"), Some(&analyst))
        .await;
    assert_eq!(gone.status, 404);
    let listing = app.get("/api/v1/datasets", Some(&analyst)).await;
    assert!(!listing.body.to_string().contains(POPULATION));
    let records = app.audit_records(&deleted_request_id).await;
    assert_eq!(records.len(), 1, "the deletion is audited");
    assert_eq!(records[0].outcome, "allowed");
}
