//! Random `$filter` expressions over the demo columns return exactly the rows of the
//! equivalent GraphQL `where` (the API's filter tree, with negations written out as the
//! lake's operators) and of the equivalent SQL over the table (the oracle). OData's
//! two-valued comparisons are written out in SQL: every comparison is
//! `COALESCE(..., false)` and `ne` also holds for null.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::odata::{Auth, P, WHERE, odata};

/// SplitMix64: a fixed seed gives the same cases on every run, so a failure repeats.
struct Cases(u64);

/// One filter three ways: OData `$filter`, SQL over the table, GraphQL `where`.
struct Case {
    odata: String,
    sql: String,
    graphql: Value,
}

const OPS: [(&str, &str, &str); 6] = [
    ("eq", "=", "eq"),
    ("ne", "<>", "ne"),
    ("gt", ">", "gt"),
    ("ge", ">=", "gte"),
    ("lt", "<", "lt"),
    ("le", "<=", "lte"),
];

/// The comparison (OData name) that holds exactly when `op` does not.
fn complement(op: &str) -> &'static str {
    match op {
        "eq" => "ne",
        "ne" => "eq",
        "gt" => "le",
        "ge" => "lt",
        "lt" => "ge",
        _ => "gt",
    }
}

fn graphql_op(op: &str) -> &'static str {
    OPS.iter().find(|o| o.0 == op).map_or("eq", |o| o.2)
}

fn holds(a: u64, op: &str, b: u64) -> bool {
    match op {
        "eq" => a == b,
        "ne" => a != b,
        "gt" => a > b,
        "ge" => a >= b,
        "lt" => a < b,
        _ => a <= b,
    }
}

impl Cases {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }

    /// `column op value` (OData's two-valued logic): `literal` as OData and SQL write
    /// it, `value` as GraphQL does; the GraphQL form as it holds or, `negated`, as it
    /// does not.
    fn compare(
        &mut self,
        column: &str,
        literal: String,
        value: Value,
        negated: bool,
    ) -> (String, String, Value) {
        let (op, sql_op, _) = OPS[self.next(6) as usize];
        let sql = format!("{column} {sql_op} {literal}");
        let sql = match op {
            "ne" => format!("({sql} OR {column} IS NULL)"),
            _ => sql,
        };
        let effective = graphql_op(if negated { complement(op) } else { op });
        let graphql = json!({column: {effective: value}});
        // A missing value makes only `ne` true; a negation turns that round.
        let graphql = match (op == "ne") != negated {
            true => json!({"or": [graphql, {column: {"isNull": true}}]}),
            false => graphql,
        };
        (format!("{column} {op} {literal}"), sql, graphql)
    }

    /// `month(d) op n` or `day(d) op n`: the API lists the months or days it selects.
    fn date_part(&mut self, part: &str, negated: bool) -> (String, String, Value) {
        let (op, sql_op, _) = OPS[self.next(6) as usize];
        let (last, n) = match part {
            "month" => (12, 2 + self.next(10)),
            _ => (31, 2 + self.next(26)),
        };
        let effective = if negated { complement(op) } else { op };
        let values: Vec<u64> = (1..=last).filter(|v| holds(*v, effective, n)).collect();
        let column = "bogfoeringsdato";
        let graphql = json!({column: {part: values}});
        let graphql = match (op == "ne") != negated {
            true => json!({"or": [graphql, {column: {"isNull": true}}]}),
            false => graphql,
        };
        let sql = format!(
            "EXTRACT({} FROM {column}) {sql_op} {n}",
            part.to_uppercase()
        );
        let sql = match op {
            "ne" => format!("({sql} OR {column} IS NULL)"),
            _ => sql,
        };
        (format!("{part}({column}) {op} {n}"), sql, graphql)
    }

    /// One leaf as (OData, SQL, GraphQL as it holds or, `negated`, as it does not).
    fn leaf(&mut self, negated: bool) -> (String, String, Value) {
        match self.next(10) {
            0 => {
                let year = 2023 + self.next(4);
                self.compare("aar", year.to_string(), json!(year), negated)
            }
            1 => {
                let month = 1 + self.next(12);
                self.compare("maaned", month.to_string(), json!(month), negated)
            }
            2 => {
                let art = ["1.0", "4.0", "2.2"][self.next(3) as usize];
                self.compare("art", format!("'{art}'"), json!(art), negated)
            }
            3 | 4 => {
                let (function, sql, operator) = [
                    ("startswith", "starts_with", "prefix"),
                    ("contains", "strpos", "contains"),
                    ("endswith", "ends_with", "suffix"),
                ][self.next(3) as usize];
                let text = ["5.", "22", "07", "3.22", "1", "%", "_"][self.next(7) as usize];
                let sql = match sql {
                    "strpos" => format!("strpos(funktion, '{text}') > 0"),
                    f => format!("{f}(funktion, '{text}')"),
                };
                let operator = match negated {
                    true => format!("not{}{}", operator[..1].to_uppercase(), &operator[1..]),
                    false => operator.to_owned(),
                };
                (
                    format!("{function}(funktion,'{text}')"),
                    sql,
                    json!({"funktion": {operator: text}}),
                )
            }
            5 => {
                let odata = "funktion in ('5.22.07','3.22.01')".to_owned();
                let sql = "funktion IN ('5.22.07', '3.22.01')".to_owned();
                let values = json!(["5.22.07", "3.22.01"]);
                let graphql = match negated {
                    false => json!({"funktion": {"in": values}}),
                    true => json!({"or": [
                        {"funktion": {"isNull": true}},
                        {"and": [{"funktion": {"ne": "5.22.07"}}, {"funktion": {"ne": "3.22.01"}}]}
                    ]}),
                };
                (odata, sql, graphql)
            }
            6 => self.date_part("month", negated),
            7 => self.date_part("day", negated),
            8 => {
                let year = 2023 + self.next(3);
                let graphql = match negated {
                    false => json!({"bogfoeringsdato": {"year": [year]}}),
                    true => json!({"or": [
                        {"bogfoeringsdato": {"lt": format!("{year}-01-01")}},
                        {"bogfoeringsdato": {"gte": format!("{}-01-01", year + 1)}},
                        {"bogfoeringsdato": {"isNull": true}}
                    ]}),
                };
                (
                    format!("year(bogfoeringsdato) eq {year}"),
                    format!("EXTRACT(YEAR FROM bogfoeringsdato) = {year}"),
                    graphql,
                )
            }
            _ => {
                let amount = format!("{}.50", self.next(20_000));
                self.compare("beloeb", amount.clone(), json!(amount), negated)
            }
        }
    }

    /// A tree of and/or/not up to `depth` levels. The GraphQL form pushes negations onto
    /// the leaves (De Morgan), because `where` has no `not`.
    fn tree(&mut self, depth: u32, negated: bool) -> Case {
        if depth == 0 || self.next(3) == 0 {
            let (odata, sql, graphql) = self.leaf(negated);
            let sql = format!("COALESCE({sql}, false)");
            return Case {
                odata,
                sql,
                graphql,
            };
        }
        match self.next(3) {
            0 => {
                let inner = self.tree(depth - 1, !negated);
                Case {
                    odata: format!("not ({})", inner.odata),
                    sql: format!("NOT ({})", inner.sql),
                    graphql: inner.graphql,
                }
            }
            kind => {
                let (a, b) = (self.tree(depth - 1, negated), self.tree(depth - 1, negated));
                let (op, sql_op) = if kind == 1 {
                    ("and", "AND")
                } else {
                    ("or", "OR")
                };
                let graphql_op = match (op, negated) {
                    ("and", false) | ("or", true) => "and",
                    _ => "or",
                };
                Case {
                    odata: format!("({} {op} {})", a.odata, b.odata),
                    sql: format!("({} {sql_op} {})", a.sql, b.sql),
                    graphql: json!({graphql_op: [a.graphql, b.graphql]}),
                }
            }
        }
    }
}

/// The `posteringsid`s GraphQL's `where` selects, in order.
async fn graphql_ids(app: &TestApp, token: &str, filter: &Value) -> Result<Vec<Value>, Value> {
    let query = "query($w: OekonomiPosteringerWhere) { oekonomi_posteringer(first: 1000, where: $w, \
                 orderBy: [{column: posteringsid, direction: ASC}]) { nodes { posteringsid } } }";
    let body: Value = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": {"w": filter}}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    match body["data"]["oekonomi_posteringer"]["nodes"].as_array() {
        Some(nodes) => Ok(nodes.iter().map(|n| n["posteringsid"].clone()).collect()),
        None => Err(body),
    }
}

#[tokio::test]
async fn random_filters_return_the_rows_of_the_api_filter_and_of_the_equivalent_sql() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let mut cases = Cases(14);
    let mut non_empty = 0;
    for _ in 0..60 {
        let case = cases.tree(3, false);

        let reply = odata(
            &app,
            &format!("{P}?$filter={}&$orderby=posteringsid", encode(&case.odata)),
            Auth::Bearer(&token),
            &[],
        )
        .await;
        let api = graphql_ids(&app, &token, &case.graphql).await;

        assert_eq!(reply.status, 200, "{}: {}", case.odata, reply.text);
        let oracle = app
            .oracle(
                "oekonomi.posteringer",
                &format!("SELECT * {WHERE} AND {} ORDER BY posteringsid", case.sql),
            )
            .await;
        assert_eq!(reply.value(), oracle, "{}\n{}", case.odata, case.sql);
        let ids: Vec<Value> = oracle.iter().map(|r| r["posteringsid"].clone()).collect();
        assert_eq!(api, Ok(ids), "{}\n{}", case.odata, case.graphql);
        non_empty += usize::from(!oracle.is_empty());
    }
    assert!(non_empty >= 15, "too few cases select rows: {non_empty}");
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
