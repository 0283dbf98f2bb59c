//! Query slots, for query frontends (audience `logplane-query`): acquire a slot for a tenant's
//! query, renew its lease while the query runs, release it when done.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use logplane_model::{QuerySlot, QuerySlotRequest};
use logplane_store::SlotAdmission;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::projects::ProjectPath;
use crate::app::AppState;
use crate::extract::caller::QueryFrontend;
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiError, ApiResult};

/// Seconds a refused query-slot request is told to wait before asking again.
const RETRY_AFTER_SECONDS: u64 = 1;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SlotPath {
    /// The slot id returned when it was granted.
    #[param(max_length = 64)]
    pub slot: String,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(query_slot_acquire))
        .routes(routes!(query_slot_renew))
        .routes(routes!(query_slot_release))
}

/// Acquire a query slot for one query of a tenant's project (query frontends).
///
/// Granted at once when the cluster, the tenant and the project have room; otherwise the request
/// waits in the tenant's queue up to `max_wait_ms`. Tenants are served by weighted fair queuing, so
/// one tenant's flood of queries does not hold back the others. Renew the slot within
/// `lease_ttl_ms` while the query runs, and release it when it ends. Answers 429 with
/// `Retry-After` when the tenant's queue is full or the wait ran out.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/projects/{project}/query-slots", operation_id = "query_slot_acquire", tag = "query-slots",
    params(ProjectPath),
    request_body = QuerySlotRequest,
    responses((status = 201, description = "A slot, held until released or its lease runs out", body = QuerySlot, headers(("Location" = String)))))]
async fn query_slot_acquire(
    State(state): State<AppState>,
    QueryFrontend(ctx): QueryFrontend,
    ApiPath(path): ApiPath<ProjectPath>,
    ApiJson(request): ApiJson<QuerySlotRequest>,
) -> ApiResult<Response> {
    match state
        .store
        .acquire_query_slot(&ctx, &path.tenant, &path.project, request)
        .await?
    {
        SlotAdmission::Granted(slot) => {
            let location = format!("/v1/query-slots/{}", slot.slot_id);
            let mut response = (StatusCode::CREATED, Json(slot)).into_response();
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            Ok(response)
        }
        SlotAdmission::QueueFull { queued, limit } => Err(ApiError::QueueLimited {
            detail: format!(
                "{queued} of this tenant's queries are already waiting, its limit is {limit}"
            ),
            retry_after_seconds: RETRY_AFTER_SECONDS,
        }),
        SlotAdmission::TimedOut => Err(ApiError::QueueLimited {
            detail: format!("no query slot came free within {} ms", request.max_wait_ms),
            retry_after_seconds: RETRY_AFTER_SECONDS,
        }),
    }
}

/// Renew a query slot's lease.
#[utoipa::path(post, path = "/v1/query-slots/{slot}/renew", operation_id = "query_slot_renew", tag = "query-slots",
    params(SlotPath),
    responses((status = 200, description = "The lease runs for another `lease_ttl_ms`", body = QuerySlot)))]
async fn query_slot_renew(
    State(state): State<AppState>,
    QueryFrontend(ctx): QueryFrontend,
    ApiPath(path): ApiPath<SlotPath>,
) -> ApiResult<Json<QuerySlot>> {
    Ok(Json(state.store.renew_query_slot(&ctx, &path.slot).await?))
}

/// Release a query slot.
#[utoipa::path(delete, path = "/v1/query-slots/{slot}", operation_id = "query_slot_release", tag = "query-slots",
    params(SlotPath),
    responses((status = 204, description = "Released; its capacity goes to the next waiting query")))]
async fn query_slot_release(
    State(state): State<AppState>,
    QueryFrontend(ctx): QueryFrontend,
    ApiPath(path): ApiPath<SlotPath>,
) -> ApiResult<StatusCode> {
    state.store.release_query_slot(&ctx, &path.slot).await?;
    Ok(StatusCode::NO_CONTENT)
}
