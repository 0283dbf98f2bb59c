//! `/v1/tenants/{tenant}/projects/{project}/logstores/{logstore}/shards`: the list, and
//! resharding one shard at a time (split, merge with its right neighbour).

use axum::Json;
use axum::extract::State;
use logplane_model::{ShardList, ShardSplitRequest};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::logstores::LogstorePath;
use crate::app::AppState;
use crate::extract::{ApiJson, ApiPath, Authenticated};
use crate::problem::ApiResult;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ShardPath {
    #[param(
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9-]*[a-z0-9]$"
    )]
    pub tenant: String,
    #[param(
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9-]*[a-z0-9]$"
    )]
    pub project: String,
    #[param(
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9_-]*[a-z0-9]$"
    )]
    pub logstore: String,
    /// The shard's id within the logstore.
    #[param(minimum = 0)]
    pub shard: i64,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(shard_list))
        .routes(routes!(shard_split))
        .routes(routes!(shard_merge))
}

/// List a logstore's shards, with the worker accepting each one's writes and the workers
/// serving its queries.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/projects/{project}/logstores/{logstore}/shards", operation_id = "shard_list", tag = "shards",
    params(LogstorePath),
    responses((status = 200, description = "The logstore's shards, read-write and read-only, by id", body = ShardList)))]
async fn shard_list(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<LogstorePath>,
) -> ApiResult<Json<ShardList>> {
    let items = state
        .store
        .list_shards(&ctx, &path.tenant, &path.project, &path.logstore)
        .await?;
    Ok(Json(ShardList { items }))
}

/// Split a read-write shard in two.
///
/// The shard becomes `readonly` (it keeps serving queries over what it holds) and two new
/// `readwrite` shards cover its range, divided at `split_key` (the midpoint by default). The
/// logstore's `shard_count` grows by one; `max_shards_per_project` applies (403
/// `quota-exceeded`). A readonly shard, or one holding a single key, answers 409. The answer
/// lists the parent and the two children.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/projects/{project}/logstores/{logstore}/shards/{shard}/split", operation_id = "shard_split", tag = "shards",
    params(ShardPath),
    request_body = ShardSplitRequest,
    responses(
        (status = 200, description = "The parent (now readonly) and its two children", body = ShardList),
        (status = 409, description = "The shard is readonly, or holds a single key, or the logstore is at 256 read-write shards", body = logplane_model::Problem, content_type = "application/problem+json"),
    ))]
async fn shard_split(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<ShardPath>,
    ApiJson(request): ApiJson<ShardSplitRequest>,
) -> ApiResult<Json<ShardList>> {
    let items = state
        .store
        .split_shard(
            &ctx,
            &path.tenant,
            &path.project,
            &path.logstore,
            path.shard,
            request,
        )
        .await?;
    Ok(Json(ShardList { items }))
}

/// Merge a read-write shard with its right neighbour.
///
/// The shard and the `readwrite` shard starting where it ends become `readonly`; one new
/// `readwrite` shard covers both ranges. The logstore's `shard_count` shrinks by one. Without a
/// right neighbour (the last shard) the answer is 409. The answer lists both parents and the
/// child.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/projects/{project}/logstores/{logstore}/shards/{shard}/merge", operation_id = "shard_merge", tag = "shards",
    params(ShardPath),
    responses(
        (status = 200, description = "The two parents (now readonly) and the child", body = ShardList),
        (status = 409, description = "The shard is readonly or has no read-write right neighbour", body = logplane_model::Problem, content_type = "application/problem+json"),
    ))]
async fn shard_merge(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<ShardPath>,
) -> ApiResult<Json<ShardList>> {
    let items = state
        .store
        .merge_shard(
            &ctx,
            &path.tenant,
            &path.project,
            &path.logstore,
            path.shard,
        )
        .await?;
    Ok(Json(ShardList { items }))
}
