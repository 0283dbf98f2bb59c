//! The HTTP conventions every client relies on: PUT semantics and echo, ETags and
//! preconditions, pagination, problem documents for every error, 405 with Allow, body limits,
//! request ids.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::TestApp;
use serde_json::{Value, json};

fn errors_of(response: &common::TestResponse) -> Vec<String> {
    response
        .problem()
        .errors
        .into_iter()
        .map(|e| e.field)
        .collect()
}

async fn put_creates_then_replaces_and_echoes_exactly(app: TestApp) {
    app.create_tenant("acme").await;
    let body = json!({ "description": "Web tier", "labels": { "zeta": "1", "Alpha": "two", "mid/key": "x" } });
    let path = "/v1/tenants/acme/projects/web";
    let created = app.put(path, &app.admin, body.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.header("location"), Some(path));
    let read = app.get(path, &app.admin).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.etag(), created.etag());
    // Same fields, same order, same spelling: compare the serialized labels text itself.
    let written_labels = body["labels"].to_string();
    assert!(
        read.text().contains(&written_labels),
        "labels echoed as written: {}",
        read.text()
    );
    assert_eq!(read.json()["description"], "Web tier");

    let again = app.put(path, &app.admin, body.clone()).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.etag(), created.etag(), "an identical PUT is a no-op");

    let replaced = app
        .put(path, &app.admin, json!({ "description": "changed" }))
        .await;
    assert_eq!(replaced.status, StatusCode::OK);
    assert_ne!(replaced.etag(), created.etag());
    assert_eq!(
        replaced.json()["labels"],
        json!({}),
        "PUT replaces: omitted fields take their defaults"
    );
}

async fn defaults_are_filled_in_explicitly(app: TestApp) {
    app.create_tenant("acme").await;
    app.create_project("acme", "web", json!({})).await;
    let logstore = app
        .put(
            "/v1/tenants/acme/projects/web/logstores/nginx",
            &app.admin,
            json!({}),
        )
        .await;
    let body = logstore.json();
    let expected = json!({
        "retention_days": 30, "hot_retention_days": null, "shard_count": 2,
        "auto_split": { "enabled": false, "max_shards": 64 }, "mode": "standard", "telemetry": "logs",
        "query_replicas": 1, "labels": {},
    });
    for (field, value) in expected.as_object().unwrap() {
        assert_eq!(&body[field], value, "default of {field}");
    }
    // Writing back exactly what was read (minus read-only fields) changes nothing.
    let mut echo: Value = body.clone();
    for field in ["name", "created_at", "updated_at", "etag"] {
        echo.as_object_mut().unwrap().remove(field);
    }
    let rewritten = app
        .put(
            "/v1/tenants/acme/projects/web/logstores/nginx",
            &app.admin,
            echo,
        )
        .await;
    assert_eq!(rewritten.status, StatusCode::OK);
    assert_eq!(rewritten.etag(), logstore.etag());
}

async fn preconditions_answer_412(app: TestApp) {
    app.create_tenant("acme").await;
    let path = "/v1/tenants/acme/projects/web";
    let put_with = |header: &'static str, value: String, body: Value| {
        Request::builder()
            .method(Method::PUT)
            .uri(path)
            .header("authorization", format!("Bearer {}", app.admin))
            .header("content-type", "application/json")
            .header(header, value)
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let created = app
        .send(put_with("if-none-match", "*".into(), json!({})))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let again = app
        .send(put_with("if-none-match", "*".into(), json!({})))
        .await;
    assert_eq!(again.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(again.problem().slug(), "precondition-failed");
    let stale = app
        .send(put_with(
            "if-match",
            "\"0000000000000000\"".into(),
            json!({ "description": "x" }),
        ))
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let current = app
        .send(put_with(
            "if-match",
            format!("\"{}\"", created.etag()),
            json!({ "description": "x" }),
        ))
        .await;
    assert_eq!(current.status, StatusCode::OK);
    assert_eq!(
        app.get(path, &app.admin).await.json()["description"],
        "x",
        "refused writes changed nothing"
    );
    let unquoted = app
        .send(put_with(
            "if-match",
            current.etag(),
            json!({ "description": "y" }),
        ))
        .await;
    assert_eq!(
        unquoted.status,
        StatusCode::OK,
        "an unquoted ETag is taken as written"
    );
    let both = app
        .send(
            Request::builder()
                .method(Method::PUT)
                .uri(path)
                .header("authorization", format!("Bearer {}", app.admin))
                .header("content-type", "application/json")
                .header("if-match", "*")
                .header("if-none-match", "*")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    assert_eq!(
        both.status,
        StatusCode::PRECONDITION_FAILED,
        "If-Match and If-None-Match: * never both hold"
    );
    let bad_name = app
        .send(put_with("if-none-match", "*".into(), json!({})))
        .await;
    assert_eq!(bad_name.status, StatusCode::PRECONDITION_FAILED);
    let bad_name_first = app
        .send(
            Request::put("/v1/tenants/acme/projects/NO")
                .header("authorization", format!("Bearer {}", app.admin))
                .header("content-type", "application/json")
                .header("if-match", "*")
                .header("if-none-match", "*")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    assert_eq!(
        bad_name_first.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the name is checked before the preconditions"
    );
}

async fn delete_answers_204_then_404_and_refuses_parents_with_children(app: TestApp) {
    app.create_tenant("acme").await;
    app.create_project("acme", "web", json!({})).await;
    app.put(
        "/v1/tenants/acme/projects/web/logstores/nginx",
        &app.admin,
        json!({}),
    )
    .await;
    let busy = app
        .delete("/v1/tenants/acme/projects/web", &app.admin)
        .await;
    assert_eq!(busy.status, StatusCode::CONFLICT);
    assert_eq!(busy.problem().slug(), "conflict");
    assert_eq!(
        app.delete("/v1/tenants/acme", &app.admin).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.delete("/v1/tenants/acme/projects/web/logstores/nginx", &app.admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let gone = app
        .delete("/v1/tenants/acme/projects/web/logstores/nginx", &app.admin)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.problem().slug(), "not-found");
    assert_eq!(
        app.delete("/v1/tenants/acme/projects/web", &app.admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/v1/tenants/acme/projects/web", &app.admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn bad_bodies_get_problems_naming_the_field(app: TestApp) {
    app.create_tenant("acme").await;
    app.create_project("acme", "web", json!({})).await;
    let logstore = "/v1/tenants/acme/projects/web/logstores/nginx";
    let unknown = app
        .put(logstore, &app.admin, json!({ "retention": 3 }))
        .await;
    assert_eq!(
        (unknown.status, errors_of(&unknown)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["retention".to_string()]
        )
    );
    let nested = app
        .put(
            logstore,
            &app.admin,
            json!({ "auto_split": { "enabled": true, "max": 9 } }),
        )
        .await;
    assert_eq!(errors_of(&nested), ["auto_split.max"]);
    let read_only = app
        .put(
            logstore,
            &app.admin,
            json!({ "created_at": "2020-01-01T00:00:00Z", "etag": "x" }),
        )
        .await;
    assert_eq!(errors_of(&read_only), ["created_at", "etag"]);
    let wrong_type = app
        .put(logstore, &app.admin, json!({ "retention_days": "thirty" }))
        .await;
    assert_eq!(errors_of(&wrong_type), ["retention_days"]);
    let out_of_range = app
        .put(
            logstore,
            &app.admin,
            json!({ "retention_days": 0, "shard_count": 300, "query_replicas": 4 }),
        )
        .await;
    assert_eq!(
        errors_of(&out_of_range),
        ["retention_days", "shard_count", "query_replicas"]
    );
    let bad_enum = app
        .put(logstore, &app.admin, json!({ "mode": "fast" }))
        .await;
    assert_eq!(errors_of(&bad_enum), ["mode"]);
    let bad_name = app
        .put(
            "/v1/tenants/acme/projects/web/logstores/-Bad",
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(errors_of(&bad_name), ["logstore"]);
    let bad_project = app
        .put("/v1/tenants/acme/projects/ab", &app.admin, json!({}))
        .await;
    assert_eq!(errors_of(&bad_project), ["project"]);
    let long_description = app
        .put(
            "/v1/tenants/acme/projects/web",
            &app.admin,
            json!({ "description": "x".repeat(257) }),
        )
        .await;
    assert_eq!(errors_of(&long_description), ["description"]);
    let bad_label = app
        .put(
            "/v1/tenants/acme/projects/web",
            &app.admin,
            json!({ "labels": { "ok": "1", "bad key": "2" } }),
        )
        .await;
    assert_eq!(errors_of(&bad_label), ["labels.bad key"]);
    let not_object = app.put(logstore, &app.admin, json!([1, 2])).await;
    assert_eq!(not_object.status, StatusCode::UNPROCESSABLE_ENTITY);

    let malformed = app
        .send(
            Request::put(logstore)
                .header("authorization", format!("Bearer {}", app.admin))
                .header("content-type", "application/json")
                .body(Body::from("{\"retention_days\": "))
                .unwrap(),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    malformed.problem();
    let plain_text = app
        .send(
            Request::put(logstore)
                .header("authorization", format!("Bearer {}", app.admin))
                .header("content-type", "text/plain")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    assert_eq!(plain_text.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    plain_text.problem();
    let huge = json!({ "description": "x".repeat(1024 * 1024) });
    let too_large = app
        .put("/v1/tenants/acme/projects/web", &app.admin, huge)
        .await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
    too_large.problem();
    assert_eq!(
        app.get(logstore, &app.admin).await.status,
        StatusCode::NOT_FOUND,
        "nothing was half-written"
    );
}

async fn immutable_logstore_fields_are_refused(app: TestApp) {
    app.create_tenant("acme").await;
    app.create_project("acme", "web", json!({})).await;
    let path = "/v1/tenants/acme/projects/web/logstores/nginx";
    app.put(path, &app.admin, json!({ "shard_count": 4 })).await;
    // shard_count is not one of them: a new one reshards.
    let resharded = app.put(path, &app.admin, json!({ "shard_count": 8 })).await;
    assert_eq!(resharded.status, StatusCode::OK, "{}", resharded.text());
    let remoded = app
        .put(
            path,
            &app.admin,
            json!({ "shard_count": 8, "mode": "query", "telemetry": "metrics" }),
        )
        .await;
    assert_eq!(errors_of(&remoded), ["mode", "telemetry"]);
    let shards = app.get(&format!("{path}/shards"), &app.admin).await.json();
    let items = shards["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        12,
        "four readonly parents and their eight children"
    );
    assert_eq!(
        items.iter().filter(|s| s["status"] == "readwrite").count(),
        8
    );
}

async fn every_route_answers_405_with_allow_for_other_methods(app: TestApp) {
    let document = serde_json::to_value(logplane_api::app::openapi_document()).unwrap();
    for (template, item) in document["paths"].as_object().unwrap() {
        let path = template.replace(['{', '}'], "x");
        let documented: Vec<String> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            if documented.iter().any(|m| m == method) {
                continue;
            }
            let response = app
                .call(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    &path,
                    Some(&app.admin),
                    None,
                )
                .await;
            assert_eq!(
                response.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {template}"
            );
            let allow = response
                .header("allow")
                .unwrap_or_else(|| panic!("{method} {template} has no Allow"));
            for expected in &documented {
                assert!(
                    allow.contains(expected.as_str()),
                    "Allow of {template} lists {expected}: {allow}"
                );
            }
            assert_eq!(response.problem().slug(), "method-not-allowed");
        }
    }
}

async fn lists_page_by_name_with_opaque_tokens(app: TestApp) {
    app.create_tenant("acme").await;
    for name in ["web-3", "api", "dbs", "web-1", "cache"] {
        app.create_project("acme", name, json!({})).await;
    }
    let mut names = Vec::new();
    let mut path = "/v1/tenants/acme/projects?page_size=2".to_string();
    loop {
        let page = app.get(&path, &app.admin).await.json();
        assert!(page["items"].as_array().unwrap().len() <= 2);
        names.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap().to_string()),
        );
        match page["next_page_token"].as_str() {
            Some(token) => {
                path = format!("/v1/tenants/acme/projects?page_size=2&page_token={token}")
            }
            None => break,
        }
    }
    assert_eq!(names, ["api", "cache", "dbs", "web-1", "web-3"]);
    for bad in ["page_size=0", "page_size=1001", "page_token=forged"] {
        let response = app
            .get(&format!("/v1/tenants/acme/projects?{bad}"), &app.admin)
            .await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(errors_of(&response), [bad.split('=').next().unwrap()]);
    }
}

async fn request_ids_are_echoed_or_made(app: TestApp) {
    let with_id = app
        .send(
            Request::get("/v1/tenants/nope")
                .header("x-request-id", "trace-abc-123")
                .header("authorization", format!("Bearer {}", app.admin))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(with_id.header("x-request-id"), Some("trace-abc-123"));
    assert_eq!(
        with_id.problem().request_id.as_deref(),
        Some("trace-abc-123")
    );
    let without = app.get("/v1/tenants", &app.admin).await;
    let generated = without
        .header("x-request-id")
        .expect("a generated request id");
    assert!(!generated.is_empty());
    let unknown_path = app.get("/v1/nothing-here", &app.admin).await;
    assert_eq!(unknown_path.status, StatusCode::NOT_FOUND);
    assert!(unknown_path.problem().request_id.is_some());
}

async fn api_key_secrets_are_shown_once(app: TestApp) {
    app.create_tenant("acme").await;
    let created = app
        .call(
            Method::POST,
            "/v1/tenants/acme/api-keys",
            Some(&app.admin),
            Some(&json!({ "name": "deployer", "role": "editor" })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let created = created.json();
    let secret = created["secret"].as_str().unwrap();
    let listed = app.get("/v1/tenants/acme/api-keys", &app.admin).await;
    assert!(!listed.text().contains(secret), "lists never show secrets");
    assert!(listed.json()["items"][0].get("secret").is_none());
    let one = app
        .get(
            &format!(
                "/v1/tenants/acme/api-keys/{}",
                created["id"].as_str().unwrap()
            ),
            &app.admin,
        )
        .await;
    assert!(!one.text().contains(secret));
    let duplicate = app
        .call(
            Method::POST,
            "/v1/tenants/acme/api-keys",
            Some(&app.admin),
            Some(&json!({ "name": "deployer", "role": "viewer" })),
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    let wrong_scope = app
        .call(
            Method::POST,
            "/v1/tenants/acme/api-keys",
            Some(&app.admin),
            Some(&json!({ "name": "root", "role": "platform-admin" })),
        )
        .await;
    assert_eq!(errors_of(&wrong_scope), ["role"]);
    let token = app.exchange(secret).await;
    let editor_write = app
        .put("/v1/tenants/acme/projects/web", &token, json!({}))
        .await;
    assert_eq!(
        editor_write.status,
        StatusCode::CREATED,
        "an editor key writes resources"
    );
    let editor_keys = app.get("/v1/tenants/acme/api-keys", &token).await;
    assert_eq!(
        editor_keys.status,
        StatusCode::FORBIDDEN,
        "only admins manage keys"
    );
}

async fn operations_endpoints_report_health_and_metrics(app: TestApp) {
    assert_eq!(
        app.call(Method::GET, "/healthz", None, None).await.json()["status"],
        "ok"
    );
    assert_eq!(
        app.call(Method::GET, "/readyz", None, None).await.json()["status"],
        "ready"
    );
    app.get("/v1/tenants/missing", &app.admin).await;
    let metrics = app.call(Method::GET, "/metrics", None, None).await.text();
    assert!(
        metrics.contains(r#"logplane_http_requests_total{operation="tenant_get",status="404"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("logplane_http_request_duration_seconds_bucket"));
    assert!(metrics.contains("logplane_store_pool_max_connections"));
    let openapi = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(openapi.json()["openapi"], "3.1.0");
    let docs = app.call(Method::GET, "/docs/", None, None).await;
    assert_eq!(docs.status, StatusCode::OK);
    assert!(
        docs.text().contains("swagger"),
        "Swagger UI is served from vendored assets"
    );
}

on_both_backends!(
    put_creates_then_replaces_and_echoes_exactly,
    defaults_are_filled_in_explicitly,
    preconditions_answer_412,
    delete_answers_204_then_404_and_refuses_parents_with_children,
    bad_bodies_get_problems_naming_the_field,
    immutable_logstore_fields_are_refused,
    every_route_answers_405_with_allow_for_other_methods,
    lists_page_by_name_with_opaque_tokens,
    request_ids_are_echoed_or_made,
    api_key_secrets_are_shown_once,
    operations_endpoints_report_health_and_metrics,
);
