//! Pages read from decoded partitions kept in memory (`lake.page_cache_mb`) are exactly
//! the pages read from the files: the same lake served with the cache and without it
//! gives the same rows and the same cursor chains for filters, orders (the key order the
//! cache keeps, and others), projections, data constraints and old versions; a new
//! version of the caller's partition is served, not the kept rows; and another
//! municipality's rows never come out of a partition kept for someone else.

use std::sync::Arc;
use std::time::Duration;

use deltalake::arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use deltalake::protocol::SaveMode;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app, spawn_app_tuned};

const DATASET: &str = "oekonomi.posteringer";

/// Every page of a cursor chain (rows and whether a next page was offered).
async fn chain(app: &TestApp, query: &str, token: &str) -> Vec<(u16, Vec<Value>, bool)> {
    let mut out = Vec::new();
    let mut path = format!("/api/v1/datasets/{DATASET}/rows?{query}");
    for _ in 0..200 {
        let answer = app.get(&path, Some(token)).await;
        let next = answer.body["next_cursor"].as_str().map(str::to_owned);
        out.push((answer.status, answer.rows(), next.is_some()));
        match next {
            Some(cursor) => {
                path = format!("/api/v1/datasets/{DATASET}/rows?{query}&cursor={cursor}")
            }
            None => return out,
        }
    }
    panic!("cursor chain did not end: {query}");
}

#[tokio::test]
async fn pages_from_kept_partitions_equal_pages_from_the_files() {
    let (cached, files) = tokio::join!(
        spawn_app(),
        spawn_app_tuned(|settings| settings.lake.page_cache_mb = 0)
    );
    let queries = [
        "limit=7",
        "limit=1",
        "limit=100",
        "limit=5&filter=funktion:prefix:5.22",
        "limit=6&filter=aar:gte:2020&filter=art:eq:1.0",
        "limit=4&order_by=beloeb:desc",
        "limit=9&order_by=aar,bogfoeringsdato:desc&select=aar,bogfoeringsdato,beloeb",
        "limit=3&order_by=funktion&filter=beloeb:lt:0",
        "limit=8&select=posteringsid,funktion&filter=funktion:contains:22",
        "limit=5&filter=posteringsid:gt:0&order_by=posteringsid:desc",
        "limit=5&filter=funktion:eq:no-such-function",
        "limit=4&version=0",
    ];
    let mut compared = 0;
    for municipality in ["0101", "0751"] {
        let (a, b) = (cached.analyst(municipality), files.analyst(municipality));
        for query in queries {
            let (with_cache, without) = (
                chain(&cached, query, &a).await,
                chain(&files, query, &b).await,
            );
            assert!(
                with_cache.iter().all(|(status, ..)| *status == 200),
                "{query}: {with_cache:?}"
            );
            assert_eq!(with_cache, without, "{municipality} {query}");
            for (_, rows, _) in &with_cache {
                for row in rows {
                    if let Some(code) = row.get("kommunekode") {
                        assert_eq!(code, municipality, "{query}");
                    }
                }
                compared += rows.len();
            }
        }
    }
    assert!(compared > 500, "the queries compared rows: {compared}");
    assert!(
        cached.state.lake.page_cache_bytes() > 0,
        "the cached server kept partitions"
    );
    assert_eq!(
        files.state.lake.page_cache_bytes(),
        0,
        "page_cache_mb = 0 keeps nothing"
    );
}

#[tokio::test]
async fn a_new_version_of_the_partition_is_served_not_the_kept_rows() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let query = "limit=5&filter=posteringsid:eq:1200000001";
    let before = app
        .get(
            &format!("/api/v1/datasets/{DATASET}/rows?{query}"),
            Some(&token),
        )
        .await;
    assert_eq!(before.status, 200, "{}", before.body);
    assert!(before.rows().is_empty());
    // The first page kept 0101's partition; now a load job appends a row to it.
    let table = deltalake::open_table(app.lake_url(DATASET))
        .await
        .expect("open");
    let def = dap_lake::demo::datasets()
        .into_iter()
        .find(|d| d.id.as_str() == DATASET)
        .expect("posteringer");
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["0101"])),
        Arc::new(Int64Array::from(vec![1_200_000_001])),
        Arc::new(Int32Array::from(vec![2026])),
        Arc::new(Int32Array::from(vec![1])),
        Arc::new(Date32Array::from(vec![20_454])),
        Arc::new(StringArray::from(vec!["5.22.07"])),
        Arc::new(StringArray::from(vec!["1.0"])),
        Arc::new(
            Decimal128Array::from(vec![12_345])
                .with_precision_and_scale(18, 2)
                .expect("decimal"),
        ),
        Arc::new(StringArray::from(vec!["0101-001"])),
    ];
    let batch = RecordBatch::try_new(dap_lake::demo::arrow_schema(&def), columns).expect("batch");
    table
        .write(vec![batch])
        .with_save_mode(SaveMode::Append)
        .with_partition_columns(["kommunekode"])
        .await
        .expect("append");
    // Served within the refresh bound (1 s in tests), from the new files.
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = app
            .get(
                &format!("/api/v1/datasets/{DATASET}/rows?{query}"),
                Some(&token),
            )
            .await
            .rows();
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(seen.len(), 1, "the appended row is served");
    assert_eq!(seen[0]["posteringsid"], 1_200_000_001);
    // Aarhus, whose partition did not change, still sees none of it.
    let other = app
        .get(
            &format!("/api/v1/datasets/{DATASET}/rows?{query}"),
            Some(&app.analyst("0751")),
        )
        .await;
    assert_eq!(other.status, 200);
    assert!(other.rows().is_empty(), "{}", other.body);
}
