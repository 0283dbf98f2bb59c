//! `/v1/workers`: a worker registers itself with `PUT` (worker credentials, audience
//! `logplane-worker`); platform admins read, cordon, drain, uncordon and forget workers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use logplane_model::names::WORKER_ID;
use logplane_model::{Page, WorkerSpec, WorkerState};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{page_response, put_response, resource_response};
use crate::app::AppState;
use crate::extract::caller::Worker;
use crate::extract::page::PageParams;
use crate::extract::path::check_new_name;
use crate::extract::precondition::{DeleteConditionHeaders, PutConditionHeaders};
use crate::extract::{ApiJson, ApiPath, Authenticated, PageQuery, WriteConditions};
use crate::problem::ApiResult;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct WorkerPath {
    /// The worker's id: 2–128 characters of lowercase letters, digits, `.`, `_` and `-`,
    /// starting and ending with a letter or digit (a host or pod name serves).
    #[param(
        min_length = 2,
        max_length = 128,
        pattern = "^[a-z0-9][a-z0-9._-]*[a-z0-9]$"
    )]
    pub worker: String,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(worker_list))
        .routes(routes!(worker_get, worker_put, worker_delete))
        .routes(routes!(worker_cordon))
        .routes(routes!(worker_drain))
        .routes(routes!(worker_uncordon))
}

/// List workers (platform admins).
#[utoipa::path(get, path = "/v1/workers", operation_id = "worker_list", tag = "workers",
    params(PageParams),
    responses((status = 200, description = "One page of workers, by id", body = Page<logplane_model::Worker>)))]
async fn worker_list(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    PageQuery(page): PageQuery,
) -> ApiResult<Json<Page<logplane_model::Worker>>> {
    Ok(page_response(state.store.list_workers(&ctx, page).await?))
}

/// Get a worker (platform admins): its registration, state, liveness and assignment version.
#[utoipa::path(get, path = "/v1/workers/{worker}", operation_id = "worker_get", tag = "workers",
    params(WorkerPath),
    responses((status = 200, description = "The worker", body = logplane_model::Worker, headers(("ETag" = String)))))]
async fn worker_get(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<WorkerPath>,
) -> ApiResult<Response> {
    let worker = state.store.get_worker(&ctx, &path.worker).await?;
    Ok(resource_response(StatusCode::OK, &worker.etag, &worker))
}

/// Register a worker, or update its registration (workers, audience `logplane-worker`).
///
/// Registering renews the worker's lease, so a registered worker is schedulable at once; it
/// then keeps its lease with heartbeats. Re-registering after a restart within the lease keeps
/// its shards.
#[utoipa::path(put, path = "/v1/workers/{worker}", operation_id = "worker_put", tag = "workers",
    params(WorkerPath, PutConditionHeaders),
    request_body = WorkerSpec,
    responses(
        (status = 200, description = "Updated, or unchanged when the registration is the same (the lease is renewed either way)", body = logplane_model::Worker, headers(("ETag" = String))),
        (status = 201, description = "Registered", body = logplane_model::Worker, headers(("ETag" = String), ("Location" = String))),
    ))]
async fn worker_put(
    State(state): State<AppState>,
    Worker(ctx): Worker,
    ApiPath(path): ApiPath<WorkerPath>,
    conditions: WriteConditions,
    ApiJson(spec): ApiJson<WorkerSpec>,
) -> ApiResult<Response> {
    check_new_name(&WORKER_ID, "worker", &path.worker)?;
    let precondition = conditions.for_put()?;
    let outcome = state
        .store
        .register_worker(&ctx, &path.worker, spec, precondition)
        .await?;
    let location = format!("/v1/workers/{}", path.worker);
    Ok(put_response(outcome, |w| &w.etag, &location))
}

/// Forget a worker (platform admins).
///
/// Refused with 409 while the worker is live and owns or is taking over ingest shards: drain it
/// first, or delete it once its lease has expired. Its shards are then placed elsewhere.
#[utoipa::path(delete, path = "/v1/workers/{worker}", operation_id = "worker_delete", tag = "workers",
    params(WorkerPath, DeleteConditionHeaders),
    responses(
        (status = 204, description = "Forgotten"),
        (status = 409, description = "The worker is live and owns or is taking over ingest shards", body = logplane_model::Problem, content_type = "application/problem+json"),
    ))]
async fn worker_delete(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<WorkerPath>,
    conditions: WriteConditions,
) -> ApiResult<Response> {
    let precondition = conditions.for_delete()?;
    state
        .store
        .delete_worker(&ctx, &path.worker, precondition)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn set_state(
    state: &AppState,
    ctx: &logplane_store::Ctx,
    worker: &str,
    wanted: WorkerState,
) -> ApiResult<Response> {
    let worker = state.store.set_worker_state(ctx, worker, wanted).await?;
    Ok(resource_response(StatusCode::OK, &worker.etag, &worker))
}

/// Cordon a worker (platform admins): it takes no new shards and keeps what it has.
#[utoipa::path(post, path = "/v1/workers/{worker}/cordon", operation_id = "worker_cordon", tag = "workers",
    params(WorkerPath),
    responses((status = 200, description = "The worker, now cordoned", body = logplane_model::Worker, headers(("ETag" = String)))))]
async fn worker_cordon(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<WorkerPath>,
) -> ApiResult<Response> {
    set_state(&state, &ctx, &path.worker, WorkerState::Cordoned).await
}

/// Drain a worker (platform admins): every shard moves to other workers, each ingest shard
/// through a make-before-break handover. It is drained when its `ingest_shards` and
/// `query_shards` are both 0.
#[utoipa::path(post, path = "/v1/workers/{worker}/drain", operation_id = "worker_drain", tag = "workers",
    params(WorkerPath),
    responses((status = 200, description = "The worker, now draining", body = logplane_model::Worker, headers(("ETag" = String)))))]
async fn worker_drain(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<WorkerPath>,
) -> ApiResult<Response> {
    set_state(&state, &ctx, &path.worker, WorkerState::Draining).await
}

/// Make a cordoned or draining worker schedulable again (platform admins).
#[utoipa::path(post, path = "/v1/workers/{worker}/uncordon", operation_id = "worker_uncordon", tag = "workers",
    params(WorkerPath),
    responses((status = 200, description = "The worker, now active", body = logplane_model::Worker, headers(("ETag" = String)))))]
async fn worker_uncordon(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<WorkerPath>,
) -> ApiResult<Response> {
    set_state(&state, &ctx, &path.worker, WorkerState::Active).await
}
