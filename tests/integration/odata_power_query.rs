//! The requests Power Query's OData connector (`OData.Feed`, Excel and Power BI's "From
//! OData feed") sends, one test per shape, each answered like the oracle. Power Query is
//! not available here; the shapes come from Microsoft's documentation and from a server
//! log of a real Power Query client (sources in README, "Excel and Power BI"):
//!
//! - headers: `Accept: application/json;odata.metadata=minimal;q=1.0,…`,
//!   `OData-MaxVersion: 4.0`, `MaxDataServiceVersion: 3.0`, `User-Agent:
//!   Microsoft.Data.Mashup (…)`, and Basic with the personal access token;
//! - the service document, then `$metadata` (read as `application/xml` only);
//! - folding: `$select=a,b`, `$orderby=a asc, b desc`, `$top`, `$skip`, `/$count` with
//!   `Accept: text/plain`, `$filter` comparisons with text, number and `Edm.Date`
//!   literals, `and`/`or`/`not`, text functions and date parts;
//! - `Implementation="2.0"` options: `Query` (custom query options on every request),
//!   `OmitValues` (`Prefer: omit-values=nulls`), `IncludeAnnotations`
//!   (`Prefer: odata.include-annotations=…`), and `Prefer: odata.maxpagesize`.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::odata::{P, WHERE};

const ACCEPT: &str = "application/json;odata.metadata=minimal;q=1.0,application/json;odata=minimalmetadata;q=0.9,application/atomsvc+xml;q=0.8,application/atom+xml;q=0.8,application/xml;q=0.7,text/plain;q=0.7";
const USER_AGENT: &str = "Microsoft.Data.Mashup (https://go.microsoft.com/fwlink/?LinkID=304225)";

/// An app and the personal access token Power Query holds as its Basic password.
async fn power_query() -> (TestApp, String) {
    let app = spawn_app().await;
    let created: Value = app
        .client
        .post(format!("{}/api/v1/me/tokens", app.address))
        .bearer_auth(app.analyst("0101"))
        .json(&json!({"name": "Power BI", "datasets": ["oekonomi.posteringer"]}))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let pat = created["token"].as_str().expect("token").to_owned();
    (app, pat)
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
    body: Value,
}

impl Answer {
    fn value(&self) -> Vec<Value> {
        self.body["value"].as_array().cloned().unwrap_or_default()
    }
}

/// GETs `url` (a path or an absolute next link) as Power Query does, with `extra` headers
/// replacing its defaults.
async fn get(app: &TestApp, pat: &str, url: &str, extra: &[(&str, &str)]) -> Answer {
    let url = match url.starts_with("http") {
        true => url.to_owned(),
        false => format!("{}{url}", app.address),
    };
    let mut headers = vec![
        ("accept", ACCEPT),
        ("odata-maxversion", "4.0"),
        ("maxdataserviceversion", "3.0"),
        ("user-agent", USER_AGENT),
    ];
    headers.retain(|(name, _)| !extra.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)));
    headers.extend_from_slice(extra);
    let mut request = app.client.get(url).basic_auth("", Some(pat));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        text,
        body,
    }
}

fn header<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// `$filter` folded by Power Query: the rows equal the oracle's.
async fn folds(app: &TestApp, pat: &str, filter: &str, sql: &str) {
    let url = format!("{P}?$filter={}&$orderby=posteringsid", encode(filter));
    let answer = get(app, pat, &url, &[]).await;
    assert_eq!(answer.status, 200, "{filter}: {}", answer.text);
    let oracle = app
        .oracle(
            "oekonomi.posteringer",
            &format!("SELECT * {WHERE} AND ({sql}) ORDER BY posteringsid"),
        )
        .await;
    assert!(!oracle.is_empty(), "a case that tests nothing: {filter}");
    assert_eq!(answer.value(), oracle, "{filter}");
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn power_query_service_document_with_its_accept_and_version_headers() {
    let (app, pat) = power_query().await;

    let answer = get(&app, &pat, "/odata/", &[]).await;

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(header(&answer, "odata-version"), "4.0");
    assert!(header(&answer, "content-type").starts_with("application/json"));
    // The token's one dataset, then the key figures every municipality may compare.
    let sets = answer.value();
    assert_eq!(
        sets[0],
        json!({"name": "oekonomi_posteringer", "kind": "EntitySet", "url": "oekonomi_posteringer"})
    );
    assert!(sets[1..].iter().all(|s| {
        s["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("noegletal_"))
    }));
    assert!(
        answer.body["@odata.context"]
            .as_str()
            .is_some_and(|c| c.ends_with("/odata/$metadata"))
    );
}

#[tokio::test]
async fn power_query_metadata_is_application_xml() {
    let (app, pat) = power_query().await;

    let answer = get(&app, &pat, "/odata/$metadata", &[]).await;

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(header(&answer, "odata-version"), "4.0");
    assert!(
        header(&answer, "content-type").starts_with("application/xml"),
        "{:?}",
        answer.headers
    );
    assert!(answer.text.starts_with("<?xml"), "{}", answer.text);
    assert!(
        answer
            .text
            .contains(r#"xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0""#)
    );
    assert!(
        answer
            .text
            .contains(r#"<EntitySet Name="oekonomi_posteringer""#)
    );
}

#[tokio::test]
async fn power_query_select_columns() {
    let (app, pat) = power_query().await;

    let answer = get(
        &app,
        &pat,
        &format!("{P}?$select=posteringsid,aar,beloeb&$orderby=posteringsid"),
        &[],
    )
    .await;

    assert_eq!(answer.status, 200, "{}", answer.text);
    let oracle = app
        .oracle(
            "oekonomi.posteringer",
            &format!("SELECT posteringsid, aar, beloeb {WHERE} ORDER BY posteringsid"),
        )
        .await;
    assert_eq!(answer.value(), oracle);
}

#[tokio::test]
async fn power_query_orderby_with_comma_and_space() {
    let (app, pat) = power_query().await;

    // Table.Sort folds to "<column> asc, <column> desc" (comma and space).
    let url = format!("{P}?$orderby={}", encode("aar asc, beloeb desc"));
    let answer = get(&app, &pat, &url, &[]).await;

    assert_eq!(answer.status, 200, "{}", answer.text);
    let oracle = app
        .oracle(
            "oekonomi.posteringer",
            &format!("SELECT * {WHERE} ORDER BY aar, beloeb DESC, posteringsid"),
        )
        .await;
    assert_eq!(answer.value(), oracle);
}

#[tokio::test]
async fn power_query_top_and_skip() {
    let (app, pat) = power_query().await;

    // Table.FirstN → $top; Table.Skip then Table.FirstN → $skip and $top.
    let top = get(
        &app,
        &pat,
        &format!("{P}?$top=5&$orderby=posteringsid"),
        &[],
    )
    .await;
    let range = get(
        &app,
        &pat,
        &format!("{P}?$skip=14&$top=1&$orderby=posteringsid"),
        &[],
    )
    .await;

    let oracle = app
        .oracle(
            "oekonomi.posteringer",
            &format!("SELECT * {WHERE} ORDER BY posteringsid"),
        )
        .await;
    assert_eq!(top.value(), oracle[..5].to_vec());
    assert_eq!(range.value(), oracle[14..15].to_vec());
    assert!(
        top.body.get("@odata.nextLink").is_none(),
        "$top ends the feed"
    );
    assert!(range.body.get("@odata.nextLink").is_none());
}

#[tokio::test]
async fn power_query_count_segment_as_text_plain() {
    let (app, pat) = power_query().await;

    // Table.RowCount → /$count with Accept: text/plain; $count=true inline.
    let filter = encode("aar eq 2024");
    let plain = get(
        &app,
        &pat,
        &format!("{P}/$count?$filter={filter}"),
        &[("accept", "text/plain")],
    )
    .await;
    let inline = get(
        &app,
        &pat,
        &format!("{P}?$filter={filter}&$count=true&$top=1"),
        &[],
    )
    .await;

    let oracle = app
        .oracle(
            "oekonomi.posteringer",
            &format!("SELECT COUNT(*) AS n {WHERE} AND aar = 2024"),
        )
        .await;
    let expected = oracle[0]["n"].as_u64().expect("count");
    assert!(expected > 0);
    assert_eq!(plain.status, 200, "{}", plain.text);
    assert!(header(&plain, "content-type").starts_with("text/plain"));
    assert_eq!(plain.text, expected.to_string());
    assert_eq!(inline.body["@odata.count"], json!(expected));
}

#[tokio::test]
async fn power_query_filter_equals_and_compares_text_and_numbers() {
    let (app, pat) = power_query().await;

    folds(&app, &pat, "funktion eq '5.22.07'", "funktion = '5.22.07'").await;
    folds(
        &app,
        &pat,
        "aar ge 2024 and beloeb lt 1000.5",
        "aar >= 2024 AND beloeb < 1000.5",
    )
    .await;
    // List.Contains folds to a chain of eq joined by or.
    folds(
        &app,
        &pat,
        "(funktion eq '5.22.07' or funktion eq '3.22.01') and not (art eq '1.0')",
        "funktion IN ('5.22.07', '3.22.01') AND (art <> '1.0' OR art IS NULL)",
    )
    .await;
}

#[tokio::test]
async fn power_query_filter_on_a_date_with_edm_date_literals() {
    let (app, pat) = power_query().await;

    folds(
        &app,
        &pat,
        "bogfoeringsdato ge 2024-03-01 and bogfoeringsdato lt 2024-07-01",
        "bogfoeringsdato >= DATE '2024-03-01' AND bogfoeringsdato < DATE '2024-07-01'",
    )
    .await;
    folds(
        &app,
        &pat,
        "bogfoeringsdato eq 2024-01-05 or bogfoeringsdato gt 2025-06-30",
        "bogfoeringsdato = DATE '2024-01-05' OR bogfoeringsdato > DATE '2025-06-30'",
    )
    .await;
}

#[tokio::test]
async fn power_query_filter_text_begins_contains_ends_and_their_negations() {
    let (app, pat) = power_query().await;

    for (filter, sql) in [
        ("startswith(funktion,'5.')", "starts_with(funktion, '5.')"),
        ("contains(funktion,'22')", "strpos(funktion, '22') > 0"),
        ("endswith(funktion,'07')", "ends_with(funktion, '07')"),
        (
            "not startswith(funktion,'5.')",
            "NOT starts_with(funktion, '5.')",
        ),
        ("not contains(funktion,'22')", "strpos(funktion, '22') = 0"),
        (
            "not endswith(funktion,'07')",
            "NOT ends_with(funktion, '07')",
        ),
        (
            "contains(funktion,'22') eq true",
            "strpos(funktion, '22') > 0",
        ),
    ] {
        folds(&app, &pat, filter, sql).await;
    }
}

#[tokio::test]
async fn power_query_filter_year_month_and_day_of_a_date() {
    let (app, pat) = power_query().await;

    for (filter, sql) in [
        (
            "year(bogfoeringsdato) eq 2024",
            "EXTRACT(YEAR FROM bogfoeringsdato) = 2024",
        ),
        (
            "month(bogfoeringsdato) eq 3",
            "EXTRACT(MONTH FROM bogfoeringsdato) = 3",
        ),
        (
            "day(bogfoeringsdato) le 10",
            "EXTRACT(DAY FROM bogfoeringsdato) <= 10",
        ),
        (
            "year(bogfoeringsdato) eq 2024 and month(bogfoeringsdato) ge 4 and month(bogfoeringsdato) le 6",
            "EXTRACT(YEAR FROM bogfoeringsdato) = 2024 AND EXTRACT(MONTH FROM bogfoeringsdato) BETWEEN 4 AND 6",
        ),
    ] {
        folds(&app, &pat, filter, sql).await;
    }
}

#[tokio::test]
async fn power_query_prefer_maxpagesize_pages_with_next_links() {
    let (app, pat) = power_query().await;
    let mut url = format!("{P}?$select=posteringsid&$orderby=posteringsid");
    let mut rows = Vec::new();
    let mut pages = 0;

    loop {
        // Power Query sends its preferences on every request, next links included.
        let answer = get(&app, &pat, &url, &[("prefer", "odata.maxpagesize=6")]).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(header(&answer, "preference-applied"), "odata.maxpagesize=6");
        assert!(answer.value().len() <= 6);
        rows.extend(answer.value());
        pages += 1;
        match answer.body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }

    let oracle = app
        .oracle(
            "oekonomi.posteringer",
            &format!("SELECT posteringsid {WHERE} ORDER BY posteringsid"),
        )
        .await;
    assert_eq!(rows, oracle);
    assert_eq!(pages, oracle.len().div_ceil(6));
}

#[tokio::test]
async fn power_query_implementation_2_preferences_are_read_but_not_claimed() {
    let (app, pat) = power_query().await;

    // OmitValues = ODataOmitValues.Nulls and IncludeAnnotations, in one Prefer header with
    // the page size: dap applies only the page size, so Power Query must not infer
    // omitted nulls.
    let prefer = r#"odata.include-annotations="*", omit-values=nulls, odata.maxpagesize=4"#;
    let answer = get(
        &app,
        &pat,
        &format!("{P}?$orderby=posteringsid"),
        &[("prefer", prefer)],
    )
    .await;

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(header(&answer, "preference-applied"), "odata.maxpagesize=4");
    let oracle = app
        .oracle(
            "oekonomi.posteringer",
            &format!("SELECT * {WHERE} ORDER BY posteringsid LIMIT 4"),
        )
        .await;
    assert_eq!(answer.value(), oracle);
}

#[tokio::test]
async fn power_query_query_option_record_travels_on_every_request() {
    let (app, pat) = power_query().await;

    // OData.Feed(url, null, [Query = [municipality = "0101"]]) adds it to every URL.
    let service = get(&app, &pat, "/odata/?municipality=0101", &[]).await;
    let metadata = get(&app, &pat, "/odata/$metadata?municipality=0101", &[]).await;
    let first = get(
        &app,
        &pat,
        &format!("{P}?municipality=0101&$orderby=posteringsid"),
        &[("prefer", "odata.maxpagesize=5")],
    )
    .await;
    let next = first.body["@odata.nextLink"].as_str().expect("next link");
    let second = get(&app, &pat, next, &[]).await;

    assert_eq!((service.status, metadata.status), (200, 200));
    assert!(next.contains("municipality=0101"), "{next}");
    assert_eq!(second.status, 200, "{}", second.text);
    let oracle = app
        .oracle(
            "oekonomi.posteringer",
            &format!("SELECT * {WHERE} ORDER BY posteringsid LIMIT 10"),
        )
        .await;
    let mut rows = first.value();
    rows.extend(second.value());
    assert_eq!(rows, oracle);
}
