//! Forged and tampered access tokens are refused with 401.

mod common;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{SIGNING_KEY, TestApp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// A throwaway RSA key (PKCS#1 DER) standing in for an attacker's; it protects nothing.
const ATTACKER_RSA_KEY: &[u8] = include_bytes!("fixtures/attacker-rsa-key.der");

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims exactly as the server mints them for `key_id`, a tenant admin of `acme`.
fn valid_claims(key_id: &str) -> Value {
    json!({
        "iss": "logplane", "aud": "logplane-api", "sub": key_id, "tenant": "acme", "role": "admin",
        "exp": now() + 600, "iat": now(), "jti": "test",
    })
}

fn sign(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(&SIGNING_KEY),
    )
    .unwrap()
}

fn with(mut claims: Value, field: &str, value: Value) -> Value {
    claims[field] = value;
    claims
}

fn without(mut claims: Value, field: &str) -> Value {
    claims.as_object_mut().unwrap().remove(field);
    claims
}

/// Re-encodes a token's payload with `change` applied, keeping header and signature.
fn tamper_payload(token: &str, change: impl FnOnce(&mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    change(&mut payload);
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    )
}

fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string()))
}

async fn refused(app: &TestApp, token: &str, what: &str) {
    let response = app.get("/v1/tenants/acme/projects", token).await;
    assert_eq!(
        response.status,
        StatusCode::UNAUTHORIZED,
        "{what} must be refused: {}",
        response.text()
    );
    assert_eq!(response.problem().slug(), "unauthorized");
}

async fn forged_tokens_are_refused(app: TestApp) {
    app.create_tenant("acme").await;
    app.create_tenant("other").await;
    let (key_id, genuine) = app
        .key_and_token("/v1/tenants/acme/api-keys", "acme-admin", "admin")
        .await;
    let claims = valid_claims(&key_id);
    // The forging machinery itself is sound: correctly signed claims are accepted.
    assert_eq!(
        app.get("/v1/tenants/acme/projects", &sign(&claims))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/v1/tenants/acme/projects", &genuine).await.status,
        StatusCode::OK
    );

    refused(&app, &unsigned(&claims), "alg: none").await;
    let wrong_key = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(b"a different secret of 32 bytes!!"),
    )
    .unwrap();
    refused(&app, &wrong_key, "a token signed with another key").await;
    let rs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_der(ATTACKER_RSA_KEY),
    )
    .unwrap();
    refused(&app, &rs256, "an RS256 token (algorithm confusion)").await;
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims,
        &EncodingKey::from_secret(&SIGNING_KEY),
    )
    .unwrap();
    refused(&app, &hs512, "another HMAC algorithm with the right key").await;
    refused(
        &app,
        &sign(&with(claims.clone(), "exp", json!(now() - 3600))),
        "an expired token",
    )
    .await;
    refused(
        &app,
        &sign(&with(claims.clone(), "aud", json!("logplane-worker"))),
        "a token for another audience",
    )
    .await;
    refused(
        &app,
        &sign(&with(claims.clone(), "iss", json!("someone-else"))),
        "a token from another issuer",
    )
    .await;
    refused(
        &app,
        &sign(&without(claims.clone(), "exp")),
        "a token without exp",
    )
    .await;
    refused(
        &app,
        &sign(&without(claims.clone(), "sub")),
        "a token without sub",
    )
    .await;
    refused(
        &app,
        &sign(&without(claims.clone(), "aud")),
        "a token without aud",
    )
    .await;
    refused(
        &app,
        &tamper_payload(&genuine, |p| p["tenant"] = json!("other")),
        "a tampered tenant claim",
    )
    .await;
    refused(
        &app,
        &tamper_payload(&genuine, |p| p["role"] = json!("platform-admin")),
        "a tampered role claim",
    )
    .await;
    // Even correctly signed, claims that exceed the key they name are refused.
    refused(
        &app,
        &sign(&with(claims.clone(), "tenant", json!("other"))),
        "claims for another tenant than the key's",
    )
    .await;
    refused(
        &app,
        &sign(&with(claims.clone(), "role", json!("platform-admin"))),
        "claims for a higher role than the key's",
    )
    .await;
    refused(
        &app,
        &sign(&with(claims.clone(), "sub", json!("key-unknown"))),
        "a token for a key that does not exist",
    )
    .await;
    refused(&app, "not.a.jwt", "garbage").await;
}

async fn revoking_a_key_stops_its_tokens_at_once(app: TestApp) {
    app.create_tenant("acme").await;
    let (key_id, token) = app
        .key_and_token("/v1/tenants/acme/api-keys", "ci-bot", "editor")
        .await;
    assert_eq!(
        app.get("/v1/tenants/acme/projects", &token).await.status,
        StatusCode::OK
    );
    let revoked = app
        .delete(&format!("/v1/tenants/acme/api-keys/{key_id}"), &app.admin)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    refused(&app, &token, "a token of a revoked key").await;
}

async fn failed_authentication_is_audited(app: TestApp) {
    let anonymous = app
        .call(axum::http::Method::GET, "/v1/tenants", None, None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let events = app
        .get("/v1/audit-events?page_size=5", &app.admin)
        .await
        .json();
    let latest = &events["items"][0];
    assert_eq!(latest["result"], "denied");
    assert_eq!(latest["action"], "tenant_list");
    assert_eq!(latest["actor"], "anonymous");
    assert_eq!(
        latest["request_id"],
        anonymous.header("x-request-id").unwrap()
    );
}

on_both_backends!(
    forged_tokens_are_refused,
    revoking_a_key_stops_its_tokens_at_once,
    failed_authentication_is_audited
);
