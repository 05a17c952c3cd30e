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

/// Every page of a GraphQL chain of `query` (a `$after` variable, one connection).
async fn graphql_chain(app: &TestApp, field: &str, query: &str, token: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = Value::Null;
    for _ in 0..200 {
        let body = app
            .graphql(
                token,
                &serde_json::json!({ "query": query, "variables": { "after": after } }),
            )
            .await;
        let connection = body["data"][field].clone();
        assert!(connection.is_object(), "{query}: {body}");
        out.push(connection.clone());
        if connection["pageInfo"]["hasNextPage"] != true {
            return out;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
    panic!("GraphQL chain did not end: {query}");
}

/// Data constraints (the scope's row predicate narrowed to org units) and filter trees
/// with OR, answered from kept rows, equal the same reads of the files.
#[tokio::test]
async fn constrained_pages_and_filter_trees_from_kept_rows_equal_the_files() {
    let (cached, files) = tokio::join!(
        spawn_app(),
        spawn_app_tuned(|settings| settings.lake.page_cache_mb = 0)
    );
    let absence = "personale.fravaer";
    let constrained = |app: &TestApp| {
        app.kombit.sign(&app.kombit.kombit_claims_constrained(
            &[(
                "29189129",
                &["laes-personale"],
                &[(
                    dap_lake::demo::ORG_UNIT_CONSTRAINT,
                    "0250-org-01,0250-org-03",
                )],
            )],
            "Substantial",
        ))
    };
    let (a, b) = (constrained(&cached), constrained(&files));
    let mut compared = 0;
    for query in [
        "limit=9",
        "limit=50",
        "limit=4&filter=organisationsenhed:eq:0250-org-03",
    ] {
        let path = |q: &str| format!("/api/v1/datasets/{absence}/rows?{q}");
        let (mut with_cache, mut without) = (Vec::new(), Vec::new());
        let (mut next_a, mut next_b) = (Some(path(query)), Some(path(query)));
        while let (Some(pa), Some(pb)) = (next_a.take(), next_b.take()) {
            let (x, y) = (
                cached.get(&pa, Some(&a)).await,
                files.get(&pb, Some(&b)).await,
            );
            assert_eq!(x.status, 200, "{query}: {}", x.body);
            for row in x.rows() {
                let unit = row["organisationsenhed"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                assert!(
                    ["0250-org-01", "0250-org-03"].contains(&unit.as_str()),
                    "{row}"
                );
            }
            with_cache.extend(x.rows());
            without.extend(y.rows());
            let cursor = |answer: &crate::helpers::Answer| {
                answer.body["next_cursor"]
                    .as_str()
                    .map(|c| path(&format!("{query}&cursor={c}")))
            };
            (next_a, next_b) = (cursor(&x), cursor(&y));
            assert_eq!(next_a.is_some(), next_b.is_some(), "{query}");
        }
        assert_eq!(with_cache, without, "{query}");
        compared += with_cache.len();
    }
    assert!(
        compared > 20,
        "the constrained reads compared rows: {compared}"
    );

    let mut compared = 0;
    let trees = [
        r#"query($after: String) { oekonomi_posteringer(first: 6, after: $after,
             where: {or: [{funktion: {prefix: "5.22"}}, {and: [{beloeb: {lt: "0"}}, {art: {eq: "1.0"}}]}]}) {
             nodes { posteringsid funktion beloeb art } pageInfo { hasNextPage endCursor } } }"#,
        r#"query($after: String) { oekonomi_posteringer(first: 25, after: $after,
             where: {aar: {in: [2021, 2023]}, funktion: {contains: "22"}}) {
             nodes { posteringsid aar bogfoeringsdato } pageInfo { hasNextPage endCursor } } }"#,
    ];
    for municipality in ["0101", "0751"] {
        let (a, b) = (cached.analyst(municipality), files.analyst(municipality));
        for query in trees {
            let with_cache = graphql_chain(&cached, "oekonomi_posteringer", query, &a).await;
            let without = graphql_chain(&files, "oekonomi_posteringer", query, &b).await;
            // Cursors are signed per server: compare the rows and the page breaks.
            let strip = |pages: Vec<Value>| -> Vec<(Value, Value)> {
                pages
                    .into_iter()
                    .map(|p| (p["nodes"].clone(), p["pageInfo"]["hasNextPage"].clone()))
                    .collect()
            };
            let (with_cache, without) = (strip(with_cache), strip(without));
            compared += with_cache
                .iter()
                .map(|(nodes, _)| nodes.as_array().map_or(0, Vec::len))
                .sum::<usize>();
            assert_eq!(with_cache, without, "{municipality} {query}");
        }
    }
    assert!(compared > 20, "the trees compared rows: {compared}");
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
