//! A collection config's rollout and status: `…/collection-configs/{config}/rollout` and
//! `…/status`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use logplane_model::{CollectionConfigRollout, CollectionConfigStatus, RolloutRequest};
use logplane_store::PutOutcome;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::collection_configs::CollectionConfigPath;
use super::resource_response;
use crate::app::AppState;
use crate::extract::{ApiJson, ApiPath, Authenticated};
use crate::problem::ApiResult;

/// A rollout's entity tag: it changes with the revision, the percentage and the pause.
fn rollout_etag(rollout: &CollectionConfigRollout) -> String {
    format!(
        "r{}-{}-{}-{}",
        rollout.revision,
        rollout.percent,
        u8::from(rollout.paused),
        rollout.updated_at.unix_micros()
    )
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(collection_config_rollout_put))
        .routes(routes!(collection_config_rollout_resume))
        .routes(routes!(collection_config_status_get))
}

/// Set the share of agents that run the config's current revision.
///
/// Agents are bucketed by a hash of (agent id, config): raising the percentage only adds agents,
/// and the same agents go first for every revision. Agents outside the rollout keep the previous
/// revision (or, for a first revision, do not run the config). Refused (409) while the rollout is
/// paused: resume it or roll back first.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/projects/{project}/collection-configs/{config}/rollout", operation_id = "collection_config_rollout_put", tag = "collection-configs",
    params(CollectionConfigPath),
    request_body = RolloutRequest,
    responses(
        (status = 200, description = "The rollout, changed or as it was", body = CollectionConfigRollout, headers(("ETag" = String))),
        (status = 409, description = "The rollout is paused", body = logplane_model::Problem, content_type = "application/problem+json"),
    ))]
async fn collection_config_rollout_put(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<CollectionConfigPath>,
    ApiJson(request): ApiJson<RolloutRequest>,
) -> ApiResult<Response> {
    let outcome = state
        .store
        .put_collection_config_rollout(&ctx, &path.tenant, &path.project, &path.config, request)
        .await?;
    let rollout = match outcome {
        PutOutcome::Created(r) | PutOutcome::Replaced(r) | PutOutcome::Unchanged(r) => r,
    };
    Ok(resource_response(
        StatusCode::OK,
        &rollout_etag(&rollout),
        &rollout,
    ))
}

/// Resume a paused rollout.
///
/// The rollout reaches agents again at its percentage. Resuming a running rollout changes nothing.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/projects/{project}/collection-configs/{config}/rollout/resume", operation_id = "collection_config_rollout_resume", tag = "collection-configs",
    params(CollectionConfigPath),
    responses((status = 200, description = "The running rollout", body = CollectionConfigRollout, headers(("ETag" = String)))))]
async fn collection_config_rollout_resume(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<CollectionConfigPath>,
) -> ApiResult<Response> {
    let rollout = state
        .store
        .resume_collection_config_rollout(&ctx, &path.tenant, &path.project, &path.config)
        .await?;
    Ok(resource_response(
        StatusCode::OK,
        &rollout_etag(&rollout),
        &rollout,
    ))
}

/// Get the config's rollout and how agents fare with each revision in use.
///
/// For each revision: agents it was sent to, agents that applied it, are applying it or failed
/// (with the most frequent messages), and agents whose type cannot express it (skipped).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/projects/{project}/collection-configs/{config}/status", operation_id = "collection_config_status_get", tag = "collection-configs",
    params(CollectionConfigPath),
    responses((status = 200, description = "The rollout and per-revision status", body = CollectionConfigStatus)))]
async fn collection_config_status_get(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<CollectionConfigPath>,
) -> ApiResult<Json<CollectionConfigStatus>> {
    Ok(Json(
        state
            .store
            .get_collection_config_status(&ctx, &path.tenant, &path.project, &path.config)
            .await?,
    ))
}
