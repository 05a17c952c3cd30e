//! Only valid tokens of configured issuers get in; a refusal says its kind (RFC 6750
//! `error_description`: expired, not yet valid, wrong audience, unknown issuer,
//! malformed) and nothing that helps a forger: signature and key failures read the same.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::helpers::{READ_ROLES, TestApp, spawn_app};

const ROWS: &str = "/api/v1/datasets/borger.befolkning/rows?limit=2";

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn header(typ: &str, kid: &str) -> jsonwebtoken::Header {
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.typ = Some(typ.into());
    h.kid = Some(kid.into());
    h
}

fn unsigned(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// What the refusal of each kind says (RFC 6750 `error_description`), by a word in it.
const MISSING: &str = "no credential";
const MALFORMED: &str = "malformed";
const EXPIRED: &str = "expired";
const NOT_YET_VALID: &str = "not valid yet";
const WRONG_AUDIENCE: &str = "another audience";
const UNKNOWN_ISSUER: &str = "issuer is not one dap trusts";
/// Signature, key and algorithm failures: one description, so none can be told apart.
const NOT_VERIFIED: &str = "the token could not be verified";

/// Asserts a 401 whose body and `WWW-Authenticate` say `reason` and nothing else.
async fn assert_refused(app: &TestApp, name: &str, token: Option<&str>, reason: &str) {
    let answer = app.get(ROWS, token).await;
    assert_eq!(answer.status, 401, "{name}: {}", answer.body);
    assert_eq!(answer.body["code"], "invalid_token", "{name}");
    let message = answer.body["message"].as_str().unwrap_or_default();
    assert!(message.contains(reason), "{name}: {message}");
    let challenge = answer
        .headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if reason == MISSING {
        // RFC 6750 3.1: a request without credentials gets no error code.
        assert_eq!(challenge, r#"Bearer realm="dap""#, "{name}");
    } else {
        assert!(
            challenge
                .starts_with(r#"Bearer realm="dap", error="invalid_token", error_description=""#),
            "{name}: {challenge}"
        );
        assert!(challenge.contains(reason), "{name}: {challenge}");
        assert!(
            message.ends_with(
                challenge
                    .rsplit("error_description=\"")
                    .next()
                    .unwrap_or("?")
                    .trim_end_matches('"')
            ),
            "{name}: {message} / {challenge}"
        );
    }
    if reason == NOT_VERIFIED {
        // Nothing about keys or signatures.
        assert!(
            !message.contains("kid") && !message.contains("key") && !message.contains("signature"),
            "{name}: {message}"
        );
    }
    assert!(answer.body.get("rows").is_none());
}

#[tokio::test]
async fn a_token_from_a_discovered_oidc_issuer_reads_its_municipality() {
    let app = spawn_app().await;
    let token = app.issuer.sign(&app.issuer.claims("0250", READ_ROLES));
    let answer = app.get(ROWS, Some(&token)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["municipality"], "0250");
    assert!(answer.rows().iter().all(|r| r["kommunekode"] == "0250"));
}

#[tokio::test]
async fn hostile_and_broken_tokens_get_401() {
    let app = spawn_app().await;
    let issuer = &app.issuer;
    let good = issuer.claims("0101", READ_ROLES);
    let now = chrono::Utc::now().timestamp();
    let (payload, signature) = {
        let token = issuer.sign(&good);
        let mut parts = token.rsplitn(2, '.');
        let signature = parts.next().unwrap_or_default().to_owned();
        (parts.next().unwrap_or_default().to_owned(), signature)
    };
    let mut flipped = URL_SAFE_NO_PAD.decode(&signature).expect("sig");
    flipped[0] ^= 0x01;
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("empty bearer", Some(String::new())),
        ("garbage", Some("not.a.jwt".into())),
        (
            "expired",
            Some(issuer.sign(&with(good.clone(), "exp", json!(now - 3600)))),
        ),
        (
            "not yet valid",
            Some(issuer.sign(&with(good.clone(), "nbf", json!(now + 3600)))),
        ),
        (
            "no exp",
            Some(issuer.sign(&{
                let mut c = good.clone();
                c.as_object_mut().map(|o| o.remove("exp"));
                c
            })),
        ),
        (
            "string exp",
            Some(issuer.sign(&with(good.clone(), "exp", json!((now + 600).to_string())))),
        ),
        (
            "wrong issuer",
            Some(issuer.sign(&with(good.clone(), "iss", json!("http://127.0.0.1:1")))),
        ),
        (
            "look-alike issuer",
            Some(issuer.sign(&with(
                good.clone(),
                "iss",
                json!(format!("{}/", issuer.issuer)),
            ))),
        ),
        (
            "wrong audience",
            Some(issuer.sign(&with(good.clone(), "aud", json!("someone-else")))),
        ),
        (
            "no audience",
            Some(issuer.sign(&{
                let mut c = good.clone();
                c.as_object_mut().map(|o| o.remove("aud"));
                c
            })),
        ),
        (
            "alg none",
            Some(unsigned(&json!({"alg": "none", "typ": "JWT"}), &good)),
        ),
        (
            "alg none with kid",
            Some(unsigned(
                &json!({"alg": "none", "kid": crate::helpers::TEST_KID}),
                &good,
            )),
        ),
        (
            "bad signature",
            Some(format!("{payload}.{}", URL_SAFE_NO_PAD.encode(&flipped))),
        ),
        (
            "signature of another token",
            Some(format!("{payload}.{}", {
                let other = issuer.sign(&with(good.clone(), "sub", json!("x")));
                other.rsplit('.').next().unwrap_or_default().to_owned()
            })),
        ),
        (
            "demo issuer claims with test issuer name",
            Some(app.dev.sign(&good).expect("sign")),
        ),
        ("oversized", Some(format!("{}.{}.x", "a".repeat(9000), "b"))),
        ("two segments", Some(payload.clone())),
        (
            "four segments",
            Some(format!("{payload}.{signature}.extra")),
        ),
        (
            "HS256 signed with the issuer's public key",
            Some({
                use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
                let private = rsa::RsaPrivateKey::from_pkcs8_pem(include_str!(
                    "../fixtures/test-issuer-rsa.pem"
                ))
                .expect("key");
                let public_pem = private
                    .to_public_key()
                    .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
                    .expect("pem");
                let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
                header.kid = Some(crate::helpers::TEST_KID.into());
                header.typ = Some("at+jwt".into());
                jsonwebtoken::encode(
                    &header,
                    &good,
                    &jsonwebtoken::EncodingKey::from_secret(public_pem.as_bytes()),
                )
                .expect("hs256")
            }),
        ),
        (
            "ID token used as access token (typ JWT)",
            Some(issuer.sign_with(header("JWT", crate::helpers::TEST_KID), &good)),
        ),
        (
            "no typ",
            Some(issuer.sign_with(
                {
                    let mut h = header("at+jwt", crate::helpers::TEST_KID);
                    h.typ = None;
                    h
                },
                &good,
            )),
        ),
    ];
    for (name, token) in &cases {
        let reason = reason_of(name);
        assert_refused(&app, name, token.as_deref(), reason).await;
    }
}

#[tokio::test]
async fn tokens_are_read_only_from_the_authorization_header() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let answer = app
        .client
        .get(format!("{}{ROWS}&access_token={token}", app.address))
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status().as_u16(), 401);
    let basic = app
        .client
        .get(format!("{}{ROWS}", app.address))
        .header("authorization", format!("Basic {token}"))
        .send()
        .await
        .expect("request");
    assert_eq!(basic.status().as_u16(), 401);
}

#[tokio::test]
async fn the_demo_issuer_publishes_its_keys_and_its_tokens_verify() {
    let app = spawn_app().await;
    let jwks = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.body["keys"][0]["kty"], "OKP");
    assert!(
        jwks.body["keys"][0].get("d").is_none(),
        "private key material published"
    );
    let answer = app.get(ROWS, Some(&app.analyst("0860"))).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["municipality"], "0860");
}

#[tokio::test]
async fn hostile_key_ids_and_key_urls_cause_no_fetch_and_unknown_kids_at_most_one() {
    let app = spawn_app().await;
    let attacker = crate::helpers::TestIssuer::start().await;
    let issuer = &app.issuer;
    let good = issuer.claims("0101", READ_ROLES);
    let before = issuer.jwks_fetches();

    for hostile_kid in [
        "../../../etc/passwd",
        &"k".repeat(300),
        "kid with spaces",
        "kid\u{0}",
    ] {
        let token = issuer.sign_with(header("at+jwt", hostile_kid), &good);
        assert_refused(&app, "hostile kid", Some(&token), MALFORMED).await;
    }
    assert_eq!(
        issuer.jwks_fetches(),
        before,
        "a hostile kid made dap fetch keys"
    );

    let mut jku = header("at+jwt", "attacker-key");
    jku.jku = Some(format!("{}/jwks", attacker.issuer));
    jku.x5u = Some(format!("{}/x5u", attacker.issuer));
    assert_refused(
        &app,
        "jku/x5u to an attacker",
        Some(&issuer.sign_with(jku, &good)),
        NOT_VERIFIED,
    )
    .await;
    assert_eq!(attacker.jwks_fetches(), 0, "dap followed a jku header");

    // An unknown but plausible kid (rotation) refetches once; a second does not.
    let after_jku = issuer.jwks_fetches();
    assert!(after_jku <= before + 1);
    for kid in ["rotated-1", "rotated-2", "rotated-3"] {
        assert_refused(
            &app,
            "unknown kid",
            Some(&issuer.sign_with(header("at+jwt", kid), &good)),
            NOT_VERIFIED,
        )
        .await;
    }
    assert!(
        issuer.jwks_fetches() <= before + 1,
        "unknown kids are refetched at most once a minute"
    );
    // The known key still works afterwards.
    assert_eq!(app.get(ROWS, Some(&issuer.sign(&good))).await.status, 200);
}

/// The refusal each hostile or broken token of the test above gets.
fn reason_of(case: &str) -> &'static str {
    match case {
        "no token" => MISSING,
        "empty bearer" => MISSING,
        "garbage" => MALFORMED,
        "expired" => EXPIRED,
        "not yet valid" => NOT_YET_VALID,
        "no exp" => MALFORMED,
        "string exp" => MALFORMED,
        "wrong issuer" => UNKNOWN_ISSUER,
        "look-alike issuer" => UNKNOWN_ISSUER,
        "wrong audience" => WRONG_AUDIENCE,
        "no audience" => MALFORMED,
        "alg none" => MALFORMED,
        "alg none with kid" => MALFORMED,
        "bad signature" => NOT_VERIFIED,
        "signature of another token" => NOT_VERIFIED,
        "demo issuer claims with test issuer name" => NOT_VERIFIED,
        "oversized" => MALFORMED,
        "two segments" => MALFORMED,
        "four segments" => MALFORMED,
        "HS256 signed with the issuer's public key" => NOT_VERIFIED,
        "ID token used as access token (typ JWT)" => MALFORMED,
        "no typ" => MALFORMED,
        other => panic!("no reason for {other}"),
    }
}
