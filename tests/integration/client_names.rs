//! Machine clients have a name and a description, shown in every listing; the server's
//! `dap client` commands (list, rotate, disable, delete) run the admin API's operations.

use dap_api::app::admin::clients::{Within, change_within, list_within, rotate_within};
use serde_json::json;

use crate::admin::{call, person};
use crate::helpers::spawn_app;

const A: &str = "0101";
const B: &str = "0751";

#[tokio::test]
async fn a_client_needs_a_name_unique_in_its_municipality_and_listings_show_it() {
    let app = spawn_app().await;
    let admin_a = person(&app, "admin-a", A, &["it-administration"]);
    let admin_b = person(&app, "admin-b", B, &["it-administration"]);

    // Without a name: refused, and the message says what is missing.
    let (status, answer) = call(
        &app,
        "POST",
        "/api/v1/admin/clients",
        Some(&admin_a),
        Some(&json!({"datasets": ["oekonomi.posteringer"]})),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("name"), "{answer}");
    let (status, answer) = call(
        &app,
        "POST",
        "/api/v1/admin/clients",
        Some(&admin_a),
        Some(&json!({"name": "  ", "datasets": ["oekonomi.posteringer"]})),
    )
    .await;
    assert_eq!(status, 400, "{answer}");

    // With one: registered, and listed with its name and description.
    let body = json!({"name": "Nightly DWH load", "description": "ETL server dwh01",
                      "datasets": ["oekonomi.posteringer"]});
    let (status, created) = call(
        &app,
        "POST",
        "/api/v1/admin/clients",
        Some(&admin_a),
        Some(&body),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "Nightly DWH load");
    let (_, list) = call(&app, "GET", "/api/v1/admin/clients", Some(&admin_a), None).await;
    let listed = &list["clients"][0];
    assert_eq!(listed["client_id"], created["client_id"]);
    assert_eq!(listed["name"], "Nightly DWH load");
    assert_eq!(listed["description"], "ETL server dwh01");

    // The same name again in the same municipality: refused with the reason.
    let (status, answer) = call(
        &app,
        "POST",
        "/api/v1/admin/clients",
        Some(&admin_a),
        Some(&body),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("already has a client named"),
        "{answer}"
    );
    // Another municipality may use it.
    let (status, answer) = call(
        &app,
        "POST",
        "/api/v1/admin/clients",
        Some(&admin_b),
        Some(&body),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
}

#[tokio::test]
async fn the_cli_operations_list_rotate_disable_and_delete_any_municipalitys_clients() {
    let app = spawn_app().await;
    let control = &app.state.control;
    let admin_a = person(&app, "admin-a", A, &["it-administration"]);
    let (_, created) = call(
        &app,
        "POST",
        "/api/v1/admin/clients",
        Some(&admin_a),
        Some(&json!({"name": "Power BI gateway", "datasets": ["oekonomi.posteringer"]})),
    )
    .await;
    let id = created["client_id"].as_str().expect("id").to_owned();
    let old_secret = created["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();

    // list: every municipality's clients, or one municipality's, with names.
    let (all, facts) = list_within(control, Within::Any).await.expect("list");
    assert!(
        all.clients
            .iter()
            .any(|c| c.client_id == id && c.name == "Power BI gateway")
    );
    assert_eq!(facts.rows_returned, Some(all.clients.len()));
    let (of_b, _) = list_within(control, Within::Municipality(B))
        .await
        .expect("list B");
    assert!(of_b.clients.iter().all(|c| c.municipality == B));

    // rotate: a new secret; the old one no longer gets a token, the new one does.
    let (rotated, facts) = rotate_within(control, Within::Any, &id)
        .await
        .expect("rotate");
    assert_eq!(facts.municipality.as_deref(), Some(A));
    let token = |secret: String| {
        let app = &app;
        let id = id.clone();
        async move {
            app.client
                .post(format!("{}/oauth/token", app.address))
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .expect("token request")
                .status()
                .as_u16()
        }
    };
    assert_eq!(token(old_secret).await, 401);
    assert_eq!(token(rotated.client_secret.clone()).await, 200);

    // Another municipality's administrator cannot rotate it (not found for them).
    let err = rotate_within(control, Within::Municipality(B), &id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");

    // disable, then delete: gone from the lists.
    change_within(control, Within::Any, &id, false)
        .await
        .expect("disable");
    assert_eq!(token(rotated.client_secret.clone()).await, 401);
    change_within(control, Within::Any, &id, true)
        .await
        .expect("delete");
    let (all, _) = list_within(control, Within::Any).await.expect("list");
    assert!(all.clients.iter().all(|c| c.client_id != id));
    let err = change_within(control, Within::Any, &id, true)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
}
