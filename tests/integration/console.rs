//! The web console over HTTP: sign-in and expiry, CSRF refusal, the CSP on every
//! response, and one "not found" for a dataset that is missing or not visible.

use reqwest::header::{CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

use crate::helpers::{TestApp, spawn_app};

/// A browser without a cookie jar or redirects: each test sends its cookies itself.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// The value of cookie `name` set by a response.
pub(crate) fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

/// The value of the hidden `csrf` field of a page.
pub(crate) fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a csrf field")
        .to_owned()
}

/// Signs in through the demo form as a person of `municipality` with `roles`; returns
/// the session cookie.
pub(crate) async fn sign_in(app: &TestApp, municipality: &str, roles: &[&str]) -> String {
    let client = browser();
    let page = client
        .get(format!("{}/console/sign-in", app.address))
        .send()
        .await
        .expect("sign-in page");
    let pre = set_cookie(&page, "dap_console_csrf").expect("pre-session csrf cookie");
    let csrf = csrf_of(&page.text().await.expect("body"));
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("subject", "console-test"),
        ("municipality", municipality),
        ("return_to", "/console/datasets"),
    ];
    form.extend(roles.iter().map(|r| ("role", *r)));
    let response = client
        .post(format!("{}/console/sign-in/demo", app.address))
        .header("cookie", format!("dap_console_csrf={pre}"))
        .form(&form)
        .send()
        .await
        .expect("sign in");
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()[LOCATION], "/console/datasets");
    set_cookie(&response, "dap_session").expect("session cookie")
}

/// GETs `path` with the cookie header `cookies`: the status and the body.
pub(crate) async fn page_with_cookies(app: &TestApp, path: &str, cookies: &str) -> (u16, String) {
    let response = browser()
        .get(format!("{}{path}", app.address))
        .header("cookie", cookies)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

pub(crate) async fn get(app: &TestApp, path: &str, session: Option<&str>) -> reqwest::Response {
    let mut request = browser().get(format!("{}{path}", app.address));
    if let Some(session) = session {
        request = request.header("cookie", format!("dap_session={session}"));
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn a_console_page_without_a_session_goes_to_sign_in_and_comes_back() {
    let app = spawn_app().await;
    let path = "/console/datasets/oekonomi.posteringer?fc=aar&fo=gte&fv=2020";
    let response = get(&app, path, None).await;
    assert_eq!(response.status(), 303);
    let location = response.headers()[LOCATION]
        .to_str()
        .expect("ascii")
        .to_owned();
    let back: String = url::form_urlencoded::parse(
        location
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default()
            .as_bytes(),
    )
    .find(|(k, _)| k == "return_to")
    .map(|(_, v)| v.into_owned())
    .expect("return_to");
    assert!(location.starts_with("/console/sign-in?"), "{location}");
    assert_eq!(back, path);

    // An expired session is the same as none: back to sign-in, then to the page.
    let (_, expired) = app
        .state
        .start_demo_session("console-test", "0101", &["laes-oekonomi".into()], 0)
        .await
        .expect("session");
    let response = get(&app, path, Some(&expired)).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()[LOCATION].to_str().ok(),
        Some(location.as_str())
    );

    let session = sign_in(&app, "0101", &["laes-oekonomi"]).await;
    let response = get(&app, path, Some(&session)).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("body");
    assert!(html.contains("Økonomiske posteringer"), "{html}");
    assert!(html.contains("<table class=\"rows\""), "the rows are shown");
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_change_nothing() {
    let app = spawn_app().await;
    let session = sign_in(&app, "0101", &["laes-oekonomi"]).await;
    let page = get(&app, "/console/connect", Some(&session)).await;
    let csrf = csrf_of(&page.text().await.expect("body"));
    let post = |csrf: Option<String>| {
        let mut form = vec![
            ("name", "Power BI".to_owned()),
            ("days", "30".to_owned()),
            ("dataset", "oekonomi.posteringer".to_owned()),
        ];
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf));
        }
        browser()
            .post(format!("{}/console/connect/tokens", app.address))
            .header("cookie", format!("dap_session={session}"))
            .form(&form)
            .send()
    };
    let another = sign_in(&app, "0101", &["laes-oekonomi"]).await;
    let other_csrf = csrf_of(
        &get(&app, "/console/connect", Some(&another))
            .await
            .text()
            .await
            .expect("body"),
    );
    for wrong in [
        None,
        Some(String::new()),
        Some("x".repeat(43)),
        Some(other_csrf),
    ] {
        let response = post(wrong).await.expect("post");
        assert_eq!(response.status(), 403);
    }
    let tokens = app
        .state
        .control
        .personal_tokens_of(dap_auth::dev_issuer::DEV_ISSUER, "console-test")
        .await
        .expect("tokens");
    assert!(tokens.is_empty(), "a refused form created {tokens:?}");

    let response = post(Some(csrf)).await.expect("post");
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("body");
    assert!(html.contains("dap_pat_"), "the new token is shown once");

    // The demo sign-in form needs its own (pre-session) token too.
    let response = browser()
        .post(format!("{}/console/sign-in/demo", app.address))
        .form(&[
            ("subject", "x"),
            ("municipality", "0101"),
            ("role", "laes-oekonomi"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 403);
    assert!(set_cookie(&response, "dap_session").is_none());
}

#[tokio::test]
async fn every_console_response_has_a_strict_content_security_policy() {
    let app = spawn_app().await;
    let session = sign_in(&app, "0101", &["laes-oekonomi", "it-administration"]).await;
    for (path, signed_in) in [
        ("/console/sign-in", false),
        ("/console/datasets", true),
        ("/console/datasets/oekonomi.posteringer", true),
        ("/console/datasets/no.such", true),
        ("/console/connect?dataset=oekonomi.posteringer", true),
        ("/console/key-figures", true),
        ("/console/key-figures/nettoudgift-pr-indbygger", true),
        ("/console/admin", true),
        ("/console/admin/audit", true),
        ("/console/assets/console.css", false),
        ("/console/assets/console.js", false),
    ] {
        let response = get(&app, path, signed_in.then_some(session.as_str())).await;
        let csp = response
            .headers()
            .get(CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(csp, dap_api::console::CONTENT_SECURITY_POLICY, "{path}");
        assert!(
            csp.contains("default-src 'self'") && !csp.contains("unsafe"),
            "{path}"
        );
        assert_eq!(response.headers()["x-frame-options"], "DENY", "{path}");
        let is_html = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or_default().starts_with("text/html"));
        let body = response.text().await.expect("body");
        if is_html {
            // Nothing inline that the policy would block: no script without src, no style.
            assert!(
                !body.contains("<script>") && !body.contains("style="),
                "{path}"
            );
            assert!(!body.contains("<style"), "{path}");
        }
    }
}

#[tokio::test]
async fn a_dataset_the_caller_may_not_see_is_the_same_not_found_as_a_missing_one() {
    let app = spawn_app().await;
    // Only the economy role: the population dataset exists but is not visible.
    let session = sign_in(&app, "0101", &["laes-oekonomi"]).await;
    let mut bodies = Vec::new();
    for path in [
        "/console/datasets/borger.befolkning",
        "/console/datasets/borger.findes-ikke",
        "/console/connect?dataset=borger.befolkning",
        "/console/connect?dataset=borger.findes-ikke",
    ] {
        let response = get(&app, path, Some(&session)).await;
        assert_eq!(response.status(), 404, "{path}");
        bodies.push(response.text().await.expect("body"));
    }
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[2], bodies[3]);
    assert_eq!(bodies[0], bodies[2]);
    assert!(!bodies[0].contains("befolkning"));
    // The REST answer for the same dataset agrees.
    let token = app.token(
        "0101",
        &["laes-oekonomi"],
        dap_schema::NsisLevel::Substantial,
    );
    assert_eq!(
        app.get("/api/v1/datasets/borger.befolkning", Some(&token))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server() {
    let app = spawn_app().await;
    let session = sign_in(&app, "0101", &["laes-oekonomi"]).await;
    let page = get(&app, "/console/datasets", Some(&session)).await;
    let csrf = csrf_of(&page.text().await.expect("body"));
    let response = browser()
        .post(format!("{}/console/sign-out", app.address))
        .header("cookie", format!("dap_session={session}"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sign out");
    assert_eq!(response.status(), 303);
    // The old cookie no longer opens anything, in the console or the API.
    assert_eq!(
        get(&app, "/console/datasets", Some(&session))
            .await
            .status(),
        303
    );
    assert_eq!(
        page_with_cookies(&app, "/api/v1/datasets", &format!("dap_session={session}"))
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn the_demo_sign_in_checks_its_form_on_the_server() {
    let app = spawn_app().await;
    // Through the form: the page again, with the core's message next to the form.
    let client = browser();
    let page = client
        .get(format!("{}/console/sign-in", app.address))
        .send()
        .await
        .expect("sign-in page");
    let pre = set_cookie(&page, "dap_console_csrf").expect("cookie");
    let csrf = csrf_of(&page.text().await.expect("body"));
    let response = client
        .post(format!("{}/console/sign-in/demo", app.address))
        .header("cookie", format!("dap_console_csrf={pre}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("subject", "console-test"),
            ("municipality", "9999"),
            ("role", "laes-oekonomi"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 400);
    assert!(set_cookie(&response, "dap_session").is_none());
    let html = response.text().await.expect("body");
    assert!(
        html.contains("id=\"municipality-error\"")
            && html.contains("aria-invalid=\"true\"")
            && html.contains("one of the 98 municipalities"),
        "{html}"
    );
    for (municipality, roles) in [
        ("9999", vec!["laes-oekonomi".to_owned()]),
        ("0101", vec![]),
        ("0101", vec!["root".to_owned()]),
    ] {
        let error = app
            .state
            .start_demo_session("console-test", municipality, &roles, 1)
            .await
            .expect_err("refused");
        assert_eq!(
            error.code(),
            "invalid_parameter",
            "{municipality} {roles:?}"
        );
    }
}

/// Posts a console form as `session`, with the CSRF token of `page`.
pub(crate) async fn post_form(
    app: &TestApp,
    session: &str,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let csrf = csrf_of(
        &get(app, page, Some(session))
            .await
            .text()
            .await
            .expect("body"),
    );
    let mut form: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    browser()
        .post(format!("{}{action}", app.address))
        .header("cookie", format!("dap_session={session}"))
        .form(&form)
        .send()
        .await
        .expect("post")
}

#[tokio::test]
async fn it_administration_in_the_console_is_the_cores() {
    let app = spawn_app().await;
    let analyst = sign_in(&app, "0101", &["laes-oekonomi", "laes-borger"]).await;
    // Without the role, the administration is refused, as in the API.
    let response = get(&app, "/console/admin", Some(&analyst)).await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        get(&app, "/console/admin/audit", Some(&analyst))
            .await
            .status(),
        403
    );

    let admin = sign_in(&app, "0101", &["laes-oekonomi", "it-administration"]).await;
    assert_eq!(
        get(&app, "/console/admin", Some(&admin)).await.status(),
        200
    );
    assert_eq!(
        get(&app, "/console/datasets/borger.befolkning", Some(&analyst))
            .await
            .status(),
        200
    );
    // Switching a dataset off hides it from the municipality's analysts at once.
    let response = post_form(
        &app,
        &admin,
        "/console/admin",
        "/console/admin/settings",
        &[("dataset", "borger.befolkning"), ("min_nsis", "")],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        get(&app, "/console/datasets/borger.befolkning", Some(&analyst))
            .await
            .status(),
        404
    );

    // A wrong form is answered next to the form, and nothing is stored.
    let response = post_form(
        &app,
        &admin,
        "/console/admin",
        "/console/admin/delegations",
        &[
            ("grantee_cvr", "123"),
            ("dataset", "oekonomi.posteringer"),
            ("valid_until", "2099-01-01"),
        ],
    )
    .await;
    assert_eq!(response.status(), 400);
    let html = response.text().await.expect("body");
    assert!(
        html.contains("id=\"grantee-error\"")
            && html.contains("grantee_cvr must be a CVR number of 8 digits"),
        "{html}"
    );
    let until = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    let response = post_form(
        &app,
        &admin,
        "/console/admin",
        "/console/admin/delegations",
        &[
            ("grantee_cvr", "29189129"),
            ("dataset", "oekonomi.posteringer"),
            ("valid_until", &until),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    let html = get(&app, "/console/admin", Some(&admin))
        .await
        .text()
        .await
        .expect("body");
    assert!(html.contains("29189129"), "the delegation is listed");

    // Machine clients: registered with the secret shown once, then deleted.
    let (client, _) = crate::console_flows::register_client(&app, &admin, "Nightly DWH load").await;
    let (clients, _) = app
        .state
        .list_clients(&app_admin_principal(), None)
        .await
        .expect("clients");
    assert!(clients.clients.iter().any(|c| c.client_id == client));
    let response = post_form(
        &app,
        &admin,
        "/console/admin",
        &format!("/console/admin/clients/{client}/delete"),
        &[],
    )
    .await;
    assert_eq!(response.status(), 303);
    let (clients, _) = app
        .state
        .list_clients(&app_admin_principal(), None)
        .await
        .expect("clients");
    assert!(!clients.clients.iter().any(|c| c.client_id == client));
}

/// An IT administrator of 0101, as the core sees one.
fn app_admin_principal() -> dap_auth::Principal {
    let code = dap_schema::MunicipalityCode::parse("0101").expect("code");
    dap_auth::Principal::from_grants(
        "console-test".into(),
        dap_auth::dev_issuer::DEV_ISSUER.into(),
        dap_auth::CallerKind::User,
        std::collections::BTreeMap::from([(
            code,
            std::collections::BTreeSet::from(["it-administration".to_owned()]),
        )]),
        dap_schema::NsisLevel::Substantial,
    )
}
