//! The rows endpoint returns exactly the oracle's rows, pages stably and says why it
//! refuses bad input.

use dap_schema::NsisLevel;
use serde_json::Value;

use crate::helpers::{READ_ROLES, spawn_app};

#[tokio::test]
async fn rows_of_a_municipality_equal_the_delta_oracle_across_pages() {
    // Arrange
    let app = spawn_app().await;
    let token = app.analyst("0101");
    // Act: small pages, so the cursor chain is long.
    let rows = app
        .all_rows("oekonomi.posteringer", "limit=7", &token)
        .await;
    // Assert
    let oracle = app
        .oracle(
            "oekonomi.posteringer",
            "SELECT * FROM t WHERE kommunekode = '0101' ORDER BY posteringsid",
        )
        .await;
    assert_eq!(rows.len(), crate::helpers::ROWS);
    assert_eq!(rows, oracle);
}

#[tokio::test]
async fn text_and_date_part_filters_match_the_oracle() {
    let app = spawn_app().await;
    let token = app.analyst("0751");
    let cases = [
        (
            "filter=funktion:contains:22&filter=bogfoeringsdato:month:1,2,3,4,5,6",
            "strpos(funktion, '22') > 0 AND EXTRACT(MONTH FROM bogfoeringsdato) <= 6",
        ),
        (
            "filter=funktion:suffix:07&filter=bogfoeringsdato:year:2024",
            "ends_with(funktion, '07') AND EXTRACT(YEAR FROM bogfoeringsdato) = 2024",
        ),
        (
            "filter=funktion:not_prefix:5.&filter=bogfoeringsdato:day:1,2,3,4,5,6,7,8,9,10",
            "NOT starts_with(funktion, '5.') AND EXTRACT(DAY FROM bogfoeringsdato) <= 10",
        ),
        (
            "filter=funktion:not_contains:2&filter=funktion:not_suffix:0",
            "strpos(funktion, '2') = 0 AND NOT ends_with(funktion, '0')",
        ),
    ];
    for (query, sql) in cases {
        let rows = app
            .all_rows("oekonomi.posteringer", &format!("{query}&limit=7"), &token)
            .await;

        let oracle = app
            .oracle(
                "oekonomi.posteringer",
                &format!(
                    "SELECT * FROM t WHERE kommunekode = '0751' AND {sql} ORDER BY posteringsid"
                ),
            )
            .await;
        assert!(!oracle.is_empty(), "a case that tests nothing: {query}");
        assert_eq!(rows, oracle, "{query}");
    }
    // `%` and `_` are characters, not wildcards: no demo code contains them.
    for query in ["filter=funktion:contains:%25", "filter=funktion:contains:_"] {
        let rows = app.all_rows("oekonomi.posteringer", query, &token).await;
        assert!(rows.is_empty(), "{query}");
    }
    let refused = app
        .get(
            "/api/v1/datasets/oekonomi.posteringer/rows?filter=aar:month:1",
            Some(&token),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("date columns only")
    );
}

#[tokio::test]
async fn filters_order_and_select_match_the_oracle() {
    let app = spawn_app().await;
    let token = app.analyst("0751");
    let query = "select=posteringsid,funktion,beloeb&filter=beloeb:gte:1000.50&filter=funktion:prefix:5.&order_by=beloeb:desc";
    let rows = app
        .all_rows("oekonomi.posteringer", &format!("{query}&limit=5"), &token)
        .await;
    let oracle = app
        .oracle(
            "oekonomi.posteringer",
            "SELECT posteringsid, funktion, beloeb FROM t WHERE kommunekode = '0751' \
             AND beloeb >= 1000.50 AND funktion LIKE '5.%' ORDER BY beloeb DESC, posteringsid",
        )
        .await;
    assert!(!oracle.is_empty(), "the test needs matching rows");
    assert_eq!(rows, oracle);

    let in_list = app
        .all_rows(
            "borger.befolkning",
            "filter=alder:in:0,1,99&filter=koen:eq:K&limit=100",
            &token,
        )
        .await;
    let in_oracle = app
        .oracle(
            "borger.befolkning",
            "SELECT * FROM t WHERE kommunekode = '0751' AND alder IN (0, 1, 99) AND koen = 'K' \
             ORDER BY aar, kvartal, alder, koen",
        )
        .await;
    assert_eq!(in_list, in_oracle);
}

#[tokio::test]
async fn a_page_states_its_table_version_and_columns() {
    let app = spawn_app().await;
    let answer = app
        .get(
            "/api/v1/datasets/personale.fravaer/rows?limit=2&select=aar,maaned,fravaersdage",
            Some(&app.analyst("0147")),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["table_version"], 1);
    assert_eq!(answer.body["municipality"], "0147");
    assert_eq!(
        answer.body["columns"],
        serde_json::json!(["aar", "maaned", "fravaersdage"])
    );
    let row = &answer.rows()[0];
    assert_eq!(row.as_object().map(|o| o.len()), Some(3));

    let detail = app
        .get(
            "/api/v1/datasets/personale.fravaer",
            Some(&app.analyst("0147")),
        )
        .await;
    assert_eq!(detail.status, 200);
    assert_eq!(detail.body["table_version"], 1);
    assert!(detail.body["updated_at"].as_str().is_some());
}

#[tokio::test]
async fn bad_parameters_get_400_that_says_how_to_fix_them() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let cases = [
        (
            "filter=nope:eq:1",
            "valid columns: kommunekode, posteringsid",
        ),
        (
            "filter=aar:like:2",
            "operators: eq, ne, lt, lte, gt, gte, in, prefix, contains, suffix, not_prefix, \
             not_contains, not_suffix, year, month, day, is_null",
        ),
        ("filter=aar:eq:twenty", "not a 32-bit integer"),
        ("filter=beloeb:gt:1,5", "use . as decimal separator"),
        (
            "select=aar,nope",
            "unknown column 'nope' in the selected columns",
        ),
        ("order_by=aar:sideways", "must be asc or desc"),
        ("limit=0", "between 1 and 10000"),
        ("limit=10001", "between 1 and 10000"),
        (
            "where=aar",
            "valid parameters: select, filter, order_by, limit, cursor, version, as_of, municipality",
        ),
    ];
    for (query, hint) in cases {
        let answer = app
            .get(
                &format!("/api/v1/datasets/oekonomi.posteringer/rows?{query}"),
                Some(&token),
            )
            .await;
        assert_eq!(answer.status, 400, "{query}");
        // A column the caller may not use has its own code on every surface.
        let code = if query.contains("nope") {
            "unknown_column"
        } else {
            "invalid_parameter"
        };
        assert_eq!(answer.body["code"], code, "{query}");
        let message = answer.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(hint), "{query}: {message}");
    }
}

#[tokio::test]
async fn a_tampered_cursor_is_400_and_reads_nothing() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let first = app
        .get(
            "/api/v1/datasets/oekonomi.posteringer/rows?limit=5",
            Some(&token),
        )
        .await;
    let cursor = first.body["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (payload, signature) = cursor.split_once('.').expect("cursor shape");
    let mut tampered_payload = payload.to_owned();
    tampered_payload.replace_range(2..3, if &payload[2..3] == "A" { "B" } else { "A" });
    for bad in [
        format!("{tampered_payload}.{signature}"),
        format!("{payload}.AAAA{signature}"),
        "not-a-cursor".to_owned(),
    ] {
        let answer = app
            .get(
                &format!("/api/v1/datasets/oekonomi.posteringer/rows?limit=5&cursor={bad}"),
                Some(&token),
            )
            .await;
        assert_eq!(answer.status, 400, "{bad}");
        assert_eq!(answer.body["code"], "invalid_cursor");
        assert!(answer.body.get("rows").is_none());
    }
    // The cursor is bound to the query: a different filter may not reuse it.
    let other_query = app
        .get(
            &format!("/api/v1/datasets/oekonomi.posteringer/rows?limit=5&filter=aar:eq:2024&cursor={cursor}"),
            Some(&token),
        )
        .await;
    assert_eq!(other_query.body["code"], "invalid_cursor");
}

#[tokio::test]
async fn sensitive_columns_need_their_role_to_be_read_filtered_or_sorted() {
    let app = spawn_app().await;
    let plain = app.analyst("0101");
    let answer = app
        .get(
            "/api/v1/datasets/aeldre.hjemmepleje/rows?limit=3",
            Some(&plain),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.rows().iter().all(|r| r.get("cpr").is_none()));
    assert!(
        !answer.body["columns"]
            .as_array()
            .expect("columns")
            .contains(&Value::from("cpr"))
    );
    for query in [
        "select=cpr",
        "filter=cpr:prefix:0",
        "order_by=cpr",
        "filter=cpr:is_null:false",
    ] {
        let refused = app
            .get(
                &format!("/api/v1/datasets/aeldre.hjemmepleje/rows?{query}"),
                Some(&plain),
            )
            .await;
        assert_eq!(refused.status, 400, "{query}");
        let message = refused.body["message"].as_str().unwrap_or_default();
        assert!(message.contains("unknown column 'cpr'"), "{message}");
        assert!(!message.contains("valid columns: kommunekode, visitationsid, borger_id, cpr"));
    }
    let detail = app
        .get("/api/v1/datasets/aeldre.hjemmepleje", Some(&plain))
        .await;
    assert!(!detail.body.to_string().contains("\"cpr\""));

    let mut roles = READ_ROLES.to_vec();
    roles.push("laes-foelsomme");
    let sensitive = app.token("0101", &roles, NsisLevel::Substantial);
    let rows = app
        .all_rows(
            "aeldre.hjemmepleje",
            "select=visitationsid,cpr&order_by=cpr&limit=100",
            &sensitive,
        )
        .await;
    let oracle = app
        .oracle(
            "aeldre.hjemmepleje",
            "SELECT visitationsid, cpr FROM t WHERE kommunekode = '0101' ORDER BY cpr, visitationsid",
        )
        .await;
    assert_eq!(rows, oracle);
    assert!(
        rows.iter()
            .all(|r| r["cpr"].as_str().is_some_and(|c| c.len() == 11))
    );
}

#[tokio::test]
async fn a_new_table_version_is_served_without_a_restart() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let before = app
        .all_rows("borger.befolkning", "limit=1000", &token)
        .await;
    // Act: a load job appends a row for 0101 directly to the lake.
    let table = deltalake::open_table(app.lake_url("borger.befolkning"))
        .await
        .expect("open");
    let schema = dap_lake::demo::arrow_schema(
        &dap_lake::demo::datasets()
            .into_iter()
            .find(|d| d.id.as_str() == "borger.befolkning")
            .expect("def"),
    );
    use deltalake::arrow::array::{Int32Array, Int64Array, StringArray};
    use std::sync::Arc;
    let batch = deltalake::arrow::record_batch::RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["0101"])),
            Arc::new(Int32Array::from(vec![2026])),
            Arc::new(Int32Array::from(vec![1])),
            Arc::new(Int32Array::from(vec![42])),
            Arc::new(StringArray::from(vec!["K"])),
            Arc::new(Int64Array::from(vec![777])),
        ],
    )
    .expect("batch");
    table
        .write(vec![batch])
        .with_save_mode(deltalake::protocol::SaveMode::Append)
        .with_partition_columns(["kommunekode"])
        .await
        .expect("append");
    // Assert: within a few refresh intervals the new version is served.
    let mut seen = None;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let answer = app
            .get(
                "/api/v1/datasets/borger.befolkning/rows?filter=aar:eq:2026",
                Some(&token),
            )
            .await;
        if answer.body["table_version"] == 2 {
            seen = Some(answer);
            break;
        }
    }
    let answer = seen.expect("version 2 served within 10 s");
    assert_eq!(answer.rows().len(), 1);
    assert_eq!(answer.rows()[0]["antal"], 777);
    let after = app
        .all_rows("borger.befolkning", "limit=1000", &token)
        .await;
    assert_eq!(after.len(), before.len() + 1);
}
