//! Prometheus `/metrics`: served only on its own listen address; requests counted per
//! surface, route template and status; rows and bytes served; scans and files pruned;
//! audit append failures; open exports and refresh lag; no caller's data in a label.

use std::collections::BTreeMap;

use deltalake::{FilterOp, FilterValue};
use serde_json::json;

use crate::faults::lock_sqlite;
use crate::helpers::{TestApp, spawn_app, spawn_app_tuned};

/// The samples of a scrape, `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    match samples.get(series) {
        Some(v) => *v,
        None => panic!(
            "{series} missing; have:\n{}",
            samples.keys().cloned().collect::<Vec<_>>().join("\n")
        ),
    }
}

/// Every label value of every sample.
fn label_values(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((_, labels)) = line.split_once('{') else {
            continue;
        };
        let labels = labels.rsplit_once('}').map_or("", |(l, _)| l);
        for pair in labels.split("\",") {
            if let Some((name, value)) = pair.split_once("=\"") {
                out.push((name.to_owned(), value.trim_end_matches('"').to_owned()));
            }
        }
    }
    out
}

async fn metered_app() -> TestApp {
    spawn_app_tuned(|s| s.metrics_listen = Some(([127, 0, 0, 1], 0).into())).await
}

async fn scrape(app: &TestApp) -> (String, String) {
    let address = app.metrics_address.as_deref().expect("metrics listener");
    let response = app
        .client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    (content_type, response.text().await.expect("text"))
}

#[tokio::test]
async fn metrics_count_each_surface_rows_scans_and_failed_audit_appends() {
    let app = metered_app().await;
    let token = app.analyst("0101");

    // REST: a page of 5 rows, a dataset that does not exist, an unmatched path.
    let page = app
        .get(
            "/api/v1/datasets/borger.befolkning/rows?limit=5",
            Some(&token),
        )
        .await;
    assert_eq!(
        (page.status, page.rows().len()),
        (200, 5),
        "{:?}",
        page.body
    );
    let missing = app.get("/api/v1/datasets/nope.nope", Some(&token)).await;
    assert_eq!(missing.status, 404);
    let unmatched = app.get("/no/such/page?secret=letmein", None).await;
    assert_eq!(unmatched.status, 404);
    // An export, read to its end.
    let export = app
        .client
        .get(format!(
            "{}/api/v1/datasets/borger.befolkning/export?format=ndjson",
            app.address
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("export");
    assert_eq!(export.status(), 200);
    let body = export.bytes().await.expect("export body");
    let exported_rows = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    // GraphQL, OData, health.
    let graphql = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&token)
        .json(&json!({"query": "{ me { subject } }"}))
        .send()
        .await
        .expect("graphql");
    assert_eq!(graphql.status(), 200);
    assert_eq!(app.get("/odata/", Some(&token)).await.status, 200);
    assert_eq!(app.get("/health/live", None).await.status, 200);
    // An audit append that fails: the request fails closed with 503.
    let (_other, txn) = lock_sqlite(&app).await;
    let refused = app.get("/api/v1/datasets", Some(&token)).await;
    txn.rollback().await.expect("release");
    assert_eq!(refused.status, 503, "{:?}", refused.body);

    let (content_type, text) = scrape(&app).await;
    assert!(content_type.starts_with("application/openmetrics-text"));
    assert!(text.ends_with("# EOF\n"), "{text}");
    let s = samples(&text);
    let requests = |surface: &str, route: &str, method: &str, status: u16| {
        value(
            &s,
            &format!(
                "dap_http_requests_total{{surface=\"{surface}\",route=\"{route}\",method=\"{method}\",status=\"{status}\"}}"
            ),
        )
    };
    assert_eq!(
        requests("rest", "/api/v1/datasets/{id}/rows", "GET", 200),
        1.0
    );
    assert_eq!(requests("rest", "/api/v1/datasets/{id}", "GET", 404), 1.0);
    assert_eq!(
        requests("rest", "/api/v1/datasets/{id}/export", "GET", 200),
        1.0
    );
    assert_eq!(requests("rest", "/api/v1/datasets", "GET", 503), 1.0);
    assert_eq!(requests("graphql", "/graphql", "POST", 200), 1.0);
    assert_eq!(requests("odata", "/odata/", "GET", 200), 1.0);
    assert_eq!(requests("health", "/health/live", "GET", 200), 1.0);
    assert_eq!(requests("other", "unmatched", "GET", 404), 1.0);
    let rows_page_latency = "dap_http_request_duration_seconds_count{surface=\"rest\",route=\"/api/v1/datasets/{id}/rows\",method=\"GET\"}";
    assert_eq!(value(&s, rows_page_latency), 1.0);

    // Rows: the page's 5 and every exported row, for the caller's municipality.
    assert_eq!(
        value(
            &s,
            "dap_served_rows_total{surface=\"rest\",delivery=\"page\",municipality=\"0101\"}"
        ),
        5.0
    );
    assert_eq!(
        value(
            &s,
            "dap_served_rows_total{surface=\"rest\",delivery=\"export\",municipality=\"0101\"}"
        ),
        exported_rows as f64
    );
    assert_eq!(
        value(
            &s,
            "dap_served_bytes_total{surface=\"rest\",delivery=\"export\",municipality=\"0101\"}"
        ),
        body.len() as f64
    );

    // Scans: each read planned only 0101's files; the others' were pruned.
    let table = deltalake::open_table(app.lake_url("borger.befolkning"))
        .await
        .expect("oracle table");
    let all = table.snapshot().expect("snapshot").log_data().num_files() as f64;
    let own = table
        .get_files_by_partitions(&[("kommunekode", FilterOp::Eq, FilterValue::Scalar("0101"))])
        .await
        .expect("partition files")
        .len() as f64;
    let scans = value(&s, "dap_lake_scans_total{dataset=\"borger.befolkning\"}");
    assert!(scans >= 2.0, "the page and the export: {scans}");
    assert_eq!(
        value(
            &s,
            "dap_lake_files_scanned_total{dataset=\"borger.befolkning\"}"
        ),
        scans * own
    );
    assert_eq!(
        value(
            &s,
            "dap_lake_files_pruned_total{dataset=\"borger.befolkning\"}"
        ),
        scans * (all - own)
    );
    assert!(all > own, "the demo table has other municipalities' files");

    // The audit: one failed append; every append timed.
    assert_eq!(value(&s, "dap_audit_append_failures_total"), 1.0);
    assert!(value(&s, "dap_audit_append_duration_seconds_count") >= 7.0);
    // Nothing streaming now; the table read is current (lag at most a few refreshes).
    assert_eq!(value(&s, "dap_exports_open"), 0.0);
    let lag = value(
        &s,
        "dap_table_refresh_lag_seconds{dataset=\"borger.befolkning\"}",
    );
    assert!(lag >= 0.0, "{lag}");
}

#[tokio::test]
async fn no_label_carries_a_token_a_client_or_a_path_a_caller_chose() {
    let app = metered_app().await;
    let token = app.analyst("0101");
    let (client_id, secret) =
        crate::machine::register(&app, "0147", &["borger.befolkning"], 30).await;
    let machine = crate::machine::access_token(&app, &client_id, &secret).await;
    for (path, bearer) in [
        (
            "/api/v1/datasets/borger.befolkning/rows?limit=2&filter=koen:eq:K",
            &token,
        ),
        ("/api/v1/datasets/borger.befolkning/rows?limit=2", &machine),
        ("/api/v1/datasets/secret-dataset-name", &token),
        ("/console/datasets/borger.befolkning", &token),
        (&format!("/{client_id}/{token}"), &machine),
    ] {
        let answer = app.get(path, Some(bearer)).await;
        assert!(answer.status < 500, "{path}: {}", answer.status);
    }
    let (_, text) = scrape(&app).await;
    let labels = label_values(&text);
    assert!(!labels.is_empty());
    for (name, value) in &labels {
        for secret in [&token, &machine, &client_id, &secret] {
            assert!(!value.contains(secret.as_str()), "{name}={value}");
        }
        assert!(!value.contains("analyst"), "a subject in {name}={value}");
        assert!(!value.contains("secret-dataset-name"), "{name}={value}");
        assert!(!value.contains("koen"), "a filter in {name}={value}");
        if name == "municipality" {
            assert!(
                value == "none" || (value.len() == 4 && value.bytes().all(|b| b.is_ascii_digit())),
                "{value}"
            );
        }
        if name == "route" {
            assert!(value == "unmatched" || value.starts_with('/'), "{value}");
            assert!(!value.contains("borger.befolkning"), "a raw path: {value}");
        }
    }
    assert!(
        labels
            .iter()
            .any(|(n, v)| n == "municipality" && v == "0147")
    );
}

#[tokio::test]
async fn metrics_are_not_served_on_the_public_address() {
    let app = spawn_app().await;
    assert!(app.metrics_address.is_none(), "off unless configured");
    let answer = app.get("/metrics", None).await;
    assert_eq!(answer.status, 404);
}

/// A burst of requests for a key figure whose table is out of date computes it once:
/// the others wait for that computation instead of each reading every municipality's
/// partition (the scans are counted per dataset, none pruned), and all get its answer.
#[tokio::test]
async fn a_burst_of_key_figure_requests_computes_the_figure_once() {
    let app = metered_app().await;
    let token = app.token("0101", &[], dap_schema::NsisLevel::Low);
    let series = "dap_lake_scans_total{dataset=\"oekonomi.posteringer\"}";
    let scans = |text: &str| samples(text).get(series).copied().unwrap_or_default();
    let before = scans(&scrape(&app).await.1);
    let burst = || {
        futures::future::join_all(
            (0..8).map(|_| app.get("/api/v1/key-figures/nettoudgift-pr-indbygger", Some(&token))),
        )
    };
    let answers = burst().await;
    assert!(answers.iter().all(|a| a.status == 200), "{:?}", answers[0]);
    assert!(answers.iter().all(|a| a.body == answers[0].body));
    let s = scrape(&app).await.1;
    assert_eq!(
        scans(&s) - before,
        1.0,
        "one computation for eight requests"
    );
    let files = value(
        &samples(&s),
        "dap_lake_files_scanned_total{dataset=\"oekonomi.posteringer\"}",
    );
    assert!(files >= 98.0, "every municipality's partition: {files}");

    let again = burst().await;
    assert!(again.iter().all(|a| a.body == answers[0].body));
    assert_eq!(
        scans(&scrape(&app).await.1) - before,
        1.0,
        "kept, not computed again"
    );
}

/// The request computing a key figure can go away (its client gone, GraphQL's execution
/// timeout): the computation finishes without it and is kept, so the next request gets
/// that table instead of reading every partition again.
#[tokio::test]
async fn a_key_figure_computation_outlives_the_request_that_started_it() {
    let app = metered_app().await;
    let code = dap_schema::MunicipalityCode::parse("0101").expect("code");
    let principal = dap_auth::Principal::from_grants(
        "anna".into(),
        dap_auth::dev_issuer::DEV_ISSUER.into(),
        dap_auth::CallerKind::User,
        BTreeMap::from([(code, std::collections::BTreeSet::new())]),
        dap_schema::NsisLevel::Low,
    );
    let request = || dap_api::app::key_figures::KeyFigureRequest {
        id: "nettoudgift-pr-indbygger",
        municipality: None,
        year: None,
        filters: Vec::new(),
        group: dap_api::app::key_figures::ComparisonGroup::All,
    };
    let series = "dap_lake_scans_total{dataset=\"oekonomi.posteringer\"}";
    let scans = |text: &str| samples(text).get(series).copied().unwrap_or_default();
    let before = scans(&scrape(&app).await.1);
    // The first request is let go once its computation has begun reading the table.
    let mut first = Box::pin(app.state.key_figure(&principal, request()));
    loop {
        tokio::select! {
            _ = &mut first => panic!("computed before the request could be let go"),
            _ = tokio::time::sleep(std::time::Duration::from_millis(5)) => {
                if scans(&scrape(&app).await.1) > before {
                    break;
                }
            }
        }
    }
    drop(first);
    let (table, _) = app
        .state
        .key_figure(&principal, request())
        .await
        .expect("key figure");
    assert!(!table.cells.is_empty());
    assert_eq!(
        scans(&scrape(&app).await.1) - before,
        1.0,
        "the first computation was kept"
    );
}
