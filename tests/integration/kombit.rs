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
