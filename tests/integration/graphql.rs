//! `POST /graphql`: the same rows as REST and the oracle, no leaks across
//! municipalities, invisible columns refused with a code, and abuse refused precisely.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

async fn post_raw(app: &TestApp, body: Vec<u8>, token: Option<&str>) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Posts `body` and returns the audit records of that request.
async fn audit_of_post(
    app: &TestApp,
    body: Vec<u8>,
    token: &str,
) -> (u16, Vec<dap_schema::entity::audit_event::Model>) {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let records = app.audit_records(&id).await;
    (status, records)
}

async fn gql(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let body = json!({"query": query, "variables": variables});
    let (status, body) = post_raw(app, body.to_string().into_bytes(), Some(token)).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("?").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Decimals are exact strings in GraphQL and numbers in REST: compare as numbers.
fn number(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(f64::NAN),
        other => other.as_f64().unwrap_or(f64::NAN),
    }
}

const PAGE: &str = r#"query($after: String) {
  oekonomi_posteringer(first: 4, after: $after,
      where: {beloeb: {gte: "1000.50"}, funktion: {prefix: "5."}},
      orderBy: [{column: beloeb, direction: DESC}]) {
    tableVersion municipality
    nodes { posteringsid funktion beloeb }
    pageInfo { hasNextPage endCursor }
  }
}"#;

#[tokio::test]
async fn pages_equal_the_rest_rows_and_the_delta_oracle() {
    let app = spawn_app().await;
    let token = app.analyst("0751");
    let mut rows = Vec::new();
    let mut after = Value::Null;
    for _ in 0..100 {
        let body = gql(&app, &token, PAGE, json!({"after": after})).await;
        assert!(body["errors"].is_null(), "{body}");
        let page = &body["data"]["oekonomi_posteringer"];
        let rest = app
            .get(
                "/api/v1/datasets/oekonomi.posteringer/rows?limit=1",
                Some(&token),
            )
            .await;
        assert_eq!(page["tableVersion"], rest.body["table_version"]);
        assert_eq!(page["municipality"], "0751");
        rows.extend(page["nodes"].as_array().cloned().unwrap_or_default());
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    let rest = app
        .all_rows(
            "oekonomi.posteringer",
            "select=posteringsid,funktion,beloeb&filter=beloeb:gte:1000.50&filter=funktion:prefix:5.&order_by=beloeb:desc&limit=4",
            &token,
        )
        .await;
    let oracle = app
        .oracle(
            "oekonomi.posteringer",
            "SELECT posteringsid, funktion, beloeb FROM t WHERE kommunekode = '0751' \
             AND beloeb >= 1000.50 AND funktion LIKE '5.%' ORDER BY beloeb DESC, posteringsid",
        )
        .await;
    assert!(oracle.len() > 4, "the test needs several pages");
    assert_eq!(rows.len(), oracle.len());
    for ((g, r), o) in rows.iter().zip(&rest).zip(&oracle) {
        assert_eq!(g["posteringsid"], o["posteringsid"]);
        assert_eq!(g["funktion"], o["funktion"]);
        assert!(g["beloeb"].is_string(), "decimals are exact strings: {g}");
        assert_eq!(number(&g["beloeb"]), number(&o["beloeb"]));
        assert_eq!(r["posteringsid"], o["posteringsid"]);
    }
    // Dates, in-lists, isNull and or, against the oracle.
    let body = gql(
        &app,
        &token,
        r#"{ borger_befolkning(first: 1000, where: {or: [{alder: {in: [0, 1, 99]}, koen: {eq: "K"}}, {alder: {eq: 50}}]}) {
             nodes { aar kvartal alder koen antal } } }"#,
        json!({}),
    )
    .await;
    let oracle = app
        .oracle(
            "borger.befolkning",
            "SELECT aar, kvartal, alder, koen, antal FROM t WHERE kommunekode = '0751' AND \
             ((alder IN (0, 1, 99) AND koen = 'K') OR alder = 50) ORDER BY aar, kvartal, alder, koen",
        )
        .await;
    assert!(!oracle.is_empty());
    assert_eq!(
        body["data"]["borger_befolkning"]["nodes"],
        json!(oracle),
        "{body}"
    );
}

#[tokio::test]
async fn aggregates_equal_the_oracle_within_the_scope() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let body = gql(
        &app,
        &token,
        r#"{ oekonomi_posteringer_aggregate(groupBy: [aar]) {
              tableVersion groups { key { aar } count sum { beloeb } min { beloeb } max { beloeb } avg { beloeb } } } }"#,
        json!({}),
    )
    .await;
    let groups = body["data"]["oekonomi_posteringer_aggregate"]["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let oracle = app
        .oracle(
            "oekonomi.posteringer",
            "SELECT aar, COUNT(*) AS n, SUM(beloeb) AS s, MIN(beloeb) AS lo, MAX(beloeb) AS hi, AVG(beloeb) AS av \
             FROM t WHERE kommunekode = '0101' GROUP BY aar ORDER BY aar",
        )
        .await;
    assert!(!oracle.is_empty());
    assert_eq!(groups.len(), oracle.len(), "{body}");
    for (g, o) in groups.iter().zip(&oracle) {
        assert_eq!(g["key"]["aar"], o["aar"]);
        assert_eq!(g["count"], o["n"]);
        assert_eq!(number(&g["sum"]["beloeb"]), number(&o["s"]));
        assert_eq!(number(&g["min"]["beloeb"]), number(&o["lo"]));
        assert_eq!(number(&g["max"]["beloeb"]), number(&o["hi"]));
        assert!((number(&g["avg"]["beloeb"]) - number(&o["av"])).abs() < 0.01);
    }
    // Only grouped columns can be read in key; cpr is not in the caller's schema at all.
    for (query, code) in [
        (
            "{ oekonomi_posteringer_aggregate(groupBy: [aar]) { groups { key { beloeb } count } } }",
            "invalid_parameter",
        ),
        (
            "{ aeldre_hjemmepleje_aggregate { groups { key { cpr } } } }",
            "invalid_query",
        ),
    ] {
        let body = gql(&app, &token, query, json!({})).await;
        assert_eq!(codes(&body), vec![code], "{body}");
        assert_eq!(body["errors"].as_array().map(Vec::len), Some(1));
    }
    // Grouped by the municipality column: only the caller's group exists.
    let body = gql(
        &app,
        &token,
        r#"{ oekonomi_posteringer_aggregate(groupBy: [kommunekode], where: {or: [{kommunekode: {eq: "0101"}}, {kommunekode: {eq: "0751"}}]}) {
              groups { key { kommunekode } count } } }"#,
        json!({}),
    )
    .await;
    assert_eq!(
        body["data"]["oekonomi_posteringer_aggregate"]["groups"],
        json!([{"key": {"kommunekode": "0101"}, "count": crate::helpers::ROWS}]),
        "{body}"
    );
}

#[tokio::test]
async fn cross_municipality_probes_leak_nothing() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let body = gql(
        &app,
        &token,
        r#"{ other: oekonomi_posteringer(where: {kommunekode: {eq: "0751"}}) { nodes { kommunekode } }
             mixed: oekonomi_posteringer(first: 100, where: {or: [{kommunekode: {eq: "0101"}}, {kommunekode: {eq: "0751"}}]}) { nodes { kommunekode posteringsid } }
             own: oekonomi_posteringer(first: 100, where: {kommunekode: {in: ["0751", "0101"]}}) { nodes { kommunekode } } }"#,
        json!({}),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["other"]["nodes"], json!([]));
    let mixed = body["data"]["mixed"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(mixed.len(), crate::helpers::ROWS);
    assert!(mixed.iter().all(|r| r["kommunekode"] == "0101"), "{body}");
    assert!(!body.to_string().contains("0751"));
    // Another municipality asked for outright: refused like REST.
    let body = gql(
        &app,
        &token,
        r#"{ oekonomi_posteringer(municipality: "0751") { nodes { kommunekode } } }"#,
        json!({}),
    )
    .await;
    assert_eq!(body["data"]["oekonomi_posteringer"], Value::Null);
    assert_eq!(codes(&body), vec!["municipality_not_granted"], "{body}");
    // A cursor issued to Aarhus, replayed by Copenhagen in a batch: refused.
    let aarhus = gql(
        &app,
        &app.analyst("0751"),
        "{ oekonomi_posteringer(first: 2) { pageInfo { endCursor } } }",
        json!({}),
    )
    .await;
    let cursor = aarhus["data"]["oekonomi_posteringer"]["pageInfo"]["endCursor"].clone();
    assert!(cursor.is_string());
    let batch = json!([
        {"query": "{ oekonomi_posteringer(first: 2) { nodes { kommunekode } } }"},
        {"query": "query($c: String) { oekonomi_posteringer(first: 2, after: $c) { nodes { kommunekode } } }", "variables": {"c": cursor}},
    ]);
    let (status, body) = post_raw(&app, batch.to_string().into_bytes(), Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body[0]["data"]["oekonomi_posteringer"]["nodes"][0]["kommunekode"],
        "0101"
    );
    assert_eq!(body[1]["data"]["oekonomi_posteringer"], Value::Null);
    assert_eq!(codes(&body[1]), vec!["invalid_cursor"], "{body}");
}

#[tokio::test]
async fn invisible_columns_cannot_be_selected_filtered_sorted_or_grouped() {
    let app = spawn_app().await;
    // Analysts have no sensitive role: cpr is not theirs to see.
    let token = app.analyst("0101");
    // A column they may not see is answered exactly as one that does not exist.
    for query in [
        "{ aeldre_hjemmepleje { nodes { cpr } } }",
        r#"{ aeldre_hjemmepleje(where: {cpr: {prefix: "0"}}) { nodes { visitationsid } } }"#,
        "{ aeldre_hjemmepleje(orderBy: [{column: cpr}]) { nodes { visitationsid } } }",
        "{ aeldre_hjemmepleje_aggregate(groupBy: [cpr]) { groups { count } } }",
    ] {
        let body = gql(&app, &token, query, json!({})).await;
        let absent = gql(&app, &token, &query.replace("cpr", "cprx"), json!({})).await;
        assert!(!codes(&body).is_empty(), "{query}: {body}");
        assert_eq!(codes(&body), codes(&absent), "{query}: {body} / {absent}");
        assert_eq!(
            body.to_string().replace("cpr", "cprx"),
            absent.to_string(),
            "{query}"
        );
        assert_eq!(body["data"]["aeldre_hjemmepleje"], Value::Null);
        assert!(!body.to_string().contains("cpr\":\""), "{body}");
    }
    // Nor does introspection name it, with its description; the sensitive role does.
    let fields = |token: String| {
        let app = &app;
        async move {
            let body = gql(
                app,
                &token,
                r#"{ __type(name: "AeldreHjemmeplejeRow") { fields { name description } } }"#,
                json!({}),
            )
            .await;
            body["data"]["__type"]["fields"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .filter_map(|f| f["name"].as_str().map(str::to_owned))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        }
    };
    let plain = fields(token.clone()).await;
    assert!(plain.contains(&"visitationsid".to_owned()), "{plain:?}");
    assert!(!plain.contains(&"cpr".to_owned()), "{plain:?}");
    let mut roles = crate::helpers::READ_ROLES.to_vec();
    roles.push("laes-foelsomme");
    let sensitive = app.token("0101", &roles, dap_schema::NsisLevel::Substantial);
    assert!(fields(sensitive.clone()).await.contains(&"cpr".to_owned()));
    // Below the dataset's assurance level (Substantial): its municipality column and
    // public columns only, and the schema still serves every other field.
    let low = app.token("0101", &roles, dap_schema::NsisLevel::Low);
    let shown = fields(low.clone()).await;
    assert!(shown.contains(&"kommunekode".to_owned()), "{shown:?}");
    assert!(!shown.contains(&"cpr".to_owned()), "{shown:?}");
    let me = gql(&app, &low, "{ me { subject } }", json!({})).await;
    assert!(me["errors"].is_null(), "{me}");
    let body = gql(&app, &token, "{ nope: __typename x { a } }", json!({})).await;
    assert_eq!(codes(&body), vec!["invalid_query"], "{body}");
    assert!(!body.to_string().contains("Did you mean"), "{body}");
}

#[tokio::test]
async fn abuse_is_refused_precisely_and_the_server_stays_responsive() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let wide = "{ oekonomi_posteringer(first: 100000) { nodes { posteringsid aar maaned bogfoeringsdato funktion beloeb } } }";
    assert_eq!(
        codes(&gql(&app, &token, wide, json!({})).await),
        vec!["query_too_complex"]
    );
    // A page size the server cannot know counts as the worst case.
    let unknown = "query($n: Int) { oekonomi_posteringer(first: $n) { nodes { aar } } }";
    assert_eq!(
        codes(&gql(&app, &token, unknown, json!({})).await),
        vec!["query_too_complex"]
    );
    let aliases: String = (0..20)
        .map(|i| format!("a{i}: me {{ subject }} "))
        .collect();
    let body = gql(&app, &token, &format!("{{ {aliases} }}"), json!({})).await;
    assert_eq!(codes(&body), vec!["too_many_aliases"], "{body}");
    let deep = format!("{{ me {}subject{} }}", "{ ".repeat(40), " }".repeat(40));
    assert_eq!(
        codes(&gql(&app, &token, &deep, json!({})).await),
        vec!["query_too_complex"]
    );
    // Valid, but nested deeper than the depth limit (15) through introspection types.
    let deep_selection = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType { ".repeat(14),
        "} ".repeat(14)
    );
    let body = gql(&app, &token, &deep_selection, json!({})).await;
    assert_eq!(codes(&body), vec!["query_too_complex"], "{body}");
    // A batch of 1,000 runs nothing.
    let batch: Vec<Value> = (0..1000)
        .map(|_| json!({"query": "{ me { subject } }"}))
        .collect();
    let (status, body) = post_raw(
        &app,
        serde_json::to_vec(&batch).unwrap_or_default(),
        Some(&token),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(codes(&body), vec!["batch_too_large"]);
    // Refusals are audited as denials with their code, and no dataset was read.
    let (status, records) =
        audit_of_post(&app, serde_json::to_vec(&batch).unwrap_or_default(), &token).await;
    assert_eq!(status, 400);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].outcome, "denied");
    assert_eq!(records[0].reason.as_deref(), Some("batch_too_large"));
    let (status, records) = audit_of_post(&app, vec![b' '; 100_000], &token).await;
    assert_eq!(status, 413);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].reason.as_deref(), Some("payload_too_large"));
    // 8 MiB is refused before parsing, with the project's error body.
    let padding = " ".repeat(8 * 1024 * 1024);
    let big = format!(r#"{{"query": "{{ me {{ subject }} }}{padding}"}}"#);
    let (status, body) = post_raw(&app, big.into_bytes(), Some(&token)).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "payload_too_large");
    // Unauthenticated: 401 like REST.
    let (status, body) = post_raw(&app, br#"{"query": "{ me { subject } }"}"#.to_vec(), None).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "invalid_token");
    // Still serving.
    let body = gql(
        &app,
        &token,
        "{ me { subject municipalities roles assuranceLevel } }",
        json!({}),
    )
    .await;
    assert_eq!(
        body["data"]["me"]["municipalities"],
        json!(["0101"]),
        "{body}"
    );
    assert_eq!(body["data"]["me"]["assuranceLevel"], "Substantial");
}

#[tokio::test]
async fn catalogue_time_travel_and_audit() {
    let app = spawn_app().await;
    let token = app.analyst("0147");
    let body = gql(
        &app,
        &token,
        "{ datasets { id domain title columns { name type classification } version updatedAt } }",
        json!({}),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    let datasets = body["data"]["datasets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let hjemmepleje = datasets
        .iter()
        .find(|d| d["id"] == "aeldre.hjemmepleje")
        .cloned()
        .unwrap_or_default();
    let columns = hjemmepleje["columns"].to_string();
    assert!(
        columns.contains("visitationsid") && !columns.contains("\"cpr\""),
        "{columns}"
    );
    let rest = app
        .get("/api/v1/datasets/aeldre.hjemmepleje", Some(&token))
        .await;
    assert_eq!(
        hjemmepleje["version"], rest.body["table_version"],
        "{hjemmepleje}"
    );
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&token)
        .json(&json!({"query": "{ personale_fravaer(first: 3, asOfVersion: 0) { tableVersion nodes { aar } } }"}))
        .send()
        .await
        .expect("post");
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["data"]["personale_fravaer"]["tableVersion"], 0,
        "{body}"
    );
    let oracle = app
        .oracle_at(
            "personale.fravaer",
            0,
            "SELECT aar FROM t WHERE kommunekode = '0147' ORDER BY aar, maaned, afdeling LIMIT 3",
        )
        .await;
    assert_eq!(
        body["data"]["personale_fravaer"]["nodes"]
            .as_array()
            .map(Vec::len),
        Some(oracle.len())
    );
    let records = app.audit_records(&request_id).await;
    let field = records
        .iter()
        .find(|r| r.dataset.as_deref() == Some("personale.fravaer"))
        .expect("a record for the dataset field");
    assert_eq!(field.municipality.as_deref(), Some("0147"));
    assert_eq!(field.table_version, Some(0));
    assert_eq!(field.rows_returned, i64::try_from(oracle.len()).ok());
    assert!(
        records
            .iter()
            .any(|r| r.action == "POST /graphql" && r.dataset.is_none())
    );
}

#[tokio::test]
async fn the_schema_follows_the_catalogue_without_a_restart() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let query = "{ oekonomi_posteringer(first: 1) { nodes { aar_kopi: aar } } }";
    let before = gql(
        &app,
        &token,
        "{ __type(name: \"OekonomiPosteringerRow\") { fields { name } } }",
        json!({}),
    )
    .await;
    assert!(before.to_string().contains("\"beloeb\""), "{before}");
    assert!(!before.to_string().contains("renamed_title"));
    // A new dataset id in the catalogue (same table) appears as a field after reload.
    let mut def = (*app
        .state
        .catalogue
        .get("oekonomi.posteringer")
        .expect("dataset"))
    .clone();
    def.id = dap_schema::DatasetId::parse("oekonomi.kopi").expect("id");
    app.state
        .control
        .upsert_dataset(&def)
        .await
        .expect("upsert");
    app.state
        .catalogue
        .reload(&app.state.control)
        .await
        .expect("reload");
    let body = gql(
        &app,
        &token,
        "{ oekonomi_kopi(first: 3) { nodes { posteringsid kommunekode } } }",
        json!({}),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    let oracle = app
        .oracle(
            "oekonomi.posteringer",
            "SELECT posteringsid, kommunekode FROM t WHERE kommunekode = '0101' ORDER BY posteringsid LIMIT 3",
        )
        .await;
    assert_eq!(body["data"]["oekonomi_kopi"]["nodes"], json!(oracle));
    assert!(gql(&app, &token, query, json!({})).await["errors"].is_null());
}

#[tokio::test]
async fn the_server_answers_others_while_abuse_is_sent() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let heavy = "{ oekonomi_posteringer(first: 10000) { nodes { posteringsid aar maaned bogfoeringsdato funktion beloeb } } }";
    // 1,000 dataset reads in one body (under the body limit): none of them may run.
    let batch: Vec<Value> = (0..1000)
        .map(|_| json!({"query": "{oekonomi_posteringer{nodes{aar}}}"}))
        .collect();
    let batch = serde_json::to_vec(&batch).unwrap_or_default();
    let mut abuse = tokio::task::JoinSet::new();
    for i in 0..20 {
        let body = if i % 2 == 0 {
            batch.clone()
        } else {
            json!({"query": heavy}).to_string().into_bytes()
        };
        let request = app
            .client
            .post(format!("{}/graphql", app.address))
            .header("content-type", "application/json")
            .bearer_auth(&token)
            .body(body);
        abuse.spawn(async move {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (i, status, body)
        });
    }
    let answer = gql(
        &app,
        &token,
        "{ oekonomi_posteringer(first: 5) { nodes { posteringsid } } }",
        json!({}),
    )
    .await;
    let refusals = abuse.join_all().await;
    assert_eq!(
        answer["data"]["oekonomi_posteringer"]["nodes"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );
    assert_eq!(refusals.len(), 20);
    for (i, status, body) in &refusals {
        let expected = if i % 2 == 0 {
            (400, "batch_too_large")
        } else {
            (200, "query_too_complex")
        };
        assert_eq!(
            (*status, codes(body)),
            (expected.0, vec![expected.1.to_owned()]),
            "{body}"
        );
    }
}

#[tokio::test]
async fn admin_mutations_follow_the_rest_rules_and_are_audited() {
    let app = spawn_app().await;
    let person = |subject: &str, municipality: &str, roles: &[&str]| {
        let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        app.dev
            .token(
                subject,
                municipality,
                &roles,
                dap_schema::NsisLevel::Substantial,
                chrono::Duration::minutes(10),
            )
            .expect("token")
    };
    let admin_a = person("admin-a", "0101", &["it-administration"]);
    let admin_b = person("admin-b", "0751", &["it-administration"]);
    let register = "mutation($input: NewClientInput!) { registerMachineClient(input: $input) }";
    let input = json!({"input": {"name": "GraphQL client", "description": "made in a test", "datasets": ["oekonomi.posteringer"], "expires_in_days": 7}});
    let body = gql(&app, &admin_a, register, input.clone()).await;
    let client = &body["data"]["registerMachineClient"];
    assert_eq!(client["municipality"], "0101", "{body}");
    assert_eq!(client["name"], "GraphQL client", "{body}");
    // The GraphQL listing shows the client with its name and description.
    let listed = gql(&app, &admin_a, "{ machineClients }", json!({})).await;
    let clients = listed["data"]["machineClients"]["clients"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        clients.iter().any(|c| c["client_id"] == client["client_id"]
            && c["name"] == "GraphQL client"
            && c["description"] == "made in a test"),
        "{listed}"
    );
    assert!(
        client["client_secret"]
            .as_str()
            .is_some_and(|s| s.len() > 30)
    );
    let id = client["client_id"].as_str().expect("id").to_owned();
    assert_eq!(
        app.state.control.clients_of("0101").await.expect("clients")[0]
            .0
            .client_id,
        id
    );

    // Another municipality's administrator: the client is not there for them.
    let disable = "mutation($id: String!) { disableMachineClient(id: $id) }";
    let body = gql(&app, &admin_b, disable, json!({"id": id})).await;
    assert_eq!(codes(&body), vec!["not_found"], "{body}");
    // A body naming another municipality, and an analyst.
    let forged = json!({"input": {"name": "Forged", "datasets": ["oekonomi.posteringer"], "municipality": "0101"}});
    assert_eq!(
        codes(&gql(&app, &admin_b, register, forged).await),
        vec!["forbidden"]
    );
    assert_eq!(
        codes(&gql(&app, &app.analyst("0101"), register, input).await),
        vec!["forbidden"]
    );
    assert_eq!(
        codes(
            &gql(
                &app,
                &admin_a,
                r#"mutation { putDataset(id: "x.y", input: {id: "x.y", domain: "x", title_da: "", title_en: "", description_da: "", description_en: "", location: "x/y", tenant_column: "kommunekode", read_role: "laes-x", min_nsis: "Low", key_columns: [], columns: []}) }"#,
                json!({})
            )
            .await
        ),
        vec!["forbidden"],
        "the catalogue is for platform operators"
    );

    // The owner disables it; the change is audited as a GraphQL mutation.
    let (status, records) = audit_of_post(
        &app,
        json!({"query": disable, "variables": {"id": id}})
            .to_string()
            .into_bytes(),
        &admin_a,
    )
    .await;
    assert_eq!(status, 200);
    let mutation = records
        .iter()
        .find(|r| r.action == "graphql mutation disableMachineClient")
        .expect("audit record of the mutation");
    assert_eq!(
        (mutation.outcome.as_str(), mutation.municipality.as_deref()),
        ("allowed", Some("0101"))
    );
    assert!(
        app.state.control.clients_of("0101").await.expect("clients")[0]
            .0
            .disabled
    );
}

#[tokio::test]
async fn a_dataset_the_caller_may_not_see_is_not_in_their_schema() {
    let app = spawn_app().await;
    let economist = app.token(
        "0101",
        &["laes-oekonomi"],
        dap_schema::NsisLevel::Substantial,
    );
    let body = gql(
        &app,
        &economist,
        "{ __schema { queryType { fields { name } } } }",
        json!({}),
    )
    .await;
    let names: Vec<&str> = body["data"]["__schema"]["queryType"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(names.contains(&"oekonomi_posteringer"), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("aeldre_")), "{names:?}");
    // Asking for it is the same as asking for a dataset that does not exist.
    let hidden = gql(
        &app,
        &economist,
        "{ aeldre_hjemmepleje { tableVersion } }",
        json!({}),
    )
    .await;
    let missing = gql(
        &app,
        &economist,
        "{ aeldre_findesikke { tableVersion } }",
        json!({}),
    )
    .await;
    assert_eq!(codes(&hidden), codes(&missing));
    assert_eq!(codes(&hidden), vec!["invalid_query"]);
    // A caller with the role sees it.
    let body = gql(
        &app,
        &app.analyst("0101"),
        "{ aeldre_hjemmepleje(first: 1) { tableVersion } }",
        json!({}),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
}

/// A GraphQL read's field records and its own record are appended together at its end:
/// the fields' first, in one chain order, and nothing answered unless all are written.
#[tokio::test]
async fn field_records_and_the_request_record_are_written_together_or_nothing_is_answered() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let query = json!({"query": "{ a: personale_fravaer(first: 2) { nodes { aar } } \
                                    b: oekonomi_posteringer(first: 3) { nodes { aar } } }"});
    let (status, records) = audit_of_post(&app, query.to_string().into_bytes(), &token).await;
    assert_eq!(status, 200);
    let mut records = records;
    records.sort_by_key(|r| r.seq);
    let mut order: Vec<(Option<&str>, Option<i64>)> = records
        .iter()
        .map(|r| (r.dataset.as_deref(), r.rows_returned))
        .collect();
    // The fields resolve concurrently: their records come in the order they finished,
    // both before the request's own.
    order[..2].sort();
    assert_eq!(
        order,
        [
            (Some("oekonomi.posteringer"), Some(3)),
            (Some("personale.fravaer"), Some(2)),
            (None, None)
        ],
        "{records:?}"
    );
    assert_eq!(records[2].action, "POST /graphql");

    // With the audit log locked, the rows are read but not answered.
    let (_other, txn) = crate::faults::lock_sqlite(&app).await;
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&token)
        .json(&query)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    txn.rollback().await.expect("release");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "audit_unavailable", "{body}");
    assert!(body.get("data").is_none(), "{body}");
}

/// A request dropped before its end (the client went away) still leaves the records of
/// the fields it read, a served one as interrupted, a refused one as it was.
#[tokio::test]
async fn a_request_dropped_before_its_end_leaves_its_fields_records() {
    use dap_api::app::{AuditFacts, RequestContext};
    let app = spawn_app().await;
    let core = &app.state;
    let principal = dap_auth::Principal::from_grants(
        "dropped-request".into(),
        dap_auth::dev_issuer::DEV_ISSUER.into(),
        dap_auth::CallerKind::User,
        std::collections::BTreeMap::from([(
            dap_schema::MunicipalityCode::parse("0101").expect("code"),
            std::collections::BTreeSet::from(["laes-oekonomi".to_owned()]),
        )]),
        dap_schema::NsisLevel::Substantial,
    );
    let request = RequestContext::new("req-dropped".into(), None, "POST /graphql".into());
    let ledger = core.audit_ledger();
    let served = async {
        Ok::<_, dap_api::app::AppError>((
            (),
            AuditFacts {
                rows_returned: Some(7),
                ..AuditFacts::default()
            },
        ))
    };
    core.audited_later(
        &ledger,
        &request.part("a".into()),
        &principal,
        Some("x.y"),
        served,
    )
    .await
    .expect("served");
    let refused = async {
        Err::<((), AuditFacts), _>(dap_api::app::AppError::InvalidParameter("bad".into()))
    };
    let _ = core
        .audited_later(
            &ledger,
            &request.part("b".into()),
            &principal,
            None,
            refused,
        )
        .await;

    drop(ledger);

    let mut records = Vec::new();
    for _ in 0..100 {
        records = app.audit_records("req-dropped").await;
        if records.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    records.sort_by_key(|r| r.seq);
    let outcomes: Vec<(&str, &str, Option<i64>)> = records
        .iter()
        .map(|r| (r.action.as_str(), r.outcome.as_str(), r.rows_returned))
        .collect();
    assert_eq!(
        outcomes,
        [("a", "interrupted", Some(7)), ("b", "denied", None)],
        "{records:?}"
    );
}

/// `datasets` is the core's listing and describe, audited like REST's: one record for
/// the listing, one per dataset whose columns or version were asked (however many of
/// those fields), and a refusal for another municipality recorded as denied.
#[tokio::test]
async fn the_catalogue_is_audited_per_dataset_and_refusals_are_recorded() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let query = json!({"query": "{ datasets { id version updatedAt columns { name } } }"});
    let (status, records) = audit_of_post(&app, query.to_string().into_bytes(), &token).await;
    assert_eq!(status, 200);
    let described: Vec<&str> = records
        .iter()
        .filter_map(|r| r.dataset.as_deref())
        .collect();
    let listed = app.get("/api/v1/datasets", Some(&token)).await;
    let visible = listed.body["datasets"].as_array().map_or(0, Vec::len);
    assert!(visible > 0);
    assert_eq!(
        described.len(),
        visible,
        "one record per dataset: {records:?}"
    );
    assert!(
        records.iter().all(|r| r.outcome == "allowed"),
        "{records:?}"
    );
    assert!(
        records
            .iter()
            .any(|r| r.dataset.is_none() && r.rows_returned == Some(visible as i64)),
        "the listing's own record: {records:?}"
    );

    let other = json!({"query": "{ datasets(municipality: \"0751\") { id columns { name } } }"});
    let (status, records) = audit_of_post(&app, other.to_string().into_bytes(), &token).await;
    assert_eq!(status, 200);
    let denied: Vec<_> = records.iter().filter(|r| r.outcome == "denied").collect();
    assert!(!denied.is_empty(), "{records:?}");
    assert!(
        denied
            .iter()
            .all(|r| r.reason.as_deref() == Some("municipality_not_granted")),
        "{denied:?}"
    );
}
