//! Machine clients: client credentials at /oauth/token, tokens scoped to one
//! municipality and a set of datasets, refused at once when the client is disabled.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

pub(crate) async fn register(
    app: &TestApp,
    municipality: &str,
    datasets: &[&str],
    expires_in_days: i64,
) -> (String, String) {
    let secret = dap_auth::secrets::new_secret();
    let client = dap_schema::MachineClient {
        client_id: dap_auth::secrets::new_id("dap-"),
        name: format!("client {}", dap_auth::secrets::new_id("dap-")),
        description: None,
        municipality: municipality.into(),
        datasets: datasets.iter().map(|d| (*d).to_owned()).collect(),
        expires_at: chrono::Utc::now() + chrono::Duration::days(expires_in_days),
        disabled: false,
        public_key: None,
    };
    let hash = dap_auth::secrets::hash_secret(&secret).expect("hash");
    app.state
        .control
        .insert_machine_client(&client, &hash)
        .await
        .expect("insert");
    (client.client_id, secret)
}

async fn token_request(
    app: &TestApp,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = app
        .client
        .post(format!("{}/oauth/token", app.address))
        .form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

pub(crate) async fn access_token(app: &TestApp, id: &str, secret: &str) -> String {
    let (status, headers, body) = token_request(
        app,
        Some((id, secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    body["access_token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn a_machine_token_reads_only_its_municipality_and_datasets() {
    let app = spawn_app().await;
    let (id, secret) = register(
        &app,
        "0751",
        &["oekonomi.posteringer", "aeldre.hjemmepleje"],
        30,
    )
    .await;
    let token = access_token(&app, &id, &secret).await;
    let listing = app.get("/api/v1/datasets", Some(&token)).await;
    let ids: Vec<&str> = listing.body["datasets"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|d| d["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["aeldre.hjemmepleje", "oekonomi.posteringer"]);
    let rows = app.all_rows("aeldre.hjemmepleje", "limit=50", &token).await;
    assert!(!rows.is_empty() && rows.iter().all(|r| r["kommunekode"] == "0751"));
    assert!(rows.iter().all(|r| r.get("cpr").is_none()));
    let other = app
        .get("/api/v1/datasets/borger.befolkning/rows", Some(&token))
        .await;
    assert_eq!(
        other.status, 404,
        "a dataset outside the client's set is invisible"
    );
    // client_secret_post works too, and the request is audited with the client.
    let (status, headers, _) = token_request(
        &app,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let request_id = headers["x-request-id"].to_str().expect("id");
    let records = app.audit_records(request_id).await;
    assert_eq!(records[0].subject.as_deref(), Some(id.as_str()));
    assert_eq!(records[0].municipality.as_deref(), Some("0751"));
}

#[tokio::test]
async fn bad_client_credentials_get_oauth_errors() {
    let app = spawn_app().await;
    let (id, secret) = register(&app, "0101", &["borger.befolkning"], 30).await;
    type Case<'a> = (
        Option<(&'a str, &'a str)>,
        Vec<(&'a str, &'a str)>,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            Some((&id, "wrong")),
            vec![("grant_type", "client_credentials")],
            401,
            "invalid_client",
        ),
        (
            Some(("dap-unknown", &secret)),
            vec![("grant_type", "client_credentials")],
            401,
            "invalid_client",
        ),
        (
            None,
            vec![("grant_type", "client_credentials")],
            401,
            "invalid_client",
        ),
        (
            Some((&id, &secret)),
            vec![("grant_type", "password")],
            400,
            "unsupported_grant_type",
        ),
        (
            Some((&id, &secret)),
            vec![("grant_type", "client_credentials"), ("client_id", &id)],
            400,
            "invalid_request",
        ),
        (Some((&id, &secret)), vec![], 400, "invalid_request"),
    ];
    for (basic, form, status, error) in cases {
        let (got, headers, body) = token_request(&app, basic, &form).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(error)),
            "{form:?}"
        );
        if status == 401 {
            assert_eq!(headers["www-authenticate"], "Basic realm=\"dap\"");
        }
        assert!(body.get("access_token").is_none());
    }
    let stored = app
        .state
        .control
        .machine_client(&id)
        .await
        .expect("lookup")
        .expect("client");
    assert!(
        stored.1.starts_with("$argon2id$") && !stored.1.contains(&secret),
        "the secret is stored hashed"
    );
}

#[tokio::test]
async fn disabled_and_expired_clients_are_refused_at_once() {
    let app = spawn_app().await;
    let (id, secret) = register(&app, "0101", &["borger.befolkning"], 30).await;
    let token = access_token(&app, &id, &secret).await;
    let path = "/api/v1/datasets/borger.befolkning/rows?limit=1";
    assert_eq!(app.get(path, Some(&token)).await.status, 200);
    app.state
        .control
        .disable_machine_client(&id)
        .await
        .expect("disable");
    let refused = app.get(path, Some(&token)).await;
    assert_eq!(
        (refused.status, refused.body["code"].as_str()),
        (401, Some("invalid_token"))
    );
    let (status, _, _) = token_request(
        &app,
        Some((&id, &secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 401);

    let (expired_id, expired_secret) = register(&app, "0101", &["borger.befolkning"], -1).await;
    let (status, _, _) = token_request(
        &app,
        Some((&expired_id, &expired_secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 401, "an expired client gets no token");

    let (live_id, _) = register(&app, "0101", &["borger.befolkning"], 30).await;
    let now = chrono::Utc::now().timestamp();
    let expired_token = app
        .state
        .issuer_keys
        .signer()
        .sign(&json!({
            "iss": "urn:dap:issuer", "aud": "dap", "sub": live_id, "client_id": live_id, "caller_kind": "machine",
            "exp": now - 600, "iat": now - 1500, "kommunekode": "0101", "loa": "Substantial",
            "datasets": ["borger.befolkning"], "roles": ["laes-borger"],
        }))
        .expect("sign");
    assert_eq!(
        app.get(path, Some(&expired_token)).await.status,
        401,
        "an expired token is refused"
    );
}

#[tokio::test]
async fn dap_pull_works_with_a_client_credentials_token() {
    let app = spawn_app().await;
    let (id, secret) = register(&app, "0101", &["oekonomi.posteringer"], 30).await;
    let token = access_token(&app, &id, &secret).await;
    let dir = tempfile::tempdir().expect("dir");
    let options = dap_api::pull::PullOptions {
        server: app.address.parse().expect("url"),
        credentials: dap_api::pull::Credentials::Token(token.into()),
        dataset: "oekonomi.posteringer".into(),
        into: dir.path().to_path_buf(),
        format: dap_api::pull::MirrorFormat::Delta,
        municipality: None,
        replace: false,
        progress: false,
    };
    let report = dap_api::pull::pull(&options).await.expect("pull");
    assert_eq!((report.kind, report.rows), ("full", crate::helpers::ROWS));
}

#[tokio::test]
async fn dap_pull_gets_its_own_tokens_with_client_credentials_and_estimates_the_rows() {
    // Arrange: a client and nothing else: no token fetched beforehand.
    let app = spawn_app().await;
    let (id, secret) = register(&app, "0101", &["aeldre.hjemmepleje"], 30).await;
    let dir = tempfile::tempdir().expect("dir");
    let options = dap_api::pull::PullOptions {
        server: app.address.parse().expect("url"),
        credentials: dap_api::pull::Credentials::Client {
            client_id: id.clone(),
            client_secret: secret.clone().into(),
        },
        dataset: "aeldre.hjemmepleje".into(),
        into: dir.path().to_path_buf(),
        format: dap_api::pull::MirrorFormat::Delta,
        municipality: None,
        replace: false,
        progress: false,
    };

    // Act
    let report = dap_api::pull::pull(&options).await.expect("pull");

    // Assert: the rows of the municipality (the demo deleted some in version 2), and the
    // estimate from the table's history says as much before the download starts.
    let expected = app
        .oracle(
            "aeldre.hjemmepleje",
            "SELECT COUNT(*) AS n FROM t WHERE kommunekode = '0101'",
        )
        .await;
    let expected = expected[0]["n"].as_u64().expect("count");
    assert_eq!(report.kind, "full");
    assert_eq!(report.rows as u64, expected);
    assert_eq!(report.estimated_rows, Some(expected), "{report:?}");

    // A wrong secret is refused with the token endpoint's reason, not a crash.
    let other = tempfile::tempdir().expect("dir");
    let wrong = dap_api::pull::PullOptions {
        credentials: dap_api::pull::Credentials::Client {
            client_id: id,
            client_secret: "not-the-secret".into(),
        },
        into: other.path().to_path_buf(),
        ..options.clone()
    };
    let error = dap_api::pull::pull(&wrong).await.unwrap_err().to_string();
    assert!(
        error.contains("oauth/token") && error.contains("401"),
        "{error}"
    );
}

#[tokio::test]
async fn a_rotated_key_signs_new_tokens_and_old_tokens_keep_working() {
    let app = spawn_app().await;
    let (id, secret) = register(&app, "0101", &["borger.befolkning"], 30).await;
    let before = access_token(&app, &id, &secret).await;
    let old_kids = app.state.issuer_keys.signer().kids();
    let (kid, seed) = dap_auth::DapKeys::generate();
    app.state
        .control
        .rotate_signing_key(&kid, &seed)
        .await
        .expect("rotate");
    app.state
        .issuer_keys
        .reload(&app.state.control)
        .await
        .expect("reload");
    assert_eq!(app.state.issuer_keys.signer().kids()[0], kid);
    let after = access_token(&app, &id, &secret).await;
    let header = jsonwebtoken::decode_header(&after).expect("header");
    assert_eq!(header.kid.as_deref(), Some(kid.as_str()));
    let path = "/api/v1/datasets/borger.befolkning/rows?limit=1";
    assert_eq!(
        app.get(path, Some(&before)).await.status,
        200,
        "signed with {old_kids:?}"
    );
    assert_eq!(app.get(path, Some(&after)).await.status, 200);
    let jwks = app.get("/.well-known/jwks.json", None).await;
    assert!(
        jwks.body["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .any(|k| k["kid"] == kid.as_str())
    );
}

async fn register_key_client(app: &TestApp, municipality: &str) -> String {
    let jwk = dap_auth::client_assertion::public_jwk(&crate::helpers::fixture_jwk().to_string())
        .expect("public jwk");
    let client = dap_schema::MachineClient {
        client_id: dap_auth::secrets::new_id("dap-"),
        name: format!("client {}", dap_auth::secrets::new_id("dap-")),
        description: None,
        municipality: municipality.into(),
        datasets: vec!["oekonomi.posteringer".into()],
        expires_at: chrono::Utc::now() + chrono::Duration::days(30),
        disabled: false,
        public_key: Some(jwk),
    };
    app.state
        .control
        .insert_machine_client(&client, dap_auth::secrets::NO_SECRET)
        .await
        .expect("insert");
    client.client_id
}

fn assertion(app: &TestApp, claims: Value) -> String {
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    app.kombit.sign_with(header, &claims)
}

fn assertion_claims(client_id: &str, jti: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": client_id, "sub": client_id, "aud": "urn:dap:issuer",
           "iat": now, "exp": now + 120, "jti": jti})
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[tokio::test]
async fn private_key_jwt_gets_a_token_once_per_assertion() {
    let app = spawn_app().await;
    let id = register_key_client(&app, "0751").await;
    let signed = assertion(&app, assertion_claims(&id, "jti-1"));
    let form = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", signed.as_str()),
    ];
    let (status, _, body) = token_request(&app, None, &form).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("token");
    let rows = app
        .get(
            "/api/v1/datasets/oekonomi.posteringer/rows?limit=5",
            Some(token),
        )
        .await;
    assert_eq!(rows.status, 200);
    assert!(rows.rows().iter().all(|r| r["kommunekode"] == "0751"));
    // The same assertion again is a replay.
    let (status, _, body) = token_request(&app, None, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

#[tokio::test]
async fn hostile_client_assertions_are_refused() {
    let app = spawn_app().await;
    let id = register_key_client(&app, "0751").await;
    let now = chrono::Utc::now().timestamp();
    let mut cases: Vec<(&str, String)> = Vec::new();
    let mut claims = assertion_claims(&id, "a");
    claims["aud"] = json!("https://elsewhere.example/token");
    cases.push(("foreign audience", assertion(&app, claims)));
    let mut claims = assertion_claims(&id, "b");
    claims["exp"] = json!(now + 3600);
    cases.push(("lives an hour", assertion(&app, claims)));
    let mut claims = assertion_claims(&id, "c");
    claims.as_object_mut().expect("object").remove("jti");
    cases.push(("no jti", assertion(&app, claims)));
    let mut claims = assertion_claims(&id, "d");
    claims["exp"] = json!(now - 600);
    cases.push(("expired", assertion(&app, claims)));
    let mut claims = assertion_claims(&id, "e");
    claims["sub"] = json!("someone-else");
    cases.push(("sub is not the client", assertion(&app, claims)));
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &assertion_claims(&id, "f"),
        &jsonwebtoken::EncodingKey::from_secret(
            crate::helpers::fixture_jwk()["n"]
                .as_str()
                .expect("n")
                .as_bytes(),
        ),
    )
    .expect("hs256");
    cases.push(("HS256 with the public key", hs));
    cases.push(("not a JWT", "a.b.c".into()));
    for (name, signed) in &cases {
        let (status, _, body) = token_request(
            &app,
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", signed.as_str()),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{name}: {body}"
        );
    }
    // A key-only client has no secret that could be guessed.
    let (status, _, _) = token_request(
        &app,
        Some((&id, dap_auth::secrets::NO_SECRET)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 401);
    // A wrong assertion type is a malformed request.
    let signed = assertion(&app, assertion_claims(&id, "g"));
    let (status, _, body) = token_request(
        &app,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:other"),
            ("client_assertion", signed.as_str()),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}
