//! One access decision under every surface: for every kind of caller, REST's dataset
//! list, GraphQL's `datasets`, the dataset fields of the caller's GraphQL schema and the
//! entity sets of the OData service document name exactly the same datasets — including a municipality that switched a dataset off, a
//! delegation's grantee, a machine client and a personal access token. The web console
//! shows each person the same: the datasets listed, the same 404, the rows of a page.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::admin::{call, machine_token, person};
use crate::helpers::{READ_ROLES, TestApp, spawn_app};
use crate::odata::{Auth, odata};

const A: &str = "0101";
const B: &str = "0751";

async fn graphql(app: &TestApp, token: &str, query: &str) -> Value {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("graphql");
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.expect("json")
}

/// The datasets each surface names for `token`: REST list, GraphQL `datasets`, schema.
async fn named(app: &TestApp, token: &str) -> [BTreeSet<String>; 3] {
    let listing = app.get("/api/v1/datasets", Some(token)).await;
    assert_eq!(listing.status, 200, "{}", listing.body);
    let rest = listing.body["datasets"]
        .as_array()
        .expect("datasets")
        .iter()
        .filter_map(|d| d["id"].as_str().map(str::to_owned))
        .collect();
    let listed = graphql(app, token, "{ datasets { id } }").await;
    let gql = listed["data"]["datasets"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .filter_map(|d| d["id"].as_str().map(str::to_owned))
        .collect();
    let schema = graphql(app, token, "{ __schema { queryType { fields { name } } } }").await;
    let fields = schema["data"]["__schema"]["queryType"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .filter(|n| {
            ![
                "datasets",
                "me",
                "machineClients",
                "keyFigures",
                "keyFigure",
            ]
            .contains(n)
                && !n.ends_with("_aggregate")
        })
        // Every demo dataset id is `<domain>.<name>` with one dot.
        .map(|n| n.replacen('_', ".", 1))
        .collect();
    [rest, gql, fields]
}

/// What the access decision must apply: A switches `personale.fravaer` off and delegates
/// `oekonomi.posteringer` to CVR 12345678. Returns a consultant of that CVR and a person
/// of two municipalities (0101 with the economy role, 0250 with every read role).
async fn settings_and_delegation(app: &TestApp, admin_a: &str) -> (String, String) {
    let (status, _) = call(
        app,
        "PUT",
        "/api/v1/admin/settings",
        Some(admin_a),
        Some(&json!({"disabled_datasets": ["personale.fravaer"]})),
    )
    .await;
    assert_eq!(status, 200);
    let until = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let (status, _) = call(app, "POST", "/api/v1/admin/delegations", Some(admin_a),
        Some(&json!({"grantee_cvr": "12345678", "datasets": ["oekonomi.posteringer"], "valid_until": until}))).await;
    assert_eq!(status, 201);
    let consultant = app.kombit.sign(&app.kombit.kombit_claims(
        &[("12345678", &["laes-oekonomi", "laes-personale"])],
        "Substantial",
    ));
    let two = app.kombit.sign(&app.kombit.kombit_claims(
        &[("29189129", READ_ROLES), ("64942212", &["laes-oekonomi"])],
        "Substantial",
    ));
    (consultant, two)
}

#[tokio::test]
async fn every_surface_names_the_same_datasets_for_every_caller() {
    // Arrange: callers of every kind, a switched-off dataset and a delegation.
    let app = spawn_app().await;
    let admin_a = person(&app, "admin-a", A, &["it-administration"]);
    let analyst_a = app.analyst(A);
    let economist_a = person(&app, "eco-a", A, &["laes-oekonomi"]);
    let analyst_b = app.analyst(B);
    let (_, machine_a) = machine_token(&app, A).await;
    let (status, pat) = call(
        &app,
        "POST",
        "/api/v1/me/tokens",
        Some(&analyst_a),
        Some(&json!({"name": "bi", "datasets": ["borger.befolkning"]})),
    )
    .await;
    assert_eq!(status, 201, "{pat}");
    let pat = pat["token"].as_str().expect("token").to_owned();
    let (consultant, two) = settings_and_delegation(&app, &admin_a).await;
    let callers = [
        ("administrator of A", admin_a.as_str()),
        ("analyst of A (switched one off)", analyst_a.as_str()),
        ("economist of A", economist_a.as_str()),
        ("analyst of B", analyst_b.as_str()),
        ("machine client of A", machine_a.as_str()),
        ("personal token of A", pat.as_str()),
        ("delegation grantee", consultant.as_str()),
        ("user of two municipalities", two.as_str()),
    ];

    for (who, token) in callers {
        // Act
        let [rest, gql, schema] = named(&app, token).await;
        // Assert: one definition, and the settings and delegations in it.
        assert_eq!(rest, gql, "{who}: REST vs GraphQL datasets");
        assert_eq!(rest, schema, "{who}: REST vs GraphQL schema");
        // OData's feed is read for one municipality: a delegation's grantee names the
        // grantor, a user of two municipalities must name one.
        let service = match who {
            "delegation grantee" => "/odata/?municipality=0101",
            _ => "/odata/",
        };
        let reply = odata(&app, service, Auth::Bearer(token), &[]).await;
        if who == "user of two municipalities" {
            assert_eq!(
                reply.body["error"]["code"], "municipality_required",
                "{who}"
            );
        } else {
            let sets: BTreeSet<String> = reply
                .value()
                .iter()
                .filter_map(|s| s["name"].as_str())
                // Key figures are entity sets too, named noegletal_<id>, for every caller.
                .filter(|n| !n.starts_with("noegletal_"))
                .map(|n| n.replacen('_', ".", 1))
                .collect();
            assert_eq!(rest, sets, "{who}: REST vs OData: {}", reply.text);
        }
        match who {
            "analyst of A (switched one off)" => {
                assert!(!rest.contains("personale.fravaer"), "{who}: {rest:?}");
                assert!(rest.contains("oekonomi.posteringer"), "{who}: {rest:?}");
            }
            "analyst of B" => assert!(rest.contains("personale.fravaer"), "{who}: {rest:?}"),
            "delegation grantee" => {
                let only: BTreeSet<String> = ["oekonomi.posteringer".to_owned()].into();
                assert_eq!(rest, only, "{who}");
            }
            "machine client of A" => {
                let only: BTreeSet<String> = ["oekonomi.posteringer".to_owned()].into();
                assert_eq!(rest, only, "{who}");
            }
            "personal token of A" => {
                let only: BTreeSet<String> = ["borger.befolkning".to_owned()].into();
                assert_eq!(rest, only, "{who}");
            }
            "administrator of A" => assert!(rest.is_empty(), "{who}: {rest:?}"),
            _ => assert!(!rest.is_empty(), "{who}"),
        }
    }
}

/// The dataset ids the console's catalogue links to.
fn console_catalogue(page: &str) -> BTreeSet<String> {
    page.split("<h3><a href=\"/console/datasets/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// The values of `columns` in each row of the console's rows table, as text.
fn console_rows(page: &str, columns: &[&str]) -> Vec<Vec<String>> {
    let Some(start) = page.find("<table class=\"rows\"") else {
        return Vec::new();
    };
    let table = &page[start..start + page[start..].find("</table>").expect("table end")];
    let head = &table[..table.find("</thead>").expect("thead")];
    let names: Vec<&str> = head
        .split("<th scope=\"col\">")
        .skip(1)
        .map(|h| h.split('<').next().unwrap_or_default())
        .collect();
    let at: Vec<usize> = columns
        .iter()
        .map(|c| names.iter().position(|n| n == c).expect("column shown"))
        .collect();
    table[table.find("<tbody>").expect("tbody")..]
        .split("<tr>")
        .skip(1)
        .map(|row| {
            let cells: Vec<&str> = row
                .split("<td>")
                .skip(1)
                .map(|c| c.split("</td>").next().unwrap_or_default())
                .collect();
            at.iter().map(|i| cells[*i].to_owned()).collect()
        })
        .collect()
}

/// A JSON cell as the console writes it.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn the_console_shows_each_person_what_rest_returns() {
    // Arrange: people of every kind, a switched-off dataset and a delegation.
    let app = spawn_app().await;
    let admin_a = person(&app, "admin-a", A, &["it-administration"]);
    let (consultant, two) = settings_and_delegation(&app, &admin_a).await;
    // (who, token, the municipality the console acts for by default)
    let people = [
        ("administrator of A", admin_a.clone(), A),
        ("analyst of A (switched one off)", app.analyst(A), A),
        (
            "economist of A",
            person(&app, "eco-a", A, &["laes-oekonomi"]),
            A,
        ),
        ("analyst of B", app.analyst(B), B),
        ("delegation grantee", consultant, A),
        ("person of two municipalities", two, A),
    ];
    for (who, token, acting) in people {
        let session = crate::console_flows::session_of(&app, &token).await;
        // Act
        let page = crate::console::get(&app, "/console/datasets", Some(&session))
            .await
            .text()
            .await
            .expect("body");
        let [rest, _, _] = named(&app, &token).await;
        // Assert: the same datasets listed.
        assert_eq!(
            console_catalogue(&page),
            rest,
            "{who}: console vs REST datasets"
        );

        // A dataset not visible is the same 404 on both.
        for id in [
            "personale.fravaer",
            "borger.findes-ikke",
            "oekonomi.posteringer",
        ] {
            let rest_status = app
                .get(
                    &format!("/api/v1/datasets/{id}?municipality={acting}"),
                    Some(&token),
                )
                .await
                .status;
            let console =
                crate::console::get(&app, &format!("/console/datasets/{id}"), Some(&session)).await;
            let console_status = console.status().as_u16();
            assert_eq!(console_status, rest_status, "{who}: {id}");
            if console_status != 200 || id != "oekonomi.posteringer" {
                continue;
            }
            // The rows of the first page are REST's first page for that municipality.
            let page = console.text().await.expect("body");
            let answer = app
                .get(
                    &format!("/api/v1/datasets/{id}/rows?municipality={acting}&limit=25"),
                    Some(&token),
                )
                .await;
            assert_eq!(answer.status, 200, "{who}: {id}: {}", answer.body);
            let keys = ["kommunekode", "posteringsid"];
            let rest_rows: Vec<Vec<String>> = answer
                .rows()
                .iter()
                .map(|r| keys.iter().map(|k| text(&r[*k])).collect())
                .collect();
            let shown = console_rows(&page, &keys);
            assert!(!rest_rows.is_empty(), "{who}: {id}");
            assert_eq!(shown, rest_rows, "{who}: rows of {id}");
            assert!(shown.iter().all(|r| r[0] == acting), "{who}: {shown:?}");
        }
    }
}
