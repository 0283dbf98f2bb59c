//! `POST /v1/workers/{worker}/heartbeat`: the worker protocol's one recurring call. See
//! `docs/worker-protocol.md`.

use std::time::Duration;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use logplane_model::worker::MAX_HEARTBEAT_WAIT_MS;
use logplane_model::{HeartbeatAnswer, ValidationErrors, WorkerHeartbeat};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::workers::WorkerPath;
use crate::app::AppState;
use crate::extract::caller::Worker;
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiError, ApiResult};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HeartbeatParams {
    /// Wait up to this many milliseconds (0–30000, default 0) for an assignment newer than the
    /// one the worker applied; the server waits at most half the lease TTL.
    #[param(minimum = 0, maximum = 30000, nullable = false)]
    pub wait_ms: Option<i64>,
}

/// `?wait_ms=`, as a bounded duration.
pub struct HeartbeatWait(pub Duration);

impl<S: Send + Sync> FromRequestParts<S> for HeartbeatWait {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(parts.uri.query().unwrap_or("")).map_err(|e| {
                ApiError::BadRequest(format!("the query string does not parse: {e}"))
            })?;
        let mut wait = Duration::ZERO;
        for (name, value) in pairs {
            if name != "wait_ms" {
                continue;
            }
            match value.parse::<i64>() {
                Ok(ms) if (0..=MAX_HEARTBEAT_WAIT_MS).contains(&ms) => {
                    wait = Duration::from_millis(ms as u64);
                }
                _ => {
                    return Err(ApiError::Validation(ValidationErrors::single(
                        "wait_ms",
                        format!("must be an integer from 0 to {MAX_HEARTBEAT_WAIT_MS}"),
                    )));
                }
            }
        }
        Ok(HeartbeatWait(wait))
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(worker_heartbeat))
}

/// Heartbeat (workers, audience `logplane-worker`).
///
/// Renews the worker's lease, records its shard loads, storage and handover reports, and answers
/// with its lease TTL, its assignment version, the assignment itself when that differs from
/// `applied_assignment_version`, and its share of each hosted tenant's ingest limit. With
/// `wait_ms` it waits until a new assignment is published for it (long poll). A worker accepts
/// writes for its `active` ingest shards only until `lease_ttl_ms` after it sent the last
/// answered heartbeat.
#[utoipa::path(post, path = "/v1/workers/{worker}/heartbeat", operation_id = "worker_heartbeat", tag = "workers",
    params(WorkerPath, HeartbeatParams),
    request_body = WorkerHeartbeat,
    responses((status = 200, description = "The lease is renewed", body = HeartbeatAnswer)))]
async fn worker_heartbeat(
    State(state): State<AppState>,
    Worker(ctx): Worker,
    ApiPath(path): ApiPath<WorkerPath>,
    HeartbeatWait(wait): HeartbeatWait,
    ApiJson(heartbeat): ApiJson<WorkerHeartbeat>,
) -> ApiResult<Json<HeartbeatAnswer>> {
    Ok(Json(
        state
            .store
            .heartbeat_worker(&ctx, &path.worker, heartbeat, wait)
            .await?,
    ))
}
