//! Key-figure definitions as platform operators manage them, on SQLite and PostgreSQL:
//! stored, served at once, refused when they would allow small groups, removed; audited.

use serde_json::{Value, json};

use crate::admin::{call, person};
use crate::control_plane::{drop_postgres, fresh_postgres};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

async fn operators_manage_key_figures(app: &TestApp) {
    // Arrange: the demo's infrastructure figure under a new id.
    let operator = person(app, "demo-operator", "0101", &[]);
    let analyst = app.analyst("0101");
    let (status, seeded) = call(
        app,
        "GET",
        "/api/v1/admin/key-figures/infrastruktur-andel-domaener",
        Some(&operator),
        None,
    )
    .await;
    assert_eq!(status, 200, "{seeded}");
    let mut def = seeded.clone();
    def["id"] = json!("it-andel-test");
    def["title_en"] = json!("Test share");

    // Act
    let (stored, answer) = call(
        app,
        "PUT",
        "/api/v1/admin/key-figures/it-andel-test",
        Some(&operator),
        Some(&def),
    )
    .await;
    let listed = app.get("/api/v1/key-figures", Some(&analyst)).await;
    let served = app
        .get(
            "/api/v1/key-figures/it-andel-test?filter=status:eq:anvender",
            Some(&analyst),
        )
        .await;
    let mut small = def.clone();
    small["disclosure"]["min_units"] = json!(2);
    let (too_small, small_answer) = call(
        app,
        "PUT",
        "/api/v1/admin/key-figures/it-andel-test",
        Some(&operator),
        Some(&small),
    )
    .await;
    let mut unknown = def.clone();
    unknown["dimensions"] = json!([{"column": "kommunenavn", "slice": false}]);
    let (unknown_status, unknown_answer) = call(
        app,
        "PUT",
        "/api/v1/admin/key-figures/it-andel-test",
        Some(&operator),
        Some(&unknown),
    )
    .await;
    let (by_analyst, _) = call(
        app,
        "PUT",
        "/api/v1/admin/key-figures/it-andel-test",
        Some(&analyst),
        Some(&def),
    )
    .await;
    let (deleted, _) = call(
        app,
        "DELETE",
        "/api/v1/admin/key-figures/it-andel-test",
        Some(&operator),
        None,
    )
    .await;
    let gone = app
        .get("/api/v1/key-figures/it-andel-test", Some(&analyst))
        .await;

    // Assert
    assert_eq!(stored, 200, "{answer}");
    assert_eq!(answer, def);
    let ids: Vec<&str> = listed.body["key_figures"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|k| k["id"].as_str())
        .collect();
    assert!(ids.contains(&"it-andel-test"), "{ids:?}");
    assert_eq!(served.status, 200, "{}", served.body);
    assert_eq!(served.body["title"]["en"], "Test share");
    assert!(
        served.body["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .all(|c| c["total"] == true || c["dimensions"]["status"] == "anvender")
    );
    assert_eq!(too_small, 400);
    assert!(
        small_answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("at least 3"),
        "{small_answer}"
    );
    assert_eq!(unknown_status, 400);
    assert!(
        unknown_answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("kommunenavn"),
        "{unknown_answer}"
    );
    assert_eq!(by_analyst, 403);
    assert_eq!(deleted, 204);
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body["code"], "key_figure_not_found");
    let records = app.state.control.key_figures().await.expect("stored");
    assert!(records.iter().all(|r| r.id != "it-andel-test"));
    assert!(
        records
            .iter()
            .any(|r| r.id == "infrastruktur-andel-domaener")
    );
    let _: Value = seeded;
}

#[tokio::test]
async fn operators_manage_key_figures_on_sqlite() {
    let app = spawn_app().await;
    operators_manage_key_figures(&app).await;
}

#[tokio::test]
async fn operators_manage_key_figures_on_postgres() {
    let Some(url) = fresh_postgres().await else {
        return;
    };
    let app = spawn_app_with(Some(url.clone())).await;
    operators_manage_key_figures(&app).await;
    drop(app);
    drop_postgres(&url).await;
}
