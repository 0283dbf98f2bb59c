//! `--log-format json`: one JSON object per line, one line per request naming its request id,
//! operation id, status and duration, so logs can be searched by the id a client quotes.

use logplane_client::{PageOptions, Precondition, StatusCode};
use logplane_e2e::{LogFormat, LogplaneServer, ServerConfig};
use logplane_model::{ProjectSpec, TenantSpec};
use logplane_store::Backend;
use logplane_store::testing::TestDatabase;
use serde_json::Value;

use crate::support::{expect_refusal, location};

#[tokio::test]
async fn postgres() {
    each_request_logs_one_json_line(Backend::Postgres).await;
}

#[tokio::test]
async fn sqlite() {
    each_request_logs_one_json_line(Backend::Sqlite).await;
}

async fn each_request_logs_one_json_line(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let config = ServerConfig::new(location(&database)).log_format(LogFormat::Json);
    let mut server = LogplaneServer::start(&config).await;
    let admin = server.admin_client().await;

    let put = admin
        .with_request_id("e2e-put-tenant")
        .unwrap()
        .put_tenant("acme", &TenantSpec::default(), Precondition::IfAbsent)
        .await
        .unwrap();
    assert_eq!(
        put.request_id.as_deref(),
        Some("e2e-put-tenant"),
        "the client's request id is echoed"
    );

    let anonymous = server
        .client()
        .with_request_id("e2e-anonymous-list")
        .unwrap()
        .list_tenants(&PageOptions::default())
        .await;
    let problem = expect_refusal(anonymous, StatusCode::UNAUTHORIZED);
    assert_eq!(problem.request_id.as_deref(), Some("e2e-anonymous-list"));

    let missing = admin
        .with_request_id("e2e-missing-project")
        .unwrap()
        .get_project("acme", "nope")
        .await;
    let problem = expect_refusal(missing, StatusCode::NOT_FOUND);
    assert_eq!(problem.request_id.as_deref(), Some("e2e-missing-project"));

    // Without an id from the client the server makes one up, echoes and logs it.
    let untraced = admin
        .put_project(
            "acme",
            "web",
            &ProjectSpec::default(),
            Precondition::IfAbsent,
        )
        .await
        .unwrap();
    let generated = untraced
        .request_id
        .clone()
        .expect("the server echoes the id it generated");
    assert!(!generated.is_empty());

    // Stop first, so the log is complete when it is read.
    let status = server.stop().await;
    assert_eq!(status.code(), Some(0));
    let log = server.stderr_text();
    let lines: Vec<Value> = log
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"))
        })
        .collect();
    assert!(lines.iter().all(Value::is_object));

    for (request_id, operation, status) in [
        ("e2e-put-tenant", "tenant_put", 201),
        ("e2e-anonymous-list", "tenant_list", 401),
        ("e2e-missing-project", "project_get", 404),
        (generated.as_str(), "project_put", 201),
    ] {
        let logged: Vec<&Value> = lines
            .iter()
            .filter(|line| line["message"] == "request" && line["request_id"] == request_id)
            .collect();
        assert_eq!(
            logged.len(),
            1,
            "exactly one request line for {request_id}: {logged:?}"
        );
        let line = logged[0];
        assert_eq!(line["operation"], operation, "{line}");
        assert_eq!(line["status"], status, "{line}");
        assert_eq!(line["client"], "127.0.0.1", "the connection's peer: {line}");
        let duration = line["duration_ms"]
            .as_f64()
            .unwrap_or_else(|| panic!("duration_ms is a number: {line}"));
        assert!(duration >= 0.0, "{line}");
    }
}
