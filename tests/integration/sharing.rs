//! Delta Sharing: listings are `visible_datasets`, file links point back at dap, are
//! signed, short-lived and bound to the caller, and what they return is the caller's
//! rows and visible columns only, as Parquet.

use bytes::Bytes;
use dap_schema::NsisLevel;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};

use crate::helpers::{TestApp, indexed_columns, spawn_app};

const P: &str = "/delta-sharing";

/// A protocol answer: status, the version header, NDJSON lines.
struct Lines {
    status: u16,
    version: Option<u64>,
    lines: Vec<Value>,
}

async fn query(app: &TestApp, token: &str, table: &str, body: Value) -> Lines {
    let (schema, name) = table.split_once('.').expect("domain.table");
    let response = app
        .client
        .post(format!(
            "{}{P}/shares/dap/schemas/{schema}/tables/{name}/query",
            app.address
        ))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("query");
    let status = response.status().as_u16();
    let version = response
        .headers()
        .get("delta-table-version")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let text = response.text().await.expect("body");
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    Lines {
        status,
        version,
        lines,
    }
}

async fn fetch(app: &TestApp, url: &str, token: Option<&str>) -> (u16, Bytes, Value) {
    let mut request = app.client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("fetch");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("bytes");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, bytes, body)
}

fn decode(bytes: Bytes) -> (Vec<String>, Vec<Value>) {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .expect("parquet")
        .build()
        .expect("reader");
    let batches: Vec<_> = reader.map(|b| b.expect("batch")).collect();
    let columns = batches
        .first()
        .map(|b| {
            b.schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        })
        .unwrap_or_default();
    let json = dap_lake::encode::json_array(&batches).expect("json");
    (columns, serde_json::from_slice(&json).expect("rows"))
}

fn files(answer: &Lines) -> Vec<&Value> {
    answer.lines.iter().filter_map(|l| l.get("file")).collect()
}

fn visible(answer: &Lines) -> Vec<String> {
    let schema: Value = serde_json::from_str(
        answer.lines[1]["metaData"]["schemaString"]
            .as_str()
            .expect("schemaString"),
    )
    .expect("schema json");
    schema["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["name"].as_str().expect("name").to_owned())
        .collect()
}

/// Every row the caller's links return, sorted by `key`.
async fn all_rows(app: &TestApp, answer: &Lines, key: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    for file in files(answer) {
        let (status, bytes, _) = fetch(app, file["url"].as_str().expect("url"), None).await;
        assert_eq!(status, 200);
        assert_eq!(bytes.len() as u64, file["size"].as_u64().expect("size"));
        let stats: Value =
            serde_json::from_str(file["stats"].as_str().expect("stats")).expect("stats json");
        let (_, decoded) = decode(bytes);
        assert_eq!(
            decoded.len() as u64,
            stats["numRecords"].as_u64().expect("n")
        );
        rows.extend(decoded);
    }
    rows.sort_by_key(|r| r[key].to_string());
    rows
}

#[tokio::test]
async fn listings_are_the_visible_datasets_and_hidden_tables_are_missing() {
    let app = spawn_app().await;
    let tokens = [
        app.analyst("0101"),
        app.token("0751", &["laes-oekonomi"], NsisLevel::Substantial),
    ];
    for token in &tokens {
        let principal = app
            .state
            .authenticate(dap_api::app::identity::Credential::Bearer(token.clone()))
            .await
            .expect("principal");
        let mut expected: Vec<String> = app
            .state
            .visible_datasets(&principal)
            .iter()
            .map(|d| d.id.to_string())
            .collect();
        expected.sort();
        let all = app
            .get(&format!("{P}/shares/dap/all-tables"), Some(token))
            .await;
        assert_eq!(all.status, 200, "{}", all.body);
        let mut listed: Vec<String> = all.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|t| {
                format!(
                    "{}.{}",
                    t["schema"].as_str().unwrap_or(""),
                    t["name"].as_str().unwrap_or("")
                )
            })
            .collect();
        listed.sort();
        assert_eq!(listed, expected);
        let shares = app.get(&format!("{P}/shares"), Some(token)).await;
        assert_eq!(shares.body["items"][0]["name"], "dap");
        let schemas = app
            .get(&format!("{P}/shares/dap/schemas"), Some(token))
            .await;
        let mut domains: Vec<String> = expected
            .iter()
            .map(|d| d.split('.').next().unwrap_or("").to_owned())
            .collect();
        domains.dedup();
        let names: Vec<&str> = schemas.body["items"]
            .as_array()
            .expect("schemas")
            .iter()
            .map(|s| s["name"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(names, domains);
    }
    // Invisible and missing read the same.
    let economist = &tokens[1];
    let hidden = app
        .get(
            &format!("{P}/shares/dap/schemas/aeldre/tables/hjemmepleje/metadata"),
            Some(economist),
        )
        .await;
    let missing = app
        .get(
            &format!("{P}/shares/dap/schemas/aeldre/tables/nope/metadata"),
            Some(economist),
        )
        .await;
    assert_eq!(hidden.status, 404);
    assert_eq!(hidden.body, missing.body);
    assert_eq!(hidden.body["errorCode"], "RESOURCE_DOES_NOT_EXIST");
    let schema = app
        .get(
            &format!("{P}/shares/dap/schemas/aeldre/tables"),
            Some(economist),
        )
        .await;
    assert_eq!(schema.status, 404);
    assert_eq!(schema.body, missing.body);
    let anonymous = app.get(&format!("{P}/shares"), None).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.body["errorCode"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn query_files_hold_exactly_the_callers_rows_and_visible_columns() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let answer = query(&app, &token, "aeldre.hjemmepleje", json!({})).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.lines[0]["protocol"]["minReaderVersion"], 1);
    let columns = visible(&answer);
    assert!(!columns.contains(&"cpr".to_owned()), "{columns:?}");
    assert!(!files(&answer).is_empty());
    for file in files(&answer) {
        let url = file["url"].as_str().expect("url");
        assert!(
            url.starts_with(&format!("{}{P}/files/", app.address)),
            "{url}"
        );
        assert!(!url.contains("part-") && !url.contains(".parquet"), "{url}");
    }
    let rows = all_rows(&app, &answer, "visitationsid").await;
    let expected = app
        .oracle(
            "aeldre.hjemmepleje",
            &format!(
                "SELECT {} FROM t WHERE kommunekode = '0101' ORDER BY visitationsid",
                columns.join(", ")
            ),
        )
        .await;
    let mut expected = expected;
    expected.sort_by_key(|r| r["visitationsid"].to_string());
    assert_eq!(rows, expected);
    // No CPR anywhere in the bytes, footer included.
    for file in files(&answer) {
        let (_, bytes, _) = fetch(&app, file["url"].as_str().expect("url"), None).await;
        assert!(!bytes.windows(3).any(|w| w == b"cpr"), "cpr in the file");
        // The whole partition: the file's own column chunks, spliced (no page index).
        let indexed = indexed_columns(&bytes);
        assert!(indexed.iter().all(|(_, indexed)| !indexed), "{indexed:?}");
        let (names, _) = decode(bytes);
        assert_eq!(names, columns);
    }
}

/// A whole partition's files are spliced: the query lists their sizes from the data
/// files' footers, the replica keeps kilobytes per link rather than the files, and any
/// range of a file (HEAD, the footer first, pieces in order) is that range of the whole
/// file, on this replica or one that never saw the query.
#[tokio::test]
async fn spliced_files_are_kept_as_layouts_and_read_by_range() {
    let app = spawn_app().await;
    let anna = app.analyst("0101");
    let answer = query(&app, &anna, "oekonomi.posteringer", json!({})).await;
    assert_eq!(answer.status, 200);
    let listed = files(&answer);
    assert!(!listed.is_empty());
    let held = app.state.sharing.held_bytes() as u64;
    // HEAD sizes a file from its layout alone: with the partition's data files moved
    // away (as a vacuum would remove them), every HEAD still answers. A GET reads them:
    // it is refused whole, and recorded so, instead of answered with a cut-short body.
    let partition = app
        .data_dir
        .path()
        .join("lake/oekonomi/posteringer/kommunekode=0101");
    let away = app.data_dir.path().join("partition-away");
    std::fs::rename(&partition, &away).expect("move the partition away");
    let mut heads = Vec::new();
    for file in &listed {
        let head = app.client.head(file["url"].as_str().expect("url")).send();
        let head = head.await.expect("head");
        let length = head.headers().get("content-length").cloned();
        heads.push((head.status().as_u16(), length));
    }
    let get = app.client.get(listed[0]["url"].as_str().expect("url"));
    let got = get.send().await.expect("get");
    std::fs::rename(&away, &partition).expect("move it back");
    let status = got.status().as_u16();
    let request_id = got.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    assert_eq!(status, 500, "{:?}", got.text().await);
    let records = app.audit_records(&request_id).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].outcome, "failed", "{records:?}");
    for (file, (status, length)) in listed.iter().zip(heads) {
        let size = file["size"].as_u64().expect("size").to_string();
        assert_eq!(status, 200);
        assert_eq!(length.as_ref().and_then(|v| v.to_str().ok()), Some(&*size));
    }
    // What the replica keeps: each file less the column chunks copied from its data
    // file (all but the partition column's, which dap writes).
    let mut written = 0;
    let mut wholes = Vec::new();
    for file in &listed {
        let url = file["url"].as_str().expect("url");
        let size = file["size"].as_u64().expect("size");
        let (status, whole, _) = fetch(&app, url, None).await;
        assert_eq!(status, 200);
        assert_eq!(whole.len() as u64, size);
        let indexed = indexed_columns(&whole);
        assert!(
            indexed.iter().all(|(_, indexed)| !indexed),
            "spliced: {indexed:?}"
        );
        // Read as a connector does: the footer first, then the rest in pieces.
        let range = |spec: String| {
            let request = app.client.get(url).header("range", spec);
            async move {
                let response = request.send().await.expect("range");
                assert_eq!(response.status().as_u16(), 206);
                response.bytes().await.expect("bytes")
            }
        };
        assert_eq!(
            range("bytes=-8".into()).await,
            whole.slice(whole.len() - 8..)
        );
        assert_eq!(
            range(format!("bytes=0-{}", u64::MAX)).await,
            whole,
            "to the end"
        );
        let mut pieced = Vec::new();
        let step = size / 5 + 1;
        let mut start = 0;
        while start < size {
            let end = (start + step).min(size) - 1;
            pieced.extend_from_slice(&range(format!("bytes={start}-{end}")).await);
            start = end + 1;
        }
        assert_eq!(pieced, whole);
        let footer = parquet::file::metadata::ParquetMetaDataReader::new()
            .parse_and_finish(&whole)
            .expect("footer");
        let copied: u64 = footer
            .row_groups()
            .iter()
            .flat_map(|g| g.columns())
            .filter(|c| c.column_descr().name() != "kommunekode")
            .map(|c| c.byte_range().1)
            .sum();
        assert!(copied > 0);
        written += size - copied;
        wholes.push((url.to_owned(), whole));
    }
    assert_eq!(
        held, written,
        "the replica keeps what dap wrote, not the copies"
    );
    // A replica that never saw the query (behind a load balancer, any may be asked):
    // the link alone, as clients fetch it, or with the caller's own credential, gives
    // the same bytes; another caller's credential is refused.
    let other = app.analyst("0751");
    for (url, whole) in &wholes {
        for credential in [None, Some(&anna)] {
            app.state.sharing.forget_all();
            let (status, bytes, body) = fetch(&app, url, credential.map(String::as_str)).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(&bytes, whole);
            // Kept for the link's next ranges, not made again for each.
            assert!(
                app.state.sharing.held_bytes() > 0,
                "the replica keeps the file it made for the link"
            );
            let (_, rows) = decode(bytes);
            assert!(rows.iter().all(|r| r["kommunekode"] == "0101"), "{rows:?}");
        }
        app.state.sharing.forget_all();
        let (status, _, _) = fetch(&app, url, Some(&other)).await;
        assert_eq!(status, 403);
    }
}

#[tokio::test]
async fn an_older_version_and_the_limit_hint_are_honoured() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let latest = query(&app, &token, "oekonomi.posteringer", json!({})).await;
    let current = latest.version.expect("version header");
    assert!(current >= 1);
    let old = query(&app, &token, "oekonomi.posteringer", json!({"version": 0})).await;
    assert_eq!(old.status, 200);
    assert_eq!(old.version, Some(0));
    let columns = visible(&old);
    let key = "posteringsid";
    let rows = all_rows(&app, &old, key).await;
    let mut expected = app
        .oracle_at(
            "oekonomi.posteringer",
            0,
            &format!(
                "SELECT {} FROM t WHERE kommunekode = '0101'",
                columns.join(", ")
            ),
        )
        .await;
    expected.sort_by_key(|r| r[key].to_string());
    assert_eq!(rows, expected);
    let limited = query(
        &app,
        &token,
        "oekonomi.posteringer",
        json!({"limitHint": 1}),
    )
    .await;
    assert_eq!(files(&limited).len(), 1);
    let ahead = query(
        &app,
        &token,
        "oekonomi.posteringer",
        json!({"version": current + 5}),
    )
    .await;
    assert_eq!(ahead.status, 400);
}

#[tokio::test]
async fn links_are_bound_to_their_caller_and_refused_when_altered() {
    let app = spawn_app().await;
    let anna = app.analyst("0101");
    let other = app.analyst("0751");
    let answer = query(&app, &anna, "oekonomi.posteringer", json!({})).await;
    let theirs = query(&app, &other, "oekonomi.posteringer", json!({})).await;
    let url = files(&answer)[0]["url"].as_str().expect("url").to_owned();
    let their_ids: Vec<&Value> = files(&theirs).iter().map(|f| &f["id"]).collect();
    assert!(
        files(&answer)
            .iter()
            .all(|f| !their_ids.contains(&&f["id"]))
    );

    // Another caller presenting Anna's link is refused: the same subject name in
    // another municipality, and another person in hers.
    let bo = app
        .dev
        .token(
            "bo",
            "0101",
            &["laes-oekonomi".to_owned()],
            NsisLevel::Substantial,
            chrono::Duration::minutes(10),
        )
        .expect("token");
    for stranger in [&other, &bo] {
        let (status, bytes, body) = fetch(&app, &url, Some(stranger)).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["errorCode"], "PERMISSION_DENIED");
        assert!(!bytes.starts_with(b"PAR1"));
    }
    // An altered link is refused and serves nothing.
    let (prefix, token) = url.rsplit_once('/').expect("token");
    let (payload, signature) = token.split_once('.').expect("signed");
    let mut forged = payload.to_owned();
    forged.replace_range(4..5, if &payload[4..5] == "A" { "B" } else { "A" });
    for bad in [
        format!("{prefix}/{forged}.{signature}"),
        format!("{prefix}/{payload}.AAAA"),
        format!("{prefix}/garbage"),
    ] {
        let (status, bytes, _) = fetch(&app, &bad, None).await;
        assert_eq!(status, 403);
        assert!(!bytes.starts_with(b"PAR1"));
    }
    // The one it belongs to still gets it, whole or by range.
    let (status, bytes, _) = fetch(&app, &url, Some(&anna)).await;
    assert_eq!(status, 200);
    let head = app.client.head(&url).send().await.expect("head");
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(
        head.headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok()),
        Some(bytes.len().to_string().as_str()),
        "clients size the file with HEAD"
    );
    let tail = app
        .client
        .get(&url)
        .header("range", "bytes=-8")
        .send()
        .await
        .expect("range");
    assert_eq!(tail.status().as_u16(), 206);
    assert_eq!(
        tail.bytes().await.expect("tail"),
        bytes.slice(bytes.len() - 8..)
    );
}

#[tokio::test]
async fn an_expired_link_is_refused() {
    let app = spawn_app().await;
    let anna = app.analyst("0101");
    let answer = query(&app, &anna, "oekonomi.posteringer", json!({})).await;
    let url = files(&answer)[0]["url"].as_str().expect("url").to_owned();
    let (prefix, token) = url.rsplit_once('/').expect("token");
    let mut link: dap_api::app::sharing::links::FileLink = app
        .state
        .cursors
        .verify_for(dap_api::app::sharing::links::LINK_PURPOSE, token)
        .expect("valid link");
    // Every link of a 0101 caller names a file of the 0101 partition.
    for file in files(&answer) {
        let token = file["url"]
            .as_str()
            .expect("url")
            .rsplit('/')
            .next()
            .expect("token");
        let named: dap_api::app::sharing::links::FileLink = app
            .state
            .cursors
            .verify_for(dap_api::app::sharing::links::LINK_PURPOSE, token)
            .expect("valid link");
        assert!(named.f.starts_with("kommunekode=0101/"), "{}", named.f);
        assert_eq!(named.m, "0101");
    }
    link.e = chrono::Utc::now().timestamp() - 1;
    let expired = app
        .state
        .cursors
        .sign_for(dap_api::app::sharing::links::LINK_PURPOSE, &link)
        .expect("sign");
    let (status, bytes, _) = fetch(&app, &format!("{prefix}/{expired}"), None).await;
    assert_eq!(status, 403);
    assert!(!bytes.starts_with(b"PAR1"));
}

#[tokio::test]
async fn queries_and_file_fetches_are_audited_with_rows_and_columns() {
    let app = spawn_app().await;
    let anna = app.analyst("0101");
    let answer = query(&app, &anna, "oekonomi.posteringer", json!({})).await;
    let file = files(&answer)[0].clone();
    let response = app
        .client
        .get(file["url"].as_str().expect("url"))
        .send()
        .await
        .expect("fetch");
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("request id")
        .to_owned();
    let records = app.audit_records(&request_id).await;
    assert_eq!(records.len(), 1);
    let stats: Value = serde_json::from_str(file["stats"].as_str().expect("stats")).expect("json");
    assert_eq!(records[0].rows_returned, stats["numRecords"].as_i64());
    assert_eq!(records[0].dataset.as_deref(), Some("oekonomi.posteringer"));
    assert_eq!(records[0].municipality.as_deref(), Some("0101"));
    assert_eq!(
        records[0].columns.as_deref(),
        Some(visible(&answer).join(",").as_str())
    );
    assert_eq!(records[0].outcome, "allowed");
    // A part of the file is recorded as the bytes it covered, without the file's rows
    // (a client reads the footer and the column chunks as several ranges), a HEAD as no
    // rows; a range of the whole file as the whole file.
    let size = file["size"].as_u64().expect("size");
    let numbered = records[0].filter.clone().expect("the file is named");
    for (method, range, rows, filter) in [
        (
            "GET",
            Some("bytes=0-99".to_owned()),
            None,
            format!("{numbered}, bytes 0-99 of {size}"),
        ),
        (
            "GET",
            Some(format!("bytes={}-", size - 8)),
            None,
            format!("{numbered}, bytes {}-{} of {size}", size - 8, size - 1),
        ),
        (
            "GET",
            Some("bytes=0-".to_owned()),
            stats["numRecords"].as_i64(),
            numbered.clone(),
        ),
        ("HEAD", None, Some(0), format!("{numbered}, size only")),
    ] {
        let mut request = app.client.request(
            method.parse().expect("method"),
            file["url"].as_str().expect("url"),
        );
        if let Some(range) = &range {
            request = request.header("range", range);
        }
        let response = request.send().await.expect("fetch");
        assert!(
            response.status().is_success(),
            "{method} {range:?}: {}",
            response.status()
        );
        let request_id = response.headers()["x-request-id"]
            .to_str()
            .expect("id")
            .to_owned();
        let records = app.audit_records(&request_id).await;
        assert_eq!(records.len(), 1, "{method} {range:?}");
        assert_eq!(
            (records[0].rows_returned, records[0].filter.as_deref()),
            (rows, Some(filter.as_str())),
            "{method} {range:?}"
        );
    }
    // A range outside the file is refused, and recorded as refused.
    let response = app
        .client
        .get(file["url"].as_str().expect("url"))
        .header("range", format!("bytes={size}-"))
        .send()
        .await
        .expect("fetch");
    assert_eq!(response.status().as_u16(), 400);
    let request_id = response.headers()["x-request-id"].to_str().expect("id");
    let records = app.audit_records(request_id).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].outcome, "denied", "{records:?}");
}

/// A request whose parameters are refused is audited as a denial naming the table, like
/// every other refusal (it was answered 400 with no record at all).
#[tokio::test]
async fn refused_parameters_are_audited_as_denials() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let table = format!("{P}/shares/dap/schemas/oekonomi/tables/posteringer");
    for path in [
        format!("{table}/changes?startingVersion=first"),
        format!("{table}/changes?startingTimestamp=2024-01-01T00:00:00Z"),
        format!("{table}/version?startingTimestamp=2024-01-01T00:00:00Z"),
        format!("{table}/version?startingTimestamp=a&startingTimestamp=b"),
    ] {
        let answer = app.get(&path, Some(&token)).await;
        assert_eq!(answer.status, 400, "{path}: {}", answer.body);

        let records = app.audit_of(&answer).await;

        assert_eq!(records.len(), 1, "{path}");
        assert_eq!(records[0].outcome, "denied", "{path}");
        assert_eq!(
            records[0].reason.as_deref(),
            Some("invalid_parameter"),
            "{path}"
        );
        assert_eq!(
            records[0].dataset.as_deref(),
            Some("oekonomi.posteringer"),
            "{path}"
        );
    }

    // A query body over the limit is refused the same way (it was a 413 with no record).
    let response = app
        .client
        .post(format!("{}{table}/query", app.address))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"predicateHints": ["{}"]}}"#,
            "x".repeat(300 * 1024)
        ))
        .send()
        .await
        .expect("query");
    assert_eq!(response.status().as_u16(), 413);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let body: Value = response.json().await.expect("json body");
    assert!(
        body.to_string().contains("larger than"),
        "the refusal says why: {body}"
    );
    let records = app.audit_records(&request_id).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, "denied");
    assert_eq!(records[0].reason.as_deref(), Some("payload_too_large"));
    assert_eq!(records[0].dataset.as_deref(), Some("oekonomi.posteringer"));
    assert!(records[0].subject.is_some());
}

/// A person who acts for several municipalities cannot name one in Delta Sharing: their
/// own token is refused with how to get a profile for one, and a profile made for one
/// municipality reads that municipality's rows only; one they do not act for is refused.
#[tokio::test]
async fn a_person_of_several_municipalities_shares_through_a_profile_for_one() {
    let app = spawn_app().await;
    let person = app.kombit.sign(&app.kombit.kombit_claims(
        &[
            ("64942212", &["laes-oekonomi"]),
            ("55133018", &["laes-oekonomi"]),
        ],
        "Substantial",
    ));
    let table = format!("{P}/shares/dap/schemas/oekonomi/tables/posteringer");
    let refused = app.get(&format!("{table}/version"), Some(&person)).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let message = refused.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("sharing profile") && message.contains("\"municipality\""),
        "{message}"
    );

    let profile = |municipality: &str| {
        let app = &app;
        let person = person.clone();
        let body = json!({"name": "Power BI", "datasets": ["oekonomi.posteringer"], "municipality": municipality});
        async move {
            let response = app
                .client
                .post(format!("{}/api/v1/me/sharing-profiles", app.address))
                .bearer_auth(&person)
                .json(&body)
                .send()
                .await
                .expect("profile");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json"))
        }
    };
    let (status, created) = profile("0751").await;
    assert_eq!(status, 201, "{created}");
    let token = created["bearerToken"]
        .as_str()
        .expect("bearer token")
        .to_owned();
    let answer = query(&app, &token, "oekonomi.posteringer", json!({})).await;
    let rows = all_rows(&app, &answer, "posteringsid").await;
    assert!(!rows.is_empty());
    assert!(
        rows.iter().all(|r| r["kommunekode"] == "0751"),
        "only 0751's rows"
    );
    // The person's token listing says which municipality the profile acts for.
    let listed = app.get("/api/v1/me/tokens", Some(&person)).await;
    assert_eq!(
        listed.body["tokens"][0]["municipalities"],
        json!(["0751"]),
        "{}",
        listed.body
    );
    let (status, body) = profile("0250").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "municipality_not_granted", "{body}");
}

#[tokio::test]
async fn a_sharing_profile_reads_its_datasets_and_dies_when_revoked() {
    let app = spawn_app().await;
    let anna = app.analyst("0101");
    let response = app
        .client
        .post(format!("{}/api/v1/me/sharing-profiles", app.address))
        .bearer_auth(&anna)
        .json(&json!({"name": "Power BI", "datasets": ["oekonomi.posteringer"]}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 201);
    let profile: Value = response.json().await.expect("profile");
    assert_eq!(profile["shareCredentialsVersion"], 1);
    assert_eq!(profile["endpoint"], format!("{}{P}", app.address));
    let pat = profile["bearerToken"].as_str().expect("token").to_owned();
    assert!(profile["expirationTime"].is_string());
    let all = app
        .get(&format!("{P}/shares/dap/all-tables"), Some(&pat))
        .await;
    let names: Vec<&str> = all.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["posteringer"]);
    // A file link handed out before the revocation must die with the profile.
    let answer = query(&app, &pat, "oekonomi.posteringer", json!({})).await;
    let url = files(&answer)[0]["url"].as_str().expect("url").to_owned();
    let (status, _, _) = fetch(&app, &url, None).await;
    assert_eq!(status, 200, "the link works while the profile does");
    let tokens = app.get("/api/v1/me/tokens", Some(&anna)).await;
    let id = tokens.body["tokens"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let revoked = app
        .client
        .delete(format!("{}/api/v1/me/tokens/{id}", app.address))
        .bearer_auth(&anna)
        .send()
        .await
        .expect("delete");
    assert_eq!(revoked.status().as_u16(), 204);
    let after = app
        .get(&format!("{P}/shares/dap/all-tables"), Some(&pat))
        .await;
    assert_eq!(after.status, 401);
    let (status, bytes, _) = fetch(&app, &url, None).await;
    assert!(
        matches!(status, 401 | 403),
        "a link of a revoked profile is refused at once, got {status}"
    );
    assert!(!bytes.starts_with(b"PAR1"), "no Parquet is served");
    // Also by a replica that never saw the query: the revocation is in the control plane.
    app.state.sharing.forget_all();
    let (status, bytes, _) = fetch(&app, &url, None).await;
    assert!(matches!(status, 401 | 403), "got {status}");
    assert!(!bytes.starts_with(b"PAR1"), "no Parquet is served");
}

#[tokio::test]
async fn the_change_feed_is_the_callers_changes_per_commit() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let response = app
        .client
        .get(format!(
            "{}{P}/shares/dap/schemas/aeldre/tables/hjemmepleje/changes?startingVersion=0",
            app.address
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("changes");
    assert_eq!(response.status().as_u16(), 200);
    let lines: Vec<Value> = response
        .text()
        .await
        .expect("body")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let mut shared = Vec::new();
    for change in lines.iter().filter_map(|l| l.get("cdf")) {
        // Each link fetched as from a replica that never saw the query.
        app.state.sharing.forget_all();
        let (status, bytes, _) = fetch(&app, change["url"].as_str().expect("url"), None).await;
        assert_eq!(status, 200);
        assert_eq!(bytes.len() as u64, change["size"].as_u64().expect("size"));
        assert!(
            !bytes.windows(3).any(|w| w == b"cpr"),
            "cpr in a change file"
        );
        for mut row in decode(bytes).1 {
            row["_commit_version"] = change["version"].clone();
            shared.push(row);
        }
    }
    let rest = app
        .client
        .get(format!(
            "{}/api/v1/datasets/aeldre.hjemmepleje/changes?from_version=0",
            app.address
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("rest changes")
        .text()
        .await
        .expect("body");
    let mut expected: Vec<Value> = rest
        .lines()
        .map(|l| {
            let mut row: Value = serde_json::from_str(l).expect("json");
            row.as_object_mut().map(|o| o.remove("_commit_timestamp"));
            row
        })
        .collect();
    let key = |r: &Value| {
        format!(
            "{}|{}|{}",
            r["_commit_version"], r["visitationsid"], r["_change_type"]
        )
    };
    shared.sort_by_key(key);
    expected.sort_by_key(key);
    assert!(!shared.is_empty());
    assert_eq!(shared, expected);
    let bad = app
        .get(
            &format!("{P}/shares/dap/schemas/aeldre/tables/hjemmepleje/changes?startingVersion=99"),
            Some(&token),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["errorCode"], "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn a_constrained_callers_files_hold_only_the_rows_of_their_units() {
    // Arrange: an organisation-unit constraint of Frederikssund (0250).
    let app = spawn_app().await;
    let units = ["0250-org-01", "0250-org-03"];
    let token = app.kombit.sign(&app.kombit.kombit_claims_constrained(
        &[(
            "29189129",
            &["laes-personale"],
            &[(
                dap_lake::demo::ORG_UNIT_CONSTRAINT,
                "0250-org-01,0250-org-03",
            )],
        )],
        "Substantial",
    ));
    // Act
    let answer = query(&app, &token, "personale.fravaer", json!({})).await;
    assert_eq!(answer.status, 200);
    let columns = visible(&answer);
    let key = columns[1].clone();
    let rows = all_rows(&app, &answer, &key).await;
    // Assert: exactly the oracle's rows of those units, nothing else of 0250.
    let mut expected = app
        .oracle(
            "personale.fravaer",
            &format!(
                "SELECT {} FROM t WHERE kommunekode = '0250' AND organisationsenhed IN ('0250-org-01','0250-org-03')",
                columns.join(", ")
            ),
        )
        .await;
    expected.sort_by_key(|r| r[&key].to_string());
    assert!(!expected.is_empty(), "the demo has rows in those units");
    assert_eq!(rows.len(), expected.len());
    assert!(rows.iter().all(|r| r["kommunekode"] == "0250"
        && units.contains(&r["organisationsenhed"].as_str().unwrap_or_default())));
    let mut got: Vec<String> = rows.iter().map(ToString::to_string).collect();
    let mut want: Vec<String> = expected.iter().map(ToString::to_string).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    // A replica that never saw the query encodes the same files again, from the
    // constraints the link carries.
    app.state.sharing.forget_all();
    assert_eq!(all_rows(&app, &answer, &key).await, rows);
    // Some of the partition's rows only: every column encoded from the admitted rows
    // (with page indexes), none copied.
    for file in files(&answer) {
        let (_, bytes, _) = fetch(&app, file["url"].as_str().expect("url"), None).await;
        let indexed = indexed_columns(&bytes);
        assert!(indexed.iter().all(|(_, indexed)| *indexed), "{indexed:?}");
    }
}
