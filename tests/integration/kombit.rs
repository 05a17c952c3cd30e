//! Tokens from a KOMBIT-style broker: the BPP privilege list decides municipalities and
//! roles, per organisation.

use crate::helpers::spawn_app;

const ROWS: &str = "/api/v1/datasets/oekonomi.posteringer/rows?limit=5";

#[tokio::test]
async fn a_frederikssund_user_sees_only_0250() {
    let app = spawn_app().await;
    let token = app.kombit.sign(
        &app.kombit
            .kombit_claims(&[("29189129", &["laes-oekonomi"])], "Substantial"),
    );
    let answer = app.get(ROWS, Some(&token)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["municipality"], "0250");
    assert!(answer.rows().iter().all(|r| r["kommunekode"] == "0250"));
    let other = app
        .get(&format!("{ROWS}&municipality=0101"), Some(&token))
        .await;
    assert_eq!(other.status, 403);
}

#[tokio::test]
async fn two_privilege_groups_need_a_named_municipality_and_keep_their_roles_apart() {
    let app = spawn_app().await;
    let token = app.kombit.sign(&app.kombit.kombit_claims(
        &[
            ("29189129", &["laes-oekonomi"]),
            ("64942212", &["laes-borger"]),
        ],
        "https://data.gov.dk/concept/core/nsis/loa/High",
    ));
    let unnamed = app.get(ROWS, Some(&token)).await;
    assert_eq!(
        (unnamed.status, unnamed.body["code"].as_str()),
        (400, Some("municipality_required"))
    );
    let frederikssund = app
        .get(&format!("{ROWS}&municipality=0250"), Some(&token))
        .await;
    assert_eq!(frederikssund.status, 200);
    assert!(
        frederikssund
            .rows()
            .iter()
            .all(|r| r["kommunekode"] == "0250")
    );
    // The economy role was granted by Frederikssund only: København's economy is invisible.
    let copenhagen = app
        .get(&format!("{ROWS}&municipality=0101"), Some(&token))
        .await;
    assert_eq!(copenhagen.status, 404);
    let population = app
        .get(
            "/api/v1/datasets/borger.befolkning/rows?limit=2&municipality=0101",
            Some(&token),
        )
        .await;
    assert_eq!(population.status, 200);
    assert!(population.rows().iter().all(|r| r["kommunekode"] == "0101"));
}

#[tokio::test]
async fn a_low_token_is_refused_personal_data_and_foreign_cvrs_grant_nothing() {
    let app = spawn_app().await;
    let low = app.kombit.sign(
        &app.kombit
            .kombit_claims(&[("29189129", &["laes-aeldre", "laes-borger"])], "Low"),
    );
    let personal = app
        .get("/api/v1/datasets/aeldre.hjemmepleje/rows", Some(&low))
        .await;
    assert_eq!(
        (personal.status, personal.body["code"].as_str()),
        (403, Some("insufficient_assurance"))
    );
    assert_eq!(
        app.get(
            "/api/v1/datasets/borger.befolkning/rows?limit=1",
            Some(&low)
        )
        .await
        .status,
        200
    );
    let supplier = app.kombit.sign(
        &app.kombit
            .kombit_claims(&[("12345678", &["laes-oekonomi"])], "High"),
    );
    let listing = app.get("/api/v1/datasets", Some(&supplier)).await;
    assert_eq!(listing.body["datasets"], serde_json::json!([]));
    assert_eq!(app.get(ROWS, Some(&supplier)).await.status, 404);
}

const ORG_UNIT: &str = dap_lake::demo::ORG_UNIT_CONSTRAINT;
const ABSENCE: &str = "personale.fravaer";

fn units_sql(units: &[&str]) -> String {
    let list: Vec<String> = units.iter().map(|u| format!("'{u}'")).collect();
    format!(
        "SELECT organisationsenhed FROM t WHERE kommunekode = '0250' AND organisationsenhed IN ({})",
        list.join(",")
    )
}

#[tokio::test]
async fn an_org_unit_constraint_narrows_rows_counts_versions_changes_and_personal_tokens() {
    let app = spawn_app().await;
    let units = ["0250-org-01", "0250-org-03"];
    let token = app.kombit.sign(&app.kombit.kombit_claims_constrained(
        &[(
            "29189129",
            &["laes-personale"],
            &[(ORG_UNIT, "0250-org-01,0250-org-03")],
        )],
        "Substantial",
    ));
    let expected = app.oracle(ABSENCE, &units_sql(&units)).await;
    assert!(!expected.is_empty(), "the demo has rows in those units");
    let rows = app.all_rows(ABSENCE, "", &token).await;
    assert_eq!(rows.len(), expected.len());
    assert!(rows.iter().all(|r| r["kommunekode"] == "0250"
        && units.contains(&r["organisationsenhed"].as_str().unwrap_or_default())));
    // Filtering for another unit finds nothing rather than widening the scope.
    let other = app
        .get(
            &format!("/api/v1/datasets/{ABSENCE}/rows?filter=organisationsenhed:eq:0250-org-02"),
            Some(&token),
        )
        .await;
    assert_eq!(other.status, 200);
    assert!(other.rows().is_empty());
    let changes = app
        .client
        .get(format!(
            "{}/api/v1/datasets/{ABSENCE}/changes?from_version=0",
            app.address
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("changes");
    assert_eq!(changes.status(), 200);
    let text = changes.text().await.expect("body");
    assert!(
        text.contains("0250-org-01"),
        "the feed has the caller's rows"
    );
    assert!(!text.contains("0250-org-02") && !text.contains("0250-org-04"));

    // A personal access token made with this token keeps the constraint.
    let created = app
        .client
        .post(format!("{}/api/v1/me/tokens", app.address))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "BI", "datasets": [ABSENCE]}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    let pat: serde_json::Value = created.json().await.expect("json");
    let pat = pat["token"].as_str().expect("token");
    assert_eq!(app.all_rows(ABSENCE, "", pat).await.len(), expected.len());
}

#[tokio::test]
async fn an_unconstrained_group_widens_and_an_unknown_constraint_closes() {
    let app = spawn_app().await;
    let both = app.kombit.sign(&app.kombit.kombit_claims_constrained(
        &[
            (
                "29189129",
                &["laes-personale"],
                &[(ORG_UNIT, "0250-org-01")],
            ),
            ("29189129", &["laes-personale"], &[]),
        ],
        "Substantial",
    ));
    let all = app
        .oracle(ABSENCE, "SELECT aar FROM t WHERE kommunekode = '0250'")
        .await;
    assert_eq!(app.all_rows(ABSENCE, "", &both).await.len(), all.len());

    let unknown = app.kombit.sign(&app.kombit.kombit_claims_constrained(
        &[(
            "29189129",
            &["laes-oekonomi", "laes-personale"],
            &[("http://sts.kombit.dk/constraints/kle/1", "27.24.00")],
        )],
        "Substantial",
    ));
    // Neither dataset declares the KLE constraint: dap cannot honour it, so it opens nothing.
    for dataset in ["oekonomi.posteringer", ABSENCE] {
        let answer = app
            .get(&format!("/api/v1/datasets/{dataset}/rows"), Some(&unknown))
            .await;
        assert_eq!(answer.status, 404, "{dataset}: {}", answer.body);
    }
}
