//! `/v1/tenants/{tenant}/projects/{project}/logstores/{logstore}/shards`.

use axum::Json;
use axum::extract::State;
use logplane_model::ShardList;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::logstores::LogstorePath;
use crate::app::AppState;
use crate::extract::{ApiPath, Authenticated};
use crate::problem::ApiResult;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(shard_list))
}

/// List a logstore's shards.
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
