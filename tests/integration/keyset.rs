//! Keyset paging: each page of a cursor chain is exactly the page the offset query
//! returns (the full ordered result cut into pages), for orders with ties, NULLs and
//! descending keys, with filters and projections, at an old and a new version; a tie on
//! the whole key falls back to offsets without losing rows; and a cursor serves only the
//! caller and query it was issued for.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use deltalake::arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use deltalake::protocol::SaveMode;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

const DATASET: &str = "oekonomi.posteringer";
const PAGE: usize = 7;
/// Rows of the appended commit that are exact copies of each other (a tie on the key).
const TWINS: usize = 10;
const TWIN_ID: i64 = 1_099_999_999;

/// Appends 0101 rows with NULLs in every nullable column and `TWINS` identical rows;
/// returns the version before and after.
async fn append_nulls_and_twins(app: &TestApp) -> (u64, u64) {
    let table = deltalake::open_table(app.lake_url(DATASET))
        .await
        .expect("open");
    let before = table.version().expect("version") as u64;
    let def = dap_lake::demo::datasets()
        .into_iter()
        .find(|d| d.id.as_str() == DATASET)
        .expect("posteringer");
    let schema = dap_lake::demo::arrow_schema(&def);
    let n = 24 + TWINS;
    let id = |i: usize| {
        if i < 24 {
            1_090_000_000 + i as i64
        } else {
            TWIN_ID
        }
    };
    // The twins all take row 24's values: only 24 is never NULL (no divisor below 8).
    let some = |i: usize, every: usize| i >= 24 || !i.is_multiple_of(every);
    let i_ = |i: usize| i.min(24);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["0101"; n])),
        Arc::new(Int64Array::from_iter_values((0..n).map(id))),
        Arc::new(Int32Array::from_iter(
            (0..n).map(|i| some(i, 5).then_some(2024)),
        )),
        Arc::new(Int32Array::from_iter(
            (0..n).map(|i| some(i, 4).then_some(1 + (i_(i) % 3) as i32)),
        )),
        Arc::new(Date32Array::from_iter(
            (0..n).map(|i| some(i, 3).then_some(19_800 + (i_(i) % 4) as i32)),
        )),
        Arc::new(StringArray::from_iter((0..n).map(|i| {
            some(i, 2).then_some(["5.22.07", "0.25.10"][i_(i) % 2])
        }))),
        Arc::new(StringArray::from_iter(
            (0..n).map(|i| some(i, 3).then_some("1.0")),
        )),
        Arc::new(
            Decimal128Array::from_iter(
                (0..n).map(|i| some(i, 6).then_some(100 * (i_(i) % 5) as i128)),
            )
            .with_precision_and_scale(18, 2)
            .expect("decimal"),
        ),
        Arc::new(StringArray::from_iter(
            (0..n).map(|i| some(i, 7).then_some("0101-100")),
        )),
    ];
    let batch = RecordBatch::try_new(schema, columns).expect("batch");
    let table = table
        .write(vec![batch])
        .with_save_mode(SaveMode::Append)
        .with_partition_columns(["kommunekode"])
        .await
        .expect("append");
    (before, table.version().expect("version") as u64)
}

/// The SQL order of a REST `order_by`: dap sorts NULLs last ascending and first
/// descending, with the key column as the last tie-break.
fn sql_order(order_by: &str) -> String {
    let mut keys: Vec<String> = order_by
        .split(',')
        .filter(|k| !k.is_empty())
        .map(|k| match k.split_once(':') {
            Some((c, "desc")) => format!("{c} DESC NULLS FIRST"),
            Some((c, _)) => format!("{c} ASC NULLS LAST"),
            None => format!("{k} ASC NULLS LAST"),
        })
        .collect();
    if !order_by.split(',').any(|k| k.starts_with("posteringsid")) {
        keys.push("posteringsid ASC NULLS LAST".into());
    }
    keys.join(", ")
}

/// The pages of a cursor chain, and the cursors that led to them.
async fn pages(app: &TestApp, query: &str, token: &str) -> (Vec<Vec<Value>>, Vec<String>) {
    let (mut pages, mut cursors) = (Vec::new(), Vec::new());
    let mut path = format!("/api/v1/datasets/{DATASET}/rows?{query}");
    for _ in 0..100 {
        let answer = app.get(&path, Some(token)).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        pages.push(answer.rows());
        let Some(next) = answer.body["next_cursor"].as_str() else {
            return (pages, cursors);
        };
        cursors.push(next.to_owned());
        path = format!("/api/v1/datasets/{DATASET}/rows?{query}&cursor={next}");
    }
    panic!("cursor chain did not end");
}

/// The signed payload of a cursor (not secret, only signed).
fn payload(cursor: &str) -> Value {
    let (payload, _) = cursor.split_once('.').expect("cursor shape");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json")
}

#[tokio::test]
async fn every_page_of_a_keyset_chain_is_the_offset_page_across_orders_filters_and_versions() {
    // Arrange
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let (old, new) = append_nulls_and_twins(&app).await;
    let orders = [
        "",
        "funktion",
        "funktion:desc",
        "beloeb:desc",
        "beloeb:asc,maaned:desc",
        "art,bogfoeringsdato:desc,beloeb",
        "omkostningssted:desc,aar",
        "posteringsid:desc",
        "maaned,posteringsid:desc",
    ];
    let filters = [
        ("", "TRUE"),
        ("&filter=funktion:prefix:5.", "starts_with(funktion, '5.')"),
        ("&filter=beloeb:gte:0", "beloeb >= 0"),
    ];
    let selects = [
        ("", "*"),
        ("&select=beloeb,posteringsid", "beloeb, posteringsid"),
    ];
    let mut keyset_cursors = 0;
    for (version, order_by) in [old, new]
        .into_iter()
        .flat_map(|v| orders.iter().map(move |o| (v, *o)))
    {
        for ((filter, sql_filter), (select, sql_select)) in filters
            .iter()
            .flat_map(|f| selects.iter().map(move |s| (f, s)))
        {
            let order = match order_by {
                "" => String::new(),
                o => format!("&order_by={o}"),
            };
            let query = format!("limit={PAGE}&version={version}{order}{filter}{select}");
            // Act
            let (pages, cursors) = pages(&app, &query, &token).await;
            // Assert: the offset pages are the full ordered result cut every PAGE rows.
            let sql = format!(
                "SELECT {sql_select} FROM t WHERE kommunekode = '0101' AND {sql_filter} ORDER BY {}",
                sql_order(order_by)
            );
            let full = app.oracle_at(DATASET, version, &sql).await;
            let offset_pages: Vec<Vec<Value>> = full.chunks(PAGE).map(<[Value]>::to_vec).collect();
            assert_eq!(pages.len(), offset_pages.len().max(1), "{query}");
            for (n, (page, expected)) in pages.iter().zip(&offset_pages).enumerate() {
                assert_eq!(page, expected, "{query}: page {n}");
            }
            for cursor in &cursors {
                let cursor = payload(cursor);
                assert_eq!(cursor["v"], version, "{query}");
                keyset_cursors += usize::from(cursor["k"].is_array());
            }
        }
    }
    // The chains went by key, not by offset (ties aside).
    assert!(keyset_cursors > 200, "{keyset_cursors} keyset cursors");
}

#[tokio::test]
async fn a_tie_on_the_whole_key_falls_back_to_offsets_without_losing_rows() {
    // Arrange: TWINS identical rows, so a page boundary falls between equal keys.
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let (_, version) = append_nulls_and_twins(&app).await;
    let query = format!("limit=3&version={version}&filter=posteringsid:gte:{TWIN_ID}");
    // Act
    let (pages, cursors) = pages(&app, &query, &token).await;
    // Assert
    let rows: Vec<Value> = pages.into_iter().flatten().collect();
    assert_eq!(rows.len(), TWINS);
    assert!(rows.iter().all(|r| r["posteringsid"] == TWIN_ID));
    assert!(cursors.iter().all(|c| payload(c)["k"].is_null()));
    assert_eq!(
        cursors
            .iter()
            .map(|c| payload(c)["o"].clone())
            .collect::<Vec<_>>(),
        [3, 6, 9]
    );
}

#[tokio::test]
async fn a_keyset_cursor_serves_only_its_caller_and_query() {
    // Arrange
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let query = "limit=5&order_by=beloeb:desc";
    let first = app
        .get(
            &format!("/api/v1/datasets/{DATASET}/rows?{query}"),
            Some(&token),
        )
        .await;
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    assert!(payload(&cursor)["k"].is_array());
    let other_caller = app.analyst("0751");
    let cases = [
        (query, other_caller.as_str()),
        ("limit=5&order_by=beloeb", token.as_str()),
        (
            "limit=5&order_by=beloeb:desc,posteringsid:desc",
            token.as_str(),
        ),
        ("limit=5&order_by=beloeb:desc&select=beloeb", token.as_str()),
        ("limit=6&order_by=beloeb:desc", token.as_str()),
        (
            "limit=5&order_by=beloeb:desc&filter=aar:eq:2024",
            token.as_str(),
        ),
    ];
    for (other, token) in cases {
        // Act
        let answer = app
            .get(
                &format!("/api/v1/datasets/{DATASET}/rows?{other}&cursor={cursor}"),
                Some(token),
            )
            .await;
        // Assert
        assert_eq!(answer.status, 400, "{other}: {}", answer.body);
        assert_eq!(answer.body["code"], "invalid_cursor", "{other}");
    }
    // The same caller and query continue where the first page ended.
    let second = app
        .get(
            &format!("/api/v1/datasets/{DATASET}/rows?{query}&cursor={cursor}"),
            Some(&token),
        )
        .await;
    assert_eq!(second.status, 200);
    let oracle = app
        .oracle(
            DATASET,
            "SELECT * FROM t WHERE kommunekode = '0101' ORDER BY beloeb DESC NULLS FIRST, posteringsid LIMIT 5 OFFSET 5",
        )
        .await;
    assert_eq!(second.rows(), oracle);
}

#[tokio::test]
async fn values_of_personal_columns_never_travel_in_a_cursor() {
    // Arrange: home-care visitations, keyed by a public id, with a personal citizen id.
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let rows =
        |order: &str| format!("/api/v1/datasets/aeldre.hjemmepleje/rows?limit=2&order_by={order}");
    // Act
    let public = app.get(&rows("visitationsid"), Some(&token)).await;
    let personal = app.get(&rows("borger_id"), Some(&token)).await;
    // Assert: a public order pages by key; an order over the personal column by offset,
    // and the cursor holds none of the page's citizen ids.
    assert_eq!(public.status, 200, "{}", public.body);
    assert!(
        payload(public.body["next_cursor"].as_str().expect("next"))
            .get("k")
            .is_some_and(Value::is_array)
    );
    assert_eq!(personal.status, 200, "{}", personal.body);
    let cursor = payload(personal.body["next_cursor"].as_str().expect("next"));
    assert!(cursor["k"].is_null(), "{cursor}");
    for row in personal.rows() {
        let id = row["borger_id"].as_str().expect("a citizen id");
        assert!(!cursor.to_string().contains(id), "{cursor} holds {id}");
    }
}
