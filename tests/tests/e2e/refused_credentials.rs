//! A served request carries its client's address (`api/src/connections.rs`), and refused
//! credentials from one address beyond its budget are answered 429 with `Retry-After`.

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
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let response = client
            .post(format!("{}/v1/auth/token", server.base_url()))
            .json(&serde_json::json!({"api_key": "not-a-key"}))
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            retry_after = response.headers().get("retry-after").cloned();
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 429, 429]);
    assert!(retry_after.is_some(), "a 429 says when to retry");
}
