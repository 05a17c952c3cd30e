//! The API contract: the committed document is the generated one, every route is in
//! it, and the docs UI is served from the binary.

use std::path::Path;

use crate::helpers::spawn_app;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");

#[tokio::test]
async fn the_committed_document_is_the_generated_and_the_served_one() {
    let generated = dap_api::openapi::document_json().expect("document");
    let committed = std::fs::read_to_string(COMMITTED).expect("openapi/openapi.json");
    assert!(
        generated == committed,
        "openapi/openapi.json is out of date: run `cargo run -p dap-api --bin dap -- openapi > openapi/openapi.json` and review the diff"
    );
    let document: serde_json::Value = serde_json::from_str(&committed).expect("json");
    assert_eq!(document["openapi"], "3.1.0");
    let app = spawn_app().await;
    let served = app.get("/openapi.json", None).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.body, document);
}

/// Routes outside the API contract, registered by hand on purpose.
/// OData (`api/src/odata/`) is its own protocol with its own `$metadata`, so its routes
/// are not in dap's REST contract; nor are Delta Sharing's (delta-io's PROTOCOL.md).
const UNDOCUMENTED_BY_DESIGN: &[&str] = &[
    r#".route("/docs", "#,
    r#"web::scope("/odata")"#,
    r#".route("", web::get().to(service_document))"#,
    r#".route("/", web::get().to(service_document))"#,
    r#".route("/$metadata", web::get().to(metadata_document))"#,
    r#".route("/{set}/$count", web::get().to(count))"#,
    r#".route("/{set}", web::get().to(entity_set))"#,
    // The Delta Sharing protocol (api/src/sharing/): its contract is delta-io's PROTOCOL.md.
    "// protocol surface: Delta Sharing",
    // Prometheus' scrape endpoint, served only on `metrics_listen` (api/src/startup.rs),
    // never on the API's address.
    r#".route("/metrics", web::get().to(observe::metrics))"#,
];

#[test]
fn routes_are_only_registered_through_documented_services() {
    // utoipa_actix_web's `service(...)` only takes handlers with `#[utoipa::path]`, so a
    // route registered any other way is the only way to miss the document.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/src");
    // The web console serves HTML pages to browsers, not API operations: its routes
    // (all under /console/, and / sending there) are outside the API contract.
    let console = root.join("console");
    let mut offenders = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path != console {
                    stack.push(path);
                }
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for (n, line) in text.lines().enumerate() {
                let manual = [".route(", "web::resource(", "web::scope("]
                    .iter()
                    .any(|m| line.contains(m));
                if manual && !UNDOCUMENTED_BY_DESIGN.iter().any(|ok| line.contains(ok)) {
                    offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "routes that bypass the OpenAPI document:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn operation_ids_are_unique() {
    let document = dap_api::openapi::document();
    let mut seen = std::collections::BTreeSet::new();
    for (path, item) in &document.paths.paths {
        for operation in [&item.get, &item.post, &item.put, &item.delete, &item.patch]
            .into_iter()
            .flatten()
        {
            let id = operation.operation_id.clone().unwrap_or_default();
            assert!(
                seen.insert(id.clone()),
                "operation id {id} of {path} is not unique"
            );
        }
    }
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let document = dap_api::openapi::document();
    assert!(document.paths.paths.len() >= 6);
    for (path, item) in &document.paths.paths {
        if path.starts_with("/auth/") {
            // Browser login needs a broker with a login page: tests/e2e/test_broker.py
            // drives these against oidc-provider. Without [login] they answer 404.
            let answer = app.get(&format!("{path}?code=x&state=y"), None).await;
            assert!(
                matches!(answer.status, 404 | 405),
                "{path}: {}",
                answer.status
            );
            continue;
        }
        if path.starts_with("/api/v1/admin") {
            // Administrators only: tests/integration/admin.rs runs every admin route
            // against every kind of caller.
            let answer = app.get(path, Some(&token)).await;
            assert!(
                matches!(answer.status, 403 | 405),
                "{path}: {}",
                answer.status
            );
            continue;
        }
        if item.delete.is_some() {
            let response = app
                .client
                .delete(format!("{}{}", app.address, path.replace("{id}", "pat-x")))
                .bearer_auth(&token)
                .send()
                .await
                .expect("delete");
            assert!(
                ![405].contains(&response.status().as_u16()),
                "{path} is not served"
            );
            continue;
        }
        if item.post.is_some() {
            let response = app
                .client
                .post(format!("{}{path}", app.address))
                .send()
                .await
                .expect("post");
            assert!(
                ![404, 405].contains(&response.status().as_u16()),
                "{path} is not served"
            );
            continue;
        }
        if item.get.is_none() {
            continue;
        }
        let id = if path.starts_with("/api/v1/key-figures") {
            "infrastruktur-andel-domaener"
        } else {
            "oekonomi.posteringer"
        };
        let mut concrete = path.replace("{id}", id);
        if concrete.ends_with("/changes") {
            concrete.push_str("?from_version=0");
        }
        let answer = app.get(&concrete, Some(&token)).await;
        assert_eq!(answer.status, 200, "{concrete}: {}", answer.body);
    }
}

#[tokio::test]
async fn other_methods_on_api_paths_get_405_with_allow() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/datasets",
        "/api/v1/datasets/oekonomi.posteringer/rows",
        "/health/live",
    ] {
        let response = app
            .client
            .delete(format!("{}{path}", app.address))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 405, "{path}");
        assert_eq!(
            response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok()),
            Some("GET")
        );
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["code"], "method_not_allowed");
    }
}

#[tokio::test]
async fn the_docs_page_is_served_from_the_binary() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let redirect = client
        .get(format!("{}/docs", app.address))
        .send()
        .await
        .expect("docs");
    assert_eq!(redirect.status().as_u16(), 308);
    let index = client
        .get(format!("{}/docs/", app.address))
        .send()
        .await
        .expect("index");
    assert_eq!(index.status().as_u16(), 200);
    let html = index.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "absolute URL in the docs page: {html}"
    );
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-initializer.js",
    ] {
        let response = client
            .get(format!("{}/docs/{asset}", app.address))
            .send()
            .await
            .expect("asset");
        assert_eq!(response.status().as_u16(), 200, "{asset}");
        if asset == "swagger-initializer.js" {
            let js = response.text().await.expect("js");
            assert!(js.contains("/openapi.json"), "{js}");
            assert!(
                js.contains("\"validatorUrl\": \"none\"")
                    || js.contains("\"validatorUrl\":\"none\""),
                "{js}"
            );
        }
    }
}
