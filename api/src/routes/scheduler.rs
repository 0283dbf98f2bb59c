//! `GET /v1/scheduler`: who leads the scheduler, the assignment generation it last published,
//! and the shards it could not place.

use axum::Json;
use axum::extract::State;
use logplane_model::SchedulerStatus;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::extract::Authenticated;
use crate::problem::ApiResult;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(scheduler_get))
}

/// The scheduler's status (platform admins): its leader lease, the latest assignment generation,
/// live and dead workers, and unplaced shards.
#[utoipa::path(get, path = "/v1/scheduler", operation_id = "scheduler_get", tag = "workers",
    responses((status = 200, description = "The scheduler's status", body = SchedulerStatus)))]
async fn scheduler_get(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
) -> ApiResult<Json<SchedulerStatus>> {
    Ok(Json(state.store.get_scheduler_status(&ctx).await?))
}
