//! `/v1/tenants/{tenant}/projects/{project}/logstores`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use logplane_model::names::LOGSTORE_NAME;
use logplane_model::{Logstore, LogstoreSpec, Page};
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
use crate::problem::ApiResult;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct LogstorePath {
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
    /// 3–63 characters: lowercase letters, digits, `-` and `_`, starting and ending with a letter or digit.
    #[param(
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9_-]*[a-z0-9]$"
    )]
    pub logstore: String,
}

impl LogstorePath {
    pub fn location(&self) -> String {
        format!(
            "/v1/tenants/{}/projects/{}/logstores/{}",
            self.tenant, self.project, self.logstore
        )
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(logstore_list))
        .routes(routes!(logstore_get, logstore_put, logstore_delete))
}

/// List a project's logstores.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/projects/{project}/logstores", operation_id = "logstore_list", tag = "logstores",
    params(ProjectPath, PageParams),
    responses((status = 200, description = "One page of logstores, by name", body = Page<Logstore>)))]
async fn logstore_list(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<ProjectPath>,
    PageQuery(page): PageQuery,
) -> ApiResult<Json<Page<Logstore>>> {
    Ok(page_response(
        state
            .store
            .list_logstores(&ctx, &path.tenant, &path.project, page)
            .await?,
    ))
}

/// Get a logstore.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/projects/{project}/logstores/{logstore}", operation_id = "logstore_get", tag = "logstores",
    params(LogstorePath),
    responses((status = 200, description = "The logstore", body = Logstore, headers(("ETag" = String)))))]
async fn logstore_get(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<LogstorePath>,
) -> ApiResult<Response> {
    let logstore = state
        .store
        .get_logstore(&ctx, &path.tenant, &path.project, &path.logstore)
        .await?;
    Ok(resource_response(StatusCode::OK, &logstore.etag, &logstore))
}

/// Create or replace a logstore.
///
/// Creating one creates `shard_count` read-write shards that split the hash key space evenly.
/// A new `shard_count` reshards: the widest ranges are split, or the narrowest adjacent pairs
/// merged, their parents becoming `readonly` (`max_shards_per_project` applies).
/// `mode` and `telemetry` cannot be changed afterwards (422).
#[utoipa::path(put, path = "/v1/tenants/{tenant}/projects/{project}/logstores/{logstore}", operation_id = "logstore_put", tag = "logstores",
    params(LogstorePath, PutConditionHeaders),
    request_body = LogstoreSpec,
    responses(
        (status = 200, description = "Replaced, or unchanged when the body equals the stored logstore", body = Logstore, headers(("ETag" = String))),
        (status = 201, description = "Created, with its shards", body = Logstore, headers(("ETag" = String), ("Location" = String))),
    ))]
async fn logstore_put(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<LogstorePath>,
    conditions: WriteConditions,
    ApiJson(spec): ApiJson<LogstoreSpec>,
) -> ApiResult<Response> {
    check_new_name(&LOGSTORE_NAME, "logstore", &path.logstore)?;
    let precondition = conditions.for_put()?;
    let outcome = state
        .store
        .put_logstore(
            &ctx,
            &path.tenant,
            &path.project,
            &path.logstore,
            spec,
            precondition,
        )
        .await?;
    Ok(put_response(outcome, |l| &l.etag, &path.location()))
}

/// Delete a logstore and its shards.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/projects/{project}/logstores/{logstore}", operation_id = "logstore_delete", tag = "logstores",
    params(LogstorePath, DeleteConditionHeaders),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "Collection configs send to the logstore", body = logplane_model::Problem, content_type = "application/problem+json"),
    ))]
async fn logstore_delete(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<LogstorePath>,
    conditions: WriteConditions,
) -> ApiResult<Response> {
    let precondition = conditions.for_delete()?;
    state
        .store
        .delete_logstore(
            &ctx,
            &path.tenant,
            &path.project,
            &path.logstore,
            precondition,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
