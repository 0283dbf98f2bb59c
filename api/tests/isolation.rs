//! The isolation matrix, built from the OpenAPI document: every operation is called by other
//! tenants, by a viewer, without a credential and with tokens of other audiences. A route added
//! without an entry here fails the test, so no new route escapes the matrix.

mod common;

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use common::TestApp;
use serde_json::{Value, json};

/// Planted in tenant alpha's resources; no answer to another tenant may contain it.
const MARKER: &str = "alpha-private-marker";

/// Operations anyone may call.
const PUBLIC: &[&str] = &[
    "token_create",
    "agent_enroll",
    "health_check",
    "readiness_check",
    "metrics_get",
];

/// Public operations that check a credential of their own (an API key, an enrollment token).
const OWN_CREDENTIAL: &[&str] = &["token_create", "agent_enroll"];

/// Operations for agents: tokens of the management audience are refused there, as agent
/// tokens are everywhere else.
const AGENT_AUDIENCE: &[&str] = &["agent_sync"];

/// POSTs that change nothing, so a viewer may call them.
const READ_ONLY_POSTS: &[&str] = &["collection_config_preview"];

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
    "machine_group_list",
    "machine_group_get",
    "machine_group_put",
    "machine_group_delete",
    "machine_group_agent_list",
    "machine_group_config_list",
    "binding_put",
    "binding_delete",
    "collection_config_list",
    "collection_config_get",
    "collection_config_put",
    "collection_config_delete",
    "collection_config_revision_list",
    "collection_config_rollback",
    "collection_config_preview",
    "collection_config_rollout_put",
    "collection_config_rollout_resume",
    "collection_config_status_get",
    "config_machine_group_list",
    "enrollment_token_create",
    "enrollment_token_list",
    "enrollment_token_delete",
    "agent_enroll",
    "agent_list",
    "agent_delete",
    "agent_sync",
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
        "tenant_put" | "project_put" | "logstore_put" | "quota_put" | "machine_group_put" => {
            Some(json!({}))
        }
        "collection_config_put" => Some(json!({
            "sources": [{ "file": { "include": ["/var/log/probe.log"] } }],
            "destination": { "logstore": "nginx" }
        })),
        "collection_config_rollback" => Some(json!({ "revision": 1 })),
        "collection_config_preview" => Some(json!({ "sample_lines": ["probe"] })),
        "collection_config_rollout_put" => Some(json!({ "percent": 0 })),
        "enrollment_token_create" => Some(json!({ "expires_in_s": 600 })),
        "agent_enroll" => Some(json!({
            "token": "not-a-token", "agent_type": "native", "attributes": { "hostname": "probe" }
        })),
        "agent_sync" => Some(json!({ "seq": 1 })),
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

    fn is_for_agents(&self) -> bool {
        AGENT_AUDIENCE.contains(&self.id.as_str())
    }

    fn is_for_workers(&self) -> bool {
        WORKER_AUDIENCE.contains(&self.id.as_str())
    }

    /// Tokens of the management audience are refused here.
    fn needs_another_audience(&self) -> bool {
        self.is_for_query_frontends() || self.is_for_agents() || self.is_for_workers()
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
    agent_id: String,
    enrollment_token_id: String,
}

struct Fixture {
    alpha: Alpha,
    beta_admin: String,
    worker_key_id: String,
    worker: String,
    /// A token of one of beta's agents.
    agent: String,
    query_frontend: String,
}

/// Enrolls an agent of `tenant` (creating an enrollment token) and returns the token's id, the
/// agent's id and an access token of the agent.
async fn enroll_agent(app: &TestApp, tenant: &str, labels: Value) -> (String, String, String) {
    let created = app
        .call(
            Method::POST,
            &format!("/v1/tenants/{tenant}/agent-enrollment-tokens"),
            Some(&app.admin),
            Some(&json!({ "expires_in_s": 600, "labels": labels })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let token = created.json();
    let enrolled = app
        .call(
            Method::POST,
            "/v1/agents/enroll",
            None,
            Some(&json!({
                "token": token["secret"], "agent_type": "native",
                "attributes": { "hostname": format!("{tenant}-host") }
            })),
        )
        .await;
    assert_eq!(enrolled.status, StatusCode::CREATED, "{}", enrolled.text());
    let enrolled = enrolled.json();
    let access = app.exchange(enrolled["api_key"].as_str().unwrap()).await;
    (
        token["id"].as_str().unwrap().to_string(),
        enrolled["agent_id"].as_str().unwrap().to_string(),
        access,
    )
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
    let group = app
        .put(
            "/v1/tenants/alpha/projects/web/machine-groups/edge",
            &app.admin,
            json!({ "description": MARKER, "selector": { "match_labels": { "k": MARKER } } }),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.text());
    let config = app
        .put(
            "/v1/tenants/alpha/projects/web/collection-configs/nginx",
            &app.admin,
            json!({
                "sources": [{ "file": { "include": [format!("/var/log/{MARKER}.log")] } }],
                "destination": { "logstore": "nginx" }
            }),
        )
        .await;
    assert_eq!(config.status, StatusCode::CREATED, "{}", config.text());
    let binding = app
        .put(
            "/v1/tenants/alpha/projects/web/machine-groups/edge/collection-configs/nginx",
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(binding.status, StatusCode::CREATED, "{}", binding.text());
    let (enrollment_token_id, agent_id, _) =
        enroll_agent(app, "alpha", json!({ "k": MARKER })).await;
    let (_, viewer) = app
        .key_and_token("/v1/tenants/alpha/api-keys", "alpha-viewer", "viewer")
        .await;
    let (_, beta_admin) = app
        .key_and_token("/v1/tenants/beta/api-keys", "beta-admin", "admin")
        .await;
    let (worker_key_id, worker) = app
        .key_and_token("/v1/api-keys", "worker-1", "worker")
        .await;
    let (_, _, agent) = enroll_agent(app, "beta", json!({})).await;
    let (_, query_frontend) = app
        .key_and_token("/v1/api-keys", "frontend-1", "query-frontend")
        .await;
    Fixture {
        alpha: Alpha {
            key_id,
            viewer,
            etags: vec![
                project.etag(),
                logstore.etag(),
                group.etag(),
                config.etag(),
                binding.etag(),
            ],
            agent_id,
            enrollment_token_id,
        },
        beta_admin,
        worker_key_id,
        worker,
        agent,
        query_frontend,
    }
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
        ("{group}", "edge"),
        ("{config}", "nginx"),
        ("{key}", key.as_str()),
        ("{slot}", "qs-probe"),
        ("{agent}", fixture.alpha.agent_id.as_str()),
        ("{token}", fixture.alpha.enrollment_token_id.as_str()),
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
            _ if operation.needs_another_audience() => StatusCode::UNAUTHORIZED,
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
        let expected = if operation.needs_another_audience() {
            StatusCode::UNAUTHORIZED
        } else if READ_ONLY_POSTS.contains(&operation.id.as_str()) {
            StatusCode::OK
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
        if expected != StatusCode::OK {
            response.problem();
        }
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
        let mut other_audiences = Vec::new();
        if !operation.is_for_workers() {
            other_audiences.push(("worker", &fixture.worker));
        }
        if !operation.is_for_agents() {
            other_audiences.push(("agent", &fixture.agent));
        }
        if !operation.is_for_query_frontends() {
            other_audiences.push(("query frontend", &fixture.query_frontend));
        }
        if operation.needs_another_audience() {
            other_audiences.push(("management", &fixture.beta_admin));
            other_audiences.push(("platform admin", &app.admin));
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
        .filter(|o| o.is_public() && !OWN_CREDENTIAL.contains(&o.id.as_str()))
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

/// An agent's credential reaches its own agent endpoints only: another agent's id answers 404,
/// whether that agent is of its tenant or not.
async fn agents_reach_only_their_own_agent(app: TestApp) {
    let fixture = plant(&app).await;
    let (_, sibling_id, sibling) = enroll_agent(&app, "alpha", json!({})).await;
    for operation in operations().iter().filter(|o| o.is_for_agents()) {
        for (who, token) in [
            ("beta's agent", &fixture.agent),
            ("alpha's other agent", &sibling),
        ] {
            let response = call(&app, operation, &fixture, Some(token)).await;
            assert_eq!(
                response.status,
                StatusCode::NOT_FOUND,
                "{who} calling {} for alpha's agent: {}",
                operation.id,
                response.text()
            );
            assert!(!response.text().contains(MARKER));
        }
        let own = app
            .call(
                operation.method.clone(),
                &operation.template.replace("{agent}", &sibling_id),
                Some(&sibling),
                sample_body(&operation.id).as_ref(),
            )
            .await;
        assert!(own.status.is_success(), "{}: {}", operation.id, own.text());
    }
}

on_both_backends!(
    other_tenants_see_nothing_of_alpha,
    viewers_cannot_change_anything,
    every_operation_needs_a_credential_of_its_audience,
    agents_reach_only_their_own_agent,
);
