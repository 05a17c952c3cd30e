//! Bulk export in every format, time travel, table history and the change feed.

use deltalake::arrow::record_batch::RecordBatch;
use serde_json::Value;

use crate::helpers::{Answer, TestApp, indexed_columns, spawn_app};

const QUERY: &str = "select=posteringsid,bogfoeringsdato,funktion,beloeb&filter=beloeb:gte:0";
const ORACLE: &str = "SELECT posteringsid, bogfoeringsdato, funktion, beloeb FROM t \
                      WHERE kommunekode = '0101' AND beloeb >= 0 ORDER BY posteringsid";

async fn download(
    app: &TestApp,
    path: &str,
    accept: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = app
        .client
        .get(format!("{}{path}", app.address))
        .bearer_auth(app.analyst("0101"));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.bytes().await.expect("body").to_vec(),
    )
}

fn rows_of(batches: &[RecordBatch]) -> Vec<Value> {
    serde_json::from_slice(&dap_lake::encode::json_array(batches).expect("json")).expect("rows")
}

#[tokio::test]
async fn every_format_carries_exactly_the_oracle_rows() {
    let app = spawn_app().await;
    let oracle = app.oracle("oekonomi.posteringer", ORACLE).await;
    assert!(oracle.len() > 10);
    let path = |format: &str| {
        format!(
            "/api/v1/datasets/oekonomi.posteringer/export?format={format}&{QUERY}&order_by=posteringsid"
        )
    };

    let (status, headers, body) = download(&app, &path("ndjson"), None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/x-ndjson");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"oekonomi.posteringer_v2_0101.ndjson\""
    );
    let ndjson: Vec<Value> = String::from_utf8(body)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect();
    assert_eq!(ndjson, oracle);

    let (_, _, body) = download(&app, &path("json"), None).await;
    assert_eq!(
        serde_json::from_slice::<Vec<Value>>(&body).expect("json"),
        oracle
    );

    let (_, headers, body) = download(&app, &path("parquet"), None).await;
    assert_eq!(headers["content-type"], "application/vnd.apache.parquet");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(body),
    )
    .expect("parquet")
    .build()
    .expect("reader");
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("batches");
    assert_eq!(rows_of(&batches), oracle);

    let (_, _, body) = download(&app, &path("arrow"), None).await;
    let reader =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None).expect("ipc");
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("batches");
    assert_eq!(rows_of(&batches), oracle);

    // The Arrow IPC file format (Feather v2): what read_feather and read_ipc open.
    let (_, headers, body) = download(&app, &path("arrow-file"), None).await;
    assert_eq!(headers["content-type"], "application/vnd.apache.arrow.file");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"oekonomi.posteringer_v2_0101.arrow\""
    );
    assert!(body.starts_with(b"ARROW1"), "the file format's magic");
    let reader = arrow::ipc::reader::FileReader::try_new(std::io::Cursor::new(body), None)
        .expect("an Arrow IPC file");
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("batches");
    assert_eq!(rows_of(&batches), oracle);

    let (_, headers, body) = download(&app, &path("csv"), None).await;
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    let text = String::from_utf8(body).expect("utf8");
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "posteringsid,bogfoeringsdato,funktion,beloeb");
    assert_eq!(lines.len(), oracle.len() + 1);
    let first = &oracle[0];
    assert_eq!(
        lines[1],
        format!(
            "{},{},{},{}",
            first["posteringsid"],
            first["bogfoeringsdato"].as_str().unwrap_or(""),
            first["funktion"].as_str().unwrap_or(""),
            first["beloeb"]
        )
    );

    let (_, headers, body) = download(&app, &path("xlsx"), None).await;
    assert_eq!(
        headers["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_eq!(&body[..2], b"PK", "an XLSX file is a zip archive");
}

/// A Parquet file read back: Arrow schema, rows as sorted JSON lines, and whether each
/// column has a page index (see [`indexed_columns`]).
fn parquet_of(
    body: Vec<u8>,
) -> (
    arrow::datatypes::SchemaRef,
    Vec<String>,
    Vec<(String, bool)>,
) {
    let body = bytes::Bytes::from(body);
    let indexed = indexed_columns(&body);
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(body)
        .expect("parquet");
    let schema = builder.schema().clone();
    let batches: Vec<RecordBatch> = builder
        .build()
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("batches");
    let mut rows: Vec<String> = rows_of(&batches).iter().map(ToString::to_string).collect();
    rows.sort();
    (schema, rows, indexed)
}

#[tokio::test]
async fn whole_partition_parquet_exports_are_spliced_from_the_files_and_hold_the_decoded_rows() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let listing = app.get("/api/v1/datasets", Some(&token)).await;
    let ids: Vec<String> = listing.body["datasets"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|d| d["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert!(ids.len() >= 4, "{}", listing.body);
    for id in &ids {
        let export = format!("/api/v1/datasets/{id}/export?format=parquet");
        // Every row passes the filter, which makes the export decode and encode them.
        let decode = format!("{export}&filter=kommunekode:eq:0101");
        let (status, headers, body) = download(&app, &export, None).await;
        assert_eq!(status, 200, "{id}");
        assert_eq!(headers["content-type"], "application/vnd.apache.parquet");
        let (schema, rows, spliced) = parquet_of(body);
        let (status, _, body) = download(&app, &decode, None).await;
        assert_eq!(status, 200, "{id}");
        let (decoded_schema, decoded_rows, decoded) = parquet_of(body);

        let count = app
            .oracle(id, "SELECT count(*) AS n FROM t WHERE kommunekode = '0101'")
            .await;
        assert_eq!(Some(rows.len() as u64), count[0]["n"].as_u64(), "{id}");
        assert!(!rows.is_empty(), "{id}");
        assert_eq!(schema, decoded_schema, "{id}");
        assert_eq!(rows, decoded_rows, "{id}");
        assert!(
            decoded.iter().all(|(_, indexed)| *indexed),
            "{id}: {decoded:?}"
        );
        // Spliced: the files' own column chunks, without page indexes.
        assert!(
            spliced.iter().all(|(_, indexed)| !indexed),
            "{id}: {spliced:?}"
        );
    }
}

#[tokio::test]
async fn danish_excel_csv_has_bom_semicolons_and_decimal_commas() {
    let app = spawn_app().await;
    let (status, _, body) = download(
        &app,
        &format!("/api/v1/datasets/oekonomi.posteringer/export?format=csv&delimiter=;&decimal=comma&bom=true&{QUERY}&order_by=posteringsid"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(&body[..3], b"\xEF\xBB\xBF");
    let text = String::from_utf8(body[3..].to_vec()).expect("utf8");
    let oracle = app.oracle("oekonomi.posteringer", ORACLE).await;
    let mut lines = text.split("\r\n");
    assert_eq!(
        lines.next(),
        Some("posteringsid;bogfoeringsdato;funktion;beloeb")
    );
    let first = lines.next().expect("a row");
    let amount = oracle[0]["beloeb"].to_string().replace('.', ",");
    assert!(
        first.ends_with(&format!(";{amount}")),
        "{first} should end with ;{amount}"
    );
    let bad = app
        .get(
            "/api/v1/datasets/oekonomi.posteringer/export?format=csv&decimal=comma",
            Some(&app.analyst("0101")),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("delimiter=;")
    );
}

#[tokio::test]
async fn the_format_can_come_from_accept() {
    let app = spawn_app().await;
    let path = "/api/v1/datasets/borger.befolkning/export";
    let (status, headers, body) =
        download(&app, path, Some("application/vnd.apache.arrow.stream")).await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["content-type"],
        "application/vnd.apache.arrow.stream"
    );
    assert!(arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None).is_ok());
    let (status, headers, _) = download(&app, path, Some("text/html, text/csv;q=0.9")).await;
    assert_eq!(
        (status, headers["content-type"].to_str().ok()),
        (200, Some("text/csv; charset=utf-8"))
    );
    let (status, _, body) = download(&app, path, Some("image/png")).await;
    assert_eq!(status, 406);
    let body: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["code"], "not_acceptable");
}

#[tokio::test]
async fn an_export_is_audited_before_and_after_streaming() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!(
            "{}/api/v1/datasets/borger.befolkning/export?format=ndjson&filter=koen:eq:K",
            app.address
        ))
        .bearer_auth(app.analyst("0250"))
        .send()
        .await
        .expect("request");
    let answer = Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: Value::Null,
    };
    let lines = response.text().await.expect("body").lines().count();
    let records = app.audit_of(&answer).await;
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0].rows_returned, None);
    assert_eq!(records[1].reason.as_deref(), Some("export_completed"));
    assert_eq!(records[1].rows_returned, Some(lines as i64));
    assert_eq!(records[1].filter.as_deref(), Some("koen eq \"K\""));
    assert_eq!(records[1].municipality.as_deref(), Some("0250"));
}

#[tokio::test]
async fn time_travel_reads_old_versions_and_explains_missing_ones() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let path = |v: &str| {
        format!(
            "/api/v1/datasets/oekonomi.posteringer/rows?select=posteringsid,beloeb&filter=posteringsid:eq:1010000007{v}"
        )
    };
    let old = app.get(&path("&version=1"), Some(&token)).await;
    let new = app.get(&path(""), Some(&token)).await;
    assert_eq!(
        (
            old.body["table_version"].as_u64(),
            new.body["table_version"].as_u64()
        ),
        (Some(1), Some(2))
    );
    let before: f64 = old.rows()[0]["beloeb"].as_f64().expect("amount");
    let after: f64 = new.rows()[0]["beloeb"].as_f64().expect("amount");
    assert!(
        (after - before - 100.0).abs() < 0.001,
        "the correction added 100: {before} -> {after}"
    );

    let as_of = old.body["table_version"]
        .as_u64()
        .map(|_| chrono::Utc::now().to_rfc3339())
        .expect("now");
    let current = app
        .get(
            &path(&format!("&as_of={}", as_of.replace('+', "%2B"))),
            Some(&token),
        )
        .await;
    assert_eq!(current.body["table_version"], 2);
    let early = app
        .get(&path("&as_of=2001-01-01T00:00:00Z"), Some(&token))
        .await;
    assert_eq!(early.status, 400);
    assert!(
        early.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no table version was committed")
    );
    let missing = app.get(&path("&version=99"), Some(&token)).await;
    assert_eq!(missing.body["code"], "version_not_available");
    assert!(
        missing.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("versions 0 to 2")
    );

    let old_export = app
        .oracle_at(
            "oekonomi.posteringer",
            1,
            "SELECT posteringsid, beloeb FROM t WHERE kommunekode = '0101' ORDER BY posteringsid",
        )
        .await;
    let (_, _, body) = download(&app, "/api/v1/datasets/oekonomi.posteringer/export?format=json&version=1&select=posteringsid,beloeb&order_by=posteringsid", None).await;
    assert_eq!(
        serde_json::from_slice::<Vec<Value>>(&body).expect("json"),
        old_export
    );
}

#[tokio::test]
async fn the_history_counts_only_the_callers_rows() {
    let app = spawn_app().await;
    let answer = app
        .get(
            "/api/v1/datasets/oekonomi.posteringer/versions",
            Some(&app.analyst("0101")),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let versions = answer.body["versions"].as_array().expect("versions");
    let numbers: Vec<u64> = versions
        .iter()
        .filter_map(|v| v["version"].as_u64())
        .collect();
    assert_eq!(numbers, vec![2, 1, 0]);
    assert_eq!(versions[0]["operation"], "update");
    let corrected = app
        .oracle(
            "oekonomi.posteringer",
            "SELECT count(*) AS n FROM t WHERE kommunekode = '0101' AND posteringsid % 50 = 7",
        )
        .await;
    assert_eq!(versions[0]["rows_updated"], corrected[0]["n"]);
    let total: u64 = versions
        .iter()
        .filter_map(|v| v["rows_inserted"].as_u64())
        .sum();
    assert_eq!(
        total,
        crate::helpers::ROWS as u64,
        "inserted rows of 0101 only"
    );
}

#[tokio::test]
async fn the_change_feed_has_updates_and_deletes_of_the_callers_municipality_only() {
    let app = spawn_app().await;
    let (status, _, body) = download(
        &app,
        "/api/v1/datasets/aeldre.hjemmepleje/changes?from_version=0",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let changes: Vec<Value> = String::from_utf8(body)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert!(
        changes.iter().all(|c| c["kommunekode"] == "0101"),
        "another municipality leaked"
    );
    let kinds = |k: &str| changes.iter().filter(|c| c["_change_type"] == k).count();
    assert_eq!(kinds("insert"), crate::helpers::ROWS);
    let deleted = app
        .oracle_at(
            "aeldre.hjemmepleje",
            1,
            "SELECT count(*) AS n FROM t WHERE kommunekode = '0101' AND visitationsid % 40 = 3",
        )
        .await;
    assert_eq!(Some(kinds("delete") as u64), deleted[0]["n"].as_u64());
    assert!(
        changes.iter().all(|c| c.get("cpr").is_none()),
        "sensitive column in the feed"
    );

    let (_, _, body) = download(
        &app,
        "/api/v1/datasets/oekonomi.posteringer/changes?from_version=2&format=json",
        None,
    )
    .await;
    let updates: Vec<Value> = serde_json::from_slice(&body).expect("json");
    assert!(!updates.is_empty());
    for pair in updates.chunks(2) {
        assert_eq!(pair[0]["_change_type"], "update_preimage");
        assert_eq!(pair[1]["_change_type"], "update_postimage");
        assert_eq!(pair[0]["posteringsid"], pair[1]["posteringsid"]);
        assert_eq!(pair[1]["_commit_version"], 2);
    }
    // A column named twice is selected once, as `/rows` does.
    let (status, _, body) = download(
        &app,
        "/api/v1/datasets/oekonomi.posteringer/changes?from_version=2&format=json&select=posteringsid,posteringsid",
        None,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let picked: Vec<Value> = serde_json::from_slice(&body).expect("json");
    assert_eq!(picked.len(), updates.len());
    assert!(
        picked
            .iter()
            .zip(&updates)
            .all(|(p, u)| { p["posteringsid"] == u["posteringsid"] && p.get("beloeb").is_none() })
    );

    for (query, hint) in [
        // An end past the caller's version (a start past it is an empty feed).
        ("from_version=0&to_version=3", "versions 0 to 2"),
        ("from_version=2&to_version=1", "versions 0 to 2"),
        ("to_version=1", "from_version is required"),
        ("from_version=0&format=xlsx", "format must be one of"),
    ] {
        let answer = app
            .get(
                &format!("/api/v1/datasets/oekonomi.posteringer/changes?{query}"),
                Some(&app.analyst("0101")),
            )
            .await;
        assert_eq!(answer.status, 400, "{query}");
        assert!(
            answer.body["message"]
                .as_str()
                .unwrap_or_default()
                .contains(hint),
            "{query}: {}",
            answer.body
        );
    }
}
