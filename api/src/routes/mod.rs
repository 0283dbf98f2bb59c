//! The HTTP routes, one file per resource. Registering a handler with `routes!` documents it in
//! the OpenAPI document; there is no second list to keep in step.

pub mod agent_sync;
pub mod agents;
pub mod api_keys;
pub mod audit_events;
pub mod auth_token;
pub mod bindings;
pub mod collection_configs;
pub mod enrollment_tokens;
pub mod logstores;
pub mod machine_groups;
pub mod operations;
pub mod projects;
pub mod query_slots;
pub mod quotas;
pub mod rollouts;
pub mod scheduler;
pub mod shards;
pub mod tenants;
pub mod worker_heartbeat;
pub mod workers;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use logplane_model::Page;
use logplane_store::{Listed, PutOutcome};
use serde::Serialize;

use crate::extract::page::encode_token;

/// A single resource with its `ETag` header.
pub fn resource_response<T: Serialize>(status: StatusCode, etag: &str, body: &T) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// 201 with `Location` for a create, 200 for a replace or a no-op.
pub fn put_response<T: Serialize>(
    outcome: PutOutcome<T>,
    etag: impl Fn(&T) -> &str,
    location: &str,
) -> Response {
    let created = outcome.is_created();
    let resource = outcome.into_resource();
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = resource_response(status, etag(&resource), &resource);
    if created && let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

pub fn page_response<T: Serialize>(listed: Listed<T>) -> Json<Page<T>> {
    Json(Page {
        items: listed.items,
        next_page_token: listed.next_cursor.as_deref().map(encode_token),
    })
}
