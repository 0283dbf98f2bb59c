//! Query slots through the HTTP API, as a query frontend uses them.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::TestApp;
use logplane_api::app::AppOptions;
use logplane_store::{Backend, QuerySlotSettings, StoreOptions};
use serde_json::json;

async fn start(backend: Backend, capacity: i64) -> TestApp {
    let settings = QuerySlotSettings {
        capacity,
        lease_ttl: Duration::from_secs(30),
        poll_interval: Duration::from_millis(20),
        ..QuerySlotSettings::default()
    };
    let unlimited = logplane_model::quota::ApiRate {
        per_sec: 1_000_000,
        burst: 1_000_000,
    };
    let app_options = AppOptions {
        key_rate: unlimited,
        ..AppOptions::default()
    };
    let app = TestApp::start_configured(
        backend,
        app_options,
        StoreOptions {
            query_slots: settings,
            ..StoreOptions::default()
        },
    )
    .await;
    app.create_tenant("acme").await;
    app.create_project("acme", "web", json!({})).await;
    app
}

const SLOTS: &str = "/v1/tenants/acme/projects/web/query-slots";

async fn acquire(app: &TestApp, frontend: &str, body: serde_json::Value) -> common::TestResponse {
    app.call(Method::POST, SLOTS, Some(frontend), Some(&body))
        .await
}

async fn a_slot_is_acquired_renewed_and_released(backend: Backend) {
    let app = start(backend, 4).await;
    let (_, frontend) = app
        .key_and_token("/v1/api-keys", "frontend", "query-frontend")
        .await;
    let granted = acquire(
        &app,
        &frontend,
        json!({ "cost_hint": 2, "max_wait_ms": 1000 }),
    )
    .await;
    assert_eq!(granted.status, StatusCode::CREATED, "{}", granted.text());
    let slot = granted.json();
    let id = slot["slot_id"].as_str().unwrap().to_string();
    assert_eq!(slot["lease_ttl_ms"], 30_000);
    assert_eq!(
        granted.header("location"),
        Some(format!("/v1/query-slots/{id}").as_str())
    );
    let usage = app.get("/v1/tenants/acme/usage", &app.admin).await.json();
    assert_eq!(usage["query_slots"]["held"], 1);
    let renewed = app
        .call(
            Method::POST,
            &format!("/v1/query-slots/{id}/renew"),
            Some(&frontend),
            None,
        )
        .await;
    assert_eq!(renewed.status, StatusCode::OK);
    assert_eq!(renewed.json()["slot_id"], id.as_str());
    let released = app
        .call(
            Method::DELETE,
            &format!("/v1/query-slots/{id}"),
            Some(&frontend),
            None,
        )
        .await;
    assert_eq!(released.status, StatusCode::NO_CONTENT);
    let again = app
        .call(
            Method::DELETE,
            &format!("/v1/query-slots/{id}"),
            Some(&frontend),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let renew_gone = app
        .call(
            Method::POST,
            &format!("/v1/query-slots/{id}/renew"),
            Some(&frontend),
            None,
        )
        .await;
    assert_eq!(renew_gone.problem().slug(), "not-found");
}

async fn a_full_cluster_answers_429_with_retry_after(backend: Backend) {
    let app = start(backend, 1).await;
    let (_, frontend) = app
        .key_and_token("/v1/api-keys", "frontend", "query-frontend")
        .await;
    assert_eq!(
        acquire(&app, &frontend, json!({})).await.status,
        StatusCode::CREATED
    );
    let refused = acquire(&app, &frontend, json!({ "max_wait_ms": 0 })).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.problem().slug(), "query-queue-limited");
    let waited = acquire(&app, &frontend, json!({ "max_wait_ms": 50 })).await;
    assert_eq!(
        waited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the wait ran out"
    );
    assert!(waited.header("retry-after").is_some());
}

async fn slots_belong_to_their_frontend(backend: Backend) {
    let app = start(backend, 4).await;
    let (_, first) = app
        .key_and_token("/v1/api-keys", "frontend-a", "query-frontend")
        .await;
    let (_, second) = app
        .key_and_token("/v1/api-keys", "frontend-b", "query-frontend")
        .await;
    let id = acquire(&app, &first, json!({})).await.json()["slot_id"]
        .as_str()
        .unwrap()
        .to_string();
    let foreign = app
        .call(
            Method::DELETE,
            &format!("/v1/query-slots/{id}"),
            Some(&second),
            None,
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    let missing_project = app
        .call(
            Method::POST,
            "/v1/tenants/acme/projects/nope/query-slots",
            Some(&first),
            Some(&json!({})),
        )
        .await;
    assert_eq!(missing_project.status, StatusCode::NOT_FOUND);
}

async fn bad_requests_name_the_field(backend: Backend) {
    let app = start(backend, 4).await;
    let (_, frontend) = app
        .key_and_token("/v1/api-keys", "frontend", "query-frontend")
        .await;
    for (body, field) in [
        (json!({ "max_wait_ms": 30_001 }), "max_wait_ms"),
        (json!({ "cost_hint": 0 }), "cost_hint"),
        (json!({ "wait": 1 }), "wait"),
    ] {
        let response = acquire(&app, &frontend, body).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(response.problem().errors[0].field, field);
    }
}

with_each_backend!(
    a_slot_is_acquired_renewed_and_released,
    a_full_cluster_answers_429_with_retry_after,
    slots_belong_to_their_frontend,
    bad_requests_name_the_field,
);
