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
use logplane_api::extract::TrustedProxies;
use logplane_api::extract::client_address::{self, ForwardingHeader};
use logplane_model::quota::ApiRate;
use serde_json::{Value, json};

/// Refusals each address may present before it is held back; refilled at one a second, far
/// slower than this test sends.
const BURST: i64 = 3;

/// Options giving each address `BURST` refusals, behind `trusted_proxies`.
fn small_budgets(trusted_proxies: TrustedProxies) -> AppOptions {
    AppOptions {
        refused_credential_rate: ApiRate {
            per_sec: 1,
            burst: BURST,
        },
        trusted_proxies,
        ..Default::default()
    }
}

async fn from(app: &TestApp, address: &str, path: &str, body: Value) -> TestResponse {
    forwarded(app, address, &[], path, body).await
}

/// A request from the peer `address` carrying the forwarding header lines `forwarded_for`.
async fn forwarded(
    app: &TestApp,
    address: &str,
    forwarded_for: &[&str],
    path: &str,
    body: Value,
) -> TestResponse {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/json");
    for line in forwarded_for {
        builder = builder.header("x-forwarded-for", *line);
    }
    let mut request = builder.body(Body::from(body.to_string())).unwrap();
    let peer: SocketAddr = address.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    app.send(request).await
}

/// The client address of each denied audit event, newest first.
async fn denied_clients(app: &TestApp) -> Vec<Value> {
    let events = app
        .get("/v1/audit-events?page_size=100", &app.admin)
        .await
        .json();
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["result"] == "denied")
        .map(|event| event["client_address"].clone())
        .collect()
}

async fn refused_credentials_are_held_back_per_address(backend: logplane_store::Backend) {
    let app = TestApp::start_with(backend, small_budgets(TrustedProxies::default())).await;
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
    // Only the refusals within the budget were written down, each with the client's address.
    assert_eq!(
        denied_clients(&app).await,
        vec![json!("192.0.2.7"); BURST as usize]
    );

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

/// Behind a trusted load balancer every client arrives from the balancer's address; the budget
/// follows the address the balancer forwarded, and a client cannot pick a fresh one by writing the
/// header itself.
async fn behind_a_trusted_proxy_the_forwarded_client_is_counted(backend: logplane_store::Backend) {
    let trusted = vec![
        client_address::parse_network("10.0.0.0/8").unwrap(),
        client_address::parse_network("192.0.2.200").unwrap(),
    ];
    let proxies = TrustedProxies::new(trusted, ForwardingHeader::XForwardedFor).unwrap();
    let app = TestApp::start_with(backend, small_budgets(proxies)).await;
    // One client exhausts its budget through the balancer, writing a new address of its own
    // choosing in front each time; the balancer appends what it saw.
    for attempt in 0..BURST {
        let spoofed = format!("203.0.113.{attempt}, 198.51.100.7");
        let status = bad_key_from(&app, "10.0.0.5:40000", &[&spoofed]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        bad_key_from(&app, "10.0.0.6:40000", &["6.6.6.6", "198.51.100.7"]).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the same client through another balancer node"
    );
    // Through a chain of two trusted proxies, the client is still the first untrusted hop.
    assert_eq!(
        bad_key_from(&app, "10.0.0.5:40000", &["198.51.100.7, 192.0.2.200"]).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same balancer keeps its own budget.
    assert_eq!(
        bad_key_from(&app, "10.0.0.5:40000", &["198.51.100.8"]).await,
        StatusCode::UNAUTHORIZED
    );
    // The audit log names the forwarded clients, not the balancer.
    let mut clients = vec![json!("198.51.100.8")];
    clients.extend(vec![json!("198.51.100.7"); BURST as usize]);
    assert_eq!(denied_clients(&app).await, clients);

    // A peer that is not trusted is counted by its own address whatever header it sends.
    for attempt in 0..=BURST {
        let claimed = format!("198.51.100.{}", 10 + attempt);
        let status = bad_key_from(&app, "198.51.100.9:40000", &[&claimed]).await;
        let expected = if attempt < BURST {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(status, expected);
    }
}

/// The status of a token exchange with an unknown key from `peer`, forwarded for `forwarded_for`.
async fn bad_key_from(app: &TestApp, peer: &str, forwarded_for: &[&str]) -> StatusCode {
    let bad_key = json!({"api_key": "not-a-key"});
    forwarded(app, peer, forwarded_for, "/v1/auth/token", bad_key)
        .await
        .status
}

with_each_backend!(behind_a_trusted_proxy_the_forwarded_client_is_counted);

/// A change made by an authenticated request is audited with the client's address too.
async fn audited_changes_record_the_client_address(backend: logplane_store::Backend) {
    let app = TestApp::start_with(backend, small_budgets(TrustedProxies::default())).await;
    let mut request = Request::builder()
        .method(Method::PUT)
        .uri("/v1/tenants/acme")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", app.admin))
        .body(Body::from("{}"))
        .unwrap();
    let peer: SocketAddr = "[2001:db8::5]:40000".parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    assert_eq!(app.send(request).await.status, StatusCode::CREATED);
    let events = app
        .get("/v1/audit-events?page_size=100", &app.admin)
        .await
        .json();
    let created = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["action"] == "tenant.create")
        .expect("the create is audited")
        .clone();
    assert_eq!(created["client_address"], "2001:db8::5");
}

with_each_backend!(audited_changes_record_the_client_address);
