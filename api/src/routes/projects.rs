//! `/v1/tenants/{tenant}/projects`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use logplane_model::names::PROJECT_NAME;
use logplane_model::{Page, Project, ProjectSpec};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::tenants::TenantPath;
use super::{page_response, put_response, resource_response};
use crate::app::AppState;
use crate::extract::page::PageParams;
use crate::extract::path::check_new_name;
use crate::extract::precondition::{DeleteConditionHeaders, PutConditionHeaders};
use crate::extract::{ApiJson, ApiPath, Authenticated, PageQuery, WriteConditions};
use crate::problem::ApiResult;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectPath {
    #[param(
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9-]*[a-z0-9]$"
    )]
    pub tenant: String,
    /// 3–63 characters: lowercase letters, digits and `-`, starting and ending with a letter or digit.
    #[param(
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9-]*[a-z0-9]$"
    )]
    pub project: String,
}

impl ProjectPath {
    pub fn location(&self) -> String {
        format!("/v1/tenants/{}/projects/{}", self.tenant, self.project)
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(project_list))
        .routes(routes!(project_get, project_put, project_delete))
}

/// List a tenant's projects.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/projects", operation_id = "project_list", tag = "projects",
    params(TenantPath, PageParams),
    responses((status = 200, description = "One page of projects, by name", body = Page<Project>)))]
async fn project_list(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<TenantPath>,
    PageQuery(page): PageQuery,
) -> ApiResult<Json<Page<Project>>> {
    Ok(page_response(
        state.store.list_projects(&ctx, &path.tenant, page).await?,
    ))
}

/// Get a project.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/projects/{project}", operation_id = "project_get", tag = "projects",
    params(ProjectPath),
    responses((status = 200, description = "The project", body = Project, headers(("ETag" = String)))))]
async fn project_get(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<ProjectPath>,
) -> ApiResult<Response> {
    let project = state
        .store
        .get_project(&ctx, &path.tenant, &path.project)
        .await?;
    Ok(resource_response(StatusCode::OK, &project.etag, &project))
}

/// Create or replace a project.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/projects/{project}", operation_id = "project_put", tag = "projects",
    params(ProjectPath, PutConditionHeaders),
    request_body = ProjectSpec,
    responses(
        (status = 200, description = "Replaced, or unchanged when the body equals the stored project", body = Project, headers(("ETag" = String))),
        (status = 201, description = "Created", body = Project, headers(("ETag" = String), ("Location" = String))),
    ))]
async fn project_put(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<ProjectPath>,
    conditions: WriteConditions,
    ApiJson(spec): ApiJson<ProjectSpec>,
) -> ApiResult<Response> {
    check_new_name(&PROJECT_NAME, "project", &path.project)?;
    let precondition = conditions.for_put()?;
    let outcome = state
        .store
        .put_project(&ctx, &path.tenant, &path.project, spec, precondition)
        .await?;
    Ok(put_response(outcome, |p| &p.etag, &path.location()))
}

/// Delete a project. Its logstores must be deleted first.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/projects/{project}", operation_id = "project_delete", tag = "projects",
    params(ProjectPath, DeleteConditionHeaders),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "The project still has logstores", body = logplane_model::Problem, content_type = "application/problem+json"),
    ))]
async fn project_delete(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<ProjectPath>,
    conditions: WriteConditions,
) -> ApiResult<Response> {
    let precondition = conditions.for_delete()?;
    state
        .store
        .delete_project(&ctx, &path.tenant, &path.project, precondition)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
