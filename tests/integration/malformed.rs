//! Every 4xx says what to fix: the walk over the OpenAPI document sends a malformed
//! value for every query and path parameter and every request-body field of every
//! operation, with a caller allowed to use the operation, and expects a 4xx whose
//! message names that parameter or field. Plus the cases people tripped over (issue 20):
//! a date where an instant is expected, an unknown outcome, an unencoded filter.

use serde_json::{Map, Value, json};

use crate::admin::person;
use crate::helpers::{TestApp, spawn_app};

const DOCUMENT: &str = include_str!("../../openapi/openapi.json");

/// A valid id for each path, so that only the malformed value is wrong.
fn valid_path_value(path: &str) -> &'static str {
    if path.contains("/datasets/") {
        "oekonomi.posteringer"
    } else if path.contains("/key-figures/") {
        "no-such-key-figure"
    } else {
        "no-such-id"
    }
}

/// The malformed value sent for a query parameter: by name where the document's type
/// says only "string", else by its schema.
fn malformed_query_value(name: &str, schema: &Value) -> String {
    let by_name = match name {
        "municipality" => Some("12ab"),
        "select" | "group" => Some("no_such_column"),
        "order_by" => Some("aar:sideways"),
        "cursor" => Some("not-a-cursor"),
        "as_of" => Some("yesterday"),
        "delimiter" => Some("ab"),
        "decimal" => Some("x"),
        "format" => Some("docx"),
        "filter" => Some("beloeb>1000"),
        _ => None,
    };
    if let Some(value) = by_name {
        return value.into();
    }
    match (type_of(schema).as_str(), schema["format"].as_str()) {
        ("integer", _) => "abc".into(),
        ("boolean", _) => "maybe".into(),
        ("string", Some("date-time")) => "2026-13-45".into(),
        ("string", _) if schema["pattern"].is_string() => "no-such-value".into(),
        // Free text: a control character no value may hold.
        _ => "a\u{1}b".into(),
    }
}

/// The first non-null type of a schema (`["string", "null"]` → `string`).
fn type_of(schema: &Value) -> String {
    match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    }
}

/// A JSON value of the wrong type for a field.
fn malformed_field_value(schema: &Value) -> Value {
    match (type_of(schema).as_str(), schema["format"].as_str()) {
        ("string", Some("date-time")) => json!("2026-13-45"),
        ("string", _) => json!(5),
        ("integer" | "number", _) => json!("abc"),
        ("boolean", _) => json!("maybe"),
        ("array", _) => json!("x"),
        _ => json!("x"),
    }
}

/// A valid body for each request schema, so that only the malformed field is wrong.
fn valid_body(schema: &str) -> Map<String, Value> {
    let until = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let body = match schema {
        "NewClient" => json!({"name": "walk", "datasets": ["oekonomi.posteringer"]}),
        "NewDeliveryRight" => json!({"dataset": "oekonomi.posteringer", "client_id": "dap-walk"}),
        "NewDelegation" => json!({
            "grantee_cvr": "12345678", "datasets": ["oekonomi.posteringer"], "valid_until": until
        }),
        "CreateToken" => json!({"name": "walk", "datasets": ["oekonomi.posteringer"]}),
        "TokenRequest" => json!({"grant_type": "client_credentials"}),
        _ => json!({}),
    };
    body.as_object().cloned().unwrap_or_default()
}

/// The message of any of dap's error bodies (REST, OAuth, GraphQL).
fn message_of(body: &Value) -> String {
    [
        &body["message"],
        &body["error_description"],
        &body["errors"][0]["message"],
    ]
    .into_iter()
    .find_map(Value::as_str)
    .unwrap_or_default()
    .to_owned()
}

/// Whether `message` names `name` as a word (not as part of a longer name).
fn names(message: &str, name: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    message.match_indices(name).any(|(at, _)| {
        !word(message[..at].chars().next_back()) && !word(message[at + name.len()..].chars().next())
    })
}

/// The caller that may use an operation, so that the request reaches its input checks.
struct Callers {
    analyst: String,
    admin: String,
    operator: String,
}

impl Callers {
    fn new(app: &TestApp) -> Self {
        Self {
            analyst: app.analyst("0101"),
            admin: person(app, "it-admin", "0101", &["it-administration"]),
            operator: person(app, "demo-operator", "0101", &[]),
        }
    }

    fn for_path(&self, path: &str) -> &str {
        if path.starts_with("/api/v1/admin/catalogue")
            || path.starts_with("/api/v1/admin/key-figures")
        {
            &self.operator
        } else if path.starts_with("/api/v1/admin") {
            &self.admin
        } else {
            &self.analyst
        }
    }
}

/// One request of the walk.
struct Probe {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    json: Option<Value>,
    form: Option<Map<String, Value>>,
    /// What the message must name.
    names: String,
    /// Whether the refusal's record names no one: a path is refused while routing,
    /// before the caller's credential is looked at, and an operation open to anyone
    /// (login, the token endpoint) has no caller yet.
    anonymous: bool,
}

/// The status, the body, and the request id the answer carries.
async fn send(app: &TestApp, token: &str, probe: &Probe) -> (u16, Value, String) {
    let mut url = url::Url::parse(&format!("{}{}", app.address, probe.path)).expect("url");
    if !probe.query.is_empty() {
        url.query_pairs_mut().extend_pairs(&probe.query);
    }
    let method = reqwest::Method::from_bytes(probe.method.as_bytes()).expect("method");
    let mut request = app.client.request(method, url).bearer_auth(token);
    if let Some(json) = &probe.json {
        request = request.json(json);
    }
    if let Some(form) = &probe.form {
        let pairs: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_owned)))
            .collect();
        request = request.form(&pairs);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        request_id,
    )
}

/// Every probe of one operation: each parameter and each body field malformed in turn.
fn probes(document: &Value, path: &str, method: &str, operation: &Value) -> Vec<Probe> {
    let parameters = operation["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let path_value = |p: &str| {
        let mut filled = p.to_owned();
        for parameter in &parameters {
            if parameter["in"] == "path" {
                let name = parameter["name"].as_str().unwrap_or_default();
                filled = filled.replace(&format!("{{{name}}}"), valid_path_value(path));
            }
        }
        filled
    };
    // Required query parameters get their documented example.
    let required: Vec<(String, String)> = parameters
        .iter()
        .filter(|p| p["in"] == "query" && p["required"] == true)
        .map(|p| {
            let example = &p["example"];
            let value = example.as_str().map_or(example.to_string(), str::to_owned);
            (p["name"].as_str().unwrap_or_default().to_owned(), value)
        })
        .collect();
    // Parameters are probed with a valid body, so that only the parameter is wrong.
    let content = operation["requestBody"]["content"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let schema_of = |content: &Value| {
        let reference = content["schema"]["$ref"].as_str().unwrap_or_default();
        reference.rsplit('/').next().unwrap_or_default().to_owned()
    };
    let (json_body, form_body) = match content.iter().next() {
        Some((t, c)) if t == "application/x-www-form-urlencoded" => {
            (None, Some(valid_body(&schema_of(c))))
        }
        Some((_, c)) => (Some(Value::Object(valid_body(&schema_of(c)))), None),
        None => (None, None),
    };
    let open_to_anyone = operation["security"].as_array().is_some_and(|s| {
        s.iter()
            .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
    });
    let probe = |path: String, query: Vec<(String, String)>, name: &str| Probe {
        method: method.to_uppercase(),
        path,
        query,
        json: json_body.clone(),
        form: form_body.clone(),
        names: name.to_owned(),
        anonymous: open_to_anyone,
    };
    let mut out = Vec::new();
    for parameter in &parameters {
        let name = parameter["name"].as_str().unwrap_or_default();
        match parameter["in"].as_str() {
            Some("path") => {
                let malformed = path.replace(&format!("{{{name}}}"), "%01x");
                let mut p = probe(path_value(&malformed), required.clone(), name);
                p.anonymous = true;
                out.push(p);
            }
            Some("query") => {
                let mut query: Vec<(String, String)> = required
                    .iter()
                    .filter(|(n, _)| n != name)
                    .cloned()
                    .collect();
                query.push((
                    name.into(),
                    malformed_query_value(name, &parameter["schema"]),
                ));
                out.push(probe(path_value(path), query, name));
            }
            _ => {}
        }
    }
    for (content_type, content) in &content {
        let schema_name = schema_of(content);
        let schema_name = schema_name.as_str();
        let schema = &document["components"]["schemas"][schema_name];
        let properties = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        if properties.is_empty() {
            // A body the document describes only as an object: send something else.
            let mut p = probe(path_value(path), required.clone(), "");
            p.json = Some(json!("not an object"));
            p.form = None;
            out.push(p);
            continue;
        }
        for (field, field_schema) in properties {
            let mut body = valid_body(schema_name);
            let form = content_type == "application/x-www-form-urlencoded";
            let value = if form {
                json!("a\u{1}b")
            } else {
                malformed_field_value(&field_schema)
            };
            body.insert(field.clone(), value);
            let mut p = probe(path_value(path), required.clone(), &field);
            if form {
                p.form = Some(body);
                p.json = None;
            } else {
                p.json = Some(Value::Object(body));
                p.form = None;
            }
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn every_parameter_and_field_of_the_api_refuses_a_malformed_value_by_name_and_audits_it() {
    let app = spawn_app().await;
    let callers = Callers::new(&app);
    let document: Value = serde_json::from_str(DOCUMENT).expect("openapi.json");
    let mut failures = Vec::new();
    let mut walked = 0;
    for (path, item) in document["paths"].as_object().cloned().unwrap_or_default() {
        for (method, operation) in item.as_object().cloned().unwrap_or_default() {
            for probe in probes(&document, &path, &method, &operation) {
                walked += 1;
                let (status, body, request_id) = send(&app, callers.for_path(&path), &probe).await;
                let message = message_of(&body);
                let named = probe.names.is_empty() || names(&message, &probe.names);
                // Every denial is in the audit log (invariant 5), with the caller
                // once its credential was read: a refusal of the input as much as one of
                // the credential or of the right.
                let records = app.audit_records(&request_id).await;
                let audited = records
                    .iter()
                    .any(|r| r.outcome == "denied" && (probe.anonymous || r.subject.is_some()));
                if !(400..500).contains(&status) || message.trim().is_empty() || !named || !audited
                {
                    let body: String = body.to_string().chars().take(300).collect();
                    failures.push(format!(
                        "{} {} '{}' (query {:?}, body {}): {status} {body}, audit {:?}",
                        probe.method,
                        probe.path,
                        probe.names,
                        probe.query,
                        probe.json.as_ref().map_or(String::new(), Value::to_string),
                        records
                            .iter()
                            .map(|r| (r.outcome.as_str(), r.subject.as_deref()))
                            .collect::<Vec<_>>()
                    ));
                }
            }
        }
    }
    assert!(walked > 60, "the walk reached only {walked} parameters");
    assert!(
        failures.is_empty(),
        "{} of {walked} malformed values were not refused by name:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn the_values_people_tripped_over_get_precise_answers() {
    let app = spawn_app().await;
    let admin = person(&app, "it-admin", "0101", &["it-administration"]);
    // A date where an instant is expected: a `from` bound takes it (start of the day in
    // Danish time); an exclusive `to` says how to write the instant.
    let from = app
        .get("/api/v1/admin/audit?from=2026-12-01", Some(&admin))
        .await;
    assert_eq!(from.status, 200, "{}", from.body);
    let to = app
        .get("/api/v1/admin/audit?to=2026-12-01", Some(&admin))
        .await;
    assert_eq!(to.status, 400);
    let message = to.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("'to'") && message.contains("to=2026-11-30T23:00:00Z"),
        "{message}"
    );
    // An unknown outcome names the valid ones instead of matching nothing.
    let outcome = app
        .get("/api/v1/admin/audit?outcome=failure", Some(&admin))
        .await;
    assert_eq!(outcome.status, 400);
    let message = outcome.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("allowed, denied, failed or interrupted"),
        "{message}"
    );
    // A delegation until a date: the end of that day in Danish time.
    let until = (chrono::Utc::now() + chrono::Duration::days(40))
        .format("%Y-%m-%d")
        .to_string();
    let created = app
        .client
        .post(format!("{}/api/v1/admin/delegations", app.address))
        .bearer_auth(&admin)
        .json(&json!({"grantee_cvr": "12345678", "datasets": ["oekonomi.posteringer"], "valid_until": until}))
        .send()
        .await
        .expect("request");
    assert_eq!(created.status().as_u16(), 201);
    let created: Value = created.json().await.expect("json");
    assert!(
        created["valid_until"]
            .as_str()
            .is_some_and(|t| t.starts_with(&until)),
        "{created}"
    );
    // An unencoded comparison in a filter: not an empty 400.
    let rows = app
        .get(
            "/api/v1/datasets/oekonomi.posteringer/rows?filter=beloeb>1000",
            Some(&app.analyst("0101")),
        )
        .await;
    assert_eq!(rows.status, 400);
    let message = rows.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("filter") && message.contains("beloeb:gt:1000"),
        "{message}"
    );
    // Delta Sharing: its own error body, the parameter or field named the same way.
    let table = "/delta-sharing/shares/dap/schemas/oekonomi/tables/posteringer";
    let changes = app
        .get(
            &format!("{table}/changes?startingVersion=first"),
            Some(&app.analyst("0101")),
        )
        .await;
    assert_eq!(changes.status, 400, "{}", changes.body);
    assert_eq!(changes.body["errorCode"], "INVALID_PARAMETER_VALUE");
    let message = changes.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("'startingVersion'") && message.contains("whole number"),
        "{message}"
    );
    let query = app
        .client
        .post(format!("{}{table}/query", app.address))
        .bearer_auth(app.analyst("0101"))
        .json(&json!({"limitHint": "ten"}))
        .send()
        .await
        .expect("request");
    assert_eq!(query.status().as_u16(), 400);
    let body: Value = query.json().await.expect("json");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("'limitHint'"), "{body}");
    // GraphQL input: the argument or variable is named.
    let body = json!({"query": "query($n: Int) { oekonomi_posteringer(first: $n) { nodes { aar } } }", "variables": {"n": "ten"}});
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(app.analyst("0101"))
        .json(&body)
        .send()
        .await
        .expect("request");
    let answer: Value = response.json().await.expect("json");
    let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("$n") || message.contains("\"first\""),
        "{answer}"
    );
}
