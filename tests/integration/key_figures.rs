//! Key figures: every seeded key figure equals an oracle computation over the lake,
//! small cells are suppressed (primary and complementary), no parameter combination
//! yields rows or an unsuppressed small cell, and every request is audited.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dap_schema::NsisLevel;
use serde_json::{Value, json};

use crate::helpers::{Answer, TestApp, spawn_app};

/// Oracle values per (municipality, dimension key): numerator, units, denominator.
struct Oracle {
    numerator: HashMap<(String, String), (f64, u64)>,
    denominator: HashMap<(String, String), f64>,
}

fn num(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `num_sql` yields `m, k, v, u`; `den_sql` yields `m, k, d`.
async fn oracle(app: &TestApp, num: (&str, &str), den: (&str, &str)) -> Oracle {
    let mut numerator = HashMap::new();
    for row in app.oracle(num.0, num.1).await {
        numerator.insert(
            (text(&row["m"]), text(&row["k"])),
            (self::num(&row["v"]), row["u"].as_u64().unwrap_or_default()),
        );
    }
    let mut denominator = HashMap::new();
    for row in app.oracle(den.0, den.1).await {
        denominator.insert((text(&row["m"]), text(&row["k"])), self::num(&row["d"]));
    }
    Oracle {
        numerator,
        denominator,
    }
}

/// A token acting for `municipality` with no read role at all.
fn no_roles(app: &TestApp, municipality: &str) -> String {
    app.token(municipality, &[], NsisLevel::Low)
}

/// The dimension values of a cell, in the definition's order, joined by `|`.
fn key(body: &Value, cell: &Value) -> String {
    body["dimensions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| cell["dimensions"].get(d["column"].as_str()?))
        .map(text)
        .collect::<Vec<_>>()
        .join("|")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * (1.0 + a.abs().max(b.abs()))
}

/// Compares every municipality cell (not totals) with the oracle: published values
/// equal it and had at least `min` units; cells under `min` are primary-suppressed.
fn check_cells(
    body: &Value,
    oracle: &Oracle,
    den_key: impl Fn(&str) -> String,
    factor: f64,
    min: u64,
) -> (usize, usize) {
    let (mut published, mut suppressed) = (0, 0);
    for cell in body["cells"].as_array().expect("cells") {
        let (Some(m), false) = (cell["municipality"].as_str(), cell["total"] == true) else {
            continue;
        };
        let k = key(body, cell);
        let (v, u) = oracle.numerator[&(m.to_owned(), k.clone())];
        match cell["status"].as_str() {
            Some("published") => {
                published += 1;
                assert!(u >= min, "{m} {k}: published with {u} units");
                let d = oracle.denominator[&(m.to_owned(), den_key(&k))];
                let expected = v / d * factor;
                assert!(
                    close(num(&cell["value"]), expected),
                    "{m} {k}: {} != {expected}",
                    cell["value"]
                );
            }
            Some("suppressed") => {
                suppressed += 1;
                assert!(cell["value"].is_null(), "{cell}");
                if cell["own"] != true {
                    assert_eq!(cell["reason"], Value::Null, "another's cell: {cell}");
                } else if u < min {
                    assert_eq!(cell["reason"], "too_few_units", "{cell}");
                }
            }
            other => panic!("{m} {k}: status {other:?}"),
        }
    }
    (published, suppressed)
}

async fn figure(app: &TestApp, id: &str, query: &str, token: &str) -> Answer {
    let answer = app
        .get(&format!("/api/v1/key-figures/{id}?{query}"), Some(token))
        .await;
    assert_eq!(answer.status, 200, "{id}?{query}: {}", answer.body);
    answer
}

#[tokio::test]
async fn every_seeded_key_figure_equals_the_oracle() {
    // Arrange: a caller with no read role on any dataset.
    let app = spawn_app().await;
    let token = no_roles(&app, "0101");

    // Act
    let list = app.get("/api/v1/key-figures", Some(&token)).await;
    let spending = figure(&app, "nettoudgift-pr-indbygger", "", &token)
        .await
        .body;
    let absence = figure(&app, "fravaer-pr-aarsvaerk", "", &token).await.body;
    let care = figure(&app, "hjemmepleje-timer-pr-borger-67", "", &token)
        .await
        .body;
    let infra = figure(&app, "infrastruktur-andel-domaener", "", &token)
        .await
        .body;

    // Assert
    assert_eq!(list.status, 200, "{}", list.body);
    let ids: BTreeSet<&str> = list.body["key_figures"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|k| k["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 4, "{ids:?}");
    let o = oracle(
        &app,
        ("oekonomi.posteringer", "SELECT kommunekode m, CAST(aar AS VARCHAR) || '|' || funktion k, CAST(SUM(beloeb) AS DOUBLE) v, COUNT(DISTINCT CASE WHEN beloeb <> 0 THEN omkostningssted END) u FROM t GROUP BY 1, 2"),
        ("borger.befolkning", "SELECT kommunekode m, CAST(aar AS VARCHAR) k, CAST(SUM(antal) AS DOUBLE) d FROM t WHERE kvartal = 4 GROUP BY 1, 2"),
    )
    .await;
    let (p, s) = check_cells(
        &spending,
        &o,
        |k| k.split('|').next().unwrap_or_default().to_owned(),
        1.0,
        3,
    );
    assert!(p > 0 && s > 0, "published {p}, suppressed {s}");
    // Country cells per function are sums over all municipalities.
    for cell in spending["cells"].as_array().expect("cells") {
        if cell["municipality"].is_null() && cell["total"] == false && cell["status"] == "published"
        {
            let k = key(&spending, cell);
            let year = k.split('|').next().unwrap_or_default().to_owned();
            let v: f64 = o
                .numerator
                .iter()
                .filter(|((_, x), _)| *x == k)
                .map(|(_, (v, _))| v)
                .sum();
            let d: f64 = o
                .denominator
                .iter()
                .filter(|((_, x), _)| *x == year)
                .map(|(_, d)| d)
                .sum();
            assert!(close(num(&cell["value"]), v / d), "country {k}");
        }
    }
    let o = oracle(
        &app,
        ("personale.fravaer", "SELECT kommunekode m, CAST(aar AS VARCHAR) || '|' || stillingskategori k, SUM(fravaersdage) v, COUNT(DISTINCT CASE WHEN fravaersdage <> 0 THEN organisationsenhed END) u FROM t GROUP BY 1, 2"),
        ("personale.fravaer", "SELECT kommunekode m, CAST(aar AS VARCHAR) || '|' || stillingskategori k, SUM(aarsvaerk) d FROM t GROUP BY 1, 2"),
    )
    .await;
    // The test lake has few organisation units per job category: mostly suppressed.
    let (p, s) = check_cells(&absence, &o, str::to_owned, 1.0, 3);
    assert!(p + s > 0);
    let o = oracle(
        &app,
        ("aeldre.hjemmepleje", "SELECT kommunekode m, leverandoer k, CAST(SUM(visiterede_timer) AS DOUBLE) v, COUNT(DISTINCT CASE WHEN visiterede_timer <> 0 THEN borger_id END) u FROM t WHERE alder >= 67 GROUP BY 1, 2"),
        ("aeldre.hjemmepleje", "SELECT kommunekode m, leverandoer k, CAST(COUNT(DISTINCT borger_id) AS DOUBLE) d FROM t WHERE alder >= 67 GROUP BY 1, 2"),
    )
    .await;
    check_cells(&care, &o, str::to_owned, 1.0, 5);
    let o = oracle(
        &app,
        ("infrastruktur.it_systemer", "SELECT kommunekode m, status k, CAST(COUNT(DISTINCT domaene) AS DOUBLE) v, COUNT(DISTINCT CASE WHEN domaene IS NOT NULL THEN system END) u FROM t GROUP BY 1, 2"),
        ("infrastruktur.it_systemer", "SELECT kommunekode m, '' k, CAST(COUNT(DISTINCT domaene) AS DOUBLE) d FROM t GROUP BY 1"),
    )
    .await;
    let (p, _) = check_cells(&infra, &o, |_| String::new(), 100.0, 3);
    assert!(p > 0);
    // The caller's own municipality is marked, the others named.
    let own: Vec<&Value> = infra["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .filter(|c| c["own"] == true)
        .collect();
    assert!(!own.is_empty() && own.iter().all(|c| c["municipality"] == "0101"));
    assert!(
        own.iter().all(|c| c["name"] == "Københavns Kommune"),
        "{own:?}"
    );
}

/// A unit counts towards the threshold only if it contributes to the cell's value: a
/// provider's cell whose citizens but one have no hours is the hours of that one citizen,
/// and is suppressed for too few units, though five citizens are in it.
#[tokio::test]
async fn only_units_that_contribute_to_a_cell_count_towards_its_threshold() {
    let app = spawn_app().await;
    let token = no_roles(&app, "0101");
    let id = "hjemmepleje-timer-pr-borger-67";
    let before = figure(&app, id, "", &token).await.body;
    let cell_of = |body: &Value, m: &str, provider: &str| {
        body["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .find(|c| c["municipality"] == m && c["total"] == false && key(body, c) == provider)
            .cloned()
            .expect("the cell")
    };
    let published = before["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .find(|c| {
            c["status"] == "published" && c["municipality"].is_string() && c["total"] == false
        })
        .expect("a published municipality cell");
    let m = published["municipality"].as_str().expect("m").to_owned();
    let provider = key(&before, published);
    let cell = format!("kommunekode = '{m}' AND leverandoer = '{provider}' AND alder >= 67");
    let kept = app
        .oracle(
            "aeldre.hjemmepleje",
            &format!("SELECT min(borger_id) b FROM t WHERE {cell}"),
        )
        .await[0]["b"]
        .as_str()
        .expect("a citizen")
        .to_owned();

    // Act: every other citizen of the cell loses its hours.
    let table = deltalake::open_table(app.lake_url("aeldre.hjemmepleje"))
        .await
        .expect("open");
    let (_, metrics) = table
        .update()
        .with_predicate(format!("{cell} AND borger_id <> '{kept}'"))
        .with_update("visiterede_timer", "NULL")
        .await
        .expect("update");
    assert!(metrics.num_updated_rows > 0);

    // Assert: once the figure is computed from the new version, the cell is suppressed,
    // and why is told to its own municipality only.
    let owner = no_roles(&app, &m);
    let mut after = before.clone();
    for _ in 0..50 {
        after = figure(&app, id, "", &owner).await.body;
        if after["table_versions"] != before["table_versions"] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_ne!(
        after["table_versions"], before["table_versions"],
        "recomputed"
    );
    let now = cell_of(&after, &m, &provider);
    assert_eq!(now["status"], "suppressed", "{now}");
    assert_eq!(now["reason"], "too_few_units", "{now}");
    assert!(now["value"].is_null(), "{now}");
    let other = if m == "0101" { "0751" } else { "0101" };
    let seen = figure(&app, id, "", &no_roles(&app, other)).await.body;
    let theirs = cell_of(&seen, &m, &provider);
    assert_eq!(
        (&theirs["status"], &theirs["reason"]),
        (&json!("suppressed"), &Value::Null),
        "{theirs}"
    );
}

/// Within one slice table (one year), no row or column (municipality totals and country
/// totals included) holds exactly one suppressed cell: subtracting the published cells
/// from a published total never gives a suppressed cell.
#[tokio::test]
async fn suppressed_cells_cannot_be_recovered_from_published_totals() {
    let app = spawn_app().await;
    let token = no_roles(&app, "0147");
    let body = figure(&app, "nettoudgift-pr-indbygger", "", &token)
        .await
        .body;
    let mut lines: BTreeMap<(String, String, String), Vec<bool>> = BTreeMap::new();
    let mut suppressed = 0;
    for cell in body["cells"].as_array().expect("cells") {
        let year = text(&cell["dimensions"]["aar"]);
        let municipality = text(&cell["municipality"]);
        let function = cell["dimensions"]
            .get("funktion")
            .map(text)
            .unwrap_or("total".into());
        let hidden = cell["status"] == "suppressed";
        suppressed += usize::from(hidden);
        lines
            .entry((year.clone(), "row".into(), municipality))
            .or_default()
            .push(hidden);
        lines
            .entry((year, "column".into(), function))
            .or_default()
            .push(hidden);
    }
    assert!(suppressed > 0, "the test lake must have small cells");
    for (line, cells) in &lines {
        let hidden = cells.iter().filter(|h| **h).count();
        assert_ne!(hidden, 1, "{line:?} has exactly one suppressed cell");
    }
}

#[tokio::test]
async fn no_parameter_combination_yields_rows_or_other_cells() {
    let app = spawn_app().await;
    let token = no_roles(&app, "0101");
    let id = "nettoudgift-pr-indbygger";
    let all = figure(&app, id, "", &token).await.body;
    let status = |body: &Value| -> BTreeMap<String, (String, String)> {
        body["cells"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    format!(
                        "{}|{}|{}",
                        if c["area"] == "country" {
                            "country".into()
                        } else {
                            text(&c["municipality"])
                        },
                        text(&c["area_id"]),
                        c["dimensions"]
                    ),
                    (text(&c["status"]), text(&c["value"])),
                )
            })
            .collect()
    };
    let everything = status(&all);
    let fields: BTreeSet<&str> = [
        "municipality",
        "area",
        "area_id",
        "name",
        "own",
        "dimensions",
        "total",
        "value",
        "status",
        "reason",
        "rank",
    ]
    .into();
    for cell in all["cells"].as_array().expect("cells") {
        let keys: BTreeSet<&str> = cell
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, fields, "a cell carries only aggregate fields");
    }
    // A comparison group and filters only choose among the same cells: differencing two
    // groups (all vs. one municipality fewer) shows the same values and suppressions.
    for query in [
        "group=0147,0151",
        "group=0147",
        "group=region",
        "group=size",
        "group=country",
        "year=2024&group=size",
        "filter=aar:eq:2024",
        "filter=aar:in:2023,2025&group=0151",
    ] {
        let part = figure(&app, id, query, &token).await.body;
        for (key, value) in status(&part) {
            if key.starts_with("null|") && !key.starts_with("null|null|") {
                continue; // a region's or size band's total: not in the `all` answer
            }
            assert_eq!(everything.get(&key), Some(&value), "{query}: {key}");
        }
    }
    // Anything that would regroup, filter rows or read rows is refused.
    for query in [
        "filter=beloeb:gt:0",
        "filter=aar:gt:2020",
        "filter=omkostningssted:eq:0101-100",
        "select=beloeb",
        "group_by=omkostningssted",
        "filter=aar:eq:1999",
        "group=9999",
        "format=parquet",
    ] {
        let answer = app
            .get(&format!("/api/v1/key-figures/{id}?{query}"), Some(&token))
            .await;
        assert_eq!(answer.status, 400, "{query}: {}", answer.body);
        assert_eq!(answer.body["code"], "invalid_parameter", "{query}");
    }
    let unknown = app.get("/api/v1/key-figures/rows", Some(&token)).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["code"], "key_figure_not_found");
    assert!(
        unknown.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains(id),
        "{}",
        unknown.body
    );
    let anonymous = app.get(&format!("/api/v1/key-figures/{id}"), None).await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn every_request_is_audited_and_csv_has_one_line_per_cell() {
    let app = spawn_app().await;
    let token = no_roles(&app, "0101");
    let id = "fravaer-pr-aarsvaerk";

    let json = figure(&app, id, "filter=aar:eq:2024", &token).await;
    let refused = app
        .get(
            &format!("/api/v1/key-figures/{id}?filter=fravaersdage:gt:1"),
            Some(&token),
        )
        .await;
    let response = app
        .client
        .get(format!(
            "{}/api/v1/key-figures/{id}?format=csv&filter=aar:eq:2024",
            app.address
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("csv");

    let records = app.audit_of(&json).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, "allowed");
    assert_eq!(records[0].municipality.as_deref(), Some("0101"));
    assert!(
        records[0]
            .filter
            .as_deref()
            .unwrap_or_default()
            .contains("aar in [2024]"),
        "{:?}",
        records[0].filter
    );
    let records = app.audit_of(&refused).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, "denied");
    assert_eq!(records[0].reason.as_deref(), Some("invalid_parameter"));
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/csv")
    );
    let csv = response.text().await.expect("text");
    let cells = json.body["cells"].as_array().expect("cells");
    let legend: Vec<&str> = csv.lines().take_while(|l| l.starts_with('#')).collect();
    let lines: Vec<&str> = csv.lines().skip(legend.len()).collect();
    assert_eq!(lines.len(), cells.len() + 1);
    assert_eq!(
        lines[0],
        "kommunekode;navn;omraade;egen;aar;stillingskategori;i_alt;vaerdi;status;aarsag;rang"
    );
    // A withheld cell shows the marker, explained in the legend with the threshold.
    assert!(
        legend
            .iter()
            .any(|l| l.contains(".. = diskretioneret") && l.contains("3 bidragydere")),
        "{legend:?}"
    );
    assert!(
        legend.iter().any(|l| l.contains("Dominansregel")),
        "{legend:?}"
    );
    for (line, cell) in lines[1..].iter().zip(cells) {
        let fields: Vec<&str> = line.split(';').collect();
        let value = fields[7];
        match cell["status"].as_str() {
            Some("suppressed") => assert_eq!(value, "..", "{line}"),
            Some("not_defined") => assert_eq!(value, "-", "{line}"),
            // Two requests may sum in another order: equal to the last bits.
            _ => {
                let (csv, json) = (
                    value.parse::<f64>().expect("a number"),
                    cell["value"].as_f64().expect("a value"),
                );
                assert!(
                    (csv - json).abs() <= 1e-9 * json.abs().max(1.0),
                    "{line}: {json}"
                );
            }
        }
    }
    assert!(cells.iter().any(|c| c["status"] == "suppressed"));

    let xlsx = app
        .client
        .get(format!(
            "{}/api/v1/key-figures/{id}?format=xlsx&year=2024&group=region",
            app.address
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("xlsx");
    assert_eq!(xlsx.status(), 200);
    assert_eq!(
        xlsx.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(
        xlsx.headers()["content-disposition"]
            .to_str()
            .unwrap_or_default()
            .contains("fravaer-pr-aarsvaerk.xlsx")
    );
    let bytes = xlsx.bytes().await.expect("bytes");
    assert_eq!(&bytes[..2], b"PK", "an XLSX file is a zip archive");
}

/// GraphQL's `keyFigure` goes through the same core operation as REST: the same cells,
/// typed, audited per field, with the same error codes.
#[tokio::test]
async fn graphql_key_figures_equal_rest_and_are_audited() {
    let app = spawn_app().await;
    let token = no_roles(&app, "0101");
    let id = "nettoudgift-pr-indbygger";
    let rest = figure(&app, id, "year=2025&group=region", &token)
        .await
        .body;
    let query = r#"query($id: String!) {
        keyFigures { id title { da en } disclosure { minUnits unitColumn } }
        keyFigure(id: $id, year: 2025, group: REGION) {
            municipality group groupName
            keyFigure { id unit disclosure { minUnits dominance { n k } } sizeBands { id name } }
            tableVersions { dataset version }
            cells { municipality area areaId name own dimensions { column value } total value status reason rank }
            statistics { dimensions { column value } total published withheld q1 median q3 }
        } }"#;
    let body = serde_json::json!({"query": query, "variables": {"id": id}});
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .expect("graphql");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    let answer: Value = response.json().await.expect("json");
    assert!(answer["errors"].is_null(), "{answer}");
    let table = &answer["data"]["keyFigure"];
    assert_eq!(table["group"], "region");
    assert_eq!(table["groupName"], "Region Hovedstaden");
    assert_eq!(table["keyFigure"]["id"], id);
    assert_eq!(
        answer["data"]["keyFigures"].as_array().map(Vec::len),
        Some(4)
    );
    let rest_cells = rest["cells"].as_array().expect("cells");
    let gql_cells = table["cells"].as_array().expect("cells");
    assert_eq!(rest_cells.len(), gql_cells.len());
    for (r, g) in rest_cells.iter().zip(gql_cells) {
        assert_eq!(r["municipality"], g["municipality"]);
        assert_eq!(r["area"], g["area"]);
        assert_eq!(r["area_id"], g["areaId"]);
        assert_eq!(r["status"], g["status"]);
        assert_eq!(r["reason"], g["reason"]);
        assert_eq!(r["rank"], g["rank"]);
        assert_eq!(r["own"], g["own"]);
        match (r["value"].as_f64(), g["value"].as_f64()) {
            (Some(a), Some(b)) => assert!(close(a, b)),
            (a, b) => assert_eq!(a, b),
        }
        let dims: BTreeMap<String, String> = g["dimensions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| (text(&d["column"]), text(&d["value"])))
            .collect();
        let expected: BTreeMap<String, String> = r["dimensions"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), text(v)))
            .collect();
        assert_eq!(dims, expected);
    }
    // One audit record per key-figure field, for the caller's municipality.
    let records = app.audit_records(&request_id).await;
    let parts: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    assert!(parts.iter().any(|a| a.ends_with("keyFigure")), "{parts:?}");
    assert!(parts.iter().any(|a| a.ends_with("keyFigures")), "{parts:?}");
    assert!(
        records
            .iter()
            .filter(|r| r.action.ends_with("keyFigure"))
            .all(|r| r.municipality.as_deref() == Some("0101")
                && r.filter
                    .as_deref()
                    .unwrap_or_default()
                    .contains("group region"))
    );
    // Errors carry the REST codes.
    for (query, code) in [
        (
            r#"{ keyFigure(id: "rows") { group } }"#,
            "key_figure_not_found",
        ),
        (
            r#"{ keyFigure(id: "nettoudgift-pr-indbygger", group: REGION, compareWith: ["0147"]) { group } }"#,
            "invalid_parameter",
        ),
        (
            r#"{ keyFigure(id: "infrastruktur-andel-domaener", year: 2025) { group } }"#,
            "invalid_parameter",
        ),
    ] {
        let answer: Value = app
            .client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "query": query }))
            .send()
            .await
            .expect("graphql")
            .json()
            .await
            .expect("json");
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], code,
            "{query}: {answer}"
        );
    }
}

/// A key figure's value does not depend on the order in which its rows were added up
/// (threads, replicas, restarts): computed again and again, two at a time, on the same
/// table versions, every cell is the same to the last bit. Integer and decimal
/// quantities are summed exactly, in their own type.
#[tokio::test]
async fn a_key_figure_computed_again_is_the_same_to_the_last_bit() {
    let app = spawn_app().await;
    let core = &app.state;
    for id in ["nettoudgift-pr-indbygger", "hjemmepleje-timer-pr-borger-67"] {
        let def = dap_lake::benchmark::seeded::demo_key_figures()
            .into_iter()
            .find(|d| d.id == id)
            .expect("seeded key figure");
        let scope = dap_lake::benchmark::BenchmarkScope::for_key_figure(&def, |id| {
            core.catalogue.get(id).map(|d| d.as_ref().clone())
        })
        .expect("scope");
        let cells = |table: dap_lake::benchmark::BenchmarkTable| {
            let mut cells: Vec<String> = table.cells.iter().map(|c| format!("{c:?}")).collect();
            cells.sort();
            cells
        };
        let first = cells(core.lake.benchmark(&scope).await.expect("computed"));
        assert!(first.len() > 100, "{id}: {} cells", first.len());
        for _ in 0..3 {
            let (a, b) = tokio::join!(core.lake.benchmark(&scope), core.lake.benchmark(&scope));
            for again in [a, b] {
                let again = cells(again.expect("computed"));
                let differ = first.iter().zip(&again).filter(|(x, y)| x != y).count();
                assert_eq!(differ, 0, "{id}: {differ} cells differ, e.g. {:?}", {
                    first.iter().zip(&again).find(|(x, y)| x != y)
                });
                assert_eq!(again.len(), first.len());
            }
        }
    }
}
