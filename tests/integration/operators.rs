//! What an operator and a newcomer meet first: `dap serve` with an issuer that does not
//! answer, the demo's options and tokens, and one target directory for the README's two
//! commands.

use std::net::SocketAddr;

use dap_api::Application;
use dap_api::demo::{self, DemoOptions, TokenRequest};
use dap_api::settings::{ClaimProfile, IssuerSettings};
use dap_auth::PlainClaims;
use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::helpers::TestIssuer;

fn issuer_settings(issuer: &str) -> IssuerSettings {
    IssuerSettings {
        issuer: issuer.to_owned(),
        audience: "dap-test".into(),
        algorithms: vec![Algorithm::RS256],
        leeway_secs: 5,
        typ: None,
        profile: ClaimProfile::Claims,
        claims: PlainClaims::default(),
        kombit: Default::default(),
    }
}

async fn ready(client: &reqwest::Client, address: &str) -> (u16, Value) {
    let answer = client
        .get(format!("{address}/health/ready"))
        .send()
        .await
        .expect("ready");
    let status = answer.status().as_u16();
    (status, answer.json().await.expect("json"))
}

#[tokio::test]
async fn serve_starts_while_an_issuer_is_unreachable_and_accepts_it_once_it_answers() {
    // Arrange: an issuer address where nothing listens yet.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let issuer_url = format!("http://{}", reserved.local_addr().expect("addr"));
    drop(reserved);
    let data_dir = tempfile::tempdir().expect("tempdir");
    let options = DemoOptions {
        data_dir: data_dir.path().to_path_buf(),
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        rows_per_municipality: 2,
    };
    let mut settings = demo::settings(&options).expect("settings");
    demo::prepare_with(&options, &settings).await.expect("demo");
    settings.issuers.push(issuer_settings(&issuer_url));

    // Act: the server starts although discovery fails.
    let app = Application::build(settings)
        .await
        .expect("dap starts without the issuer");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();

    // Assert: readiness names the issuer as not ready; its tokens are refused.
    let (status, body) = ready(&client, &address).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    let listed = body["issuers"]
        .as_array()
        .expect("issuers")
        .iter()
        .find(|i| i["issuer"] == issuer_url.as_str())
        .cloned()
        .expect("the issuer is listed");
    assert_eq!(listed["ready"], false, "{body}");

    // The issuer comes up at its address: the background retry finds it.
    let listener = std::net::TcpListener::bind(issuer_url.trim_start_matches("http://"))
        .expect("rebind the issuer's address");
    let issuer = TestIssuer::start_on(listener).await;
    let mut last = (0, Value::Null);
    for _ in 0..120 {
        last = ready(&client, &address).await;
        if last.0 == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(last.0, 200, "{}", last.1);
    assert_eq!(last.1["status"], "ready");
    let token = issuer.sign(&issuer.claims("0101", &["laes-oekonomi"]));
    let answer = client
        .get(format!("{address}/api/v1/datasets"))
        .bearer_auth(token)
        .send()
        .await
        .expect("datasets");
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn rows_per_municipality_on_an_existing_data_directory_is_reported_as_ignored() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let options = DemoOptions {
        data_dir: data_dir.path().to_path_buf(),
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        rows_per_municipality: 2,
    };
    let mut first = Vec::new();
    demo::prepare_reporting(&options, &mut |p| first.push(p))
        .await
        .expect("first start");
    let creating = first
        .iter()
        .filter(|p| matches!(p, dap_lake::demo::Progress::Creating { .. }))
        .count();
    let total = dap_lake::demo::datasets().len();
    assert_eq!(creating, total, "a progress line per table: {first:?}");
    assert!(
        first
            .iter()
            .any(|p| matches!(p, dap_lake::demo::Progress::Created { rows, .. } if *rows > 0))
    );

    let mut existing = Vec::new();
    demo::prepare_reporting(&options, &mut |p| {
        if let dap_lake::demo::Progress::Existing { dataset } = p {
            existing.push(dataset);
        }
    })
    .await
    .expect("second start");
    assert_eq!(existing.len(), total);
    let note = demo::rows_option_ignored(data_dir.path(), Some(500), &existing)
        .expect("a note when the option cannot apply");
    assert!(
        note.contains("--rows-per-municipality 500 is ignored"),
        "{note}"
    );
    assert!(note.contains("rm -r"), "{note}");
    assert_eq!(
        demo::rows_option_ignored(data_dir.path(), None, &existing),
        None
    );
    assert_eq!(
        demo::rows_option_ignored(data_dir.path(), Some(500), &[]),
        None
    );
}

fn request(dir: &std::path::Path) -> TokenRequest<'_> {
    TokenRequest {
        data_dir: dir,
        municipality: None,
        roles: None,
        loa: "Substantial",
        ttl: chrono::Duration::minutes(5),
        subject: "demo-analyst",
    }
}

#[tokio::test]
async fn demo_tokens_take_names_refuse_unknown_roles_and_need_no_municipality_for_the_operator() {
    let app = crate::helpers::spawn_app().await;
    let dir = app.data_dir.path();

    // The platform operator, as the README shows it.
    let operator = demo::demo_token(TokenRequest {
        subject: "demo-operator",
        ..request(dir)
    })
    .await
    .expect("an operator token without --municipality");
    let catalogue = app.get("/api/v1/admin/catalogue", Some(&operator)).await;
    assert_eq!(catalogue.status, 200, "{}", catalogue.body);

    // Anyone else must name a municipality; the message says how.
    let missing = demo::demo_token(request(dir))
        .await
        .unwrap_err()
        .to_string();
    assert!(missing.contains("--municipality 0101"), "{missing}");

    // A name works as well as a code.
    let by_name = demo::demo_token(TokenRequest {
        municipality: Some("København"),
        ..request(dir)
    })
    .await
    .expect("by name");
    let rows = app
        .get(
            "/api/v1/datasets/oekonomi.posteringer/rows?limit=1",
            Some(&by_name),
        )
        .await;
    assert_eq!(rows.status, 200, "{}", rows.body);
    assert_eq!(rows.rows()[0]["kommunekode"], "0101");
    let unknown = demo::demo_token(TokenRequest {
        municipality: Some("Gotham"),
        ..request(dir)
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(unknown.contains("'Gotham'"), "{unknown}");

    // Unknown roles are refused with the known ones.
    let refused = demo::demo_token(TokenRequest {
        municipality: Some("0101"),
        roles: Some(vec!["laes-oekonomi".into(), "laes-okonomi".into()]),
        ..request(dir)
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(refused.contains("'laes-okonomi'"), "{refused}");
    assert!(!refused.contains("'laes-oekonomi'"), "{refused}");
    for known in [
        "laes-oekonomi",
        "laes-foelsomme",
        "it-administration",
        "noegletal",
    ] {
        assert!(refused.contains(known), "{refused}");
    }
}

/// The README's run command and the test script build into one target directory with
/// the same package selection, so the first build is not repeated.
#[test]
fn the_readme_and_the_test_script_share_one_build() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = std::fs::read_to_string(root.join("scripts/test.sh")).expect("test.sh");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    for line in script.lines().filter(|l| !l.trim_start().starts_with('#')) {
        assert!(
            !(line.contains("CARGO_TARGET_DIR=") && line.contains("export")),
            "scripts/test.sh must not choose its own target directory: {line}"
        );
        if line.trim_start().starts_with("cargo ") {
            assert!(
                !line.contains(" -p ") && !line.contains("--package"),
                "a one-package build resolves features differently and builds again: {line}"
            );
        }
    }
    // The commands of the README's code blocks (prose may name the one-package form).
    let commands: Vec<&str> = readme
        .lines()
        .filter(|l| l.trim_start().starts_with("cargo ") || l.contains("$(cargo "))
        .collect();
    assert!(!commands.is_empty());
    for line in commands {
        assert!(
            !line.contains(" -p ") && !line.contains("--package"),
            "README: {line}"
        );
    }
    assert!(
        readme.contains("./target"),
        "the README says where the build goes"
    );
}
