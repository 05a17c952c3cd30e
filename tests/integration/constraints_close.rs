//! Constraints close columns as well as rows, on every surface, and privilege-list shapes
//! dap does not understand close (issue 12).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::helpers::{Group, TestApp, spawn_app};

const ORG_UNIT: &str = dap_lake::demo::ORG_UNIT_CONSTRAINT;
const HOME_CARE: &str = "aeldre.hjemmepleje";
const ABSENCE: &str = "personale.fravaer";
/// Frederikssund (0250).
const CVR: &str = "29189129";
const SENSITIVE: &str = "laes-foelsomme";

fn token(app: &TestApp, groups: &[Group<'_>]) -> String {
    app.kombit
        .sign(&app.kombit.kombit_claims_constrained(groups, "Substantial"))
}

/// A token whose privilege list is `xml`, verbatim.
fn token_with_list(app: &TestApp, xml: &str) -> String {
    let mut claims = app.kombit.kombit_claims(&[], "Substantial");
    claims["https://data.gov.dk/model/core/eid/privilegesIntermediate"] =
        json!(STANDARD.encode(xml));
    app.kombit.sign(&claims)
}

async fn graphql(app: &TestApp, token: &str, query: &str) -> Value {
    app.graphql(token, &json!({ "query": query })).await
}

async fn csv_header(app: &TestApp, dataset: &str, token: &str) -> (u16, String) {
    let response = app
        .client
        .get(format!(
            "{}/api/v1/datasets/{dataset}/export?format=csv",
            app.address
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("export");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, text.lines().next().unwrap_or_default().to_owned())
}

/// What one caller is shown of `dataset` on each surface: the REST columns, whether a
/// row carries `column`, the CSV export header, and GraphQL's answer for `column`.
async fn shown(app: &TestApp, token: &str, dataset: &str, column: &str) -> Shown {
    let rows = app
        .get(
            &format!("/api/v1/datasets/{dataset}/rows?limit=5"),
            Some(token),
        )
        .await;
    assert_eq!(rows.status, 200, "{}", rows.body);
    let (status, header) = csv_header(app, dataset, token).await;
    assert_eq!(status, 200, "{header}");
    let field = dataset.replace('.', "_");
    let gql = graphql(
        app,
        token,
        &format!("{{ {field}(first: 3) {{ nodes {{ {column} }} }} }}"),
    )
    .await;
    Shown {
        rest_columns: rows.body["columns"]
            .as_array()
            .is_some_and(|c| c.contains(&json!(column))),
        rest_rows: rows.rows().iter().any(|r| r.get(column).is_some()),
        export: header.split(',').any(|c| c.trim_matches('"') == column),
        graphql: gql["errors"].is_null()
            && gql["data"][&field]["nodes"]
                .as_array()
                .is_some_and(|n| n.iter().all(|r| r[column].is_string())),
    }
}

#[derive(Debug, PartialEq)]
struct Shown {
    rest_columns: bool,
    rest_rows: bool,
    export: bool,
    graphql: bool,
}

const HIDDEN: Shown = Shown {
    rest_columns: false,
    rest_rows: false,
    export: false,
    graphql: false,
};
const VISIBLE: Shown = Shown {
    rest_columns: true,
    rest_rows: true,
    export: true,
    graphql: true,
};

#[tokio::test]
async fn a_sensitive_role_under_a_constraint_the_dataset_does_not_declare_shows_no_cpr() {
    // Arrange: the issue's caller, and a control whose sensitive role is unconstrained.
    let app = spawn_app().await;
    let constrained = token(
        &app,
        &[
            (CVR, &["laes-aeldre"], &[]),
            (CVR, &[SENSITIVE], &[(ORG_UNIT, "0250-org-01")]),
        ],
    );
    let unconstrained = token(&app, &[(CVR, &["laes-aeldre", SENSITIVE], &[])]);

    // Act and assert: hidden on rows, export and GraphQL; shown for the control.
    assert_eq!(shown(&app, &constrained, HOME_CARE, "cpr").await, HIDDEN);
    assert_eq!(shown(&app, &unconstrained, HOME_CARE, "cpr").await, VISIBLE);
    let refused = app
        .get(
            &format!("/api/v1/datasets/{HOME_CARE}/rows?select=cpr"),
            Some(&constrained),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let gql = graphql(
        &app,
        &constrained,
        "{ aeldre_hjemmepleje(first: 3) { nodes { cpr } } }",
    )
    .await;
    // Not in the caller's GraphQL schema at all: as a column that does not exist.
    assert_eq!(
        gql["errors"][0]["extensions"]["code"], "invalid_query",
        "{gql}"
    );
}

/// The platform operator classifies `stillingskategori` of the absence dataset (which
/// declares the org-unit constraint) as sensitive.
async fn classify_job_category_sensitive(app: &TestApp) {
    let mut def = serde_json::to_value(app.state.catalogue.get(ABSENCE).expect("dataset").as_ref())
        .expect("def");
    for column in def["columns"].as_array_mut().expect("columns") {
        if column["name"] == "stillingskategori" {
            column["classification"] = json!("sensitive");
        }
    }
    let operator = app
        .dev
        .token(
            "demo-operator",
            "0101",
            &[],
            dap_schema::NsisLevel::Substantial,
            chrono::Duration::minutes(10),
        )
        .expect("token");
    let response = app
        .client
        .put(format!("{}/api/v1/admin/catalogue/{ABSENCE}", app.address))
        .bearer_auth(operator)
        .json(&def)
        .send()
        .await
        .expect("put");
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
}

#[tokio::test]
async fn a_constrained_role_opens_its_column_only_when_it_covers_every_row_of_the_scope() {
    let app = spawn_app().await;
    classify_job_category_sensitive(&app).await;
    let column = "stillingskategori";
    let cases: [(&[Group<'_>], Shown); 4] = [
        // All rows readable, the column opened for one unit only: hidden.
        (
            &[
                (CVR, &["laes-personale"], &[]),
                (CVR, &[SENSITIVE], &[(ORG_UNIT, "0250-org-01")]),
            ],
            HIDDEN,
        ),
        // Rows of unit 1, the column opened for units 1 and 2: shown.
        (
            &[
                (CVR, &["laes-personale"], &[(ORG_UNIT, "0250-org-01")]),
                (CVR, &[SENSITIVE], &[(ORG_UNIT, "0250-org-01,0250-org-02")]),
            ],
            VISIBLE,
        ),
        // Rows of units 1 and 3, the column opened for unit 1: hidden.
        (
            &[
                (
                    CVR,
                    &["laes-personale"],
                    &[(ORG_UNIT, "0250-org-01,0250-org-03")],
                ),
                (CVR, &[SENSITIVE], &[(ORG_UNIT, "0250-org-01")]),
            ],
            HIDDEN,
        ),
        // Both roles in one group under unit 1: shown, for those rows.
        (
            &[(
                CVR,
                &["laes-personale", SENSITIVE],
                &[(ORG_UNIT, "0250-org-01")],
            )],
            VISIBLE,
        ),
    ];
    for (groups, expected) in cases {
        let token = token(&app, groups);
        assert_eq!(
            shown(&app, &token, ABSENCE, column).await,
            expected,
            "{groups:?}"
        );
    }
}

fn list(group_body: &str) -> String {
    format!(
        r#"<bpp:PrivilegeList xmlns:bpp="http://itst.dk/oiosaml/basic_privilege_profile"><PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:{CVR}"><Privilege>{}</Privilege>{group_body}</PrivilegeGroup></bpp:PrivilegeList>"#,
        dap_auth::roles::role_uri("laes-personale")
    )
}

#[tokio::test]
async fn a_self_closing_constraint_closes_like_an_empty_one() {
    let app = spawn_app().await;
    let all = app
        .oracle(ABSENCE, "SELECT aar FROM t WHERE kommunekode = '0250'")
        .await;
    assert!(!all.is_empty());
    let unconstrained = token_with_list(&app, &list(""));
    assert_eq!(
        app.all_rows(ABSENCE, "", &unconstrained).await.len(),
        all.len()
    );
    for body in [
        format!(r#"<Constraint Name="{ORG_UNIT}"></Constraint>"#),
        format!(r#"<Constraint Name="{ORG_UNIT}"/>"#),
        format!(r#"<Constraint Name="{ORG_UNIT}" />"#),
    ] {
        let token = token_with_list(&app, &list(&body));
        let rows = app.all_rows(ABSENCE, "", &token).await;
        assert!(rows.is_empty(), "{body}: {} rows", rows.len());
    }
}

#[tokio::test]
async fn a_privilege_group_with_a_shape_dap_does_not_understand_opens_nothing() {
    let app = spawn_app().await;
    for body in [
        format!(r#"<constraint Name="{ORG_UNIT}">0250-org-01</constraint>"#),
        format!(r#"<Foo><Constraint Name="{ORG_UNIT}">0250-org-01</Constraint></Foo>"#),
        format!(
            r#"<e:Constraint xmlns:e="http://evil.example/" Name="{ORG_UNIT}">0250-org-01</e:Constraint>"#
        ),
        format!(r#"<Constraint Name="{ORG_UNIT}" Mode="any">0250-org-01</Constraint>"#),
    ] {
        let token = token_with_list(&app, &list(&body));
        let answer = app
            .get(&format!("/api/v1/datasets/{ABSENCE}/rows"), Some(&token))
            .await;
        assert_eq!(answer.status, 404, "{body}: {}", answer.body);
    }
}

#[tokio::test]
async fn a_dataset_whose_constraints_cannot_be_honoured_is_not_listed() {
    let app = spawn_app().await;
    let unknown = token(
        &app,
        &[(
            CVR,
            &["laes-oekonomi", "laes-personale"],
            &[("http://sts.kombit.dk/constraints/kle/1", "27.24.00")],
        )],
    );
    let listing = app.get("/api/v1/datasets", Some(&unknown)).await;
    assert_eq!(listing.status, 200, "{}", listing.body);
    assert_eq!(listing.body["datasets"], json!([]), "{}", listing.body);
    // Declared on the absence dataset only: that one is listed, and opens.
    let org_unit = token(
        &app,
        &[(
            CVR,
            &["laes-oekonomi", "laes-personale"],
            &[(ORG_UNIT, "0250-org-01")],
        )],
    );
    let listing = app.get("/api/v1/datasets", Some(&org_unit)).await;
    let ids: Vec<&str> = listing.body["datasets"]
        .as_array()
        .map(|d| d.iter().filter_map(|d| d["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, [ABSENCE], "{}", listing.body);
}
