//! A served request carries its client's address (`api/src/connections.rs`), and refused
//! credentials from one address beyond its budget are answered 429 with `Retry-After`. Behind a
//! trusted proxy (`--trusted-proxies`) the address the proxy forwarded is the client's.

use logplane_e2e::{LogplaneServer, ServerConfig};
use logplane_store::Backend;
use logplane_store::testing::TestDatabase;

use crate::support::location;

#[tokio::test]
async fn an_address_presenting_bad_keys_is_held_back() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let config = ServerConfig::new(location(&database))
        .arg("refused-credentials-per-sec", 1)
        .arg("refused-credentials-burst", 2);
    let server = LogplaneServer::start(&config).await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let response = present_a_bad_key(&server, None).await;
        if response.status() == 429 {
            retry_after = response.headers().get("retry-after").cloned();
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 429, 429]);
    assert!(retry_after.is_some(), "a 429 says when to retry");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    // The test connects from 127.0.0.1, which plays the load balancer.
    let config = ServerConfig::new(location(&database))
        .arg("refused-credentials-per-sec", 1)
        .arg("refused-credentials-burst", 2)
        .arg("trusted-proxies", "127.0.0.1,10.0.0.0/8");
    let server = LogplaneServer::start(&config).await;
    let mut first_client = Vec::new();
    for _ in 0..3 {
        let response = present_a_bad_key(&server, Some("192.0.2.7")).await;
        first_client.push(response.status().as_u16());
    }
    assert_eq!(first_client, [401, 401, 429]);
    let second_client = present_a_bad_key(&server, Some("192.0.2.8, 10.1.1.1")).await;
    assert_eq!(second_client.status(), 401);
    // The audit log names the clients the proxy forwarded.
    let events = server
        .admin_client()
        .await
        .list_all_platform_audit_events()
        .await
        .unwrap();
    let mut denied: Vec<String> = events
        .iter()
        .filter(|e| e.result == logplane_model::AuditResult::Denied)
        .filter_map(|e| e.client_address.clone())
        .collect();
    denied.sort();
    assert_eq!(denied, ["192.0.2.7", "192.0.2.7", "192.0.2.8"]);
}

async fn present_a_bad_key(
    server: &LogplaneServer,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/v1/auth/token", server.base_url()))
        .json(&serde_json::json!({"api_key": "not-a-key"}));
    if let Some(forwarded_for) = forwarded_for {
        request = request.header("x-forwarded-for", forwarded_for);
    }
    request.send().await.unwrap()
}
