//! A PostgreSQL outage: the API says "unavailable, retry" (503 with Retry-After and a problem),
//! never 500 and never 401; liveness stays green so the orchestrator does not restart healthy
//! replicas; and once the database is back the service recovers on its own.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use logplane_client::{Client, Error, Precondition, StatusCode};
use logplane_e2e::{BOOTSTRAP_ADMIN_KEY, LogplaneServer, ServerConfig, StoreLocation, TcpProxy};
use logplane_model::{ProjectSpec, TenantSpec};
use logplane_store::Backend;
use logplane_store::testing::TestDatabase;

use crate::support::expect_refusal;

/// Short, so each refused call is quick; the server's lowest accepted value is 100.
const STORE_TIMEOUT_MS: u64 = 500;
const RECOVER_WITHIN: Duration = Duration::from_secs(60);

#[tokio::test]
async fn postgres_outage_answers_503_and_recovers() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let mut url = url::Url::parse(&database.location).expect("a PostgreSQL URL");
    let upstream = resolve(&url).await;
    let proxy = TcpProxy::start(upstream).await;
    url.set_port(Some(proxy.port())).unwrap();
    let config = ServerConfig::new(StoreLocation::Postgres {
        url: url.to_string(),
    })
    .store_timeout_ms(STORE_TIMEOUT_MS);
    let server = LogplaneServer::start(&config).await;
    let admin = server.admin_client().await;
    admin
        .put_tenant("acme", &TenantSpec::default(), Precondition::IfAbsent)
        .await
        .unwrap();

    proxy.go_down().await;

    expect_unavailable("tenant_get", admin.get_tenant("acme").await);
    expect_unavailable(
        "project_put",
        admin
            .put_project(
                "acme",
                "web",
                &ProjectSpec::default(),
                Precondition::Unconditional,
            )
            .await,
    );
    expect_unavailable("tenant_list", admin.list_tenants(&Default::default()).await);
    expect_unavailable(
        "platform_audit_event_list",
        admin.list_platform_audit_events(&Default::default()).await,
    );
    // A key the server cannot look up is not an unknown key: no 401 that would make a caller
    // throw its credential away.
    expect_unavailable(
        "token_create",
        server.client().exchange_token(BOOTSTRAP_ADMIN_KEY).await,
    );
    expect_unavailable("readiness_check", server.client().readyz().await);
    assert_eq!(
        server
            .client()
            .healthz()
            .await
            .expect("liveness does not need the store")
            .status,
        "ok"
    );

    proxy.come_up().await;
    wait_until_ready(&server.client()).await;
    let written = admin
        .put_project(
            "acme",
            "web",
            &ProjectSpec::default(),
            Precondition::IfAbsent,
        )
        .await
        .expect("writes succeed again once the store is back");
    assert!(written.created, "nothing was written during the outage");
    assert_eq!(
        admin.get_tenant("acme").await.unwrap().name,
        "acme",
        "reads succeed again"
    );
}

/// The refusal every call must get while the store is unreachable.
fn expect_unavailable<T: Debug>(operation: &str, result: Result<T, Error>) {
    let retry_after = match &result {
        Err(Error::Api { retry_after, .. }) => *retry_after,
        _ => None,
    };
    let problem = expect_refusal(result, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(problem.slug(), "unavailable", "{operation}: {problem:?}");
    assert!(
        problem.request_id.is_some(),
        "{operation}: the problem names its request"
    );
    assert!(
        retry_after.is_some(),
        "{operation}: a 503 says when to retry"
    );
}

/// Polls readiness until it answers 200; panics after a bounded wait.
async fn wait_until_ready(client: &Client) {
    let deadline = Instant::now() + RECOVER_WITHIN;
    loop {
        match client.readyz().await {
            Ok(_) => return,
            Err(error) => {
                assert_ne!(
                    error.status(),
                    Some(StatusCode::INTERNAL_SERVER_ERROR),
                    "recovery never answers 500: {error}"
                );
                assert!(
                    Instant::now() < deadline,
                    "not ready {RECOVER_WITHIN:?} after the store came back: {error}"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn resolve(url: &url::Url) -> SocketAddr {
    let host = url.host_str().expect("a PostgreSQL host");
    let port = url.port().unwrap_or(5432);
    tokio::net::lookup_host((host, port))
        .await
        .expect("resolve the PostgreSQL host")
        .next()
        .expect("an address for the PostgreSQL host")
}
