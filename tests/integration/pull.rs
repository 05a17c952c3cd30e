//! `dap pull` mirrors a dataset and keeps it equal to the server's latest version,
//! through updates, deletes, inserts and interruptions.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dap_api::pull::{MirrorFormat, PullOptions, pull};
use deltalake::arrow::array::{Date32Array, Decimal128Array, Int32Array, Int64Array, StringArray};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::SessionContext;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

mod mirror;
mod replace;

const DATASET: &str = "oekonomi.posteringer";

fn options(app: &TestApp, into: &Path, format: MirrorFormat) -> PullOptions {
    PullOptions {
        server: app.address.parse().expect("url"),
        credentials: dap_api::pull::Credentials::Token(app.analyst("0101").into()),
        dataset: DATASET.into(),
        into: into.to_path_buf(),
        format,
        municipality: None,
        replace: false,
        progress: false,
    }
}

/// New postings for `code` with ids `ids`.
fn postings(code: &str, ids: &[i64]) -> RecordBatch {
    let def = dap_lake::demo::datasets()
        .into_iter()
        .find(|d| d.id.as_str() == DATASET)
        .expect("def");
    let n = ids.len();
    RecordBatch::try_new(
        dap_lake::demo::arrow_schema(&def),
        vec![
            Arc::new(StringArray::from(vec![code; n])),
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(Int32Array::from(vec![2026; n])),
            Arc::new(Int32Array::from(vec![1; n])),
            Arc::new(Date32Array::from(vec![20_454; n])),
            Arc::new(StringArray::from(vec!["5.22.07"; n])),
            Arc::new(StringArray::from(vec!["1.0"; n])),
            Arc::new(
                Decimal128Array::from(vec![4242_i128; n])
                    .with_precision_and_scale(18, 2)
                    .expect("decimal"),
            ),
            Arc::new(StringArray::from(vec!["ny"; n])),
        ],
    )
    .expect("batch")
}

/// A load job changes the lake: an update and a delete for 0101, new rows for 0101 and
/// 0751. Returns the new table version once dap serves it.
async fn change_the_lake(app: &TestApp) -> u64 {
    let table = deltalake::open_table(app.lake_url(DATASET))
        .await
        .expect("open");
    let (table, _) = table
        .update()
        .with_predicate("kommunekode = '0101' AND posteringsid % 3 = 0")
        .with_update("funktion", "'0.00.00'")
        .await
        .expect("update");
    let (table, _) = table
        .delete()
        .with_predicate("kommunekode = '0101' AND posteringsid % 7 = 1")
        .await
        .expect("delete");
    let table = table
        .write(vec![
            postings("0101", &[1, 2, 3]),
            postings("0751", &[4, 5]),
        ])
        .with_save_mode(deltalake::protocol::SaveMode::Append)
        .with_partition_columns(["kommunekode"])
        .await
        .expect("append");
    let version = table.version().expect("version");
    let token = app.analyst("0101");
    for _ in 0..60 {
        let detail = app
            .get(&format!("/api/v1/datasets/{DATASET}"), Some(&token))
            .await;
        if detail.body["table_version"].as_u64() == Some(version) {
            return version;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("dap did not pick up version {version}");
}

/// The mirror's rows, ordered by key.
async fn mirror_rows(dir: &Path) -> Vec<Value> {
    let url = url::Url::from_directory_path(std::path::absolute(dir).expect("abs")).expect("url");
    let table = deltalake::open_table(url).await.expect("open mirror");
    let ctx = SessionContext::new();
    table
        .update_datafusion_session(&ctx.state())
        .expect("session");
    ctx.register_table("m", table.table_provider().await.expect("provider"))
        .expect("register");
    let batches = ctx
        .sql("SELECT * FROM m ORDER BY posteringsid")
        .await
        .expect("sql")
        .collect()
        .await
        .expect("rows");
    serde_json::from_slice(&dap_lake::encode::json_array(&batches).expect("json")).expect("values")
}

async fn expected(app: &TestApp) -> Vec<Value> {
    app.oracle(
        DATASET,
        "SELECT * FROM t WHERE kommunekode = '0101' ORDER BY posteringsid",
    )
    .await
}

#[tokio::test]
async fn pulling_twice_after_updates_and_deletes_equals_a_fresh_export() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    let opts = options(&app, dir.path(), MirrorFormat::Delta);
    let first = pull(&opts).await.expect("first pull");
    assert_eq!((first.kind, first.to_version), ("full", 2));
    assert_eq!(mirror_rows(dir.path()).await, expected(&app).await);

    let version = change_the_lake(&app).await;
    // Aarhus sees the commit that appended its rows, not 0101's update and delete.
    let aarhus = app
        .get(
            &format!("/api/v1/datasets/{DATASET}/versions"),
            Some(&app.analyst("0751")),
        )
        .await;
    let listed: Vec<u64> = aarhus.body["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["version"].as_u64())
        .collect();
    assert_eq!(listed.first(), Some(&version), "{listed:?}");
    assert!(
        !listed.contains(&(version - 1)) && !listed.contains(&(version - 2)),
        "{listed:?}"
    );
    let second = pull(&opts).await.expect("second pull");
    assert_eq!(
        (second.kind, second.from_version, second.to_version),
        ("changes", Some(2), version)
    );
    let mirrored = mirror_rows(dir.path()).await;
    assert_eq!(mirrored, expected(&app).await);
    assert!(mirrored.iter().all(|r| r["kommunekode"] == "0101"));
    assert!(
        mirrored.iter().any(|r| r["funktion"] == "0.00.00"),
        "the update arrived"
    );
    assert!(
        mirrored.iter().any(|r| r["posteringsid"] == 1),
        "the insert arrived"
    );

    let third = pull(&opts).await.expect("third pull");
    assert_eq!(third.kind, "up_to_date");
    assert_eq!(mirror_rows(dir.path()).await, expected(&app).await);
}

#[tokio::test]
async fn an_interrupted_pull_resumes_without_duplicates() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    let opts = options(&app, dir.path(), MirrorFormat::Delta);
    // Interrupt the first (full) pull at several points, then let it finish.
    for millis in [1, 5, 20, 60] {
        let o = opts.clone();
        let task = tokio::spawn(async move { pull(&o).await });
        tokio::time::sleep(Duration::from_millis(millis)).await;
        task.abort();
        let _ = task.await;
    }
    pull(&opts).await.expect("resumed full pull");
    assert_eq!(mirror_rows(dir.path()).await, expected(&app).await);

    change_the_lake(&app).await;
    for millis in [1, 10, 40, 120, 300] {
        let o = opts.clone();
        let task = tokio::spawn(async move { pull(&o).await });
        tokio::time::sleep(Duration::from_millis(millis)).await;
        task.abort();
        let _ = task.await;
    }
    let report = pull(&opts).await.expect("resumed incremental pull");
    assert!(matches!(report.kind, "changes" | "up_to_date"));
    assert_eq!(mirror_rows(dir.path()).await, expected(&app).await);
}

#[tokio::test]
async fn parquet_mode_keeps_a_snapshot_and_change_files() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    let opts = options(&app, dir.path(), MirrorFormat::Parquet);
    pull(&opts).await.expect("full");
    let version = change_the_lake(&app).await;
    pull(&opts).await.expect("changes");
    let state: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(".dap-pull.json")).expect("state"))
            .expect("json");
    assert_eq!(state["version"], version);
    let changes = dir.path().join(format!("changes-v3-v{version}.parquet"));
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&changes).expect("changes file"),
    )
    .expect("parquet")
    .build()
    .expect("reader");
    let rows: usize = reader
        .map(|b| {
            let b = b.expect("batch");
            let codes = b.column_by_name("kommunekode").expect("column");
            let codes = codes
                .as_any()
                .downcast_ref::<StringArray>()
                .map(|a| a.iter().all(|c| c == Some("0101")));
            assert_eq!(codes, Some(true), "only 0101 in the change file");
            b.num_rows()
        })
        .sum();
    assert!(rows > 3);
    assert!(dir.path().join("snapshot-v2.parquet").exists());
}

#[tokio::test]
async fn pull_says_what_is_wrong_with_a_bad_token_or_dataset() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    let mut opts = options(&app, dir.path(), MirrorFormat::Delta);
    opts.credentials = dap_api::pull::Credentials::Token("nope".into());
    let error = pull(&opts).await.expect_err("bad token").to_string();
    assert!(error.contains("401"), "{error}");
    let mut opts = options(&app, dir.path(), MirrorFormat::Delta);
    opts.dataset = "aeldre.findes_ikke".into();
    let error = pull(&opts).await.expect_err("missing dataset").to_string();
    assert!(
        error.contains("404") && error.contains("dataset_not_found"),
        "{error}"
    );
}
