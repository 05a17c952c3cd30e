//! The OData v4 feed (`/odata/`) for Excel and Power BI: `$metadata` names only what the
//! caller may see, query options are answered like the oracle (a direct delta-rs read),
//! paging walks the whole result, other municipalities never appear, what is not offered
//! answers 501 in OData's error format, and Basic with a personal access token signs in.

use dap_schema::NsisLevel;
use serde_json::{Value, json};

use crate::helpers::{READ_ROLES, TestApp, spawn_app};

/// An OData answer: status, headers, the body as text and as JSON (or null).
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Reply {
    pub fn value(&self) -> Vec<Value> {
        self.body["value"].as_array().cloned().unwrap_or_default()
    }
}

pub enum Auth<'a> {
    Bearer(&'a str),
    Basic(&'a str),
    None,
}

/// GETs `url` (a path under the app, or an absolute next link) with `auth` and headers.
pub async fn odata(app: &TestApp, url: &str, auth: Auth<'_>, headers: &[(&str, &str)]) -> Reply {
    let url = if url.starts_with("http") {
        url.to_owned()
    } else {
        format!("{}{url}", app.address)
    };
    let mut request = app.client.get(url);
    request = match auth {
        Auth::Bearer(token) => request.bearer_auth(token),
        Auth::Basic(password) => request.basic_auth("excel", Some(password)),
        Auth::None => request,
    };
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        text,
        body,
    }
}

/// Every row of an entity set query, following `@odata.nextLink` like Power Query does.
pub async fn walk(app: &TestApp, path: &str, token: &str, page_size: u64) -> (Vec<Value>, usize) {
    let prefer = format!("odata.maxpagesize={page_size}");
    let mut rows = Vec::new();
    let mut url = path.to_owned();
    for pages in 1..1000 {
        // Only the first request states the preference: a next link must stand alone.
        let headers: &[(&str, &str)] = if pages == 1 {
            &[("prefer", &prefer)]
        } else {
            &[]
        };
        let reply = odata(app, &url, Auth::Bearer(token), headers).await;
        assert_eq!(reply.status, 200, "{url}: {}", reply.text);
        let page = reply.value();
        assert!(page.len() as u64 <= page_size);
        rows.extend(page);
        match reply.body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => return (rows, pages),
        }
    }
    panic!("next links did not end");
}

/// The properties of each entity type in a CSDL document, as `set: [names]`.
fn properties(csdl: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out = std::collections::BTreeMap::new();
    for part in csdl.split("<EntityType Name=\"").skip(1) {
        let name = part.split('"').next().unwrap_or_default().to_owned();
        let body = part.split("</EntityType>").next().unwrap_or_default();
        let props = body
            .split("<Property Name=\"")
            .skip(1)
            .filter_map(|p| p.split('"').next())
            .map(str::to_owned)
            .collect();
        out.insert(name, props);
    }
    out
}

#[tokio::test]
async fn metadata_differs_between_callers_exactly_by_what_they_may_see() {
    let app = spawn_app().await;
    let plain = app.analyst("0101");
    let mut roles = READ_ROLES.to_vec();
    roles.push("laes-foelsomme");
    let sensitive = app.token("0101", &roles, NsisLevel::Substantial);

    let plain_doc = odata(&app, "/odata/$metadata", Auth::Bearer(&plain), &[]).await;
    let sensitive_doc = odata(&app, "/odata/$metadata", Auth::Bearer(&sensitive), &[]).await;

    assert_eq!(plain_doc.status, 200, "{}", plain_doc.text);
    assert_eq!(plain_doc.headers["odata-version"], "4.0");
    let (plain_props, sensitive_props) =
        (properties(&plain_doc.text), properties(&sensitive_doc.text));
    assert!(!plain_doc.text.contains("\"cpr\""), "{}", plain_doc.text);
    for (set, props) in &sensitive_props {
        let mut expected = props.clone();
        expected.retain(|p| p != "cpr");
        assert_eq!(plain_props.get(set), Some(&expected), "{set}");
    }
    assert!(sensitive_props["aeldre_hjemmepleje"].contains(&"cpr".to_owned()));
    // Each entity type has exactly the columns REST describes for the caller (key
    // figures, `noegletal_…`, are the same for both and have their own tests).
    for (set, props) in plain_props
        .iter()
        .filter(|(s, _)| !s.starts_with("noegletal_"))
    {
        let id = set.replacen('_', ".", 1);
        let detail = app
            .get(&format!("/api/v1/datasets/{id}"), Some(&plain))
            .await;
        let columns: Vec<String> = detail.body["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(&columns, props, "{set}");
    }
    let csdl = &plain_doc.text;
    assert!(
        csdl.contains(r#"<Property Name="beloeb" Type="Edm.Decimal" Precision="18" Scale="2"/>"#),
        "{csdl}"
    );
    assert!(csdl.contains(r#"<Property Name="bogfoeringsdato" Type="Edm.Date"/>"#));
    assert!(csdl.contains(r#"<Property Name="posteringsid" Type="Edm.Int64" Nullable="false"/>"#));
    assert!(csdl.contains(r#"<Key><PropertyRef Name="posteringsid"/></Key>"#));
    assert!(csdl.contains(
        r#"<EntitySet Name="oekonomi_posteringer" EntityType="dap.oekonomi_posteringer"/>"#
    ));

    let service = odata(&app, "/odata/", Auth::Bearer(&plain), &[]).await;
    let mut names: Vec<String> = service
        .value()
        .iter()
        .filter_map(|s| s["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    assert_eq!(names, plain_props.keys().cloned().collect::<Vec<_>>());
}

pub const P: &str = "/odata/oekonomi_posteringer";
pub const WHERE: &str = "FROM t WHERE kommunekode = '0101'";

#[tokio::test]
async fn query_options_answer_like_the_oracle() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let cases = [
        (
            "$filter=aar eq 2024&$select=posteringsid,aar,beloeb&$orderby=posteringsid",
            format!(
                "SELECT posteringsid, aar, beloeb {WHERE} AND aar = 2024 ORDER BY posteringsid"
            ),
        ),
        (
            "$filter=(maaned lt 4 or maaned gt 10) and not (art eq '1.0')&$select=posteringsid,maaned,art",
            format!(
                "SELECT posteringsid, maaned, art {WHERE} AND (maaned < 4 OR maaned > 10) AND (art <> '1.0' OR art IS NULL) ORDER BY posteringsid"
            ),
        ),
        (
            "$filter=funktion in ('5.22.07','3.22.01') and art ne '4.0'",
            format!(
                "SELECT * {WHERE} AND funktion IN ('5.22.07', '3.22.01') AND (art <> '4.0' OR art IS NULL) ORDER BY posteringsid"
            ),
        ),
        (
            "$filter=startswith(funktion,'5.')&$orderby=beloeb desc&$select=posteringsid,funktion,beloeb",
            format!(
                "SELECT posteringsid, funktion, beloeb {WHERE} AND funktion LIKE '5.%' ORDER BY beloeb DESC, posteringsid"
            ),
        ),
        (
            "$filter=bogfoeringsdato ge 2024-03-01 and beloeb gt 0.5",
            format!(
                "SELECT * {WHERE} AND bogfoeringsdato >= DATE '2024-03-01' AND beloeb > 0.5 ORDER BY posteringsid"
            ),
        ),
        (
            "$filter=year(bogfoeringsdato) eq 2024 or not (maaned ge 3)&$select=posteringsid,bogfoeringsdato",
            format!(
                "SELECT posteringsid, bogfoeringsdato {WHERE} AND (EXTRACT(YEAR FROM bogfoeringsdato) = 2024 OR maaned < 3 OR maaned IS NULL) ORDER BY posteringsid"
            ),
        ),
        (
            "$top=7&$skip=5&$orderby=beloeb,posteringsid desc",
            format!("SELECT * {WHERE} ORDER BY beloeb, posteringsid DESC LIMIT 7 OFFSET 5"),
        ),
        (
            "$filter=omkostningssted eq null",
            format!("SELECT * {WHERE} AND omkostningssted IS NULL ORDER BY posteringsid"),
        ),
    ];
    for (query, sql) in cases {
        let reply = odata(&app, &format!("{P}?{query}"), Auth::Bearer(&token), &[]).await;

        assert_eq!(reply.status, 200, "{query}: {}", reply.text);
        let oracle = app.oracle("oekonomi.posteringer", &sql).await;
        assert!(
            !oracle.is_empty() || query.contains("null"),
            "a case that tests nothing: {sql}"
        );
        assert_eq!(reply.value(), oracle, "{query}");
        assert!(
            reply.body["@odata.context"]
                .as_str()
                .is_some_and(|c| c.contains("$metadata#oekonomi_posteringer"))
        );
    }
}

/// A `$skip` of 2^63 rows or more (past the `i64` the query engine plans offsets as)
/// skips every row, like any skip past the end, in key order and in another order: an
/// empty page with the full count, not a 500.
#[tokio::test]
async fn a_skip_past_any_table_answers_an_empty_page() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let all = odata(
        &app,
        &format!("{P}?$count=true&$top=1"),
        Auth::Bearer(&token),
        &[],
    )
    .await;
    assert_eq!(all.status, 200, "{}", all.text);
    for skip in [
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551615",
    ] {
        for order in ["", "&$orderby=beloeb desc"] {
            let query = format!("$skip={skip}{order}&$count=true");
            let reply = odata(&app, &format!("{P}?{query}"), Auth::Bearer(&token), &[]).await;
            assert_eq!(reply.status, 200, "{query}: {}", reply.text);
            assert_eq!(reply.value(), Vec::<Value>::new(), "{query}");
            assert_eq!(
                reply.body["@odata.count"], all.body["@odata.count"],
                "{query}"
            );
        }
    }
}

/// `IEEE754Compatible=true`, asked for in `Accept` or in `$format` (written plainly or
/// percent-encoded), gives 64-bit integers and decimals as strings and says so in the
/// content type; without it they are numbers.
#[tokio::test]
async fn ieee754_compatible_answers_big_numbers_as_strings_however_it_is_asked() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let page = format!("{P}?$top=1&$select=posteringsid,beloeb");
    let asked: [(String, &[(&str, &str)]); 4] = [
        (
            format!("{page}&$format=application/json;IEEE754Compatible=true"),
            &[],
        ),
        (
            format!("{page}&$format=application/json%3BIEEE754Compatible%3Dtrue"),
            &[],
        ),
        (
            format!(
                "{page}&$format=application/json;odata.metadata=minimal;ieee754compatible=true"
            ),
            &[],
        ),
        (
            page.clone(),
            &[("accept", "application/json;IEEE754Compatible=true")],
        ),
    ];
    for (url, headers) in &asked {
        let reply = odata(&app, url, Auth::Bearer(&token), headers).await;
        assert_eq!(reply.status, 200, "{url}: {}", reply.text);
        let row = &reply.value()[0];
        assert!(
            row["posteringsid"].is_string() && row["beloeb"].is_string(),
            "{url}: {row}"
        );
        let content_type = reply.headers["content-type"].to_str().expect("type");
        assert!(
            content_type.contains("IEEE754Compatible=true"),
            "{url}: {content_type}"
        );
    }
    let plain = odata(
        &app,
        &format!("{page}&$format=json"),
        Auth::Bearer(&token),
        &[],
    )
    .await;
    let row = &plain.value()[0];
    assert!(
        row["posteringsid"].is_number() && row["beloeb"].is_number(),
        "{row}"
    );
}

#[tokio::test]
async fn counts_answer_like_the_oracle() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let filter = "$filter=aar eq 2024 and beloeb lt 1000";
    let oracle = app
        .oracle(
            "oekonomi.posteringer",
            &format!("SELECT COUNT(*) AS n {WHERE} AND aar = 2024 AND beloeb < 1000"),
        )
        .await;
    let expected = oracle[0]["n"].as_u64().expect("count");

    let inline = odata(
        &app,
        &format!("{P}?{filter}&$count=true&$top=2"),
        Auth::Bearer(&token),
        &[],
    )
    .await;
    let plain = odata(
        &app,
        &format!("{P}/$count?{filter}"),
        Auth::Bearer(&token),
        &[],
    )
    .await;

    assert_eq!(
        inline.body["@odata.count"],
        json!(expected),
        "{}",
        inline.text
    );
    assert_eq!(inline.value().len() as u64, expected.min(2));
    assert_eq!(plain.status, 200);
    assert_eq!(plain.text, expected.to_string());
}

#[tokio::test]
async fn next_links_walk_the_whole_result_and_stop_at_top() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let query = format!("{P}?$filter=maaned le 9&$orderby=beloeb desc&$select=posteringsid,beloeb");

    let (rows, pages) = walk(&app, &query, &token, 7).await;
    let (topped, top_pages) = walk(&app, &format!("{query}&$top=17&$skip=2"), &token, 7).await;

    let oracle = app
        .oracle("oekonomi.posteringer", &format!("SELECT posteringsid, beloeb {WHERE} AND maaned <= 9 ORDER BY beloeb DESC, posteringsid"))
        .await;
    assert_eq!(rows, oracle);
    assert_eq!(pages, oracle.len().div_ceil(7));
    assert_eq!(topped, oracle[2..19].to_vec());
    assert_eq!(top_pages, 3);
}

#[tokio::test]
async fn a_skiptoken_works_only_for_its_caller_and_unchanged() {
    let app = spawn_app().await;
    let anna = app.analyst("0101");
    let first = odata(
        &app,
        &format!("{P}?$select=posteringsid"),
        Auth::Bearer(&anna),
        &[("prefer", "odata.maxpagesize=5")],
    )
    .await;
    let next = first.body["@odata.nextLink"]
        .as_str()
        .expect("next link")
        .to_owned();

    let other = odata(&app, &next, Auth::Bearer(&app.analyst("0751")), &[]).await;
    let tampered = odata(
        &app,
        &next.replace("skiptoken=5.", "skiptoken=6."),
        Auth::Bearer(&anna),
        &[],
    )
    .await;
    let changed = odata(
        &app,
        &next.replace("posteringsid", "aar"),
        Auth::Bearer(&anna),
        &[],
    )
    .await;

    for reply in [&other, &tampered, &changed] {
        assert_eq!(reply.status, 400, "{}", reply.text);
        assert_eq!(reply.body["error"]["code"], "invalid_cursor");
    }
}
