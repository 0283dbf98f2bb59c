//! Concurrent clients through the HTTP API: creates race to one winner, and optimistic
//! concurrency loses no update.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::TestApp;
use serde_json::json;

async fn fifty_concurrent_puts_create_once(app: TestApp) {
    app.create_tenant("acme").await;
    let app = Arc::new(app);
    let writers = (0..50).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            app.put(
                "/v1/tenants/acme/projects/race",
                &app.admin,
                json!({ "description": format!("writer {i}") }),
            )
            .await
            .status
        })
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(writers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::OK),
        "{statuses:?}"
    );
}

async fn optimistic_read_modify_write_loses_no_update(app: TestApp) {
    app.create_tenant("acme").await;
    app.create_project("acme", "web", json!({ "labels": { "count": "0" } }))
        .await;
    let app = Arc::new(app);
    let path = "/v1/tenants/acme/projects/web";
    let writers = (0..8).map(|writer| {
        let app = app.clone();
        tokio::spawn(async move {
            let (mut successes, mut conflicts) = (0u32, 0u32);
            for _ in 0..5 {
                let current = app.get(path, &app.admin).await;
                let mut project = current.json();
                let count: u32 = project["labels"]["count"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                project["labels"]["count"] = json!((count + 1).to_string());
                project["labels"][format!("writer-{writer}")] = json!("seen");
                let body =
                    json!({ "description": project["description"], "labels": project["labels"] });
                let request = Request::put(path)
                    .header("authorization", format!("Bearer {}", app.admin))
                    .header("content-type", "application/json")
                    .header("if-match", format!("\"{}\"", current.etag()))
                    .body(Body::from(body.to_string()))
                    .unwrap();
                match app.send(request).await.status {
                    StatusCode::OK => successes += 1,
                    StatusCode::PRECONDITION_FAILED => conflicts += 1,
                    other => panic!("unexpected status {other}"),
                }
            }
            (successes, conflicts)
        })
    });
    let results: Vec<(u32, u32)> = futures::future::join_all(writers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let successes: u32 = results.iter().map(|r| r.0).sum();
    let conflicts: u32 = results.iter().map(|r| r.1).sum();
    assert_eq!(successes + conflicts, 40);
    let final_count = app.get(path, &app.admin).await.json()["labels"]["count"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        final_count,
        successes.to_string(),
        "the final state counts exactly the successful writes"
    );
}

on_both_backends!(
    fifty_concurrent_puts_create_once,
    optimistic_read_modify_write_loses_no_update
);
