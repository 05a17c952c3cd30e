//! `spawn_app()` → [`TestApp`], the test token issuer and the delta-rs oracle.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dap_api::demo::{self, DemoOptions};
use dap_api::settings::{ClaimProfile, IssuerSettings};
use dap_api::{Application, Core};
use dap_auth::{DevIssuer, PlainClaims};
use dap_schema::NsisLevel;
use deltalake::datafusion::prelude::SessionContext;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

/// Rows per municipality in test lakes: small, but several pages.
pub const ROWS: usize = 40;
/// Every demo read role, without the sensitive role.
pub const READ_ROLES: &[&str] = &[
    "laes-oekonomi",
    "laes-personale",
    "laes-borger",
    "laes-aeldre",
    "laes-infrastruktur",
];

/// A running dap with its data directory and issuers.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub dev: DevIssuer,
    pub issuer: TestIssuer,
    /// A broker issuing KOMBIT-style claims (BPP privilege lists).
    pub kombit: TestIssuer,
    pub state: std::sync::Arc<Core>,
    pub data_dir: tempfile::TempDir,
    /// Where `/metrics` is served, when the test set `metrics_listen`.
    pub metrics_address: Option<String>,
}

/// A response with its parsed JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn request_id(&self) -> String {
        self.headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    pub fn rows(&self) -> Vec<Value> {
        self.body["rows"].as_array().cloned().unwrap_or_default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(None).await
}

/// Spawns dap on a fresh demo lake; `database_url` replaces the SQLite default.
pub async fn spawn_app_with(database_url: Option<String>) -> TestApp {
    spawn_app_tuned(move |settings| {
        if let Some(url) = database_url {
            settings.database_url = url;
        }
    })
    .await
}

/// Spawns dap on a fresh demo lake with `tune` applied to its settings last.
pub async fn spawn_app_tuned(tune: impl FnOnce(&mut dap_api::settings::Settings)) -> TestApp {
    let issuer = TestIssuer::start().await;
    let kombit = TestIssuer::start().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let options = DemoOptions {
        data_dir: data_dir.path().to_path_buf(),
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        rows_per_municipality: ROWS,
    };
    let mut settings = demo::settings(&options).expect("settings");
    tune(&mut settings);
    demo::prepare_with(&options, &settings)
        .await
        .expect("demo data");
    settings.lake.refresh_secs = 1;
    // Small enough that a test can send a larger delivery (413).
    settings.deliveries.max_bytes = 1024 * 1024;
    settings.issuers.push(IssuerSettings {
        issuer: issuer.issuer.clone(),
        audience: "dap-test".into(),
        algorithms: vec![Algorithm::RS256],
        leeway_secs: 5,
        typ: Some(vec!["at+jwt".into()]),
        profile: ClaimProfile::Claims,
        claims: PlainClaims::default(),
        kombit: Default::default(),
    });
    settings.issuers.push(IssuerSettings {
        issuer: kombit.issuer.clone(),
        audience: "dap-test".into(),
        algorithms: vec![Algorithm::RS256],
        leeway_secs: 5,
        typ: None,
        profile: ClaimProfile::Kombit,
        claims: PlainClaims::default(),
        kombit: Default::default(),
    });
    let app = Application::build(settings).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.core();
    let metrics_address = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    tokio::spawn(app.run_until_stopped());
    // The test issuers' discovery runs in the background; a test starts once it is done
    // (under load it can take seconds, and readiness reports an undiscovered issuer).
    let discovered = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while !state.verifier.issuers().iter().all(|i| i.ready) {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    });
    discovered.await.expect("the test issuers are discovered");
    TestApp {
        address,
        client: reqwest::Client::new(),
        dev: DevIssuer::load(data_dir.path()).expect("dev issuer"),
        issuer,
        kombit,
        state,
        data_dir,
        metrics_address,
    }
}

impl TestApp {
    /// A demo token for `municipality` with `roles` at `loa`.
    pub fn token(&self, municipality: &str, roles: &[&str], loa: NsisLevel) -> String {
        let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        self.dev
            .token(
                "analyst",
                municipality,
                &roles,
                loa,
                chrono::Duration::minutes(10),
            )
            .expect("token")
    }

    /// An analyst of `municipality` with every read role at Substantial.
    pub fn analyst(&self, municipality: &str) -> String {
        self.token(municipality, READ_ROLES, NsisLevel::Substantial)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut request = self.client.get(format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Every row of a dataset for a caller, following `next_cursor` to the end.
    pub async fn all_rows(&self, dataset: &str, query: &str, token: &str) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let mut path = format!("/api/v1/datasets/{dataset}/rows?{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let answer = self.get(&path, Some(token)).await;
            assert_eq!(answer.status, 200, "{path}: {}", answer.body);
            rows.extend(answer.rows());
            match answer.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return rows,
            }
        }
        panic!("cursor chain did not end");
    }

    pub fn lake_url(&self, dataset: &str) -> url::Url {
        let path = self
            .data_dir
            .path()
            .join("lake")
            .join(dataset.replace('.', "/"));
        url::Url::from_directory_path(path).expect("lake url")
    }

    /// The oracle: a direct delta-rs + DataFusion read of `sql` over the dataset as `t`.
    pub async fn oracle(&self, dataset: &str, sql: &str) -> Vec<Value> {
        let table = deltalake::open_table(self.lake_url(dataset))
            .await
            .expect("open");
        query(&table, sql).await
    }

    /// The oracle at an older table version.
    pub async fn oracle_at(&self, dataset: &str, version: u64, sql: &str) -> Vec<Value> {
        let table = deltalake::open_table_with_version(self.lake_url(dataset), version)
            .await
            .expect("open version");
        query(&table, sql).await
    }

    /// The JSON answer to a GraphQL request `body` (`query`, optional `variables`).
    pub async fn graphql(&self, token: &str, body: &Value) -> Value {
        self.client
            .post(format!("{}/graphql", self.address))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("graphql")
            .json()
            .await
            .expect("json")
    }

    /// Audit records of the request an answer answered.
    pub async fn audit_of(&self, answer: &Answer) -> Vec<dap_schema::entity::audit_event::Model> {
        self.audit_records(&answer.request_id()).await
    }

    /// Audit records of the request with `request_id`.
    pub async fn audit_records(
        &self,
        request_id: &str,
    ) -> Vec<dap_schema::entity::audit_event::Model> {
        self.state
            .control
            .audit_by_request(request_id)
            .await
            .expect("audit query")
    }
}

/// Runs `sql` over `table` registered as `t`, rows as JSON values.
async fn query(table: &deltalake::DeltaTable, sql: &str) -> Vec<Value> {
    let ctx = SessionContext::new();
    table
        .update_datafusion_session(&ctx.state())
        .expect("session");
    ctx.register_table("t", table.table_provider().await.expect("provider"))
        .expect("register");
    let batches = ctx
        .sql(sql)
        .await
        .expect("sql")
        .collect()
        .await
        .expect("collect");
    let json = dap_lake::encode::json_array(&batches).expect("json");
    serde_json::from_slice::<Vec<Value>>(&json).expect("rows")
}

/// A BPP privilege group: CVR, roles, and data constraints (name, comma-separated values).
pub type Group<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)]);

/// A mock OIDC provider: discovery document and JWKS over HTTP, RS256 tokens.
pub struct TestIssuer {
    pub issuer: String,
    key: EncodingKey,
    fetches: Arc<std::sync::atomic::AtomicUsize>,
}

const TEST_KEY: &str = include_str!("../fixtures/test-issuer-rsa.pem");
pub const TEST_KID: &str = "test-key-1";

/// The public half of the fixture RSA key as a JWK.
pub fn fixture_jwk() -> Value {
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(TEST_KEY).expect("test key");
    let public = private.to_public_key();
    json!({
        "kty": "RSA", "kid": TEST_KID, "alg": "RS256", "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    })
}

impl TestIssuer {
    pub async fn start() -> Self {
        Self::start_on(std::net::TcpListener::bind("127.0.0.1:0").expect("bind")).await
    }

    /// An issuer serving on `listener` (a test may reserve the address first).
    pub async fn start_on(listener: std::net::TcpListener) -> Self {
        let jwks = json!({"keys": [fixture_jwk()]});
        let issuer = format!(
            "http://127.0.0.1:{}",
            listener.local_addr().expect("addr").port()
        );
        let discovery = Arc::new(json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }));
        let jwks = Arc::new(jwks);
        let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&fetches);
        let server = HttpServer::new(move || {
            let discovery = Arc::clone(&discovery);
            let jwks = Arc::clone(&jwks);
            let counter = Arc::clone(&counter);
            App::new()
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(move || {
                        let d = Arc::clone(&discovery);
                        async move { HttpResponse::Ok().json(d.as_ref()) }
                    }),
                )
                .route(
                    "/jwks",
                    web::get().to(move || {
                        let j = Arc::clone(&jwks);
                        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        async move { HttpResponse::Ok().json(j.as_ref()) }
                    }),
                )
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(server);
        Self {
            issuer,
            key: EncodingKey::from_rsa_pem(TEST_KEY.as_bytes()).expect("encoding key"),
            fetches,
        }
    }

    /// Standard claims for `municipality`, valid for ten minutes.
    pub fn claims(&self, municipality: &str, roles: &[&str]) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": self.issuer, "aud": "dap-test", "sub": "broker-user",
            "iat": now, "nbf": now, "exp": now + 600,
            "kommunekode": municipality, "roles": roles, "loa": "Substantial",
        })
    }

    /// KOMBIT-style claims: a base64 BPP privilege list with one group per CVR.
    pub fn kombit_claims(&self, groups: &[(&str, &[&str])], loa: &str) -> Value {
        let groups: Vec<Group<'_>> = groups
            .iter()
            .map(|(cvr, roles)| (*cvr, *roles, &[][..]))
            .collect();
        self.kombit_claims_constrained(&groups, loa)
    }

    /// Like [`Self::kombit_claims`], with data constraints (name, comma-separated values)
    /// per group.
    pub fn kombit_claims_constrained(&self, groups: &[Group<'_>], loa: &str) -> Value {
        let body: String = groups
            .iter()
            .map(|(cvr, roles, constraints)| {
                let privileges: String = roles
                    .iter()
                    .map(|r| format!("<Privilege>{}</Privilege>", dap_auth::roles::role_uri(r)))
                    .collect();
                let constraints: String = constraints
                    .iter()
                    .map(|(name, values)| format!(r#"<Constraint Name="{name}">{values}</Constraint>"#))
                    .collect();
                format!(r#"<PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:{cvr}">{privileges}{constraints}</PrivilegeGroup>"#)
            })
            .collect();
        let list = format!(
            r#"<bpp:PrivilegeList xmlns:bpp="http://itst.dk/oiosaml/basic_privilege_profile">{body}</bpp:PrivilegeList>"#
        );
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": self.issuer, "aud": "dap-test", "sub": "kombit-user",
            "iat": now, "nbf": now, "exp": now + 600,
            "https://data.gov.dk/concept/core/nsis/loa": loa,
            "https://data.gov.dk/model/core/eid/privilegesIntermediate": base64::engine::general_purpose::STANDARD.encode(list),
        })
    }

    /// Signs `claims` with the issuer's key and `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(TEST_KID.into());
        header.typ = Some("at+jwt".into());
        self.sign_with(header, claims)
    }

    /// Signs with a chosen header (hostile-token tests).
    pub fn sign_with(&self, header: Header, claims: &Value) -> String {
        jsonwebtoken::encode(&header, claims, &self.key).expect("sign")
    }

    /// How many times the issuer's JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// For each column of a Parquet file dap wrote, whether it has a page index: an export
/// dap encodes indexes every column chunk's pages; one spliced from the table's own files
/// (a whole partition) copies their column chunks without one, and encodes the partition
/// column without one too.
pub fn indexed_columns(body: &bytes::Bytes) -> Vec<(String, bool)> {
    let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
        .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Optional)
        .parse_and_finish(body)
        .expect("parquet footer");
    let descr = metadata.file_metadata().schema_descr();
    let groups = metadata.row_groups().len();
    (0..descr.num_columns())
        .map(|c| {
            let indexed = (0..groups).all(|g| {
                metadata
                    .offset_index()
                    .is_some_and(|index| !index[g][c].page_locations().is_empty())
            });
            (descr.column(c).name().to_owned(), indexed)
        })
        .collect()
}
