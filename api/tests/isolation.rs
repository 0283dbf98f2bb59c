//! The isolation matrix, built from the OpenAPI document: every operation is called by other
//! tenants, by a viewer, without a credential and with tokens of other audiences. A route added
//! without an entry here fails the test, so no new route escapes the matrix.

mod common;

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use common::{SIGNING_KEY, TestApp};
use serde_json::{Value, json};

/// Planted in tenant alpha's resources; no answer to another tenant may contain it.
const MARKER: &str = "alpha-private-marker";

/// Operations anyone may call.
const PUBLIC: &[&str] = &[
    "token_create",
    "health_check",
    "readiness_check",
    "metrics_get",
];

/// Operations for query frontends: tokens of the management audience are refused there, as
/// query-frontend tokens are everywhere else.
const QUERY_AUDIENCE: &[&str] = &[
    "query_slot_acquire",
    "query_slot_renew",
    "query_slot_release",
];

/// The worker protocol: only tokens of the worker audience are accepted there, and worker
/// tokens are refused everywhere else.
const WORKER_AUDIENCE: &[&str] = &["worker_put", "worker_heartbeat"];

/// Every operation of the API. Adding a route means adding it here and, if it takes a body or
/// a new path parameter, a sample below.
const COVERED: &[&str] = &[
    "token_create",
    "tenant_list",
    "tenant_get",
    "tenant_put",
    "tenant_delete",
    "project_list",
    "project_get",
    "project_put",
    "project_delete",
    "logstore_list",
    "logstore_get",
    "logstore_put",
    "logstore_delete",
    "shard_list",
    "platform_api_key_list",
    "platform_api_key_create",
    "platform_api_key_get",
    "platform_api_key_delete",
    "api_key_list",
    "api_key_create",
    "api_key_get",
    "api_key_delete",
    "platform_audit_event_list",
    "audit_event_list",
    "quota_get",
    "quota_put",
    "usage_get",
    "query_slot_acquire",
    "query_slot_renew",
    "query_slot_release",
    "worker_list",
    "worker_get",
    "worker_put",
    "worker_delete",
    "worker_cordon",
    "worker_drain",
    "worker_uncordon",
    "worker_heartbeat",
    "scheduler_get",
    "shard_split",
    "shard_merge",
    "health_check",
    "readiness_check",
    "metrics_get",
];

fn sample_body(operation: &str) -> Option<Value> {
    match operation {
        "tenant_put" | "project_put" | "logstore_put" | "quota_put" => Some(json!({})),
        "platform_api_key_create" => Some(json!({ "name": "probe-key", "role": "worker" })),
        "api_key_create" => Some(json!({ "name": "probe-key", "role": "viewer" })),
        "token_create" => Some(json!({ "api_key": "not-a-key" })),
        "query_slot_acquire" => Some(json!({ "max_wait_ms": 0 })),
        "worker_put" => Some(json!({
            "address": "10.0.0.9:7000", "zone": "probe", "roles": ["ingest"], "capacity": { "shards": 1 }
        })),
        "worker_heartbeat" | "shard_split" => Some(json!({})),
        _ => None,
    }
}

struct Operation {
    id: String,
    method: Method,
    template: String,
    takes_body: bool,
}

impl Operation {
    fn is_public(&self) -> bool {
        PUBLIC.contains(&self.id.as_str())
    }

    fn is_for_query_frontends(&self) -> bool {
        QUERY_AUDIENCE.contains(&self.id.as_str())
    }

    fn is_for_workers(&self) -> bool {
        WORKER_AUDIENCE.contains(&self.id.as_str())
    }

    /// Tokens of the management audience are refused here.
    fn is_for_another_audience(&self) -> bool {
        self.is_for_query_frontends() || self.is_for_workers()
    }

    fn targets_a_tenant(&self) -> bool {
        self.template.contains("{tenant}")
    }
}

fn operations() -> Vec<Operation> {
    let document = serde_json::to_value(logplane_api::app::openapi_document()).unwrap();
    let mut operations = Vec::new();
    for (template, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(id) = operation["operationId"].as_str() else {
                continue;
            };
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            operations.push(Operation {
                id: id.to_string(),
                method,
                template: template.clone(),
                takes_body: operation.get("requestBody").is_some(),
            });
        }
    }
    let documented: BTreeSet<_> = operations.iter().map(|o| o.id.as_str()).collect();
    let covered: BTreeSet<_> = COVERED.iter().copied().collect();
    assert_eq!(
        documented, covered,
        "every documented operation must be in the isolation matrix"
    );
    operations
}

/// Alpha's resources, planted for others to probe.
struct Alpha {
    key_id: String,
    viewer: String,
    etags: Vec<String>,
}

struct Fixture {
    alpha: Alpha,
    beta_admin: String,
    worker_key_id: String,
    worker: String,
    agent: String,
    query_frontend: String,
}

async fn plant(app: &TestApp) -> Fixture {
    app.create_tenant("alpha").await;
    app.create_tenant("beta").await;
    let project = app
        .create_project(
            "alpha",
            "web",
            json!({ "description": MARKER, "labels": { "owner": MARKER } }),
        )
        .await;
    let logstore = app
        .put(
            "/v1/tenants/alpha/projects/web/logstores/nginx",
            &app.admin,
            json!({ "labels": { "k": MARKER } }),
        )
        .await;
    assert_eq!(logstore.status, StatusCode::CREATED);
    let (key_id, _) = app
        .key_and_token("/v1/tenants/alpha/api-keys", "alpha-admin", "admin")
        .await;
    let (_, viewer) = app
        .key_and_token("/v1/tenants/alpha/api-keys", "alpha-viewer", "viewer")
        .await;
    let (beta_key, beta_admin) = app
        .key_and_token("/v1/tenants/beta/api-keys", "beta-admin", "admin")
        .await;
    let (worker_key_id, worker) = app
        .key_and_token("/v1/api-keys", "worker-1", "worker")
        .await;
    let agent = forge_agent_token(&beta_key);
    let (_, query_frontend) = app
        .key_and_token("/v1/api-keys", "frontend-1", "query-frontend")
        .await;
    Fixture {
        alpha: Alpha {
            key_id,
            viewer,
            etags: vec![project.etag(), logstore.etag()],
        },
        beta_admin,
        worker_key_id,
        worker,
        agent,
        query_frontend,
    }
}

/// A token of the agent audience, correctly signed: agents enroll through their own protocol,
/// which does not exist yet, so the test mints one the way that protocol will.
fn forge_agent_token(subject: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "iss": "logplane", "aud": "logplane-agent", "sub": subject, "tenant": "beta", "role": "agent",
        "exp": now + 600, "iat": now, "jti": "agent-probe",
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&SIGNING_KEY),
    )
    .unwrap()
}

fn concrete_path(operation: &Operation, fixture: &Fixture) -> String {
    let mut path = operation.template.clone();
    let key = if operation.targets_a_tenant() {
        &fixture.alpha.key_id
    } else {
        &fixture.worker_key_id
    };
    for (parameter, value) in [
        ("{tenant}", "alpha"),
        ("{project}", "web"),
        ("{logstore}", "nginx"),
        ("{key}", key.as_str()),
        ("{slot}", "qs-probe"),
        ("{worker}", "probe-worker"),
        ("{shard}", "0"),
    ] {
        path = path.replace(parameter, value);
    }
    assert!(
        !path.contains('{'),
        "no sample value for a parameter of {}: add one",
        operation.template
    );
    path
}

async fn call(
    app: &TestApp,
    operation: &Operation,
    fixture: &Fixture,
    token: Option<&str>,
) -> common::TestResponse {
    let path = concrete_path(operation, fixture);
    let body = sample_body(&operation.id);
    if operation.takes_body {
        assert!(
            body.is_some(),
            "{} takes a body: add a sample",
            operation.id
        );
    }
    app.call(operation.method.clone(), &path, token, body.as_ref())
        .await
}

async fn other_tenants_see_nothing_of_alpha(app: TestApp) {
    let fixture = plant(&app).await;
    for operation in operations().iter().filter(|o| !o.is_public()) {
        let response = call(&app, operation, &fixture, Some(&fixture.beta_admin)).await;
        let expected = match operation.id.as_str() {
            "tenant_list" => StatusCode::OK,
            _ if operation.is_for_another_audience() => StatusCode::UNAUTHORIZED,
            _ if operation.targets_a_tenant() => StatusCode::NOT_FOUND,
            _ => StatusCode::FORBIDDEN,
        };
        assert_eq!(
            response.status,
            expected,
            "beta's admin calling {} {}: {}",
            operation.method,
            operation.id,
            response.text()
        );
        let text = response.text();
        assert!(
            !text.contains(MARKER),
            "{} leaked alpha's data: {text}",
            operation.id
        );
        for etag in &fixture.alpha.etags {
            assert!(
                !text.contains(etag.as_str()),
                "{} leaked alpha's ETag",
                operation.id
            );
        }
        if operation.id == "tenant_list" {
            let names: Vec<_> = response.json()["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].clone())
                .collect();
            assert_eq!(names, [json!("beta")], "lists never show other tenants");
        }
    }
    // Nothing beta tried changed alpha.
    let project = app.get("/v1/tenants/alpha/projects/web", &app.admin).await;
    assert_eq!(project.json()["description"], MARKER);
    assert_eq!(
        app.get("/v1/tenants/alpha/projects/web/logstores/nginx", &app.admin)
            .await
            .status,
        StatusCode::OK
    );
    let key = app
        .get(
            &format!("/v1/tenants/alpha/api-keys/{}", fixture.alpha.key_id),
            &app.admin,
        )
        .await;
    assert_eq!(key.status, StatusCode::OK);
}

async fn viewers_cannot_change_anything(app: TestApp) {
    let fixture = plant(&app).await;
    let mutations = operations()
        .into_iter()
        .filter(|o| !o.is_public() && o.method != Method::GET);
    for operation in mutations {
        let response = call(&app, &operation, &fixture, Some(&fixture.alpha.viewer)).await;
        let expected = if operation.is_for_another_audience() {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(
            response.status,
            expected,
            "alpha's viewer calling {}: {}",
            operation.id,
            response.text()
        );
        response.problem();
    }
    assert_eq!(
        app.get("/v1/tenants/alpha/projects/web", &app.admin)
            .await
            .json()["description"],
        MARKER
    );
}

async fn every_operation_needs_a_credential_of_its_audience(app: TestApp) {
    let fixture = plant(&app).await;
    for operation in operations().iter().filter(|o| !o.is_public()) {
        let anonymous = call(&app, operation, &fixture, None).await;
        assert_eq!(
            anonymous.status,
            StatusCode::UNAUTHORIZED,
            "anonymous {}",
            operation.id
        );
        assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
        anonymous.problem();
        let mut other_audiences = vec![("agent", &fixture.agent)];
        if !operation.is_for_query_frontends() {
            other_audiences.push(("query frontend", &fixture.query_frontend));
        }
        if operation.is_for_workers() {
            other_audiences.push(("platform admin", &app.admin));
            other_audiences.push(("tenant admin", &fixture.beta_admin));
        } else {
            other_audiences.push(("worker", &fixture.worker));
        }
        for (who, token) in other_audiences {
            let response = call(&app, operation, &fixture, Some(token)).await;
            assert_eq!(
                response.status,
                StatusCode::UNAUTHORIZED,
                "{who} token on {}: {}",
                operation.id,
                response.text()
            );
        }
    }
    for operation in operations()
        .iter()
        .filter(|o| o.is_public() && o.id != "token_create")
    {
        let response = call(&app, operation, &fixture, None).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{} is public",
            operation.id
        );
    }
}

on_both_backends!(
    other_tenants_see_nothing_of_alpha,
    viewers_cannot_change_anything,
    every_operation_needs_a_credential_of_its_audience,
);
