//! `/v1/tenants/{tenant}/projects/{project}/collection-configs`: the configs, their revisions,
//! rollback and preview. Rollouts and status are in `rollouts.rs`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use logplane_model::collection_config::{PreviewRequest, PreviewResponse};
use logplane_model::names::COLLECTION_CONFIG_NAME;
use logplane_model::{
    CollectionConfig, CollectionConfigRevision, CollectionConfigSpec, Page, RollbackRequest,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::projects::ProjectPath;
use super::{page_response, put_response, resource_response};
use crate::app::AppState;
use crate::extract::page::PageParams;
use crate::extract::path::check_new_name;
use crate::extract::precondition::{DeleteConditionHeaders, PutConditionHeaders};
use crate::extract::{ApiJson, ApiPath, Authenticated, PageQuery, WriteConditions};
use crate::problem::{ApiError, ApiResult};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CollectionConfigPath {
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
    /// 2–128 characters: lowercase letters, digits, `-` and `_`, starting and ending with a letter or digit.
    #[param(
        min_length = 2,
        max_length = 128,
        pattern = "^[a-z0-9][a-z0-9_-]*[a-z0-9]$"
    )]
    pub config: String,
}

impl CollectionConfigPath {
    pub fn location(&self) -> String {
        format!(
            "/v1/tenants/{}/projects/{}/collection-configs/{}",
            self.tenant, self.project, self.config
        )
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(collection_config_list))
        .routes(routes!(
            collection_config_get,
            collection_config_put,
            collection_config_delete
        ))
        .routes(routes!(collection_config_revision_list))
        .routes(routes!(collection_config_rollback))
        .routes(routes!(collection_config_preview))
}

/// List a project's collection configs.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/projects/{project}/collection-configs", operation_id = "collection_config_list", tag = "collection-configs",
    params(ProjectPath, PageParams),
    responses((status = 200, description = "One page of collection configs, by name", body = Page<CollectionConfig>)))]
async fn collection_config_list(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<ProjectPath>,
    PageQuery(page): PageQuery,
) -> ApiResult<Json<Page<CollectionConfig>>> {
    Ok(page_response(
        state
            .store
            .list_collection_configs(&ctx, &path.tenant, &path.project, page)
            .await?,
    ))
}

/// Get a collection config at its current revision.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/projects/{project}/collection-configs/{config}", operation_id = "collection_config_get", tag = "collection-configs",
    params(CollectionConfigPath),
    responses((status = 200, description = "The config", body = CollectionConfig, headers(("ETag" = String)))))]
async fn collection_config_get(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<CollectionConfigPath>,
) -> ApiResult<Response> {
    let config = state
        .store
        .get_collection_config(&ctx, &path.tenant, &path.project, &path.config)
        .await?;
    Ok(resource_response(StatusCode::OK, &config.etag, &config))
}

/// Create or replace a collection config.
///
/// Every change of the spec makes a new immutable revision, whose rollout starts at 0%: raise it
/// with `PUT …/rollout`. Every regular expression must compile (Rust `regex` syntax), the
/// destination logstore must exist in the project, and every agent type present in the machine
/// groups the config is bound to must be able to express it; each violation is named in a 422.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/projects/{project}/collection-configs/{config}", operation_id = "collection_config_put", tag = "collection-configs",
    params(CollectionConfigPath, PutConditionHeaders),
    request_body = CollectionConfigSpec,
    responses(
        (status = 200, description = "Replaced (a new revision), or unchanged when the body equals the stored config", body = CollectionConfig, headers(("ETag" = String))),
        (status = 201, description = "Created at revision 1", body = CollectionConfig, headers(("ETag" = String), ("Location" = String))),
    ))]
async fn collection_config_put(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<CollectionConfigPath>,
    conditions: WriteConditions,
    ApiJson(spec): ApiJson<CollectionConfigSpec>,
) -> ApiResult<Response> {
    check_new_name(&COLLECTION_CONFIG_NAME, "config", &path.config)?;
    let precondition = conditions.for_put()?;
    let outcome = state
        .store
        .put_collection_config(
            &ctx,
            &path.tenant,
            &path.project,
            &path.config,
            spec,
            precondition,
        )
        .await?;
    Ok(put_response(outcome, |c| &c.etag, &path.location()))
}

/// Delete a collection config and its revisions. Refused (409) while it is bound to machine groups.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/projects/{project}/collection-configs/{config}", operation_id = "collection_config_delete", tag = "collection-configs",
    params(CollectionConfigPath, DeleteConditionHeaders),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "The config is bound to machine groups", body = logplane_model::Problem, content_type = "application/problem+json"),
    ))]
async fn collection_config_delete(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<CollectionConfigPath>,
    conditions: WriteConditions,
) -> ApiResult<Response> {
    let precondition = conditions.for_delete()?;
    state
        .store
        .delete_collection_config(
            &ctx,
            &path.tenant,
            &path.project,
            &path.config,
            precondition,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// List a config's revisions, newest first.
///
/// The newest 100 revisions are kept, and any a rollout still uses.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/projects/{project}/collection-configs/{config}/revisions", operation_id = "collection_config_revision_list", tag = "collection-configs",
    params(CollectionConfigPath, PageParams),
    responses((status = 200, description = "One page of revisions, newest first", body = Page<CollectionConfigRevision>)))]
async fn collection_config_revision_list(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<CollectionConfigPath>,
    PageQuery(page): PageQuery,
) -> ApiResult<Json<Page<CollectionConfigRevision>>> {
    Ok(page_response(
        state
            .store
            .list_collection_config_revisions(&ctx, &path.tenant, &path.project, &path.config, page)
            .await?,
    ))
}

/// Roll a config back to an earlier revision.
///
/// Makes a new revision with that revision's content and rolls it out to every agent at once
/// (100%, resuming a paused rollout). The content is checked as a new write would be. 409 when
/// the revision's content is the current one.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/projects/{project}/collection-configs/{config}/rollback", operation_id = "collection_config_rollback", tag = "collection-configs",
    params(CollectionConfigPath),
    request_body = RollbackRequest,
    responses(
        (status = 200, description = "The config at its new revision", body = CollectionConfig, headers(("ETag" = String))),
        (status = 409, description = "The revision has the current content", body = logplane_model::Problem, content_type = "application/problem+json"),
    ))]
async fn collection_config_rollback(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<CollectionConfigPath>,
    ApiJson(request): ApiJson<RollbackRequest>,
) -> ApiResult<Response> {
    let config = state
        .store
        .rollback_collection_config(
            &ctx,
            &path.tenant,
            &path.project,
            &path.config,
            request.revision,
        )
        .await?;
    Ok(resource_response(StatusCode::OK, &config.etag, &config))
}

/// Preview what a config makes of sample lines.
///
/// Runs the config's current revision (multiline, parser, timestamp, severity, processors) over
/// the lines, with the semantics every agent type follows, and answers each record, or why a
/// line did not parse. Changes nothing.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/projects/{project}/collection-configs/{config}/preview", operation_id = "collection_config_preview", tag = "collection-configs",
    params(CollectionConfigPath),
    request_body = PreviewRequest,
    responses((status = 200, description = "One entry per record, in the order of the lines", body = PreviewResponse)))]
async fn collection_config_preview(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<CollectionConfigPath>,
    ApiJson(request): ApiJson<PreviewRequest>,
) -> ApiResult<Json<PreviewResponse>> {
    // The request's bounds first: a malformed preview is refused before the config is read.
    request.validate().map_err(ApiError::Validation)?;
    let config = state
        .store
        .get_collection_config(&ctx, &path.tenant, &path.project, &path.config)
        .await?;
    let response =
        logplane_collect::preview(&config.spec(), &request).map_err(ApiError::Validation)?;
    Ok(Json(response))
}
