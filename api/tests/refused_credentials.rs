//! Refused credentials are counted per client address: within the budget each is audited and
//! answered 401; beyond it, 429 with `Retry-After` and no audit row. Valid credentials from
//! the same address are never held back.

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use common::{TestApp, TestResponse};
use logplane_api::app::AppOptions;
use logplane_model::quota::ApiRate;
use serde_json::{Value, json};

/// Refusals each address may present before it is held back; refilled at one a second, far
/// slower than this test sends.
const BURST: i64 = 3;

async fn from(app: &TestApp, address: &str, path: &str, body: Value) -> TestResponse {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let peer: SocketAddr = address.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    app.send(request).await
}

async fn denied_audit_events(app: &TestApp) -> usize {
    let events = app
        .get("/v1/audit-events?page_size=100", &app.admin)
        .await
        .json();
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["result"] == "denied")
        .count()
}

async fn refused_credentials_are_held_back_per_address(backend: logplane_store::Backend) {
    let app = TestApp::start_with(
        backend,
        AppOptions {
            refused_credential_rate: ApiRate {
                per_sec: 1,
                burst: BURST,
            },
            ..Default::default()
        },
    )
    .await;
    let bad_key = json!({"api_key": "not-a-key"});
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let answer = from(&app, "192.0.2.7:40000", "/v1/auth/token", bad_key.clone()).await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after: u64 = answer.header("retry-after").unwrap().parse().unwrap();
            assert!(retry_after >= 1, "Retry-After is at least a second");
            assert_eq!(
                answer.json()["type"]
                    .as_str()
                    .map(|t| t.ends_with("rate-limited")),
                Some(true)
            );
        }
        statuses.push(answer.status);
    }
    let unauthorized = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(unauthorized, BURST as usize, "{statuses:?}");
    assert!(
        statuses[BURST as usize..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS)
    );
    // Only the refusals within the budget were written down.
    assert_eq!(denied_audit_events(&app).await, BURST as usize);

    // Enrollment draws on the same budget of the same address.
    let enroll = json!({"token": "not-a-token", "agent_type": "native", "attributes": {"hostname": "web-1"}});
    let held = from(&app, "192.0.2.7:40001", "/v1/agents/enroll", enroll.clone()).await;
    assert_eq!(held.status, StatusCode::TOO_MANY_REQUESTS);
    // Another address has its own budget.
    let other = from(&app, "198.51.100.1:40000", "/v1/agents/enroll", enroll).await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED);

    // A valid key from the held-back address still gets its token.
    app.create_tenant("acme").await;
    let created = app
        .create_key("/v1/tenants/acme/api-keys", "ci-bot", "viewer")
        .await;
    let secret = created["secret"].as_str().unwrap().to_string();
    let exchanged = from(
        &app,
        "192.0.2.7:40002",
        "/v1/auth/token",
        json!({"api_key": secret}),
    )
    .await;
    assert_eq!(exchanged.status, StatusCode::OK);
}

with_each_backend!(refused_credentials_are_held_back_per_address);
