//! The OData feed's access rules: other municipalities' rows never appear, hidden
//! columns are reported like missing ones, what is not offered answers 501 in OData's
//! error format, Basic takes only a live personal access token, and every request is
//! audited.

use serde_json::{Value, json};

use crate::helpers::spawn_app;
use crate::odata::{Auth, P, WHERE, odata};

#[tokio::test]
async fn another_municipalitys_rows_never_appear_whatever_the_filter() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    for set in [
        "oekonomi_posteringer",
        "aeldre_hjemmepleje",
        "infrastruktur_it_systemer",
    ] {
        for filter in [
            "kommunekode eq '0751'",
            "kommunekode ne '0101'",
            "not (kommunekode eq '0101')",
            "kommunekode eq '0751' or kommunekode ne '0751'",
            "kommunekode in ('0751','0101') or startswith(kommunekode,'0')",
            "contains(kommunekode,'75') or endswith(kommunekode,'51')",
            "not startswith(kommunekode,'01') or not contains(kommunekode,'01')",
        ] {
            let reply = odata(
                &app,
                &format!("/odata/{set}?$filter={filter}"),
                Auth::Bearer(&token),
                &[],
            )
            .await;

            assert_eq!(reply.status, 200, "{set} {filter}: {}", reply.text);
            assert!(
                reply.value().iter().all(|r| r["kommunekode"] == "0101"),
                "{set} {filter}"
            );
            assert!(!reply.text.contains("0751"), "{set} {filter}");
        }
    }
}

#[tokio::test]
async fn what_is_not_offered_answers_501_and_bad_requests_400_in_odata_format() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let cases = [
        ("$expand=x", 501, "not_implemented"),
        ("$apply=groupby((aar))", 501, "not_implemented"),
        ("$search=x", 501, "not_implemented"),
        ("$filter=tolower(funktion) eq '5'", 501, "not_implemented"),
        (
            "$filter=contains(tolower(funktion),'a')",
            501,
            "not_implemented",
        ),
        ("$filter=hour(bogfoeringsdato) eq 1", 501, "not_implemented"),
        ("$filter=aar eq maaned", 501, "not_implemented"),
        (
            "$filter=month(bogfoeringsdato) eq 1.5",
            400,
            "invalid_parameter",
        ),
        ("$filter=aar eq", 400, "invalid_parameter"),
        ("$filter=nosuch eq 1", 400, "unknown_column"),
        ("$filter=aar eq 'x'", 400, "invalid_parameter"),
        ("$orderby=nosuch", 400, "unknown_column"),
        ("$skiptoken=1.garbage", 400, "invalid_cursor"),
    ];
    for (query, status, code) in cases {
        let reply = odata(&app, &format!("{P}?{query}"), Auth::Bearer(&token), &[]).await;

        assert_eq!(
            (reply.status, reply.body["error"]["code"].as_str()),
            (status, Some(code)),
            "{query}: {}",
            reply.text
        );
        let message = reply.body["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{query}");
        if status == 501 {
            assert!(message.contains("supported"), "{query}: {message}");
        }
    }
    let malformed = odata(
        &app,
        &format!("{P}?$filter=aar eq 2024 and"),
        Auth::Bearer(&token),
        &[],
    )
    .await;
    let message = malformed.body["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("at position 15"), "{message}");
    // A column the caller may not see is reported exactly like one that does not exist.
    let hidden = odata(
        &app,
        "/odata/aeldre_hjemmepleje?$filter=cpr eq '1'",
        Auth::Bearer(&token),
        &[],
    )
    .await;
    let missing = odata(
        &app,
        "/odata/aeldre_hjemmepleje?$filter=xyz eq '1'",
        Auth::Bearer(&token),
        &[],
    )
    .await;
    assert_eq!(hidden.status, 400);
    assert_eq!(
        hidden.body["error"]["message"]
            .as_str()
            .map(|m| m.replace("'cpr'", "'xyz'")),
        missing.body["error"]["message"].as_str().map(str::to_owned)
    );
    let unknown_set = odata(&app, "/odata/borger_hemmeligt", Auth::Bearer(&token), &[]).await;
    assert_eq!(unknown_set.status, 404);
    assert_eq!(unknown_set.body["error"]["code"], "dataset_not_found");
}

#[tokio::test]
async fn basic_with_a_personal_access_token_signs_in_until_it_is_revoked() {
    let app = spawn_app().await;
    let anna = app.analyst("0101");
    let created: Value = app
        .client
        .post(format!("{}/api/v1/me/tokens", app.address))
        .bearer_auth(&anna)
        .json(&json!({"name": "Excel", "datasets": ["oekonomi.posteringer"]}))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let pat = created["token"].as_str().expect("token").to_owned();

    let anonymous = odata(&app, "/odata/", Auth::None, &[]).await;
    let service = odata(&app, "/odata/", Auth::Basic(&pat), &[]).await;
    let rows = odata(
        &app,
        &format!("{P}?$orderby=posteringsid"),
        Auth::Basic(&pat),
        &[],
    )
    .await;
    let jwt_as_password = odata(&app, "/odata/", Auth::Basic(&anna), &[]).await;
    let wrong = odata(&app, "/odata/", Auth::Basic("dap_pat_not-a-real-one"), &[]).await;

    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous.headers["www-authenticate"]
            .to_str()
            .ok()
            .map(|v| v.starts_with(r#"Basic realm="dap""#)),
        Some(true)
    );
    assert!(
        anonymous.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("personal access token")
    );
    assert_eq!(service.status, 200, "{}", service.text);
    let datasets: Vec<Value> = service
        .value()
        .into_iter()
        .filter(|s| {
            !s["name"]
                .as_str()
                .unwrap_or_default()
                .starts_with("noegletal_")
        })
        .collect();
    assert_eq!(datasets.len(), 1, "a PAT opens only its datasets");
    let oracle = app
        .oracle(
            "oekonomi.posteringer",
            &format!("SELECT * {WHERE} ORDER BY posteringsid"),
        )
        .await;
    assert_eq!(rows.value(), oracle);
    assert_eq!(
        jwt_as_password.status, 401,
        "Basic takes personal access tokens only"
    );
    assert_eq!(wrong.status, 401);

    let id = created["id"].as_str().expect("id");
    let revoked = app
        .client
        .delete(format!("{}/api/v1/me/tokens/{id}", app.address))
        .bearer_auth(&anna)
        .send()
        .await
        .expect("delete");
    assert_eq!(revoked.status().as_u16(), 204);
    let after = odata(&app, "/odata/", Auth::Basic(&pat), &[]).await;
    assert_eq!(after.status, 401);
    assert_eq!(after.body["error"]["code"], "invalid_token");
}

#[tokio::test]
async fn every_request_is_audited_with_what_it_read() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let reply = odata(
        &app,
        &format!("{P}?$filter=aar eq 2024&$select=posteringsid&$top=3"),
        Auth::Bearer(&token),
        &[],
    )
    .await;
    let request_id = reply.headers["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();

    let records = app.audit_records(&request_id).await;

    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.dataset.as_deref(), Some("oekonomi.posteringer"));
    assert_eq!(record.action, "GET /odata/{set}");
    assert_eq!(record.rows_returned, Some(3));
    assert_eq!(record.columns.as_deref(), Some("posteringsid"));
    assert!(
        record
            .filter
            .as_deref()
            .is_some_and(|f| f.contains("aar eq 2024")),
        "{:?}",
        record.filter
    );
}

/// A request refused before it reads is audited with the refusal the caller got, as on
/// every other surface: an entity set the caller may not see is `dataset_not_found` in
/// the log too (not an invalid parameter), a malformed option `invalid_parameter`.
#[tokio::test]
async fn refusals_are_audited_with_the_code_the_caller_got() {
    let app = spawn_app().await;
    let economist = app.token(
        "0101",
        &["laes-oekonomi"],
        dap_schema::NsisLevel::Substantial,
    );
    for (path, status, code) in [
        ("/odata/aeldre_hjemmepleje", 404, "dataset_not_found"),
        ("/odata/no_such_set?$top=1", 404, "dataset_not_found"),
        (&format!("{P}?$top=many") as &str, 400, "invalid_parameter"),
        // A municipality not acted for (here a typo of 0101): refused, as a read of a
        // set is, instead of a service without sets (it was 200 with none).
        ("/odata/?municipality=0l01", 403, "municipality_not_granted"),
        (
            "/odata/$metadata?municipality=0751",
            403,
            "municipality_not_granted",
        ),
    ] {
        let reply = odata(&app, path, Auth::Bearer(&economist), &[]).await;
        assert_eq!(reply.status, status, "{path}: {}", reply.text);
        assert_eq!(reply.body["error"]["code"], code, "{path}");
        let request_id = reply.headers["x-request-id"].to_str().expect("id");

        let records = app.audit_records(request_id).await;

        assert_eq!(records.len(), 1, "{path}");
        assert_eq!(records[0].outcome, "denied", "{path}");
        assert_eq!(records[0].reason.as_deref(), Some(code), "{path}");
    }
}

#[tokio::test]
async fn basic_with_anything_but_a_live_personal_access_token_is_401_asking_for_basic() {
    let app = spawn_app().await;
    let anna = app.analyst("0101");
    let created: Value = app
        .client
        .post(format!("{}/api/v1/me/tokens", app.address))
        .bearer_auth(&anna)
        .json(&json!({"name": "Excel", "datasets": ["oekonomi.posteringer"]}))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let pat = created["token"].as_str().expect("token");
    let broken_pat = format!("{}x", pat);
    let encode = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
    let headers = [
        ("no credentials", None),
        (
            "a broker token as password",
            Some(format!("Basic {}", encode(&format!("excel:{anna}")))),
        ),
        (
            "a changed PAT",
            Some(format!("Basic {}", encode(&format!("excel:{broken_pat}")))),
        ),
        (
            "a PAT as user name",
            Some(format!("Basic {}", encode(&format!("{pat}:")))),
        ),
        (
            "a password",
            Some(format!("Basic {}", encode("anna:hemmelig"))),
        ),
        (
            "an empty password",
            Some(format!("Basic {}", encode("excel:"))),
        ),
        ("not base64", Some("Basic ***".to_owned())),
        ("a bad bearer token", Some("Bearer not-a-token".to_owned())),
    ];

    for (what, authorization) in headers {
        for path in ["/odata/", "/odata/$metadata", P] {
            let mut request = app.client.get(format!("{}{path}", app.address));
            if let Some(value) = &authorization {
                request = request.header("authorization", value);
            }
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            let challenge = response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body: Value = response.json().await.unwrap_or(Value::Null);

            assert_eq!(status, 401, "{what} {path}");
            assert!(
                challenge
                    .as_deref()
                    .is_some_and(|c| c.contains(r#"Basic realm="dap""#)),
                "{what} {path}: {challenge:?}"
            );
            assert_eq!(body["error"]["code"], "invalid_token", "{what} {path}");
            assert!(body["value"].is_null(), "{what} {path}: no rows");
        }
    }
    // The same live PAT by Basic opens the feed, and nothing outside `/odata/`.
    let feed = odata(&app, P, Auth::Basic(pat), &[]).await;
    assert_eq!(feed.status, 200, "{}", feed.text);
    let rest = app
        .client
        .get(format!(
            "{}/api/v1/datasets/oekonomi.posteringer/rows",
            app.address
        ))
        .basic_auth("excel", Some(pat))
        .send()
        .await
        .expect("rest");
    assert_eq!(rest.status().as_u16(), 401, "Basic is for /odata/ only");
}

#[tokio::test]
async fn cpr_appears_in_no_answer_without_laes_foelsomme() {
    let app = spawn_app().await;
    let plain = app.analyst("0101");
    let mut roles = crate::helpers::READ_ROLES.to_vec();
    roles.push("laes-foelsomme");
    let sensitive = app.token("0101", &roles, dap_schema::NsisLevel::Substantial);
    let set = "/odata/aeldre_hjemmepleje";
    let paths = [
        "/odata/".to_owned(),
        "/odata/$metadata".to_owned(),
        set.to_owned(),
        format!("{set}?$select=*"),
        format!("{set}?$count=true&$top=3"),
        format!("{set}?$filter=kommunekode eq '0101'&$orderby=kommunekode"),
    ];

    for path in &paths {
        let without = odata(&app, path, Auth::Bearer(&plain), &[]).await;
        let with = odata(&app, path, Auth::Bearer(&sensitive), &[]).await;

        assert_eq!(
            (without.status, with.status),
            (200, 200),
            "{path}: {}",
            without.text
        );
        assert!(!without.text.contains("cpr"), "{path}: {}", without.text);
        if path.starts_with(set) {
            let rows = without.value();
            assert!(!rows.is_empty(), "{path}: a case that tests nothing");
            assert!(rows.iter().all(|r| r.get("cpr").is_none()), "{path}");
            assert!(
                with.value().iter().all(|r| r.get("cpr").is_some()),
                "{path}"
            );
        }
    }
    // Naming it anywhere is refused like a column that does not exist, and reads nothing.
    for query in [
        "$select=cpr",
        "$filter=cpr ne null",
        "$orderby=cpr",
        "$filter=startswith(cpr,'0')",
    ] {
        let reply = odata(&app, &format!("{set}?{query}"), Auth::Bearer(&plain), &[]).await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.text);
        assert_eq!(reply.body["error"]["code"], "unknown_column", "{query}");
        assert!(reply.body["value"].is_null(), "{query}");
    }
}
