//! The console's newer flows over HTTP: delivery rights granted in the IT
//! administration and then used by a machine client through the API, receipts on the
//! dataset page, the idle timeout (back to sign-in, then to the page; no redirect
//! elsewhere), and a person of several municipalities choosing which to act for.

use dap_auth::secrets::token_digest;
use reqwest::header::LOCATION;
use serde_json::Value;

use crate::console::{browser, csrf_of, get, page_with_cookies, post_form, set_cookie, sign_in};
use crate::deliveries::deliver;
use crate::helpers::{Answer, TestApp, spawn_app};

const POSTINGS: &str = "oekonomi.posteringer";

async fn html(response: reqwest::Response) -> String {
    response.text().await.expect("body")
}

/// The part of a page between `start` and the next `end`.
fn section<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    let from = page
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {page}"));
    let rest = &page[from..];
    &rest[..rest.find(end).map_or(rest.len(), |i| i + end.len())]
}

/// A client-credentials token for a machine client.
async fn client_token(app: &TestApp, client: &str, secret: &str) -> String {
    let body: Value = app
        .client
        .post(format!("{}/oauth/token", app.address))
        .basic_auth(client, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("json");
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned()
}

/// Delivers one posting with id `posting` as delivery `delivery_id`.
async fn deliver_posting(app: &TestApp, token: &str, delivery_id: &str, posting: i64) -> Answer {
    let csv = format!(
        "posteringsid,aar,maaned,bogfoeringsdato,funktion,art,beloeb,omkostningssted\n\
         {posting},2024,3,2024-03-15,5.22.07,1.0,123.45,OMK-1\n"
    );
    let query = format!("delivery_id={delivery_id}");
    deliver(app, token, POSTINGS, &query, "text/csv", csv.into_bytes()).await
}

/// Posts the delivery-right form of the administration page as `session`.
async fn grant(app: &TestApp, session: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    post_form(
        app,
        session,
        "/console/datasets",
        "/console/admin/delivery-rights",
        fields,
    )
    .await
}

/// Registers a machine client named `name` through the console (reading
/// `oekonomi.posteringer`); its id and the secret the page shows once.
pub(crate) async fn register_client(app: &TestApp, admin: &str, name: &str) -> (String, String) {
    let response = post_form(
        app,
        admin,
        "/console/admin",
        "/console/admin/clients",
        &[("name", name), ("dataset", POSTINGS), ("days", "30")],
    )
    .await;
    assert_eq!(response.status(), 200);
    let page = html(response).await;
    let client = page
        .split("data-client-id>")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("client id shown")
        .to_owned();
    let secret = page
        .split("id=\"secret-value\" readonly value=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .expect("secret shown")
        .to_owned();
    (client, secret)
}

#[tokio::test]
async fn a_delivery_right_granted_in_the_console_lets_the_client_deliver_until_revoked() {
    let app = spawn_app().await;
    let admin = sign_in(&app, "0101", &["laes-oekonomi", "it-administration"]).await;
    // A machine client registered in the console; its secret is shown once.
    let (client, secret) = register_client(&app, &admin, "Økonomisystem").await;
    let token = client_token(&app, &client, &secret).await;

    // Without a delivery right the API refuses the delivery.
    let refused = deliver_posting(&app, &token, "d1", 990_001).await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    // A wrong form is answered next to it and grants nothing.
    let response = grant(
        &app,
        &admin,
        &[("dataset", "oekonomi.findes-ikke"), ("client_id", &client)],
    )
    .await;
    assert_eq!(response.status(), 400);
    let page = html(response).await;
    assert!(page.contains("id=\"right-dataset-error\""), "{page}");
    assert!(page.contains("oekonomi.findes-ikke"), "{page}");

    // Granted in the console: listed there, in the core, and the delivery goes through.
    let response = grant(
        &app,
        &admin,
        &[("dataset", POSTINGS), ("client_id", &client)],
    )
    .await;
    assert_eq!(response.status(), 303);
    let page = html(get(&app, "/console/admin", Some(&admin)).await).await;
    let rights = section(&page, "<table class=\"rights\"", "</table>");
    assert!(
        rights.contains(&client) && rights.contains(POSTINGS),
        "{rights}"
    );
    let delivered = deliver_posting(&app, &token, "console-d1", 990_001).await;
    assert_eq!(delivered.status, 200, "{}", delivered.body);

    // The receipt is on the dataset page of the municipality's analysts, not of others'.
    let analyst = sign_in(&app, "0101", &["laes-oekonomi"]).await;
    let page = html(
        get(
            &app,
            "/console/datasets/oekonomi.posteringer",
            Some(&analyst),
        )
        .await,
    )
    .await;
    assert!(page.contains("data-delivery=\"console-d1\""), "{page}");
    let other = sign_in(&app, "0751", &["laes-oekonomi"]).await;
    let page = html(get(&app, "/console/datasets/oekonomi.posteringer", Some(&other)).await).await;
    assert!(
        !page.contains("console-d1"),
        "another municipality's receipt shown"
    );

    // Revoked in the console: gone from the list, and the next delivery is refused.
    let response = post_form(
        &app,
        &admin,
        "/console/admin",
        "/console/admin/delivery-rights/revoke",
        &[
            ("dataset", POSTINGS),
            ("issuer", dap_auth::dap_issuer::DAP_ISSUER),
            ("subject", &client),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    let admin_principal = app
        .state
        .authenticate(dap_api::app::identity::Credential::Session(admin.clone()))
        .await
        .expect("session");
    let (list, _) = app
        .state
        .list_delivery_rights(&admin_principal, None)
        .await
        .expect("rights");
    assert!(list.rights.is_empty(), "{:?}", list.rights);
    let refused = deliver_posting(&app, &token, "console-d2", 990_002).await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    // An analyst without the administration role cannot grant.
    let response = grant(
        &app,
        &analyst,
        &[("dataset", POSTINGS), ("client_id", &client)],
    )
    .await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn an_idle_session_ends_and_sign_in_returns_to_the_page() {
    let app = spawn_app().await;
    let path = "/console/datasets/oekonomi.posteringer?fc=aar&fo=gte&fv=2020";
    let session = sign_in(&app, "0101", &["laes-oekonomi"]).await;
    let hash = token_digest(&session);
    let idle = app.state.session_idle;

    // Used within the idle time: the page, and the session counts as used now.
    let recently = chrono::Utc::now() - idle + chrono::Duration::minutes(2);
    app.state
        .control
        .touch_session(&hash, recently)
        .await
        .expect("touch");
    assert_eq!(get(&app, path, Some(&session)).await.status(), 200);
    let stored = app
        .state
        .control
        .session_by_hash(&hash)
        .await
        .expect("read")
        .expect("session");
    assert!(
        stored.last_seen_at.expect("last seen") > recently,
        "use is recorded"
    );

    // Left idle longer: to sign-in, with the way back to the page; the session is gone.
    let long_ago = chrono::Utc::now() - idle - chrono::Duration::minutes(1);
    app.state
        .control
        .touch_session(&hash, long_ago)
        .await
        .expect("touch");
    let response = get(&app, path, Some(&session)).await;
    assert_eq!(response.status(), 303);
    let location = response.headers()[LOCATION]
        .to_str()
        .expect("ascii")
        .to_owned();
    let mut expected = url::form_urlencoded::Serializer::new(String::new());
    expected.append_pair("return_to", path);
    assert_eq!(location, format!("/console/sign-in?{}", expected.finish()));
    assert!(
        app.state
            .control
            .session_by_hash(&hash)
            .await
            .expect("read")
            .is_none()
    );
    // The API does not take it either.
    let cookie = format!("dap_session={session}");
    assert_eq!(
        page_with_cookies(&app, "/api/v1/datasets", &cookie).await.0,
        401
    );

    // A form sent after the session ended: to sign-in, then back to the form's page (when
    // the form was on this site).
    for (referer, back) in [
        (
            format!(
                "{}/console/connect?dataset=oekonomi.posteringer",
                app.address
            ),
            "/console/connect?dataset=oekonomi.posteringer",
        ),
        (
            "https://evil.example/console/connect".to_owned(),
            "/console/",
        ),
    ] {
        let response = browser()
            .post(format!("{}/console/connect/tokens", app.address))
            .header("cookie", format!("dap_session={session}"))
            .header("referer", referer)
            .form(&[("name", "x")])
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 303);
        let mut expected = url::form_urlencoded::Serializer::new(String::new());
        expected.append_pair("return_to", back);
        assert_eq!(
            response.headers()[LOCATION].to_str().expect("ascii"),
            format!("/console/sign-in?{}", expected.finish())
        );
    }

    // Signing in again goes back to the page the person was on, and only to this site.
    let page = browser()
        .get(format!("{}{location}", app.address))
        .send()
        .await
        .expect("page");
    let pre = set_cookie(&page, "dap_console_csrf").expect("cookie");
    let body = page.text().await.expect("body");
    assert!(
        body.contains(&format!("value=\"{}\"", path.replace('&', "&amp;"))),
        "{body}"
    );
    let csrf = csrf_of(&body);
    for (asked, lands) in [
        (path, path),
        ("//evil.example/console", "/console/"),
        ("https://evil.example/console/", "/console/"),
        ("/auth/logout", "/console/"),
        ("/console\\@evil.example", "/console/"),
    ] {
        let response = browser()
            .post(format!("{}/console/sign-in/demo", app.address))
            // The browser still holds the session cookie that ended.
            .header(
                "cookie",
                format!("dap_console_csrf={pre}; dap_session={session}"),
            )
            .form(&[
                ("csrf", csrf.as_str()),
                ("subject", "console-test"),
                ("municipality", "0101"),
                ("role", "laes-oekonomi"),
                ("return_to", asked),
            ])
            .send()
            .await
            .expect("sign in");
        assert_eq!(response.status(), 303, "{asked}");
        assert_eq!(response.headers()[LOCATION], lands, "{asked}");
    }
}

#[tokio::test]
async fn the_idle_timeout_is_a_setting_with_a_sensible_default() {
    let settings = dap_api::settings::Settings::default();
    assert_eq!(settings.session_idle_minutes, 30);
    let mut wrong = settings.clone();
    wrong.demo_dir = Some(std::env::temp_dir());
    assert!(wrong.validate().is_ok(), "the default is valid");
    wrong.session_idle_minutes = 0;
    let error = wrong.validate().expect_err("0 minutes refused");
    assert!(
        error.to_string().contains("session_idle_minutes"),
        "{error}"
    );
}

/// A console session for the principal of `token` (the same person as in the API).
pub(crate) async fn session_of(app: &TestApp, token: &str) -> String {
    let principal = app
        .state
        .authenticate(dap_api::app::identity::Credential::Bearer(token.to_owned()))
        .await
        .expect("token");
    app.state
        .start_session(&principal, 1)
        .await
        .expect("session")
}

/// The `kommunekode` cells of a console rows table.
fn municipalities_in_rows(page: &str) -> Vec<String> {
    let table = section(page, "<table class=\"rows\"", "</table>");
    let header: Vec<&str> = section(table, "<thead>", "</thead>")
        .split("<th scope=\"col\">")
        .skip(1)
        .map(|h| h.split('<').next().unwrap_or_default())
        .collect();
    let at = header
        .iter()
        .position(|h| *h == "kommunekode")
        .expect("kommunekode column");
    section(table, "<tbody>", "</tbody>")
        .split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td>")
                .nth(at + 1)
                .and_then(|c| c.split('<').next())
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_person_of_several_municipalities_chooses_which_to_act_for() {
    let app = spawn_app().await;
    let token = app.kombit.sign(&app.kombit.kombit_claims(
        &[
            ("64942212", &["laes-oekonomi"]),
            ("55133018", &["laes-oekonomi"]),
        ],
        "Substantial",
    ));
    let session = session_of(&app, &token).await;
    let path = "/console/datasets/oekonomi.posteringer";

    // Until they choose: their first municipality, named in the header, with the choice.
    let page = html(get(&app, path, Some(&session)).await).await;
    assert!(page.contains("data-acting=\"0101\""), "{page}");
    assert!(page.contains("action=\"/console/municipality\""), "{page}");
    let rows = municipalities_in_rows(&page);
    assert!(
        !rows.is_empty() && rows.iter().all(|m| m == "0101"),
        "{rows:?}"
    );

    // Choosing 0751: back to the page, which now shows 0751's rows, as REST does.
    let csrf = csrf_of(&page);
    let response = browser()
        .post(format!("{}/console/municipality", app.address))
        .header("cookie", format!("dap_session={session}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("municipality", "0751"),
            ("return_to", path),
        ])
        .send()
        .await
        .expect("choose");
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()[LOCATION], path);
    let chosen = set_cookie(&response, "dap_console_municipality").expect("choice cookie");
    let cookies = format!("dap_session={session}; dap_console_municipality={chosen}");
    let (_, page) = page_with_cookies(&app, path, &cookies).await;
    assert!(page.contains("data-acting=\"0751\""), "{page}");
    let rows = municipalities_in_rows(&page);
    let rest = app
        .get(
            "/api/v1/datasets/oekonomi.posteringer/rows?municipality=0751&limit=25",
            Some(&token),
        )
        .await;
    assert_eq!(rest.status, 200);
    assert_eq!(rows.len(), rest.rows().len());
    assert!(rows.iter().all(|m| m == "0751"), "{rows:?}");

    // A sharing profile made while acting for 0751 is 0751's: Delta Sharing, which
    // cannot name a municipality, serves it (the person's own token is refused there).
    let response = browser()
        .post(format!("{}/console/connect/sharing-profile", app.address))
        .header("cookie", &cookies)
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Power BI"),
            ("dataset", "oekonomi.posteringer"),
        ])
        .send()
        .await
        .expect("profile");
    assert_eq!(response.status(), 200);
    let profile: serde_json::Value = response.json().await.expect("profile json");
    let shared = profile["bearerToken"].as_str().expect("bearer token");
    let version = "/delta-sharing/shares/dap/schemas/oekonomi/tables/posteringer/version";
    assert_eq!(app.get(version, Some(&token)).await.status, 400);
    assert_eq!(app.get(version, Some(shared)).await.status, 200);

    // A municipality they do not hold is refused by the core, and changes nothing.
    let response = browser()
        .post(format!("{}/console/municipality", app.address))
        .header("cookie", &cookies)
        .form(&[
            ("csrf", csrf.as_str()),
            ("municipality", "0860"),
            ("return_to", path),
        ])
        .send()
        .await
        .expect("choose");
    assert_eq!(response.status(), 403);
    assert!(set_cookie(&response, "dap_console_municipality").is_none());
    // A forged cookie naming another municipality is not used.
    let forged = format!("dap_session={session}; dap_console_municipality=0860");
    let (_, page) = page_with_cookies(&app, path, &forged).await;
    assert!(page.contains("data-acting=\"0101\""), "{page}");
    assert!(!page.contains(">0860<"), "{page}");

    // A person of one municipality gets no choice.
    let single = sign_in(&app, "0101", &["laes-oekonomi"]).await;
    let page = html(get(&app, path, Some(&single)).await).await;
    assert!(!page.contains("action=\"/console/municipality\""), "{page}");
}

/// The element with `id` and what follows it up to its end tag's `>`.
fn element<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element {id} in {page}"));
    let open = page[..start].rfind('<').expect("tag start");
    let rest = &page[open..];
    &rest[..rest.find('>').map_or(rest.len(), |i| i + 1)]
}

/// Asserts that the input `input` is marked invalid and described by its message,
/// which is next to it and says `says`.
fn refused_at(page: &str, input: &str, says: &str) {
    let tag = element(page, input);
    assert!(tag.contains("aria-invalid=\"true\""), "{input}: {tag}");
    assert!(
        tag.contains(&format!("{input}-error")),
        "{input} is described by its message: {tag}"
    );
    let message = section(page, &format!("id=\"{input}-error\""), "</p>");
    assert!(message.contains(says), "{input}: {message}");
    // Nothing else on the page is marked invalid.
    assert_eq!(
        page.matches("aria-invalid=\"true\"").count(),
        1,
        "{input}: {page}"
    );
}

/// A refused admin form: its action, the fields sent, the input the error must sit next
/// to, what the error says, and an entered value the answer must keep.
type AdminForm<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str, &'a str);

#[tokio::test]
async fn every_form_shows_the_cores_message_next_to_the_field_and_keeps_what_was_entered() {
    let app = spawn_app().await;
    let admin = sign_in(&app, "0101", &["laes-oekonomi", "it-administration"]).await;
    let until = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    let admin_forms: [AdminForm; 5] = [
        (
            "/console/admin/clients",
            vec![
                ("name", "Nightly load"),
                ("description", "DWH"),
                ("dataset", POSTINGS),
                ("days", "9999"),
            ],
            "client-days",
            "expires_in_days",
            "value=\"Nightly load\"",
        ),
        (
            "/console/admin/clients",
            vec![("name", "Nightly load"), ("days", "30")],
            "client-datasets",
            "1 to 100 datasets",
            "value=\"Nightly load\"",
        ),
        (
            "/console/admin/delegations",
            vec![
                ("grantee_cvr", "123"),
                ("dataset", POSTINGS),
                ("valid_until", &until),
            ],
            "grantee",
            "8 digits",
            &until,
        ),
        (
            "/console/admin/settings",
            vec![("dataset", "personale.fravaer"), ("min_nsis", "Medium")],
            "min-nsis",
            "Medium",
            "id=\"settings-personale.fravaer\" name=\"dataset\" value=\"personale.fravaer\" checked",
        ),
        (
            "/console/admin/delivery-rights",
            vec![("dataset", POSTINGS), ("issuer", "https://broker.example")],
            "right-subject",
            "issuer and subject",
            "value=\"https://broker.example\"",
        ),
    ];
    for (action, fields, input, says, kept) in &admin_forms {
        let response = post_form(&app, &admin, "/console/admin", action, fields).await;
        assert_eq!(response.status(), 400, "{action} {input}");
        let page = html(response).await;
        refused_at(&page, input, says);
        assert!(
            page.contains(kept),
            "{action}: what was entered is kept: {kept}"
        );
    }
    // Nothing of it was stored.
    let page = html(get(&app, "/console/admin", Some(&admin)).await).await;
    assert!(
        !page.contains("Nightly load") && !page.contains("broker.example"),
        "{page}"
    );

    // Personal tokens and sharing profiles.
    for (action, prefix) in [
        ("/console/connect/tokens", "token"),
        ("/console/connect/sharing-profile", "sharing"),
    ] {
        let response = post_form(
            &app,
            &admin,
            "/console/connect",
            action,
            &[
                ("name", "Excel i økonomi"),
                ("days", "1000"),
                ("dataset", POSTINGS),
            ],
        )
        .await;
        assert_eq!(response.status(), 400, "{action}");
        let page = html(response).await;
        refused_at(&page, &format!("{prefix}-days"), "expires_in_days");
        assert!(
            page.contains("value=\"Excel i økonomi\""),
            "{action}: {page}"
        );
    }

    // The audit log's filters.
    let response = get(
        &app,
        "/console/admin/audit?from=2026-13-01&subject=someone",
        Some(&admin),
    )
    .await;
    assert_eq!(response.status(), 400);
    let page = html(response).await;
    refused_at(&page, "from", "from must be a date");
    assert!(page.contains("value=\"someone\""), "{page}");

    // The dataset's filter builder: the message next to the filter it is about.
    let response = get(
        &app,
        "/console/datasets/oekonomi.posteringer?fc=funktion&fo=prefix&fv=5&fc=aar&fo=eq&fv=tyve",
        Some(&admin),
    )
    .await;
    assert_eq!(response.status(), 200);
    let page = html(response).await;
    refused_at(&page, "fv-1", "aar");
    assert!(page.contains("value=\"tyve\""), "{page}");
    let response = get(
        &app,
        "/console/datasets/oekonomi.posteringer?version=x",
        Some(&admin),
    )
    .await;
    refused_at(&html(response).await, "version", "whole number");
}
