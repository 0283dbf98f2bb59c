//! SIGTERM during a deploy: the request in flight finishes (and its write lands), new
//! connections are refused, and the process exits 0 so the orchestrator sees a clean stop.

use logplane_client::Precondition;
use logplane_e2e::raw_http::hold_request;
use logplane_e2e::server::{EXIT_WITHIN, connection_refused, wait_until_refused};
use logplane_e2e::{BOOTSTRAP_ADMIN_KEY, LogplaneServer, ServerConfig};
use logplane_model::{Tenant, TenantSpec};
use logplane_store::Backend;
use logplane_store::testing::TestDatabase;
use std::time::Duration;

use crate::support::location;

/// Bounds the waits for the server to notice SIGTERM and close its listener.
const NOTICE_WITHIN: Duration = Duration::from_secs(30);

#[tokio::test]
async fn postgres() {
    request_in_flight_completes_on_sigterm(Backend::Postgres).await;
}

#[tokio::test]
async fn sqlite() {
    request_in_flight_completes_on_sigterm(Backend::Sqlite).await;
}

async fn request_in_flight_completes_on_sigterm(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let config = ServerConfig::new(location(&database));
    let mut server = LogplaneServer::start(&config).await;
    let admin_token = server
        .client()
        .exchange_token(BOOTSTRAP_ADMIN_KEY)
        .await
        .unwrap()
        .access_token;
    let port = server.port();

    // A tenant PUT whose body is held back: once the server has asked for it (100 Continue),
    // the request is authenticated and inside its handler.
    let authorization = format!("Bearer {admin_token}");
    let held = hold_request(
        port,
        "PUT",
        "/v1/tenants/late-arrival",
        &[("Authorization", &authorization)],
        br#"{"display_name": "Arrived during shutdown"}"#.to_vec(),
    )
    .await;

    server.send_sigterm();
    server.wait_for_log("shutting down", NOTICE_WITHIN).await;
    wait_until_refused(port, NOTICE_WITHIN).await;
    let refused = server.client().healthz().await;
    assert!(
        matches!(&refused, Err(e) if e.is_retryable() && e.status().is_none()),
        "a new request after SIGTERM finds no listener: {refused:?}"
    );

    let response = held.finish().await;
    assert_eq!(
        response.status, 201,
        "the request in flight completes: {}",
        response.head
    );
    let tenant: Tenant = serde_json::from_slice(&response.body).expect("a tenant body");
    assert_eq!(tenant.display_name, "Arrived during shutdown");

    let status = server.wait_for_exit(EXIT_WITHIN).await;
    assert_eq!(status.code(), Some(0), "a graceful stop exits 0: {status}");
    assert!(connection_refused(port).await);
    drop(server);

    // The answer was not a lie: the write is in the store.
    let server = LogplaneServer::start(&config).await;
    let admin = server.admin_client().await;
    assert_eq!(admin.get_tenant("late-arrival").await.unwrap(), tenant);
    // And the store is usable as ever after a shutdown in the middle of a write.
    admin
        .put_tenant(
            "after-restart",
            &TenantSpec::default(),
            Precondition::IfAbsent,
        )
        .await
        .unwrap();
}
