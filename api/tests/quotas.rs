//! Quotas and API rate limits through the HTTP API.

mod common;

use axum::http::{Method, StatusCode};
use common::TestApp;
use logplane_api::app::AppOptions;
use logplane_model::quota::ApiRate;
use logplane_store::Backend;
use serde_json::json;

async fn quotas_are_read_by_the_tenant_and_set_by_platform_admins(app: TestApp) {
    app.create_tenant("acme").await;
    let (_, viewer) = app
        .key_and_token("/v1/tenants/acme/api-keys", "acme-viewer", "viewer")
        .await;
    let (_, admin) = app
        .key_and_token("/v1/tenants/acme/api-keys", "acme-admin", "admin")
        .await;
    let initial = app.get("/v1/tenants/acme/quota", &viewer).await;
    assert_eq!(initial.status, StatusCode::OK);
    assert_eq!(initial.json()["effective"]["max_projects"], 50);
    assert_eq!(initial.json()["overrides"], json!({}));
    let written = app
        .put(
            "/v1/tenants/acme/quota",
            &app.admin,
            json!({ "max_projects": 2, "max_concurrent_queries": 4 }),
        )
        .await;
    assert_eq!(written.status, StatusCode::OK);
    assert_eq!(
        written.json()["overrides"],
        json!({ "max_projects": 2, "max_concurrent_queries": 4 }),
        "echoed as written"
    );
    assert_eq!(written.json()["effective"]["max_projects"], 2);
    assert_ne!(written.etag(), initial.etag());
    assert_eq!(
        app.put(
            "/v1/tenants/acme/quota",
            &admin,
            json!({ "max_projects": 100 })
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let bad = app
        .put(
            "/v1/tenants/acme/quota",
            &app.admin,
            json!({ "max_projects": -1, "max_projectz": 1 }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.problem().errors[0].field, "max_projectz");
}

async fn a_create_over_a_count_quota_is_refused_with_the_quota_named(app: TestApp) {
    app.create_tenant("acme").await;
    app.put(
        "/v1/tenants/acme/quota",
        &app.admin,
        json!({ "max_projects": 1 }),
    )
    .await;
    app.create_project("acme", "web", json!({})).await;
    let refused = app
        .put("/v1/tenants/acme/projects/api", &app.admin, json!({}))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let problem = refused.problem();
    assert_eq!(problem.slug(), "quota-exceeded");
    let quota = problem.quota.expect("the problem names the quota");
    assert_eq!(
        (quota.name.as_str(), quota.limit, quota.usage),
        ("max_projects", 1, 1)
    );
    assert_eq!(
        app.get("/v1/tenants/acme/projects/api", &app.admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let usage = app.get("/v1/tenants/acme/usage", &app.admin).await.json();
    assert_eq!(
        usage["counts"][0],
        json!({ "quota": "max_projects", "limit": 1, "used": 1 })
    );
}

async fn a_tenant_over_its_api_rate_gets_429_with_retry_after(app: TestApp) {
    app.create_tenant("acme").await;
    app.create_tenant("other").await;
    app.put(
        "/v1/tenants/acme/quota",
        &app.admin,
        json!({ "api_requests_per_sec": 1, "api_burst": 3 }),
    )
    .await;
    let (_, first_key) = app
        .key_and_token("/v1/tenants/acme/api-keys", "first", "viewer")
        .await;
    let (_, second_key) = app
        .key_and_token("/v1/tenants/acme/api-keys", "second", "viewer")
        .await;
    let (_, other) = app
        .key_and_token("/v1/tenants/other/api-keys", "other", "viewer")
        .await;
    let admitted = app.get("/v1/tenants/acme/projects", &first_key).await;
    assert_eq!(admitted.status, StatusCode::OK);
    assert_eq!(admitted.header("ratelimit-limit"), Some("3"));
    assert_eq!(admitted.header("ratelimit-remaining"), Some("2"));
    app.get("/v1/tenants/acme/projects", &first_key).await;
    app.get("/v1/tenants/acme/projects", &second_key).await;
    let limited = app.get("/v1/tenants/acme/projects", &second_key).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the tenant's budget spans its keys"
    );
    let retry_after: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_eq!(limited.header("ratelimit-remaining"), Some("0"));
    assert_eq!(limited.header("ratelimit-limit"), Some("3"));
    assert!(limited.header("ratelimit-reset").is_some());
    assert_eq!(limited.problem().slug(), "rate-limited");
    assert_eq!(
        app.get("/v1/tenants/other/projects", &other).await.status,
        StatusCode::OK,
        "other tenants are unaffected"
    );
}

on_both_backends!(
    quotas_are_read_by_the_tenant_and_set_by_platform_admins,
    a_create_over_a_count_quota_is_refused_with_the_quota_named,
    a_tenant_over_its_api_rate_gets_429_with_retry_after,
);

#[tokio::test]
async fn an_api_key_over_the_key_rate_gets_429_while_its_tenant_has_room() {
    let options = AppOptions {
        key_rate: ApiRate {
            per_sec: 1,
            burst: 5,
        },
        ..AppOptions::default()
    };
    let app = TestApp::start_with(Backend::Sqlite, options).await;
    app.create_tenant("acme").await;
    let (_, token) = app
        .key_and_token("/v1/tenants/acme/api-keys", "busy", "viewer")
        .await;
    for _ in 0..5 {
        assert_eq!(
            app.get("/v1/tenants/acme/projects", &token).await.status,
            StatusCode::OK
        );
    }
    let limited = app
        .call(Method::GET, "/v1/tenants/acme/projects", Some(&token), None)
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.problem().detail.contains("API key"));
    assert!(limited.header("retry-after").is_some());
}
