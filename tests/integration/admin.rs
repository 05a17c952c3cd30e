//! IT administration: every admin route against every kind of caller, confinement to the
//! administrator's own municipality, and the settings and delegations taking effect.

use dap_schema::NsisLevel;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const A: &str = "0101";
const B: &str = "0751";
const ADMIN: &str = "it-administration";

pub(crate) fn person(app: &TestApp, subject: &str, municipality: &str, roles: &[&str]) -> String {
    let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
    app.dev
        .token(
            subject,
            municipality,
            &roles,
            NsisLevel::Substantial,
            chrono::Duration::minutes(10),
        )
        .expect("token")
}

pub(crate) async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let url = format!("{}{path}", app.address);
    let mut request = match method {
        "GET" => app.client.get(url),
        "POST" => app.client.post(url),
        "PUT" => app.client.put(url),
        "DELETE" => app.client.delete(url),
        other => panic!("method {other}"),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A machine client of `municipality`, registered directly, and its access token.
pub(crate) async fn machine_token(app: &TestApp, municipality: &str) -> (String, String) {
    let secret = dap_auth::secrets::new_secret();
    let client = dap_schema::MachineClient {
        client_id: dap_auth::secrets::new_id("dap-"),
        name: format!("client {}", dap_auth::secrets::new_id("dap-")),
        description: None,
        municipality: municipality.into(),
        datasets: vec!["oekonomi.posteringer".into()],
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
    let response = app
        .client
        .post(format!("{}/oauth/token", app.address))
        .basic_auth(&client.client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request");
    let body: Value = response.json().await.expect("json");
    (
        client.client_id,
        body["access_token"].as_str().expect("token").to_owned(),
    )
}

struct Fixtures {
    client_a: String,
    pat_a: String,
    delegation_a: String,
}

/// Records of municipality A that the matrix then probes.
async fn fixtures(app: &TestApp, admin_a: &str, analyst_a: &str) -> Fixtures {
    let (status, created) = call(
        app,
        "POST",
        "/api/v1/admin/clients",
        Some(admin_a),
        Some(&json!({"name": "Fixture client", "datasets": ["oekonomi.posteringer"], "expires_in_days": 30})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert!(
        created["client_secret"]
            .as_str()
            .is_some_and(|s| s.len() > 30)
    );
    let (status, pat) = call(
        app,
        "POST",
        "/api/v1/me/tokens",
        Some(analyst_a),
        Some(&json!({"name": "Power BI", "datasets": ["oekonomi.posteringer"]})),
    )
    .await;
    assert_eq!(status, 201, "{pat}");
    let until = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let (status, delegation) = call(app, "POST", "/api/v1/admin/delegations", Some(admin_a),
        Some(&json!({"grantee_cvr": "12345678", "datasets": ["oekonomi.posteringer"], "valid_until": until}))).await;
    assert_eq!(status, 201, "{delegation}");
    Fixtures {
        client_a: created["client_id"].as_str().expect("id").into(),
        pat_a: pat["id"].as_str().expect("id").into(),
        delegation_a: delegation["id"].as_str().expect("id").into(),
    }
}

#[tokio::test]
async fn every_admin_route_against_every_caller() {
    let app = spawn_app().await;
    let analyst_a = app.analyst(A);
    let admin_a = person(&app, "admin-a", A, &[ADMIN]);
    let admin_b = person(&app, "admin-b", B, &[ADMIN]);
    let operator = person(&app, "demo-operator", A, &[]);
    let (_, machine_a) = machine_token(&app, A).await;
    // it-administration of A held only under a data constraint: administration cannot
    // honour one (a client it registers reads the whole municipality), so it opens none.
    let constrained_admin_a = app.kombit.sign(&app.kombit.kombit_claims_constrained(
        &[(
            "64942212",
            &[ADMIN, "laes-personale"],
            &[(dap_lake::demo::ORG_UNIT_CONSTRAINT, "0101-org-01")],
        )],
        "Substantial",
    ));
    let f = fixtures(&app, &admin_a, &analyst_a).await;
    let catalogue_def = serde_json::to_value(
        app.state
            .catalogue
            .get("borger.befolkning")
            .expect("dataset")
            .as_ref(),
    )
    .expect("def");
    let key_figure = serde_json::to_value(&app.state.key_figures.all()[0]).expect("key figure");
    let key_figure_path = format!(
        "/api/v1/admin/key-figures/{}",
        key_figure["id"].as_str().expect("id")
    );
    let until = (chrono::Utc::now() + chrono::Duration::days(10)).to_rfc3339();
    let new_client = json!({"name": "Matrix client", "datasets": ["oekonomi.posteringer"]});
    let settings = json!({"disabled_datasets": [], "min_nsis": null});
    let delegation = json!({"grantee_cvr": "87654321", "datasets": ["oekonomi.posteringer"], "valid_until": until});
    let delivery_right = json!({"dataset": "oekonomi.posteringer", "issuer": "https://broker.example", "subject": "integrator-1"});
    // (method, path, body): safe routes first, destructive ones last.
    let routes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/api/v1/admin/clients".into(), None),
        ("POST", "/api/v1/admin/clients".into(), Some(new_client)),
        (
            "POST",
            format!("/api/v1/admin/clients/{}/rotate", f.client_a),
            None,
        ),
        ("GET", "/api/v1/admin/tokens".into(), None),
        ("GET", "/api/v1/admin/settings".into(), None),
        ("PUT", "/api/v1/admin/settings".into(), Some(settings)),
        ("GET", "/api/v1/admin/delegations".into(), None),
        ("POST", "/api/v1/admin/delegations".into(), Some(delegation)),
        ("GET", "/api/v1/admin/delivery-rights".into(), None),
        (
            "POST",
            "/api/v1/admin/delivery-rights".into(),
            Some(delivery_right),
        ),
        (
            "DELETE",
            "/api/v1/admin/delivery-rights?dataset=oekonomi.posteringer&issuer=https%3A%2F%2Fbroker.example&subject=integrator-1".into(),
            None,
        ),
        ("GET", "/api/v1/admin/audit".into(), None),
        ("GET", "/api/v1/admin/catalogue".into(), None),
        (
            "PUT",
            "/api/v1/admin/catalogue/borger.befolkning".into(),
            Some(catalogue_def),
        ),
        // A dataset that is not registered: the operator's answer is 404, and nothing
        // the matrix reads later disappears.
        ("DELETE", "/api/v1/admin/catalogue/borger.nope".into(), None),
        ("GET", "/api/v1/admin/key-figures".into(), None),
        ("GET", key_figure_path.clone(), None),
        ("PUT", key_figure_path.clone(), Some(key_figure)),
        (
            "POST",
            format!("/api/v1/admin/clients/{}/disable", f.client_a),
            None,
        ),
        ("DELETE", format!("/api/v1/admin/tokens/{}", f.pat_a), None),
        (
            "DELETE",
            format!("/api/v1/admin/delegations/{}", f.delegation_a),
            None,
        ),
        (
            "DELETE",
            format!("/api/v1/admin/clients/{}", f.client_a),
            None,
        ),
        ("DELETE", key_figure_path.clone(), None),
    ];
    // The document lists exactly these admin operations.
    let documented: usize = dap_api::openapi::document()
        .paths
        .paths
        .iter()
        .filter(|(p, _)| p.starts_with("/api/v1/admin"))
        .map(|(_, item)| {
            [
                item.get.is_some(),
                item.post.is_some(),
                item.put.is_some(),
                item.delete.is_some(),
            ]
            .iter()
            .filter(|x| **x)
            .count()
        })
        .sum();
    assert_eq!(
        documented,
        routes.len(),
        "every admin operation is in the matrix"
    );

    let a_ids = [
        f.client_a.as_str(),
        f.pat_a.as_str(),
        f.delegation_a.as_str(),
    ];
    for (method, path, body) in &routes {
        // Catalogue and key-figure definitions: platform operators only.
        let is_catalogue = path.contains("/catalogue") || path.contains("/key-figures");
        let is_audit = path.ends_with("/audit");
        let names_a_record = a_ids.iter().any(|id| path.contains(id));
        let expected: [(&str, Option<&str>, u16); 6] = [
            ("anonymous", None, 401),
            ("analyst of A", Some(&analyst_a), 403),
            ("machine client of A", Some(&machine_a), 403),
            (
                "administrator of A under a data constraint",
                Some(&constrained_admin_a),
                403,
            ),
            (
                "platform operator",
                Some(&operator),
                match (is_catalogue || is_audit, *method == "DELETE") {
                    (true, true) if path.contains("/key-figures") => 204,
                    (true, true) => 404,
                    (true, false) => 200,
                    (false, _) => 403,
                },
            ),
            (
                "administrator of B",
                Some(&admin_b),
                if is_catalogue {
                    403
                } else if names_a_record {
                    404
                } else if *method == "POST" {
                    201
                } else if *method == "DELETE" {
                    // A record of B's own (the delivery right B granted above).
                    204
                } else {
                    200
                },
            ),
        ];
        for (who, token, status) in expected {
            let (got, answer) = call(&app, method, path, token, body.as_ref()).await;
            assert_eq!(got, status, "{who}: {method} {path}: {answer}");
            if who == "administrator of B" {
                let text = answer.to_string();
                for id in a_ids {
                    assert!(!text.contains(id), "{who} saw {id} in {method} {path}");
                }
                assert!(
                    !text.contains(&format!("\"{A}\"")),
                    "{who} saw municipality A in {method} {path}: {text}"
                );
            }
        }
        let (got, answer) = call(&app, method, path, Some(&admin_a), body.as_ref()).await;
        let expected = if is_catalogue {
            403
        } else if *method == "DELETE" || path.ends_with("/disable") {
            204
        } else if *method == "POST" && !path.ends_with("/rotate") {
            201
        } else {
            200
        };
        assert_eq!(
            got, expected,
            "administrator of A: {method} {path}: {answer}"
        );
    }
}

#[tokio::test]
async fn a_body_or_parameter_naming_another_municipality_is_refused() {
    let app = spawn_app().await;
    let admin_b = person(&app, "admin-b", B, &[ADMIN]);
    let until = (chrono::Utc::now() + chrono::Duration::days(10)).to_rfc3339();
    let cases = [
        (
            "POST",
            "/api/v1/admin/clients",
            json!({"name": "Forged", "datasets": ["oekonomi.posteringer"], "municipality": A}),
        ),
        (
            "PUT",
            "/api/v1/admin/settings",
            json!({"disabled_datasets": ["oekonomi.posteringer"], "municipality": A}),
        ),
        (
            "POST",
            "/api/v1/admin/delegations",
            json!({"grantee_cvr": "12345678", "datasets": ["oekonomi.posteringer"], "valid_until": until, "grantor": A}),
        ),
    ];
    for (method, path, body) in &cases {
        let (status, answer) = call(&app, method, path, Some(&admin_b), Some(body)).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (403, Some("forbidden")),
            "{path}: {answer}"
        );
        let (status, answer) = call(
            &app,
            method,
            &format!("{path}?municipality={A}"),
            Some(&admin_b),
            Some(body),
        )
        .await;
        assert_eq!(status, 403, "{path}?municipality={A}: {answer}");
        assert_eq!(answer["code"], "municipality_not_granted");
    }
    // Nothing of A changed.
    assert!(app.state.admin.settings_of(A).is_none());
    assert!(
        app.state
            .control
            .clients_of(A)
            .await
            .expect("clients")
            .is_empty()
    );
}

#[tokio::test]
async fn settings_switch_datasets_off_and_raise_the_assurance_level() {
    let app = spawn_app().await;
    let admin_a = person(&app, "admin-a", A, &[ADMIN]);
    let rows = "/api/v1/datasets/oekonomi.posteringer/rows?limit=2";
    assert_eq!(app.get(rows, Some(&app.analyst(A))).await.status, 200);
    let (status, _) = call(
        &app,
        "PUT",
        "/api/v1/admin/settings",
        Some(&admin_a),
        Some(&json!({"disabled_datasets": ["oekonomi.posteringer"]})),
    )
    .await;
    assert_eq!(status, 200);
    let off = app.get(rows, Some(&app.analyst(A))).await;
    assert_eq!(
        (off.status, off.body["code"].as_str()),
        (404, Some("dataset_not_found"))
    );
    let listing = app.get("/api/v1/datasets", Some(&app.analyst(A))).await;
    assert!(!listing.body.to_string().contains("oekonomi.posteringer"));
    assert_eq!(
        app.get(rows, Some(&app.analyst(B))).await.status,
        200,
        "B is not affected"
    );
    // Deny wins over assurance: a dataset switched off is not there even for a caller
    // whose level would be too low for it (aeldre.hjemmepleje needs Substantial).
    let care = "/api/v1/datasets/aeldre.hjemmepleje/rows?limit=1";
    let low = app.token(A, crate::helpers::READ_ROLES, NsisLevel::Low);
    let too_low = app.get(care, Some(&low)).await;
    assert_eq!(
        too_low.body["code"], "insufficient_assurance",
        "{}",
        too_low.body
    );
    let (status, _) = call(
        &app,
        "PUT",
        "/api/v1/admin/settings",
        Some(&admin_a),
        Some(&json!({"disabled_datasets": ["oekonomi.posteringer", "aeldre.hjemmepleje"]})),
    )
    .await;
    assert_eq!(status, 200);
    let hidden = app.get(care, Some(&low)).await;
    assert_eq!(
        (hidden.status, hidden.body["code"].as_str()),
        (404, Some("dataset_not_found")),
        "{}",
        hidden.body
    );
    let listing = app.get("/api/v1/datasets", Some(&low)).await;
    assert!(!listing.body.to_string().contains("aeldre.hjemmepleje"));

    let (status, _) = call(
        &app,
        "PUT",
        "/api/v1/admin/settings",
        Some(&admin_a),
        Some(&json!({"disabled_datasets": [], "min_nsis": "High"})),
    )
    .await;
    assert_eq!(status, 200);
    let low = app.get(rows, Some(&app.analyst(A))).await;
    assert_eq!(
        (low.status, low.body["code"].as_str()),
        (403, Some("insufficient_assurance"))
    );
    let high = app.token(A, crate::helpers::READ_ROLES, NsisLevel::High);
    assert_eq!(app.get(rows, Some(&high)).await.status, 200);
    let (status, answer) = call(
        &app,
        "PUT",
        "/api/v1/admin/settings",
        Some(&admin_a),
        Some(&json!({"min_nsis": "Extreme"})),
    )
    .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("invalid_parameter"))
    );
}

#[tokio::test]
async fn a_delegation_opens_named_datasets_to_the_organisation_until_revoked() {
    let app = spawn_app().await;
    let admin_a = person(&app, "admin-a", A, &[ADMIN]);
    // A consultancy's employee: privileges from their own organisation's CVR only.
    let consultant = app.kombit.sign(&app.kombit.kombit_claims(
        &[("12345678", &["laes-oekonomi", "laes-personale"])],
        "Substantial",
    ));
    let rows = format!("/api/v1/datasets/oekonomi.posteringer/rows?municipality={A}&limit=500");
    let before = app.get(&rows, Some(&consultant)).await;
    assert!(matches!(before.status, 403 | 404), "{}", before.body);
    let until = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let (status, delegation) = call(&app, "POST", "/api/v1/admin/delegations", Some(&admin_a),
        Some(&json!({"grantee_cvr": "12345678", "datasets": ["oekonomi.posteringer"], "valid_until": until}))).await;
    assert_eq!(status, 201, "{delegation}");
    let during = app.get(&rows, Some(&consultant)).await;
    assert_eq!(during.status, 200, "{}", during.body);
    let expected = app
        .oracle(
            "oekonomi.posteringer",
            &format!("SELECT posteringsid FROM t WHERE kommunekode = '{A}'"),
        )
        .await;
    assert_eq!(during.rows().len(), expected.len().min(500));
    assert!(during.rows().iter().all(|r| r["kommunekode"] == A));
    // Only the delegated dataset, and only A.
    let other = app
        .get(
            &format!("/api/v1/datasets/personale.fravaer/rows?municipality={A}"),
            Some(&consultant),
        )
        .await;
    assert!(matches!(other.status, 403 | 404));
    let elsewhere = app
        .get(
            &format!("/api/v1/datasets/oekonomi.posteringer/rows?municipality={B}"),
            Some(&consultant),
        )
        .await;
    assert!(matches!(elsewhere.status, 403 | 404));
    // The grantee is no municipality, so only A's administrator lists it here (see the
    // next test for a delegation between municipalities).
    let (_, listed) = call(
        &app,
        "GET",
        "/api/v1/admin/delegations",
        Some(&admin_a),
        None,
    )
    .await;
    assert_eq!(listed["delegations"][0]["direction"], "granted");
    let id = delegation["id"].as_str().expect("id");
    let (status, _) = call(
        &app,
        "DELETE",
        &format!("/api/v1/admin/delegations/{id}"),
        Some(&admin_a),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let after = app.get(&rows, Some(&consultant)).await;
    assert!(matches!(after.status, 403 | 404), "revoked: {}", after.body);
}

#[tokio::test]
async fn a_delegation_to_another_municipality_is_visible_to_both_sides() {
    let app = spawn_app().await;
    let admin_a = person(&app, "admin-a", A, &[ADMIN]);
    let admin_b = person(&app, "admin-b", B, &[ADMIN]);
    let cvr_b = dap_schema::MunicipalityCode::parse(B)
        .expect("code")
        .municipality()
        .expect("known")
        .cvr
        .clone();
    let until = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let (status, _) = call(
        &app,
        "POST",
        "/api/v1/admin/delegations",
        Some(&admin_a),
        Some(
            &json!({"grantee_cvr": cvr_b, "datasets": ["borger.befolkning"], "valid_until": until}),
        ),
    )
    .await;
    assert_eq!(status, 201);
    let (_, listed) = call(
        &app,
        "GET",
        "/api/v1/admin/delegations",
        Some(&admin_b),
        None,
    )
    .await;
    assert_eq!(listed["delegations"][0]["direction"], "received");
    assert_eq!(listed["delegations"][0]["grantor"], A);
    // B's administrator cannot revoke A's delegation.
    let id = listed["delegations"][0]["id"].as_str().expect("id");
    let (status, _) = call(
        &app,
        "DELETE",
        &format!("/api/v1/admin/delegations/{id}"),
        Some(&admin_b),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn administrators_query_and_export_their_municipalitys_audit_log() {
    let app = spawn_app().await;
    let admin_a = person(&app, "admin-a", A, &[ADMIN]);
    for m in [A, B, A] {
        app.get(
            "/api/v1/datasets/oekonomi.posteringer/rows?limit=3",
            Some(&app.analyst(m)),
        )
        .await;
    }
    let (status, page) = call(
        &app,
        "GET",
        "/api/v1/admin/audit?dataset=oekonomi.posteringer",
        Some(&admin_a),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let records = page["records"].as_array().expect("records");
    assert_eq!(records.len(), 2, "{page}");
    assert!(
        records
            .iter()
            .all(|r| r["municipality"] == A && r["rows_returned"] == 3)
    );
    let csv = app
        .client
        .get(format!(
            "{}/api/v1/admin/audit?format=csv&dataset=oekonomi.posteringer",
            app.address
        ))
        .bearer_auth(&admin_a)
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.expect("text");
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 3, "header + 2 records: {text}");
    assert!(lines[0].starts_with("id,seq,occurred_at"));
    let ndjson = app
        .client
        .get(format!(
            "{}/api/v1/admin/audit?format=ndjson&outcome=allowed",
            app.address
        ))
        .bearer_auth(&admin_a)
        .send()
        .await
        .expect("ndjson")
        .text()
        .await
        .expect("text");
    for line in ndjson.lines() {
        let r: Value = serde_json::from_str(line).expect("json line");
        assert_eq!(
            (r["municipality"].as_str(), r["outcome"].as_str()),
            (Some(A), Some("allowed"))
        );
    }
    // Paging: one record per page, chained by next_after.
    let (_, first) = call(
        &app,
        "GET",
        "/api/v1/admin/audit?dataset=oekonomi.posteringer&limit=1",
        Some(&admin_a),
        None,
    )
    .await;
    let after = first["next_after"].as_i64().expect("next");
    let (_, second) = call(
        &app,
        "GET",
        &format!("/api/v1/admin/audit?dataset=oekonomi.posteringer&limit=1&after={after}"),
        Some(&admin_a),
        None,
    )
    .await;
    assert_ne!(first["records"][0]["id"], second["records"][0]["id"]);
}
