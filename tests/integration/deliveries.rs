//! Deliveries: a machine client with a delivery right writes its municipality's rows.
//! Every refused delivery leaves the table version where it was and is audited; a
//! retried delivery applies once; two municipalities deliver concurrently; the change
//! feed shows what deliveries did.

use serde_json::{Value, json};

use crate::helpers::{Answer, TestApp, spawn_app, spawn_app_tuned};

const POSTINGS: &str = "oekonomi.posteringer";
const HEADER: &str = "posteringsid,aar,maaned,bogfoeringsdato,funktion,art,beloeb,omkostningssted";
const CSV: &str = "text/csv";

/// A machine client of `municipality` reading `datasets`, with a delivery right for
/// each of `deliver`; its access token.
pub(crate) async fn deliverer(
    app: &TestApp,
    municipality: &str,
    datasets: &[&str],
    deliver: &[&str],
) -> String {
    let secret = dap_auth::secrets::new_secret();
    let client = dap_schema::MachineClient {
        client_id: dap_auth::secrets::new_id("dap-"),
        name: format!("delivery client {}", dap_auth::secrets::new_id("")),
        description: None,
        municipality: municipality.into(),
        datasets: datasets.iter().map(|d| (*d).to_owned()).collect(),
        expires_at: chrono::Utc::now() + chrono::Duration::days(30),
        disabled: false,
        public_key: None,
    };
    let hash = dap_auth::secrets::hash_secret(&secret).expect("hash");
    app.state
        .control
        .insert_machine_client(&client, &hash)
        .await
        .expect("insert");
    for dataset in deliver {
        app.state
            .control
            .grant_delivery_right(dap_schema::deliveries::DeliveryRight {
                dataset: (*dataset).into(),
                municipality: municipality.into(),
                grantee_issuer: dap_auth::dap_issuer::DAP_ISSUER.into(),
                grantee_subject: client.client_id.clone(),
                granted_at: chrono::Utc::now(),
                granted_by: "test".into(),
            })
            .await
            .expect("grant");
    }
    let response = app
        .client
        .post(format!("{}/oauth/token", app.address))
        .basic_auth(&client.client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request");
    let body: Value = response.json().await.expect("json");
    body["access_token"].as_str().expect("token").to_owned()
}

/// POSTs a delivery.
pub(crate) async fn deliver(
    app: &TestApp,
    token: &str,
    dataset: &str,
    query: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Answer {
    let response = app
        .client
        .post(format!(
            "{}/api/v1/datasets/{dataset}/deliveries?{query}",
            app.address
        ))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("delivery");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// The table's newest version, read with delta-rs directly.
pub(crate) async fn version(app: &TestApp, dataset: &str) -> u64 {
    deltalake::open_table(app.lake_url(dataset))
        .await
        .expect("open")
        .version()
        .expect("version")
}

/// A CSV of postings: (posteringsid, amount) rows in March 2024.
fn postings(rows: &[(i64, &str)]) -> Vec<u8> {
    let mut csv = format!("{HEADER}\n");
    for (id, amount) in rows {
        csv.push_str(&format!(
            "{id},2024,3,2024-03-15,5.22.07,1.0,{amount},OMK-1\n"
        ));
    }
    csv.into_bytes()
}

/// The partitions the add/remove/cdc actions of commit `version` name.
fn partitions_touched(app: &TestApp, dataset: &str, version: u64) -> Vec<String> {
    let path = app
        .lake_url(dataset)
        .to_file_path()
        .expect("path")
        .join("_delta_log")
        .join(format!("{version:020}.json"));
    let log = std::fs::read_to_string(path).expect("commit file");
    let mut touched: Vec<String> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|a| {
            ["add", "remove", "cdc"]
                .iter()
                .find_map(|k| a.get(*k).cloned())
        })
        .filter_map(|f| {
            f["partitionValues"]["kommunekode"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    touched.sort();
    touched.dedup();
    touched
}

async fn oracle_rows(app: &TestApp, municipality: &str, ids: &str) -> Vec<Value> {
    app.oracle(
        POSTINGS,
        &format!(
            "SELECT posteringsid, CAST(beloeb AS VARCHAR) AS beloeb FROM t WHERE kommunekode = '{municipality}' AND posteringsid IN ({ids}) ORDER BY posteringsid"
        ),
    )
    .await
}

#[tokio::test]
async fn an_upsert_inserts_and_updates_only_the_callers_partition_in_one_commit() {
    let app = spawn_app().await;
    let token = deliverer(&app, "0101", &[POSTINGS], &[POSTINGS]).await;
    let before = version(&app, POSTINGS).await;
    let other_before = app
        .oracle(
            POSTINGS,
            "SELECT count(*) AS n, sum(beloeb) AS s FROM t WHERE kommunekode <> '0101'",
        )
        .await;

    // An existing posting of 0101 gets a new amount; a new one is added.
    let existing = 1_010_000_000_i64;
    let answer = deliver(
        &app,
        &token,
        POSTINGS,
        "delivery_id=day-1",
        CSV,
        postings(&[(existing, "42.50"), (1_019_000_001, "-7")]),
    )
    .await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["rows_inserted"], 1);
    assert_eq!(answer.body["rows_updated"], 1);
    assert_eq!(answer.body["rows_deleted"], 0);
    assert_eq!(answer.body["replayed"], false);
    assert_eq!(answer.body["municipality"], "0101");
    assert_eq!(answer.body["table_version"], before + 1);
    assert_eq!(version(&app, POSTINGS).await, before + 1);
    assert_eq!(partitions_touched(&app, POSTINGS, before + 1), vec!["0101"]);
    let rows = oracle_rows(&app, "0101", &format!("{existing}, 1019000001")).await;
    assert_eq!(
        rows,
        vec![
            json!({"posteringsid": existing, "beloeb": "42.50"}),
            json!({"posteringsid": 1_019_000_001_i64, "beloeb": "-7.00"})
        ]
    );
    let other_after = app
        .oracle(
            POSTINGS,
            "SELECT count(*) AS n, sum(beloeb) AS s FROM t WHERE kommunekode <> '0101'",
        )
        .await;
    assert_eq!(
        other_before, other_after,
        "another municipality's rows changed"
    );

    // The receipt is listed and audited; the caller's reads see the delivery at once.
    let listed = app
        .get(
            &format!("/api/v1/datasets/{POSTINGS}/deliveries"),
            Some(&token),
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["receipts"][0]["delivery_id"], "day-1");
    assert_eq!(listed.body["receipts"][0]["table_version"], before + 1);
    let audit = app.audit_of(&answer).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].outcome, "allowed");
    assert_eq!(
        audit[0].table_version,
        Some(i64::try_from(before + 1).expect("v"))
    );
    assert!(
        audit[0]
            .columns
            .as_deref()
            .is_some_and(|c| c.contains("day-1") && c.contains("1 inserted, 1 updated")),
        "{:?}",
        audit[0].columns
    );
    let detail = app
        .get(&format!("/api/v1/datasets/{POSTINGS}"), Some(&token))
        .await;
    assert_eq!(detail.body["table_version"], before + 1);
    assert_eq!(detail.body["last_delivery_at"], answer.body["delivered_at"]);
    let analyst_other = app.analyst("0751");
    let detail = app
        .get(
            &format!("/api/v1/datasets/{POSTINGS}"),
            Some(&analyst_other),
        )
        .await;
    assert_eq!(detail.body["last_delivery_at"], Value::Null);
}

#[tokio::test]
async fn the_change_feed_shows_a_deliverys_inserts_updates_and_deletes() {
    let app = spawn_app().await;
    let token = deliverer(&app, "0101", &[POSTINGS], &[POSTINGS]).await;
    let start = version(&app, POSTINGS).await;
    let upsert = deliver(
        &app,
        &token,
        POSTINGS,
        "",
        CSV,
        postings(&[(1_010_000_001, "1.00"), (1_019_000_002, "2.00")]),
    )
    .await;
    assert_eq!(upsert.status, 200, "{}", upsert.body);
    assert!(
        upsert.body["delivery_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("sha256-"))
    );
    let delete = deliver(
        &app,
        &token,
        POSTINGS,
        "mode=delete",
        CSV,
        b"posteringsid\n1019000002\n1010000003\n".to_vec(),
    )
    .await;
    assert_eq!(delete.status, 200, "{}", delete.body);
    assert_eq!(delete.body["rows_deleted"], 2);

    let changes = app
        .client
        .get(format!(
            "{}/api/v1/datasets/{POSTINGS}/changes?from_version={}&format=ndjson",
            app.address,
            start + 1
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("changes");
    assert_eq!(changes.status().as_u16(), 200);
    let changes: Vec<Value> = changes
        .text()
        .await
        .expect("body")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let of = |kind: &str| -> Vec<i64> {
        let mut ids: Vec<i64> = changes
            .iter()
            .filter(|c| c["_change_type"] == kind)
            .filter_map(|c| c["posteringsid"].as_i64())
            .collect();
        ids.sort_unstable();
        ids
    };
    assert_eq!(of("insert"), vec![1_019_000_002]);
    assert_eq!(of("update_postimage"), vec![1_010_000_001]);
    assert_eq!(of("delete"), vec![1_010_000_003, 1_019_000_002]);
    assert!(changes.iter().all(|c| c["kommunekode"] == "0101"));
}

#[tokio::test]
async fn every_bad_delivery_is_refused_whole_audited_and_leaves_the_version() {
    let app = spawn_app().await;
    let token = deliverer(&app, "0101", &[POSTINGS], &[POSTINGS]).await;
    let reader_only = deliverer(&app, "0101", &[POSTINGS], &[]).await;
    let other_dataset =
        deliverer(&app, "0101", &["borger.befolkning"], &["borger.befolkning"]).await;
    let before = version(&app, POSTINGS).await;
    let good_row = "1019000009,2024,3,2024-03-15,5.22.07,1.0,10.00,OMK-1";
    let big = {
        let mut body = format!("{HEADER}\n").into_bytes();
        while body.len() <= 1024 * 1024 {
            body.extend_from_slice(format!("{good_row}\n").as_bytes());
        }
        body
    };
    // (what, token, query, content type, body, status, code, (line, column) of the first problem)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        Vec<u8>,
        u16,
        &'a str,
        Option<(u64, Option<&'a str>)>,
    );
    let cases: Vec<Case<'_>> = vec![
        ("another municipality in the file", &token, "", CSV,
         format!("kommunekode,{HEADER}\n0101,{good_row}\n0751,1019000010,2024,3,2024-03-15,5.22.07,1.0,1,OMK-1\n").into_bytes(),
         400, "delivery_rejected", Some((3, Some("kommunekode")))),
        ("an unknown column", &token, "", CSV,
         format!("{HEADER},skjult\n{good_row},x\n").into_bytes(), 400, "delivery_rejected", Some((1, Some("skjult")))),
        ("a missing column", &token, "", CSV,
         b"posteringsid,aar\n1019000011,2024\n".to_vec(), 400, "delivery_rejected", Some((1, Some("maaned")))),
        ("a wrong type", &token, "", CSV,
         format!("{HEADER}\n{good_row}\n1019000012,2024,3,15-03-2024,5.22.07,1.0,1,OMK-1\n").into_bytes(),
         400, "delivery_rejected", Some((3, Some("bogfoeringsdato")))),
        ("too many decimals", &token, "", CSV,
         format!("{HEADER}\n1019000013,2024,3,2024-03-15,5.22.07,1.0,1.005,OMK-1\n").into_bytes(),
         400, "delivery_rejected", Some((2, Some("beloeb")))),
        ("a missing key", &token, "", CSV,
         format!("{HEADER}\n,2024,3,2024-03-15,5.22.07,1.0,1,OMK-1\n").into_bytes(),
         400, "delivery_rejected", Some((2, Some("posteringsid")))),
        ("duplicate keys", &token, "", CSV,
         format!("{HEADER}\n{good_row}\n{good_row}\n").into_bytes(), 400, "delivery_rejected", Some((3, Some("posteringsid")))),
        ("an empty file", &token, "", CSV, Vec::new(), 400, "delivery_rejected", Some((0, None))),
        ("a header without rows", &token, "", CSV,
         format!("{HEADER}\n").into_bytes(), 400, "delivery_rejected", Some((0, None))),
        // Saved by Windows PowerShell (UTF-16 with a byte order mark), and a header in
        // Windows-1252 (bemærkning): both were a 500.
        ("a UTF-16 file", &token, "", CSV,
         format!("\u{feff}{HEADER}\n{good_row}\n").encode_utf16().flat_map(u16::to_le_bytes).collect(),
         400, "delivery_rejected", Some((1, None))),
        ("a header that is not UTF-8", &token, "", CSV,
         [format!("{HEADER},bem").into_bytes(), vec![0xe6], b"rkning\n".to_vec(), format!("{good_row},x\n").into_bytes()].concat(),
         400, "delivery_rejected", Some((1, None))),
        ("a JSON number past the column's decimals", &token, "", "application/x-ndjson",
         br#"{"posteringsid": 1019000018, "aar": 2024, "maaned": 3, "bogfoeringsdato": "2024-03-15", "funktion": "5.22.07", "art": "1.0", "beloeb": 1.5e-3, "omkostningssted": "OMK-1"}"#.to_vec(),
         400, "delivery_rejected", Some((1, Some("beloeb")))),
        ("bad NDJSON", &token, "", "application/x-ndjson",
         b"{\"posteringsid\": 1}\nnot json\n".to_vec(), 400, "delivery_rejected", Some((2, None))),
        ("not Parquet", &token, "", "application/vnd.apache.parquet",
         b"PAR1 but not really".to_vec(), 400, "delivery_rejected", Some((0, None))),
        ("an unknown format", &token, "", "application/json", b"[]".to_vec(), 400, "invalid_parameter", None),
        ("an unknown mode", &token, "mode=merge", CSV, postings(&[(1, "1")]), 400, "invalid_parameter", None),
        ("replace without a period", &token, "mode=replace", CSV, postings(&[(1, "1")]), 400, "invalid_parameter", None),
        ("a row outside the replaced period", &token, "mode=replace&period=2024-04", CSV,
         postings(&[(1_019_000_014, "1")]), 400, "delivery_rejected", Some((2, Some("bogfoeringsdato")))),
        ("a row of a replace without its date", &token, "mode=replace&period=2024-03", CSV,
         format!("{HEADER}\n1019000017,2024,3,,5.22.07,1.0,1.00,OMK-1\n").into_bytes(), 400, "delivery_rejected", Some((2, Some("bogfoeringsdato")))),
        ("a bad delivery id", &token, "delivery_id=../x", CSV, postings(&[(1, "1")]), 400, "invalid_parameter", None),
        ("a file over the limit", &token, "", CSV, big, 413, "payload_too_large", None),
        ("no delivery right", &reader_only, "", CSV, postings(&[(1_019_000_015, "1")]), 403, "forbidden", None),
        ("a dataset the caller cannot see", &other_dataset, "", CSV, postings(&[(1_019_000_016, "1")]), 404, "dataset_not_found", None),
    ];
    for (what, token, query, content_type, body, status, code, problem) in cases {
        let answer = deliver(&app, token, POSTINGS, query, content_type, body).await;
        assert_eq!(answer.status, status, "{what}: {}", answer.body);
        assert_eq!(answer.body["code"], code, "{what}: {}", answer.body);
        if let Some((line, column)) = problem {
            let first = &answer.body["problems"][0];
            assert_eq!(first["line"], line, "{what}: {}", answer.body);
            assert_eq!(first["column"].as_str(), column, "{what}: {}", answer.body);
            assert!(
                first["message"].as_str().is_some_and(|m| m.len() > 10),
                "{what}"
            );
        }
        assert_eq!(
            version(&app, POSTINGS).await,
            before,
            "{what}: the table moved"
        );
        let audit = app.audit_of(&answer).await;
        assert_eq!(audit.len(), 1, "{what}");
        assert_eq!(audit[0].outcome, "denied", "{what}");
        assert_eq!(audit[0].reason.as_deref(), Some(code), "{what}");
    }
    let receipts = app
        .get(
            &format!("/api/v1/datasets/{POSTINGS}/deliveries"),
            Some(&token),
        )
        .await;
    assert_eq!(receipts.body["receipts"], json!([]));
}

#[tokio::test]
async fn a_report_names_at_most_100_problems() {
    let app = spawn_app().await;
    let token = deliverer(&app, "0101", &[POSTINGS], &[POSTINGS]).await;
    let mut csv = format!("{HEADER}\n");
    for i in 0..300 {
        csv.push_str(&format!("{i},x,3,2024-03-15,5.22.07,1.0,1,OMK-1\n"));
    }
    let answer = deliver(&app, &token, POSTINGS, "", CSV, csv.into_bytes()).await;
    assert_eq!(answer.status, 400);
    let problems = answer.body["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 100);
    assert_eq!(problems[99]["line"], 101);
    assert_eq!(problems[99]["column"], "aar");
}

#[tokio::test]
async fn a_truncated_upload_commits_nothing_and_is_audited() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app().await;
    let token = deliverer(&app, "0101", &[POSTINGS], &[POSTINGS]).await;
    let before = version(&app, POSTINGS).await;
    let body = postings(&[(1_019_000_020, "1"), (1_019_000_021, "2")]);
    let port = app.address.rsplit(':').next().expect("port");
    let mut stream = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v1/datasets/{POSTINGS}/deliveries?delivery_id=cut HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: text/csv\r\nContent-Length: {}\r\n\r\n",
        body.len() + 1000
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(&body).await.expect("body");
    stream.flush().await.expect("flush");
    drop(stream);

    // The refusal is audited once the server notices the connection is gone.
    let mut refused = Vec::new();
    for _ in 0..200 {
        refused = app
            .state
            .control
            .query_audit(
                &dap_schema::admin::AuditQuery {
                    dataset: Some(POSTINGS.into()),
                    outcome: Some("denied".into()),
                    ..Default::default()
                },
                10,
            )
            .await
            .expect("audit");
        if !refused.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(refused.len(), 1, "the truncated upload is audited");
    assert_eq!(refused[0].reason.as_deref(), Some("invalid_parameter"));
    assert_eq!(version(&app, POSTINGS).await, before);

    // The same delivery sent whole applies.
    let answer = deliver(&app, &token, POSTINGS, "delivery_id=cut", CSV, body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["rows_inserted"], 2);
}

#[tokio::test]
async fn a_retried_delivery_applies_once_even_when_its_receipt_was_lost() {
    let app = spawn_app().await;
    let token = deliverer(&app, "0101", &[POSTINGS], &[POSTINGS]).await;
    let body = postings(&[(1_010_000_002, "5.00"), (1_019_000_030, "6.00")]);
    let first = deliver(
        &app,
        &token,
        POSTINGS,
        "delivery_id=retry-1",
        CSV,
        body.clone(),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let after = version(&app, POSTINGS).await;

    // A plain retry answers with the first receipt.
    let again = deliver(
        &app,
        &token,
        POSTINGS,
        "delivery_id=retry-1",
        CSV,
        body.clone(),
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["replayed"], true);
    assert_eq!(again.body["table_version"], first.body["table_version"]);
    assert_eq!(again.body["rows_inserted"], 1);
    assert_eq!(version(&app, POSTINGS).await, after);

    // The process died after the commit, before the receipt: the commit's application
    // transaction still says the delivery was applied, and what it did.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    dap_schema::entity::delivery_receipt::Entity::delete_many()
        .filter(dap_schema::entity::delivery_receipt::Column::DeliveryId.eq("retry-1"))
        .exec(app.state.control.connection())
        .await
        .expect("lose the receipt");
    let recovered = deliver(&app, &token, POSTINGS, "delivery_id=retry-1", CSV, body).await;
    assert_eq!(recovered.status, 200, "{}", recovered.body);
    assert_eq!(recovered.body["replayed"], true);
    assert_eq!(recovered.body["table_version"], first.body["table_version"]);
    assert_eq!(recovered.body["rows_inserted"], 1);
    assert_eq!(recovered.body["rows_updated"], 1);
    assert_eq!(version(&app, POSTINGS).await, after);
    let rows = oracle_rows(&app, "0101", "1019000030").await;
    assert_eq!(rows.len(), 1, "applied once");
}

/// A delivery id names one delivery: its file, mode and period. Another delivery sent
/// under a used id is refused (409, audited, nothing written), also when the receipt
/// was lost and only the commit remembers the id; a delivery without an id is named
/// after its file *and* its mode and period, so the same file in another mode applies.
#[tokio::test]
async fn a_delivery_id_names_one_delivery_and_another_sent_under_it_is_refused() {
    let app = spawn_app().await;
    let token = deliverer(&app, "0101", &[POSTINGS], &[POSTINGS]).await;
    let first_file = postings(&[(1_019_000_060, "1.00")]);
    let first = deliver(
        &app,
        &token,
        POSTINGS,
        "delivery_id=daily-1",
        CSV,
        first_file.clone(),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let after = version(&app, POSTINGS).await;

    let refused_as_reused = |answer: &Answer, what: &str| {
        assert_eq!(answer.status, 409, "{what}: {}", answer.body);
        assert_eq!(answer.body["code"], "delivery_id_in_use", "{what}");
        let message = answer.body["message"].as_str().expect("message");
        assert!(
            message.contains("daily-1") && message.contains("new delivery_id"),
            "{what}: {message}"
        );
    };
    // Another file, the same file in another mode, a file that is not even valid.
    let other_file = postings(&[(1_019_000_061, "2.00")]);
    for (query, body, what) in [
        ("delivery_id=daily-1", other_file.clone(), "another file"),
        (
            "delivery_id=daily-1&mode=delete",
            first_file.clone(),
            "another mode",
        ),
        (
            "delivery_id=daily-1",
            b"not,a,delivery\n".to_vec(),
            "an invalid file",
        ),
    ] {
        let answer = deliver(&app, &token, POSTINGS, query, CSV, body).await;
        refused_as_reused(&answer, what);
        let records = app.audit_of(&answer).await;
        assert_eq!(records.len(), 1, "{what}");
        assert_eq!(
            (records[0].outcome.as_str(), records[0].reason.as_deref()),
            ("denied", Some("delivery_id_in_use")),
            "{what}"
        );
    }
    assert_eq!(version(&app, POSTINGS).await, after, "nothing written");
    assert!(oracle_rows(&app, "0101", "1019000061").await.is_empty());
    assert_eq!(
        oracle_rows(&app, "0101", "1019000060").await.len(),
        1,
        "not deleted"
    );

    // The receipt lost (the process died after the commit): the commit still names the
    // delivery, and another file under its id is still refused.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    dap_schema::entity::delivery_receipt::Entity::delete_many()
        .filter(dap_schema::entity::delivery_receipt::Column::DeliveryId.eq("daily-1"))
        .exec(app.state.control.connection())
        .await
        .expect("lose the receipt");
    let answer = deliver(
        &app,
        &token,
        POSTINGS,
        "delivery_id=daily-1",
        CSV,
        other_file,
    )
    .await;
    refused_as_reused(&answer, "another file, receipt lost");
    assert_eq!(version(&app, POSTINGS).await, after, "nothing written");
    let again = deliver(
        &app,
        &token,
        POSTINGS,
        "delivery_id=daily-1",
        CSV,
        first_file,
    )
    .await;
    assert_eq!(
        (again.status, &again.body["replayed"]),
        (200, &json!(true)),
        "{}",
        again.body
    );

    // Without an id: the same file upserted, then deleted, then replaced for two periods
    // is four deliveries, each applied.
    let file = postings(&[(1_019_000_062, "3.00")]);
    for (query, deleted) in [
        ("", 0),
        ("mode=delete", 1),
        ("mode=replace&period=2024-03", 0),
        ("mode=replace&period=2024", 1),
    ] {
        let answer = deliver(&app, &token, POSTINGS, query, CSV, file.clone()).await;
        assert_eq!(answer.status, 200, "{query}: {}", answer.body);
        assert_eq!(answer.body["replayed"], false, "{query}: {}", answer.body);
        assert!(
            answer.body["rows_deleted"].as_i64().expect("deleted") >= deleted,
            "{query}: {}",
            answer.body
        );
    }
    let replayed = deliver(&app, &token, POSTINGS, "mode=delete", CSV, file).await;
    assert_eq!(
        replayed.body["replayed"], true,
        "the same file and mode: a retry"
    );
}

#[tokio::test]
async fn two_municipalities_delivering_concurrently_both_commit_every_round() {
    const ROUNDS: i64 = 6;
    let app = spawn_app().await;
    let tokens = [
        (
            "0101",
            deliverer(&app, "0101", &[POSTINGS], &[POSTINGS]).await,
        ),
        (
            "0751",
            deliverer(&app, "0751", &[POSTINGS], &[POSTINGS]).await,
        ),
    ];
    let before = version(&app, POSTINGS).await;
    let rounds = tokens.iter().map(|(municipality, token)| {
        let app = &app;
        async move {
            let base: i64 = municipality.parse::<i64>().expect("code") * 10_000_000 + 9_000_000;
            for round in 1..=ROUNDS {
                // The same three keys each round with new amounts, and one new key.
                let amount = format!("{round}.00");
                let rows = [
                    (base + 1, amount.as_str()),
                    (base + 2, amount.as_str()),
                    (base + 3, amount.as_str()),
                    (base + 100 + round, amount.as_str()),
                ];
                let answer = deliver(
                    app,
                    token,
                    POSTINGS,
                    &format!("delivery_id=round-{round}"),
                    CSV,
                    postings(&rows),
                )
                .await;
                assert_eq!(
                    answer.status, 200,
                    "{municipality} round {round}: {}",
                    answer.body
                );
                let (inserted, updated) = if round == 1 { (4, 0) } else { (1, 3) };
                assert_eq!(
                    answer.body["rows_inserted"], inserted,
                    "{municipality} {round}"
                );
                assert_eq!(
                    answer.body["rows_updated"], updated,
                    "{municipality} {round}"
                );
            }
        }
    });
    futures::future::join_all(rounds).await;

    assert_eq!(version(&app, POSTINGS).await, before + 2 * ROUNDS as u64);
    for (municipality, _) in &tokens {
        let base: i64 = municipality.parse::<i64>().expect("code") * 10_000_000 + 9_000_000;
        let rows = app
            .oracle(
                POSTINGS,
                &format!(
                    "SELECT posteringsid, CAST(beloeb AS VARCHAR) AS beloeb FROM t WHERE kommunekode = '{municipality}' AND posteringsid >= {base} ORDER BY posteringsid"
                ),
            )
            .await;
        let mut expected: Vec<Value> = (1..=3)
            .map(|k| json!({"posteringsid": base + k, "beloeb": format!("{ROUNDS}.00")}))
            .collect();
        expected.extend(
            (1..=ROUNDS)
                .map(|r| json!({"posteringsid": base + 100 + r, "beloeb": format!("{r}.00")})),
        );
        assert_eq!(
            rows, expected,
            "{municipality}: its deliveries applied in order"
        );
    }
}

#[tokio::test]
async fn a_replace_swaps_the_municipalitys_rows_of_the_period_only() {
    let app = spawn_app().await;
    let token = deliverer(&app, "0101", &[POSTINGS], &[POSTINGS]).await;
    let in_period = "bogfoeringsdato >= DATE '2023-01-01' AND bogfoeringsdato <= DATE '2023-01-31'";
    let count = |m: &str, filter: String| {
        let app = &app;
        let m = m.to_owned();
        async move {
            app.oracle(
                POSTINGS,
                &format!("SELECT count(*) AS n FROM t WHERE kommunekode = '{m}' AND {filter}"),
            )
            .await[0]["n"]
                .as_i64()
                .expect("n")
        }
    };
    let old_in = count("0101", in_period.into()).await;
    let old_out = count("0101", format!("NOT ({in_period})")).await;
    let other_in = count("0751", in_period.into()).await;
    assert!(old_in > 0, "the demo has postings in January 2023");
    let csv = format!(
        "{HEADER}\n1019000040,2023,1,2023-01-02,5.22.07,1.0,1.00,OMK-1\n1019000041,2023,1,2023-01-31,5.22.07,1.0,2.00,OMK-1\n"
    );

    let answer = deliver(
        &app,
        &token,
        POSTINGS,
        "mode=replace&period=2023-01",
        CSV,
        csv.into_bytes(),
    )
    .await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["rows_inserted"], 2);
    assert_eq!(answer.body["rows_deleted"], old_in);
    assert_eq!(count("0101", in_period.into()).await, 2);
    assert_eq!(count("0101", format!("NOT ({in_period})")).await, old_out);
    assert_eq!(count("0751", in_period.into()).await, other_in);
    let v = answer.body["table_version"].as_u64().expect("version");
    assert_eq!(partitions_touched(&app, POSTINGS, v), vec!["0101"]);
}

#[tokio::test]
async fn ndjson_and_parquet_deliveries_fill_in_the_municipality() {
    use arrow::array::{Date32Array, Decimal128Array, Int32Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let app = spawn_app().await;
    let token = deliverer(&app, "0751", &[POSTINGS], &[POSTINGS]).await;
    let ndjson = br#"{"posteringsid": 1019000050, "aar": 2024, "maaned": 3, "bogfoeringsdato": "2024-03-01", "funktion": "5.22.07", "art": "1.0", "beloeb": 12.5, "omkostningssted": null}
{"kommunekode": "0751", "posteringsid": 1019000051, "aar": 2024, "maaned": 3, "bogfoeringsdato": "2024-03-02", "funktion": "5.22.07", "art": "1.0", "beloeb": "13.25"}
{"posteringsid": 1019000057, "aar": 2024, "maaned": 3, "bogfoeringsdato": "2024-03-03", "funktion": "5.22.07", "art": "1.0", "beloeb": 90071992547409.93, "omkostningssted": ""}
"#;
    let answer = deliver(
        &app,
        &token,
        POSTINGS,
        "",
        "application/x-ndjson",
        ndjson.to_vec(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["rows_inserted"], 3);
    // A JSON number is taken digit for digit (through a float it was ...409.92), and
    // an empty string stays one where JSON tells it from null.
    let exact = app
        .oracle(
            POSTINGS,
            "SELECT CAST(beloeb AS VARCHAR) AS beloeb, omkostningssted FROM t WHERE posteringsid = 1019000057",
        )
        .await;
    assert_eq!(
        exact,
        vec![json!({"beloeb": "90071992547409.93", "omkostningssted": ""})]
    );

    let schema_fields = vec![
        Field::new("posteringsid", DataType::Int64, false),
        Field::new("aar", DataType::Int32, true),
        Field::new("maaned", DataType::Int32, true),
        Field::new("bogfoeringsdato", DataType::Date32, true),
        Field::new("funktion", DataType::Utf8, true),
        Field::new("art", DataType::Utf8, true),
        Field::new("beloeb", DataType::Decimal128(18, 2), true),
        Field::new("omkostningssted", DataType::Utf8, true),
    ];
    let schema = Arc::new(Schema::new(schema_fields.clone()));
    let batch = arrow::record_batch::RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1_019_000_052])),
            Arc::new(Int32Array::from(vec![2024])),
            Arc::new(Int32Array::from(vec![3])),
            Arc::new(Date32Array::from(vec![19_800])),
            Arc::new(StringArray::from(vec!["5.22.07"])),
            Arc::new(StringArray::from(vec!["1.0"])),
            Arc::new(
                Decimal128Array::from(vec![1_400])
                    .with_precision_and_scale(18, 2)
                    .expect("decimal"),
            ),
            Arc::new(StringArray::from(vec![Some("OMK-2")])),
        ],
    )
    .expect("batch");
    let mut file = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut file, schema, None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    let answer = deliver(
        &app,
        &token,
        POSTINGS,
        "",
        "application/vnd.apache.parquet",
        file,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["rows_inserted"], 1);

    let rows = oracle_rows(&app, "0751", "1019000050, 1019000051, 1019000052").await;
    assert_eq!(
        rows,
        vec![
            json!({"posteringsid": 1_019_000_050_i64, "beloeb": "12.50"}),
            json!({"posteringsid": 1_019_000_051_i64, "beloeb": "13.25"}),
            json!({"posteringsid": 1_019_000_052_i64, "beloeb": "14.00"}),
        ]
    );

    // Strings written as plain bytes (no UTF8 annotation, as some writers do) are read as
    // the text they hold, not as hex; bytes that are not UTF-8 refuse the file.
    let with_bytes = |id: i64, cost_centre: arrow::array::ArrayRef| {
        let mut fields: Vec<Field> = schema_fields.clone();
        fields[7] = Field::new("omkostningssted", cost_centre.data_type().clone(), true);
        let schema = Arc::new(Schema::new(fields));
        let batch = arrow::record_batch::RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![id])),
                Arc::new(Int32Array::from(vec![2024])),
                Arc::new(Int32Array::from(vec![3])),
                Arc::new(Date32Array::from(vec![19_800])),
                Arc::new(StringArray::from(vec!["5.22.07"])),
                Arc::new(StringArray::from(vec!["1.0"])),
                Arc::new(
                    Decimal128Array::from(vec![1_500])
                        .with_precision_and_scale(18, 2)
                        .expect("decimal"),
                ),
                cost_centre,
            ],
        )
        .expect("batch");
        let mut file = Vec::new();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut file, schema, None).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
        file
    };
    let parquet = "application/vnd.apache.parquet";
    let bytes = |b: &[u8]| {
        Arc::new(arrow::array::BinaryArray::from(vec![Some(b)])) as arrow::array::ArrayRef
    };
    let answer = deliver(
        &app,
        &token,
        POSTINGS,
        "",
        parquet,
        with_bytes(1_019_000_053, bytes(b"OMK-3")),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let stored = app
        .oracle(
            POSTINGS,
            "SELECT omkostningssted FROM t WHERE kommunekode = '0751' AND posteringsid = 1019000053",
        )
        .await;
    assert_eq!(stored, vec![json!({"omkostningssted": "OMK-3"})]);
    // Fixed-size bytes too (fixed-width text columns), and dictionary-encoded bytes.
    let fixed = arrow::array::FixedSizeBinaryArray::try_from_iter(std::iter::once(b"OMK-4"))
        .expect("fixed");
    let dictionary: arrow::array::DictionaryArray<arrow::datatypes::Int32Type> =
        arrow::array::DictionaryArray::try_new(
            arrow::array::Int32Array::from(vec![0]),
            bytes(b"OMK-5"),
        )
        .expect("dictionary");
    for (id, column, expected) in [
        (
            1_019_000_055_i64,
            Arc::new(fixed) as arrow::array::ArrayRef,
            "OMK-4",
        ),
        (1_019_000_056, Arc::new(dictionary), "OMK-5"),
    ] {
        let answer = deliver(&app, &token, POSTINGS, "", parquet, with_bytes(id, column)).await;
        assert_eq!(answer.status, 200, "{expected}: {}", answer.body);
        let stored = app
            .oracle(
                POSTINGS,
                &format!("SELECT omkostningssted FROM t WHERE kommunekode = '0751' AND posteringsid = {id}"),
            )
            .await;
        assert_eq!(stored, vec![json!({"omkostningssted": expected})]);
    }
    // A column with no value at all (pandas writes an all-None text column with Parquet's
    // null type) is null, not the empty text its values format as.
    let none = Arc::new(arrow::array::NullArray::new(1)) as arrow::array::ArrayRef;
    let answer = deliver(
        &app,
        &token,
        POSTINGS,
        "",
        parquet,
        with_bytes(1_019_000_058, none),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let stored = app
        .oracle(
            POSTINGS,
            "SELECT omkostningssted IS NULL AS missing FROM t WHERE kommunekode = '0751' AND posteringsid = 1019000058",
        )
        .await;
    assert_eq!(stored, vec![json!({"missing": true})]);
    let answer = deliver(
        &app,
        &token,
        POSTINGS,
        "",
        parquet,
        with_bytes(1_019_000_054, bytes(&[0xff, 0xfe])),
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["code"], "delivery_rejected");
    assert_eq!(
        answer.body["problems"][0]["column"], "omkostningssted",
        "{}",
        answer.body
    );
}

/// Rows, not bytes, bound what validating a delivery holds in memory (it keeps every
/// key): a file of more rows than `deliveries.max_rows` is refused whole, a Parquet file
/// by its footer's count before any row is decoded; a file at the limit is applied.
#[tokio::test]
async fn a_delivery_of_more_rows_than_the_limit_is_refused_whole() {
    let app = spawn_app_tuned(|s| s.deliveries.max_rows = 2).await;
    let token = deliverer(&app, "0101", &[POSTINGS], &[POSTINGS]).await;
    let before = version(&app, POSTINGS).await;
    let three = [
        (1_019_000_070, "1.00"),
        (1_019_000_071, "2.00"),
        (1_019_000_072, "3.00"),
    ];
    let parquet = {
        use arrow::array::{Date32Array, Decimal128Array, Int32Array, Int64Array, StringArray};
        use std::sync::Arc;
        let ids = Int64Array::from(vec![1_019_000_073, 1_019_000_074, 1_019_000_075]);
        let batch = arrow::record_batch::RecordBatch::try_from_iter([
            ("posteringsid", Arc::new(ids) as arrow::array::ArrayRef),
            ("aar", Arc::new(Int32Array::from(vec![2024; 3]))),
            ("maaned", Arc::new(Int32Array::from(vec![3; 3]))),
            (
                "bogfoeringsdato",
                Arc::new(Date32Array::from(vec![19_800; 3])),
            ),
            ("funktion", Arc::new(StringArray::from(vec!["5.22.07"; 3]))),
            ("art", Arc::new(StringArray::from(vec!["1.0"; 3]))),
            (
                "beloeb",
                Arc::new(
                    Decimal128Array::from(vec![100; 3])
                        .with_precision_and_scale(18, 2)
                        .expect("decimal"),
                ),
            ),
            (
                "omkostningssted",
                Arc::new(StringArray::from(vec!["OMK-1"; 3])),
            ),
        ])
        .expect("batch");
        let mut file = Vec::new();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut file, batch.schema(), None).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
        file
    };

    for (what, content_type, body, counted) in [
        ("CSV", CSV, postings(&three), ""),
        ("Parquet", "application/vnd.apache.parquet", parquet, " (3)"),
    ] {
        let answer = deliver(&app, &token, POSTINGS, "", content_type, body).await;
        assert_eq!(answer.status, 400, "{what}: {}", answer.body);
        assert_eq!(answer.body["code"], "delivery_rejected", "{what}");
        let problems = answer.body["problems"].as_array().expect("problems");
        assert_eq!(problems.len(), 1, "{what}: {}", answer.body);
        let message = problems[0]["message"].as_str().expect("message");
        assert!(
            message.contains(&format!("more rows{counted} than one delivery may hold (2"))
                && message.contains("deliveries.max_rows"),
            "{what}: {message}"
        );
    }
    assert_eq!(version(&app, POSTINGS).await, before, "nothing written");
    let at_limit = deliver(&app, &token, POSTINGS, "", CSV, postings(&three[..2])).await;
    assert_eq!(at_limit.status, 200, "{}", at_limit.body);
    assert_eq!(at_limit.body["rows_inserted"], 2);
}

#[tokio::test]
async fn it_administrators_grant_list_and_revoke_delivery_rights() {
    let app = spawn_app().await;
    let admin = crate::admin::person(&app, "admin-a", "0101", &["it-administration"]);
    let (status, created) = crate::admin::call(
        &app,
        "POST",
        "/api/v1/admin/clients",
        Some(&admin),
        Some(&json!({"name": "Nightly delivery", "datasets": [POSTINGS]})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let client_id = created["client_id"].as_str().expect("id").to_owned();
    let secret = created["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let token = || async {
        let response = app
            .client
            .post(format!("{}/oauth/token", app.address))
            .basic_auth(&client_id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token");
        let body: Value = response.json().await.expect("json");
        body["access_token"].as_str().expect("token").to_owned()
    };
    let client = token().await;
    let refused = deliver(
        &app,
        &client,
        POSTINGS,
        "",
        CSV,
        postings(&[(1_019_000_060, "1")]),
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    let (status, granted) = crate::admin::call(
        &app,
        "POST",
        "/api/v1/admin/delivery-rights",
        Some(&admin),
        Some(&json!({"dataset": POSTINGS, "client_id": client_id})),
    )
    .await;
    assert_eq!(status, 201, "{granted}");
    let (status, listed) = crate::admin::call(
        &app,
        "GET",
        "/api/v1/admin/delivery-rights",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(listed["rights"][0]["subject"], client_id.as_str());
    assert_eq!(listed["rights"][0]["dataset"], POSTINGS);
    let (status, _) = crate::admin::call(
        &app,
        "POST",
        "/api/v1/admin/delivery-rights",
        Some(&crate::admin::person(
            &app,
            "admin-b",
            "0751",
            &["it-administration"],
        )),
        Some(&json!({"dataset": POSTINGS, "client_id": client_id})),
    )
    .await;
    assert_eq!(
        status, 400,
        "another municipality's client cannot be granted"
    );
    let allowed = deliver(
        &app,
        &client,
        POSTINGS,
        "",
        CSV,
        postings(&[(1_019_000_060, "1")]),
    )
    .await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);

    let (status, _) = crate::admin::call(
        &app,
        "DELETE",
        &format!("/api/v1/admin/delivery-rights?dataset={POSTINGS}&client_id={client_id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let revoked = deliver(
        &app,
        &client,
        POSTINGS,
        "",
        CSV,
        postings(&[(1_019_000_061, "1")]),
    )
    .await;
    assert_eq!(revoked.status, 403, "{}", revoked.body);
}

#[tokio::test]
async fn maintenance_compacts_each_partition_without_changing_rows_or_versions_readers_see() {
    let app = spawn_app().await;
    let token = deliverer(&app, "0101", &[POSTINGS], &[POSTINGS]).await;
    for day in 1..=4_i64 {
        let answer = deliver(
            &app,
            &token,
            POSTINGS,
            &format!("delivery_id=day-{day}"),
            CSV,
            postings(&[(1_019_000_100 + day, "1.00")]),
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let rows_sql = "SELECT kommunekode, posteringsid, CAST(beloeb AS VARCHAR) AS beloeb FROM t ORDER BY kommunekode, posteringsid";
    let rows_before = app.oracle(POSTINGS, rows_sql).await;
    let delivered = version(&app, POSTINGS).await;
    let caller_version = app
        .get(&format!("/api/v1/datasets/{POSTINGS}"), Some(&token))
        .await
        .body["table_version"]
        .clone();
    let dataset = app.state.catalogue.get(POSTINGS).expect("dataset");

    let reports = dap_api::app::maintenance::maintain_all(
        &app.state.lake,
        &[dataset],
        &dap_lake::maintain::MaintenancePolicy::default(),
    )
    .await;

    let report = reports[0].1.as_ref().expect("maintained");
    assert!(report.partitions_compacted >= 1, "{report:?}");
    assert!(report.files_after < report.files_before, "{report:?}");
    assert_eq!(
        report.files_vacuumed, 0,
        "nothing younger than 30 days is vacuumed"
    );
    assert!(version(&app, POSTINGS).await > delivered);
    assert_eq!(app.oracle(POSTINGS, rows_sql).await, rows_before);
    // Compaction changes no data: the caller's version stays, and old versions stay readable.
    app.state.refresh().await;
    let after = app
        .get(&format!("/api/v1/datasets/{POSTINGS}"), Some(&token))
        .await;
    assert_eq!(after.body["table_version"], caller_version);
    let old = app
        .get(
            &format!("/api/v1/datasets/{POSTINGS}/rows?version=1&limit=1"),
            Some(&token),
        )
        .await;
    assert_eq!(old.status, 200, "{}", old.body);
    let log = app
        .lake_url(POSTINGS)
        .to_file_path()
        .expect("path")
        .join("_delta_log");
    assert!(
        std::fs::read_dir(log)
            .expect("log")
            .filter_map(Result::ok)
            .any(|e| e
                .file_name()
                .to_string_lossy()
                .ends_with(".checkpoint.parquet")),
        "a checkpoint was written"
    );
}

/// A Delta Sharing link names the table version whose files its query listed. After
/// maintenance compacted the caller's partition (its rows, and so its version, unchanged)
/// a query lists the compacted file; the next delivery moves the caller's version on. A
/// replica that never saw the query made the file again from the caller's old version,
/// which does not hold the compacted file, and refused the link ("not a data file of the
/// caller's partition"): every Power BI read over several replicas after a night's
/// maintenance and a morning's delivery.
#[tokio::test]
async fn a_sharing_link_listed_after_maintenance_is_served_after_the_next_delivery() {
    let app = spawn_app().await;
    let client = deliverer(&app, "0101", &[POSTINGS], &[POSTINGS]).await;
    for day in 1..=2_i64 {
        let rows = postings(&[(1_019_100_000 + day, "1.00")]);
        let query = format!("delivery_id=share-{day}");
        let answer = deliver(&app, &client, POSTINGS, &query, CSV, rows).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let dataset = app.state.catalogue.get(POSTINGS).expect("dataset");
    let policy = dap_lake::maintain::MaintenancePolicy::default();
    let reports =
        dap_api::app::maintenance::maintain_all(&app.state.lake, &[dataset], &policy).await;
    let report = reports[0].1.as_ref().expect("maintained");
    assert!(report.partitions_compacted >= 1, "{report:?}");
    app.state.refresh().await;

    let reader = app.analyst("0101");
    let response = app
        .client
        .post(format!(
            "{}/delta-sharing/shares/dap/schemas/oekonomi/tables/posteringer/query",
            app.address
        ))
        .bearer_auth(&reader)
        .json(&json!({}))
        .send()
        .await
        .expect("query");
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.expect("body");
    let files: Vec<(String, u64)> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json line"))
        .filter_map(|l| {
            Some((
                l["file"]["url"].as_str()?.to_owned(),
                l["file"]["size"].as_u64()?,
            ))
        })
        .collect();
    assert!(!files.is_empty(), "{text}");

    let rows = postings(&[(1_019_100_003, "1.00")]);
    let answer = deliver(&app, &client, POSTINGS, "delivery_id=share-3", CSV, rows).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    app.state.refresh().await;

    for (url, size) in files {
        app.state.sharing.forget_all();
        let response = app.client.get(&url).send().await.expect("file");
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("bytes");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(body.len() as u64, size);
    }
}

/// A replace rewrites the municipality's rows of its period. A row of the file whose key
/// the municipality has dated outside the period (the source system moved a posting
/// from 28 February to 1 March) was added beside the old one: two rows with one key,
/// counted twice in every total, and both updated by every later upsert. It is refused,
/// saying which key and how to deliver it; nothing is written.
#[tokio::test]
async fn a_replace_refuses_a_key_the_municipality_has_outside_the_period() {
    let app = spawn_app().await;
    let token = deliverer(&app, "0101", &[POSTINGS], &[POSTINGS]).await;
    let february = format!("{HEADER}\n1019000070,2024,2,2024-02-28,5.22.07,1.0,1.00,OMK-1\n");
    let answer = deliver(&app, &token, POSTINGS, "", CSV, february.into_bytes()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let before = version(&app, POSTINGS).await;

    let march = format!(
        "{HEADER}\n1019000071,2024,3,2024-03-02,5.22.07,1.0,2.00,OMK-1\n1019000070,2024,3,2024-03-01,5.22.07,1.0,1.00,OMK-1\n"
    );
    let answer = deliver(
        &app,
        &token,
        POSTINGS,
        "mode=replace&period=2024-03",
        CSV,
        march.clone().into_bytes(),
    )
    .await;

    assert_eq!(answer.status, 400, "{}", answer.body);
    let message = answer.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("1019000070") && message.contains("mode=upsert"),
        "{message}"
    );
    assert_eq!(version(&app, POSTINGS).await, before, "nothing is written");
    let audit = app.audit_of(&answer).await;
    assert_eq!(audit[0].outcome, "denied");
    let rows = app
        .oracle(
            POSTINGS,
            "SELECT count(*) AS n FROM t WHERE posteringsid = 1019000070",
        )
        .await;
    assert_eq!(rows, vec![json!({"n": 1})]);

    // A period that covers both dates replaces the row.
    let answer = deliver(
        &app,
        &token,
        POSTINGS,
        "mode=replace&period=2024-02-01..2024-03-31",
        CSV,
        march.into_bytes(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let rows = app
        .oracle(
            POSTINGS,
            "SELECT CAST(bogfoeringsdato AS VARCHAR) AS d FROM t WHERE posteringsid = 1019000070",
        )
        .await;
    assert_eq!(rows, vec![json!({"d": "2024-03-01"})]);
}
