//! The agent protocol through the HTTP API: enrollment, sync with long polls, rollouts as agents
//! see them, status, rollback and preview.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{TestApp, TestResponse};
use logplane_collect::rollout_bucket;
use serde_json::{Value, json};

const PROJECT: &str = "/v1/tenants/acme/projects/web";
/// Long enough that a missed wake-up shows as a 304 rather than a slow 200.
const LONG_WAIT_MS: u64 = 30_000;

fn config_spec(marker: &str) -> Value {
    json!({
        "sources": [{ "file": { "include": [format!("/var/log/{marker}.log")] } }],
        "destination": { "logstore": "app" }
    })
}

/// An enrolled agent, as a test drives it.
struct TestAgent {
    id: String,
    token: String,
    seq: i64,
}

impl TestAgent {
    async fn enroll(app: &TestApp, tenant: &str, agent_type: &str, labels: Value) -> TestAgent {
        Self::enroll_with(
            app,
            tenant,
            agent_type,
            json!({ "hostname": "host-1", "labels": labels }),
        )
        .await
    }

    async fn enroll_with(
        app: &TestApp,
        tenant: &str,
        agent_type: &str,
        attributes: Value,
    ) -> TestAgent {
        let token = app
            .call(
                Method::POST,
                &format!("/v1/tenants/{tenant}/agent-enrollment-tokens"),
                Some(&app.admin),
                Some(&json!({ "expires_in_s": 600 })),
            )
            .await;
        assert_eq!(token.status, StatusCode::CREATED, "{}", token.text());
        let enrolled = app
            .call(
                Method::POST,
                "/v1/agents/enroll",
                None,
                Some(&json!({
                    "token": token.json()["secret"], "agent_type": agent_type, "attributes": attributes
                })),
            )
            .await;
        assert_eq!(enrolled.status, StatusCode::CREATED, "{}", enrolled.text());
        let enrolled = enrolled.json();
        TestAgent {
            id: enrolled["agent_id"].as_str().unwrap().to_string(),
            token: app.exchange(enrolled["api_key"].as_str().unwrap()).await,
            seq: 0,
        }
    }

    fn sync_request(&mut self, known: Option<&str>, wait_ms: u64, extra: Value) -> Request<Body> {
        self.seq += 1;
        let mut body = json!({ "seq": self.seq });
        if let Value::Object(fields) = extra {
            body.as_object_mut().unwrap().extend(fields);
        }
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(format!("/v1/agents/{}/sync?wait_ms={wait_ms}", self.id))
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json");
        if let Some(hash) = known {
            builder = builder.header("if-none-match", format!("\"{hash}\""));
        }
        builder.body(Body::from(body.to_string())).unwrap()
    }

    async fn sync(&mut self, app: &TestApp, known: Option<&str>, wait_ms: u64) -> TestResponse {
        app.send(self.sync_request(known, wait_ms, json!({}))).await
    }

    /// Syncs, applies what it received and reports it applied; returns the bundle's hash.
    async fn sync_and_apply(&mut self, app: &TestApp) -> (String, Value) {
        let received = self.sync(app, None, 0).await;
        assert_eq!(received.status, StatusCode::OK, "{}", received.text());
        let bundle = received.json();
        let hash = bundle["hash"].as_str().unwrap().to_string();
        let report = json!({ "status": { "hash": hash, "state": "applied" } });
        let reported = app.send(self.sync_request(Some(&hash), 0, report)).await;
        assert_eq!(
            reported.status,
            StatusCode::NOT_MODIFIED,
            "{}",
            reported.text()
        );
        (hash, bundle)
    }
}

/// The revision of `config` (its bundle name) in a bundle, if the bundle has it.
fn revision_in(bundle: &Value, config: &str) -> Option<i64> {
    bundle["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == config)
        .map(|c| c["revision"].as_i64().unwrap())
}

/// Tenant `acme`, project `web`, logstore `app`, group `all` (every agent) bound to config
/// `nginx` rolled out to 100%.
async fn setup(app: &TestApp, tenant: &str) {
    app.create_tenant(tenant).await;
    app.create_project(tenant, "web", json!({})).await;
    let project = format!("/v1/tenants/{tenant}/projects/web");
    let logstore = app
        .put(&format!("{project}/logstores/app"), &app.admin, json!({}))
        .await;
    assert_eq!(logstore.status, StatusCode::CREATED);
    let group = app
        .put(
            &format!("{project}/machine-groups/all"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED);
    let config = app
        .put(
            &format!("{project}/collection-configs/nginx"),
            &app.admin,
            config_spec(&format!("{tenant}-nginx")),
        )
        .await;
    assert_eq!(config.status, StatusCode::CREATED, "{}", config.text());
    bind(app, &project, "all", "nginx").await;
    rollout(app, &project, "nginx", 100).await;
}

async fn bind(app: &TestApp, project: &str, group: &str, config: &str) {
    let bound = app
        .put(
            &format!("{project}/machine-groups/{group}/collection-configs/{config}"),
            &app.admin,
            json!({}),
        )
        .await;
    assert!(bound.status.is_success(), "{}", bound.text());
}

async fn rollout(app: &TestApp, project: &str, config: &str, percent: i64) -> TestResponse {
    let response = app
        .put(
            &format!("{project}/collection-configs/{config}/rollout"),
            &app.admin,
            json!({ "percent": percent }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response
}

async fn change_config(app: &TestApp, marker: &str) -> i64 {
    let changed = app
        .put(
            &format!("{PROJECT}/collection-configs/nginx"),
            &app.admin,
            config_spec(marker),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text());
    changed.json()["revision"].as_i64().unwrap()
}

/// Starts a long poll and gives it time to start waiting.
async fn waiting_sync(
    app: &TestApp,
    agent: &mut TestAgent,
    known: &str,
) -> tokio::task::JoinHandle<TestResponse> {
    let request = agent.sync_request(Some(known), LONG_WAIT_MS, json!({}));
    let router = app.router.clone();
    let handle = tokio::spawn(async move {
        use tower::ServiceExt;
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        TestResponse {
            status,
            headers,
            body,
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    handle
}

async fn a_bundle_is_sent_once_then_304_without_a_body(app: TestApp) {
    setup(&app, "acme").await;
    let mut agent = TestAgent::enroll(&app, "acme", "native", json!({})).await;
    let first = agent.sync(&app, None, 0).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let bundle = first.json();
    let hash = bundle["hash"].as_str().unwrap();
    assert_eq!(first.etag(), hash, "the ETag is the bundle's hash");
    assert_eq!(
        bundle["configs"],
        json!([{ "name": "web_nginx", "revision": 1 }])
    );
    let file = &bundle["files"][0];
    assert_eq!(file["name"], "web_nginx.json");
    assert!(
        file["body"]
            .as_str()
            .unwrap()
            .contains("/var/log/acme-nginx.log")
    );
    let unchanged = agent.sync(&app, Some(hash), 0).await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
    assert!(unchanged.body.is_empty(), "a 304 carries no body");
    assert_eq!(unchanged.etag(), hash);
    let waited = agent.sync(&app, Some(hash), 200).await;
    assert_eq!(
        waited.status,
        StatusCode::NOT_MODIFIED,
        "nothing changed during the wait"
    );
    assert!(waited.body.is_empty());
    let agents = app.get("/v1/tenants/acme/agents", &app.admin).await.json();
    assert_eq!(agents["items"][0]["desired_hash"], hash);
    assert_eq!(agents["items"][0]["online"], true);
}

async fn each_agent_type_receives_its_own_rendering(app: TestApp) {
    setup(&app, "acme").await;
    for (agent_type, file, content_type) in [
        ("native", "web_nginx.json", "application/json"),
        ("fluent-bit", "web_nginx.yaml", "application/yaml"),
        ("vector", "web_nginx.yaml", "application/yaml"),
        ("otel-collector", "web_nginx.yaml", "application/yaml"),
    ] {
        let mut agent = TestAgent::enroll(&app, "acme", agent_type, json!({})).await;
        let bundle = agent.sync(&app, None, 0).await.json();
        let files = bundle["files"].as_array().unwrap();
        let rendered = files.iter().find(|f| f["name"] == file).unwrap_or_else(|| {
            panic!("{agent_type} gets {file}: {bundle}");
        });
        assert_eq!(rendered["content_type"], content_type);
        assert!(
            rendered["body"].as_str().unwrap().contains("acme-nginx"),
            "{agent_type}"
        );
    }
}

async fn a_long_poll_wakes_on_a_change_of_a_bound_config(app: TestApp) {
    setup(&app, "acme").await;
    let mut agent = TestAgent::enroll(&app, "acme", "native", json!({})).await;
    let (hash, _) = agent.sync_and_apply(&app).await;
    let waiting = waiting_sync(&app, &mut agent, &hash).await;
    let revision = change_config(&app, "changed").await;
    // A new revision starts at 0%: nothing changes for the agent until the rollout moves.
    rollout(&app, PROJECT, "nginx", 100).await;
    let woken = waiting.await.unwrap();
    assert_eq!(woken.status, StatusCode::OK, "{}", woken.text());
    assert_eq!(revision_in(&woken.json(), "web_nginx"), Some(revision));
    assert!(woken.text().contains("changed.log"));
}

async fn a_long_poll_wakes_on_a_new_binding_and_on_membership_changes(app: TestApp) {
    setup(&app, "acme").await;
    let mut agent = TestAgent::enroll(&app, "acme", "native", json!({ "role": "edge" })).await;
    let (hash, _) = agent.sync_and_apply(&app).await;
    // A second config, bound to a group the agent is not in yet.
    let extra = app
        .put(
            &format!("{PROJECT}/collection-configs/extra"),
            &app.admin,
            config_spec("extra"),
        )
        .await;
    assert_eq!(extra.status, StatusCode::CREATED);
    rollout(&app, PROJECT, "extra", 100).await;
    let group = app
        .put(
            &format!("{PROJECT}/machine-groups/core"),
            &app.admin,
            json!({ "selector": { "match_labels": { "role": "core" } } }),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED);
    bind(&app, PROJECT, "core", "extra").await;
    let unchanged = agent.sync(&app, Some(&hash), 0).await;
    assert_eq!(
        unchanged.status,
        StatusCode::NOT_MODIFIED,
        "not a member yet"
    );

    // The group's selector changes to take the agent in.
    let waiting = waiting_sync(&app, &mut agent, &hash).await;
    let widened = app
        .put(
            &format!("{PROJECT}/machine-groups/core"),
            &app.admin,
            json!({ "selector": { "match_labels": { "role": "edge" } } }),
        )
        .await;
    assert_eq!(widened.status, StatusCode::OK);
    let woken = waiting.await.unwrap();
    assert_eq!(woken.status, StatusCode::OK, "{}", woken.text());
    let bundle = woken.json();
    assert_eq!(revision_in(&bundle, "web_extra"), Some(1));
    let hash = bundle["hash"].as_str().unwrap().to_string();

    // Unbinding wakes it too.
    let waiting = waiting_sync(&app, &mut agent, &hash).await;
    let unbound = app
        .delete(
            &format!("{PROJECT}/machine-groups/core/collection-configs/extra"),
            &app.admin,
        )
        .await;
    assert_eq!(unbound.status, StatusCode::NO_CONTENT);
    let woken = waiting.await.unwrap();
    assert_eq!(woken.status, StatusCode::OK);
    assert_eq!(revision_in(&woken.json(), "web_extra"), None);
    let hash = woken.json()["hash"].as_str().unwrap().to_string();

    // The agent's own attributes move it: the answer comes at once.
    let narrowed = app
        .put(
            &format!("{PROJECT}/machine-groups/core"),
            &app.admin,
            json!({ "selector": { "match_labels": { "role": "core" } } }),
        )
        .await;
    assert_eq!(narrowed.status, StatusCode::OK);
    bind(&app, PROJECT, "core", "extra").await;
    let moved = app
        .send(agent.sync_request(
            Some(&hash),
            LONG_WAIT_MS,
            json!({ "attributes": { "hostname": "host-1", "labels": { "role": "core" } } }),
        ))
        .await;
    assert_eq!(moved.status, StatusCode::OK);
    let bundle = moved.json();
    assert_eq!(revision_in(&bundle, "web_extra"), Some(1));
    assert_eq!(
        revision_in(&bundle, "web_nginx"),
        Some(1),
        "group `all` still holds it"
    );
    let members = app
        .get(&format!("{PROJECT}/machine-groups/core/agents"), &app.admin)
        .await
        .json();
    assert_eq!(members["items"][0]["id"], agent.id.as_str());
}

async fn a_change_through_another_replica_wakes_at_the_next_poll(app: TestApp) {
    setup(&app, "acme").await;
    let other = app.second_replica().await;
    let mut agent = TestAgent::enroll(&app, "acme", "native", json!({})).await;
    let (hash, _) = agent.sync_and_apply(&app).await;
    let waiting = waiting_sync(&app, &mut agent, &hash).await;
    let changed = other
        .put(
            &format!("{PROJECT}/collection-configs/nginx"),
            &other.admin,
            config_spec("elsewhere"),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    rollout(&other, PROJECT, "nginx", 100).await;
    // The server polls on a timer; the test polls once, by hand.
    logplane_store::Store::poll_distribution(app.store.as_ref())
        .await
        .unwrap();
    let woken = waiting.await.unwrap();
    assert_eq!(woken.status, StatusCode::OK, "{}", woken.text());
    assert!(woken.text().contains("elsewhere.log"));
}

async fn an_agent_never_receives_another_tenants_configs(app: TestApp) {
    setup(&app, "acme").await;
    setup(&app, "beta").await;
    let beta_marker_config = app
        .put(
            "/v1/tenants/beta/projects/web/collection-configs/secret",
            &app.admin,
            config_spec("beta-only-secret"),
        )
        .await;
    assert_eq!(beta_marker_config.status, StatusCode::CREATED);
    bind(&app, "/v1/tenants/beta/projects/web", "all", "secret").await;
    rollout(&app, "/v1/tenants/beta/projects/web", "secret", 100).await;
    let mut alpha = TestAgent::enroll(&app, "acme", "vector", json!({})).await;
    let mut beta = TestAgent::enroll(&app, "beta", "vector", json!({})).await;
    let alpha_bundle = alpha.sync(&app, None, 0).await;
    let beta_bundle = beta.sync(&app, None, 0).await;
    assert!(alpha_bundle.text().contains("acme-nginx"));
    for leaked in ["beta-nginx", "beta-only-secret", "/beta/"] {
        assert!(
            !alpha_bundle.text().contains(leaked),
            "{leaked} leaked to acme"
        );
    }
    assert!(beta_bundle.text().contains("beta-only-secret"));
    assert!(!beta_bundle.text().contains("acme-nginx"));
    let crossed = app
        .send({
            let mut request = alpha.sync_request(None, 0, json!({}));
            *request.uri_mut() = format!("/v1/agents/{}/sync", beta.id).parse().unwrap();
            request
        })
        .await;
    assert_eq!(crossed.status, StatusCode::NOT_FOUND);
    assert!(!crossed.text().contains("beta-only-secret"));
}

async fn rollout_buckets_are_stable_and_monotonic(app: TestApp) {
    setup(&app, "acme").await;
    let mut agents = Vec::new();
    for _ in 0..24 {
        let mut agent = TestAgent::enroll(&app, "acme", "native", json!({})).await;
        agent.sync_and_apply(&app).await;
        agents.push(agent);
    }
    let revision = change_config(&app, "second").await;
    let mut previous_holders: Vec<String> = Vec::new();
    for percent in [0, 25, 50, 75, 100] {
        rollout(&app, PROJECT, "nginx", percent).await;
        let mut holders = Vec::new();
        for agent in &mut agents {
            let bundle = agent.sync(&app, None, 0).await.json();
            let received = revision_in(&bundle, "web_nginx").unwrap();
            let in_rollout = rollout_bucket(&agent.id, "web_nginx") < (percent as u32) * 100;
            assert_eq!(
                received == revision,
                in_rollout,
                "agent {} at {percent}%: the bucket decides",
                agent.id
            );
            if received == revision {
                holders.push(agent.id.clone());
            }
        }
        for holder in &previous_holders {
            assert!(
                holders.contains(holder),
                "raising to {percent}% moved {holder} back"
            );
        }
        previous_holders = holders;
    }
    assert_eq!(
        previous_holders.len(),
        agents.len(),
        "100% reaches everyone"
    );
}

async fn revisions_and_rollback(app: TestApp) {
    setup(&app, "acme").await;
    let mut agent = TestAgent::enroll(&app, "acme", "native", json!({})).await;
    agent.sync_and_apply(&app).await;
    let second = change_config(&app, "bad-idea").await;
    assert_eq!(second, 2);
    rollout(&app, PROJECT, "nginx", 100).await;
    let revisions = app
        .get(
            &format!("{PROJECT}/collection-configs/nginx/revisions"),
            &app.admin,
        )
        .await
        .json();
    let numbers: Vec<i64> = revisions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["revision"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 1]);
    assert_eq!(
        revisions["items"][1]["spec"]["sources"][0]["file"]["include"][0],
        "/var/log/acme-nginx.log"
    );
    let (hash, _) = agent.sync_and_apply(&app).await;
    let waiting = waiting_sync(&app, &mut agent, &hash).await;
    let rolled_back = app
        .call(
            Method::POST,
            &format!("{PROJECT}/collection-configs/nginx/rollback"),
            Some(&app.admin),
            Some(&json!({ "revision": 1 })),
        )
        .await;
    assert_eq!(rolled_back.status, StatusCode::OK, "{}", rolled_back.text());
    let config = rolled_back.json();
    assert_eq!(config["revision"], 3);
    assert_eq!(rolled_back.etag(), config["etag"].as_str().unwrap());
    let woken = waiting.await.unwrap();
    assert_eq!(
        woken.status,
        StatusCode::OK,
        "a rollback reaches every agent at once"
    );
    assert_eq!(revision_in(&woken.json(), "web_nginx"), Some(3));
    assert!(woken.text().contains("acme-nginx.log"));
    let unknown = app
        .call(
            Method::POST,
            &format!("{PROJECT}/collection-configs/nginx/rollback"),
            Some(&app.admin),
            Some(&json!({ "revision": 99 })),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.problem().errors[0].field, "revision");
}

async fn failures_pause_the_rollout_and_show_in_the_status(app: TestApp) {
    setup(&app, "acme").await;
    let mut agent = TestAgent::enroll(&app, "acme", "native", json!({})).await;
    agent.sync_and_apply(&app).await;
    change_config(&app, "broken").await;
    rollout(&app, PROJECT, "nginx", 100).await;
    let received = agent.sync(&app, None, 0).await;
    let hash = received.json()["hash"].as_str().unwrap().to_string();
    let failed = app
        .send(agent.sync_request(
            Some(&hash),
            0,
            json!({ "status": { "hash": hash, "state": "failed", "message": "no such file" } }),
        ))
        .await;
    assert_eq!(failed.status, StatusCode::NOT_MODIFIED);
    // The server runs this on a timer and after failure reports; the test runs it by hand.
    // The agent's report may overtake the record of what it was sent; give that a moment.
    let mut paused = 0;
    for _ in 0..50 {
        paused += logplane_store::Store::reconcile_rollouts(app.store.as_ref())
            .await
            .unwrap();
        if paused > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(paused, 1);
    let status = app
        .get(
            &format!("{PROJECT}/collection-configs/nginx/status"),
            &app.admin,
        )
        .await;
    assert_eq!(status.status, StatusCode::OK);
    let status = status.json();
    assert_eq!(status["rollout"]["paused"], true);
    let current = &status["revisions"][0];
    assert_eq!(
        (current["revision"].clone(), current["failed"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(current["messages"][0]["message"], "no such file");
    let previous = &status["revisions"][1];
    assert_eq!(
        (previous["revision"].clone(), previous["applied"].clone()),
        (json!(1), json!(1))
    );
    // Paused: the agent, which never ran revision 2, goes back to revision 1.
    let back = agent.sync(&app, Some(&hash), 0).await;
    assert_eq!(back.status, StatusCode::OK);
    assert_eq!(revision_in(&back.json(), "web_nginx"), Some(1));
    let refused = app
        .put(
            &format!("{PROJECT}/collection-configs/nginx/rollout"),
            &app.admin,
            json!({ "percent": 50 }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    let resumed = app
        .call(
            Method::POST,
            &format!("{PROJECT}/collection-configs/nginx/rollout/resume"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(resumed.status, StatusCode::OK);
    assert_eq!(resumed.json()["paused"], false);
}

async fn a_bad_regex_is_refused_naming_the_field(app: TestApp) {
    setup(&app, "acme").await;
    let refused = app
        .put(
            &format!("{PROJECT}/collection-configs/parsed"),
            &app.admin,
            json!({
                "sources": [{ "file": { "include": ["/var/log/a.log"] } }],
                "parser": { "regex": { "pattern": "^(?P<ip>\\S+" } },
                "destination": { "logstore": "app" }
            }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<String> = refused
        .problem()
        .errors
        .into_iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(fields, ["parser.regex.pattern"]);
    let missing_logstore = app
        .put(
            &format!("{PROJECT}/collection-configs/parsed"),
            &app.admin,
            json!({ "sources": [{ "journald": {} }], "destination": { "logstore": "nope" } }),
        )
        .await;
    assert_eq!(missing_logstore.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        missing_logstore.problem().errors[0].field,
        "destination.logstore"
    );
    let read_only = app
        .put(
            &format!("{PROJECT}/collection-configs/nginx"),
            &app.admin,
            json!({ "revision": 5, "sources": [], "destination": { "logstore": "app" } }),
        )
        .await;
    assert_eq!(read_only.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(read_only.problem().errors[0].field, "revision");
}

async fn binding_refuses_what_an_agent_in_the_group_cannot_express(app: TestApp) {
    setup(&app, "acme").await;
    TestAgent::enroll(&app, "acme", "otel-collector", json!({ "kind": "node" })).await;
    let config = app
        .put(
            &format!("{PROJECT}/collection-configs/shop"),
            &app.admin,
            json!({
                "sources": [{ "kubernetes": { "pod_labels": { "match_labels": { "app": "shop" } } } }],
                "destination": { "logstore": "app" }
            }),
        )
        .await;
    assert_eq!(config.status, StatusCode::CREATED);
    let refused = app
        .put(
            &format!("{PROJECT}/machine-groups/all/collection-configs/shop"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text()
    );
    let problem = refused.problem();
    assert_eq!(problem.errors[0].field, "sources[0].kubernetes.pod_labels");
    assert!(problem.errors[0].message.contains("otel-collector"));
}

async fn a_removed_agent_is_refused_with_401(app: TestApp) {
    setup(&app, "acme").await;
    let mut agent = TestAgent::enroll(&app, "acme", "native", json!({})).await;
    assert_eq!(agent.sync(&app, None, 0).await.status, StatusCode::OK);
    let removed = app
        .delete(&format!("/v1/tenants/acme/agents/{}", agent.id), &app.admin)
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let refused = agent.sync(&app, None, 0).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.problem().slug(), "unauthorized");
    assert_eq!(
        app.delete(&format!("/v1/tenants/acme/agents/{}", agent.id), &app.admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn enrollment_needs_a_live_token(app: TestApp) {
    app.create_tenant("acme").await;
    let created = app
        .call(
            Method::POST,
            "/v1/tenants/acme/agent-enrollment-tokens",
            Some(&app.admin),
            Some(&json!({ "expires_in_s": 600, "labels": { "env": "prod" } })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let token = created.json();
    let listed = app
        .get("/v1/tenants/acme/agent-enrollment-tokens", &app.admin)
        .await;
    assert!(
        !listed.text().contains(token["secret"].as_str().unwrap()),
        "never listed"
    );
    let enroll = |secret: Value| json!({ "token": secret, "agent_type": "vector", "attributes": { "hostname": "web-1" } });
    let bad = app
        .call(
            Method::POST,
            "/v1/agents/enroll",
            None,
            Some(&enroll(json!("lp_nope"))),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let revoked = app
        .delete(
            &format!(
                "/v1/tenants/acme/agent-enrollment-tokens/{}",
                token["id"].as_str().unwrap()
            ),
            &app.admin,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let after = app
        .call(
            Method::POST,
            "/v1/agents/enroll",
            None,
            Some(&enroll(token["secret"].clone())),
        )
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    let malformed = app
        .call(
            Method::POST,
            "/v1/agents/enroll",
            None,
            Some(&json!({ "token": "x", "agent_type": "fluentd", "attributes": { "hostname": "h" } })),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(malformed.problem().errors[0].field, "agent_type");
    let too_long = app
        .call(
            Method::POST,
            "/v1/tenants/acme/agent-enrollment-tokens",
            Some(&app.admin),
            Some(&json!({ "expires_in_s": 99_999_999 })),
        )
        .await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(too_long.problem().errors[0].field, "expires_in_s");
}

async fn a_sequence_gap_asks_for_the_full_state(app: TestApp) {
    setup(&app, "acme").await;
    let mut agent = TestAgent::enroll(&app, "acme", "native", json!({})).await;
    let (hash, _) = agent.sync_and_apply(&app).await;
    agent.seq += 5;
    let started = std::time::Instant::now();
    let gap = agent.sync(&app, Some(&hash), LONG_WAIT_MS).await;
    assert_eq!(gap.status, StatusCode::NOT_MODIFIED);
    assert_eq!(gap.header("logplane-report-full-state"), Some("true"));
    assert!(
        started.elapsed() < Duration::from_millis(LONG_WAIT_MS),
        "a gap is answered without waiting"
    );
    let full = app
        .send(agent.sync_request(
            Some(&hash),
            0,
            json!({
                "status": { "hash": hash, "state": "applied" },
                "attributes": { "hostname": "host-1" }
            }),
        ))
        .await;
    assert_eq!(full.status, StatusCode::NOT_MODIFIED);
    assert_eq!(full.header("logplane-report-full-state"), None);
    let too_long = agent.sync(&app, Some(&hash), 60_001).await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(too_long.problem().errors[0].field, "wait_ms");
}

async fn preview_shows_records_and_errors_per_line(app: TestApp) {
    setup(&app, "acme").await;
    let config = app
        .put(
            &format!("{PROJECT}/collection-configs/kv"),
            &app.admin,
            json!({
                "sources": [{ "file": { "include": ["/var/log/kv.log"] } }],
                "parser": { "regex": { "pattern": "^(?P<key>\\w+)=(?P<value>\\d+)$" } },
                "destination": { "logstore": "app" }
            }),
        )
        .await;
    assert_eq!(config.status, StatusCode::CREATED);
    let preview = app
        .call(
            Method::POST,
            &format!("{PROJECT}/collection-configs/kv/preview"),
            Some(&app.admin),
            Some(&json!({ "sample_lines": ["a=1", "not a pair"] })),
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.text());
    let entries = preview.json()["entries"].clone();
    assert_eq!(entries[0]["outcome"]["record"]["fields"]["value"], "1");
    assert_eq!(
        entries[1]["outcome"]["error"]["field"],
        "parser.regex.pattern"
    );
    let empty = app
        .call(
            Method::POST,
            &format!("{PROJECT}/collection-configs/kv/preview"),
            Some(&app.admin),
            Some(&json!({ "sample_lines": [] })),
        )
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.problem().errors[0].field, "sample_lines");
}

async fn group_and_config_quotas_refuse_creates(app: TestApp) {
    setup(&app, "acme").await;
    let quota = app
        .put(
            "/v1/tenants/acme/quota",
            &app.admin,
            json!({ "max_machine_groups_per_project": 1, "max_collection_configs_per_project": 1 }),
        )
        .await;
    assert_eq!(quota.status, StatusCode::OK);
    let group = app
        .put(
            &format!("{PROJECT}/machine-groups/second"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(group.status, StatusCode::FORBIDDEN);
    assert_eq!(
        group.problem().quota.unwrap().name,
        "max_machine_groups_per_project"
    );
    let config = app
        .put(
            &format!("{PROJECT}/collection-configs/second"),
            &app.admin,
            config_spec("x"),
        )
        .await;
    assert_eq!(config.status, StatusCode::FORBIDDEN);
    assert_eq!(
        config.problem().quota.unwrap().name,
        "max_collection_configs_per_project"
    );
    let project = app.delete(PROJECT, &app.admin).await;
    assert_eq!(
        project.status,
        StatusCode::CONFLICT,
        "the project keeps its groups and configs"
    );
}

/// A server with `options`, except that API keys are held to no rate: the setup makes more admin
/// calls than the default key rate allows at once.
async fn start_with_admin_unlimited(
    backend: logplane_store::Backend,
    options: logplane_api::app::AppOptions,
) -> TestApp {
    let unlimited = logplane_model::quota::ApiRate {
        per_sec: 1_000_000,
        burst: 1_000_000,
    };
    TestApp::start_with(
        backend,
        logplane_api::app::AppOptions {
            key_rate: unlimited,
            ..options
        },
    )
    .await
}

/// A replica holds at most `max_waiting_agents` waiting calls; others are answered at once and
/// told when to call again, so a fleet larger than planned degrades to polling instead of
/// exhausting memory.
async fn a_full_replica_answers_without_waiting(backend: logplane_store::Backend) {
    let app = start_with_admin_unlimited(
        backend,
        logplane_api::app::AppOptions {
            max_waiting_agents: 1,
            ..Default::default()
        },
    )
    .await;
    setup(&app, "acme").await;
    let mut first = TestAgent::enroll(&app, "acme", "native", json!({})).await;
    let mut second = TestAgent::enroll(&app, "acme", "native", json!({})).await;
    let (first_hash, _) = first.sync_and_apply(&app).await;
    let (second_hash, _) = second.sync_and_apply(&app).await;
    let waiting = waiting_sync(&app, &mut first, &first_hash).await;
    let metrics = app.call(Method::GET, "/metrics", None, None).await.text();
    assert!(
        metrics.contains("logplane_agent_syncs_waiting 1"),
        "{metrics}"
    );
    let refused = second.sync(&app, Some(&second_hash), LONG_WAIT_MS).await;
    assert_eq!(refused.status, StatusCode::NOT_MODIFIED);
    assert_eq!(refused.header("retry-after"), Some("5"));
    change_config(&app, "next").await;
    rollout(&app, PROJECT, "nginx", 100).await;
    assert_eq!(waiting.await.unwrap().status, StatusCode::OK);
}

macro_rules! with_own_options {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() { super::$test(logplane_store::Backend::Postgres).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() { super::$test(logplane_store::Backend::Sqlite).await }
            }
        )*
    };
}

/// Each agent has a budget of its own on the agent protocol: a tenant whose management API
/// budget is spent still has its agents served, and one agent over its rate is refused alone.
async fn an_agent_over_its_own_rate_is_refused_alone(backend: logplane_store::Backend) {
    let app = start_with_admin_unlimited(
        backend,
        logplane_api::app::AppOptions {
            agent_rate: logplane_model::quota::ApiRate {
                per_sec: 1,
                burst: 3,
            },
            ..Default::default()
        },
    )
    .await;
    setup(&app, "acme").await;
    let mut busy = TestAgent::enroll(&app, "acme", "vector", json!({})).await;
    let mut quiet = TestAgent::enroll(&app, "acme", "vector", json!({})).await;
    app.put(
        "/v1/tenants/acme/quota",
        &app.admin,
        json!({ "api_requests_per_sec": 1, "api_burst": 1 }),
    )
    .await;
    let (_, viewer) = app
        .key_and_token("/v1/tenants/acme/api-keys", "viewer", "viewer")
        .await;
    app.get("/v1/tenants/acme/projects", &viewer).await;
    assert_eq!(
        app.get("/v1/tenants/acme/projects", &viewer).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the tenant's API budget is spent"
    );
    for _ in 0..3 {
        let served = busy.sync(&app, None, 0).await;
        assert_eq!(served.status, StatusCode::OK, "{}", served.text());
    }
    let refused = busy.sync(&app, None, 0).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.header("retry-after").is_some());
    assert!(
        refused.problem().detail.contains("agent"),
        "{}",
        refused.text()
    );
    assert_eq!(
        quiet.sync(&app, None, 0).await.status,
        StatusCode::OK,
        "another agent of the tenant has its own budget"
    );
}

with_own_options!(a_full_replica_answers_without_waiting);
with_own_options!(an_agent_over_its_own_rate_is_refused_alone);

on_both_backends!(
    a_bundle_is_sent_once_then_304_without_a_body,
    each_agent_type_receives_its_own_rendering,
    a_long_poll_wakes_on_a_change_of_a_bound_config,
    a_long_poll_wakes_on_a_new_binding_and_on_membership_changes,
    a_change_through_another_replica_wakes_at_the_next_poll,
    an_agent_never_receives_another_tenants_configs,
    rollout_buckets_are_stable_and_monotonic,
    revisions_and_rollback,
    failures_pause_the_rollout_and_show_in_the_status,
    a_bad_regex_is_refused_naming_the_field,
    binding_refuses_what_an_agent_in_the_group_cannot_express,
    a_removed_agent_is_refused_with_401,
    enrollment_needs_a_live_token,
    a_sequence_gap_asks_for_the_full_state,
    preview_shows_records_and_errors_per_line,
    group_and_config_quotas_refuse_creates,
);
