//! A refused credential says why on every surface (RFC 6750 `error_description`, in the
//! `WWW-Authenticate` challenge and in the body): REST, GraphQL, Delta Sharing, and
//! OData next to its `Basic` challenge; for JWTs (expired, not yet valid, wrong audience,
//! unknown issuer, malformed, not verifiable) and for dap's own credentials (a revoked or
//! expired personal token, a disabled machine client).

use serde_json::{Value, json};

use crate::admin::machine_token;
use crate::helpers::{READ_ROLES, TestApp, spawn_app};

/// One surface's answer: status, every `WWW-Authenticate` value, and the body's message.
struct Refusal {
    status: u16,
    challenges: Vec<String>,
    message: String,
}

enum Surface {
    Rest,
    Graphql,
    Sharing,
    OData,
}

const SURFACES: [Surface; 4] = [
    Surface::Rest,
    Surface::Graphql,
    Surface::Sharing,
    Surface::OData,
];

enum Credential<'a> {
    Bearer(&'a str),
    Basic(&'a str),
}

async fn ask(app: &TestApp, surface: &Surface, credential: &Credential<'_>) -> Refusal {
    let url = |path: &str| format!("{}{path}", app.address);
    let request = match surface {
        Surface::Rest => app.client.get(url("/api/v1/datasets")),
        Surface::Graphql => app
            .client
            .post(url("/graphql"))
            .json(&json!({"query": "{ me { subject } }"})),
        Surface::Sharing => app.client.get(url("/delta-sharing/shares")),
        Surface::OData => app.client.get(url("/odata/")),
    };
    let request = match credential {
        Credential::Bearer(token) => request.bearer_auth(token),
        Credential::Basic(password) => request.basic_auth("excel", Some(password)),
    };
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let challenges = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let message = [&body["message"], &body["error"]["message"]]
        .into_iter()
        .find_map(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Refusal {
        status,
        challenges,
        message,
    }
}

/// Asserts that `surface` refuses `credential` saying `reason`, in the Bearer challenge
/// and the body; OData keeps its Basic challenge first, for Excel's sign-in dialog.
async fn assert_says(app: &TestApp, surface: &Surface, credential: Credential<'_>, reason: &str) {
    let refusal = ask(app, surface, &credential).await;
    let name = match surface {
        Surface::Rest => "REST",
        Surface::Graphql => "GraphQL",
        Surface::Sharing => "Delta Sharing",
        Surface::OData => "OData",
    };
    assert_eq!(refusal.status, 401, "{name}: {}", refusal.message);
    assert!(
        refusal.message.contains(reason),
        "{name}: {}",
        refusal.message
    );
    let bearer = refusal
        .challenges
        .iter()
        .find(|c| c.starts_with("Bearer "))
        .unwrap_or_else(|| panic!("{name}: no Bearer challenge in {:?}", refusal.challenges));
    assert!(
        bearer.starts_with(r#"Bearer realm="dap", error="invalid_token", error_description=""#)
            && bearer.contains(reason),
        "{name}: {bearer}"
    );
    if matches!(surface, Surface::OData) {
        assert!(
            refusal
                .challenges
                .first()
                .is_some_and(|c| c.starts_with(r#"Basic realm="dap""#)),
            "{name}: {:?}",
            refusal.challenges
        );
    }
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

#[tokio::test]
async fn every_surface_says_why_a_jwt_was_refused() {
    let app = spawn_app().await;
    let issuer = &app.issuer;
    let good = issuer.claims("0101", READ_ROLES);
    let now = chrono::Utc::now().timestamp();
    let forged = {
        let token = issuer.sign(&good);
        let (head, signature) = token.rsplit_once('.').unwrap_or_default();
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        format!("{head}.{flipped}{}", &signature[1..])
    };
    let cases = [
        (
            issuer.sign(&with(good.clone(), "exp", json!(now - 3600))),
            "has expired",
        ),
        (
            issuer.sign(&with(good.clone(), "nbf", json!(now + 3600))),
            "not valid yet",
        ),
        (
            issuer.sign(&with(good.clone(), "aud", json!("someone-else"))),
            "another audience",
        ),
        (
            issuer.sign(&with(
                good.clone(),
                "iss",
                json!("https://elsewhere.example"),
            )),
            "issuer is not one dap trusts",
        ),
        ("not.a.jwt".to_owned(), "malformed"),
        (forged, "the token could not be verified"),
    ];
    for (token, reason) in &cases {
        for surface in &SURFACES {
            assert_says(&app, surface, Credential::Bearer(token), reason).await;
        }
    }
    // Without a credential: no error code (RFC 6750 3.1); OData offers Basic only.
    let anonymous = app
        .client
        .get(format!("{}/api/v1/datasets", app.address))
        .send()
        .await
        .expect("request");
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        r#"Bearer realm="dap""#
    );
    let feed = app
        .client
        .get(format!("{}/odata/", app.address))
        .send()
        .await
        .expect("request");
    let challenges: Vec<_> = feed.headers().get_all("www-authenticate").iter().collect();
    assert_eq!(challenges.len(), 1, "{challenges:?}");
    assert!(
        challenges[0]
            .to_str()
            .unwrap_or_default()
            .starts_with("Basic realm=\"dap\"")
    );
}

#[tokio::test]
async fn revoked_and_expired_personal_tokens_and_disabled_clients_say_so() {
    let app = spawn_app().await;
    let anna = app.analyst("0101");
    let create = |name: &'static str| {
        let app = &app;
        let anna = anna.clone();
        async move {
            let created: Value = app
                .client
                .post(format!("{}/api/v1/me/tokens", app.address))
                .bearer_auth(&anna)
                .json(&json!({"name": name, "datasets": ["oekonomi.posteringer"]}))
                .send()
                .await
                .expect("post")
                .json()
                .await
                .expect("json");
            (
                created["id"].as_str().unwrap_or_default().to_owned(),
                created["token"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    let (id, pat) = create("revoked").await;
    let revoked = app
        .client
        .delete(format!("{}/api/v1/me/tokens/{id}", app.address))
        .bearer_auth(&anna)
        .send()
        .await
        .expect("delete");
    assert_eq!(revoked.status().as_u16(), 204);
    for surface in &SURFACES {
        assert_says(&app, surface, Credential::Bearer(&pat), "has been revoked").await;
    }
    assert_says(
        &app,
        &Surface::OData,
        Credential::Basic(&pat),
        "has been revoked",
    )
    .await;

    // Expired: a copy of a real token whose expiry has passed.
    let (id, _) = create("template").await;
    let mut stored = app
        .state
        .control
        .personal_token_by_id(&id)
        .await
        .expect("read")
        .expect("stored token");
    let pat = dap_auth::secrets::new_personal_token();
    stored.id = format!("{id}-expired");
    stored.token_hash = dap_auth::secrets::token_digest(&pat);
    stored.expires_at = chrono::Utc::now() - chrono::Duration::hours(1);
    app.state
        .control
        .insert_personal_token(stored)
        .await
        .expect("insert");
    for surface in &SURFACES {
        assert_says(&app, surface, Credential::Bearer(&pat), "has expired").await;
    }

    // A machine client disabled after its token was issued.
    let (client_id, token) = machine_token(&app, "0101").await;
    app.state
        .control
        .disable_machine_client(&client_id)
        .await
        .expect("disable");
    assert_says(
        &app,
        &Surface::Rest,
        Credential::Bearer(&token),
        "has been revoked",
    )
    .await;

    // An unknown personal token reads like a forged signature: nothing to learn.
    let unknown = ask(
        &app,
        &Surface::Rest,
        &Credential::Bearer("dap_pat_not-a-real-one"),
    )
    .await;
    assert!(
        unknown.message.ends_with("the token could not be verified"),
        "{}",
        unknown.message
    );
}
