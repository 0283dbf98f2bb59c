//! `/v1/tenants/{tenant}/projects/{project}/machine-groups`, and the agents each selects.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use logplane_model::names::MACHINE_GROUP_NAME;
use logplane_model::{Agent, MachineGroup, MachineGroupSpec, Page};
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
pub struct MachineGroupPath {
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
    pub group: String,
}

impl MachineGroupPath {
    pub fn location(&self) -> String {
        format!(
            "/v1/tenants/{}/projects/{}/machine-groups/{}",
            self.tenant, self.project, self.group
        )
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(machine_group_list))
        .routes(routes!(
            machine_group_get,
            machine_group_put,
            machine_group_delete
        ))
        .routes(routes!(machine_group_agent_list))
}

/// List a project's machine groups.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/projects/{project}/machine-groups", operation_id = "machine_group_list", tag = "machine-groups",
    params(ProjectPath, PageParams),
    responses((status = 200, description = "One page of machine groups, by name", body = Page<MachineGroup>)))]
async fn machine_group_list(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<ProjectPath>,
    PageQuery(page): PageQuery,
) -> ApiResult<Json<Page<MachineGroup>>> {
    Ok(page_response(
        state
            .store
            .list_machine_groups(&ctx, &path.tenant, &path.project, page)
            .await?,
    ))
}

/// Get a machine group.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/projects/{project}/machine-groups/{group}", operation_id = "machine_group_get", tag = "machine-groups",
    params(MachineGroupPath),
    responses((status = 200, description = "The machine group", body = MachineGroup, headers(("ETag" = String)))))]
async fn machine_group_get(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<MachineGroupPath>,
) -> ApiResult<Response> {
    let group = state
        .store
        .get_machine_group(&ctx, &path.tenant, &path.project, &path.group)
        .await?;
    Ok(resource_response(StatusCode::OK, &group.etag, &group))
}

/// Create or replace a machine group.
///
/// The selector picks agents of the tenant: an agent belongs when every non-empty criterion
/// matches (labels are the agent's own with its enrollment token's laid over them). Waiting
/// agents whose membership changes receive their new bundle at once.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/projects/{project}/machine-groups/{group}", operation_id = "machine_group_put", tag = "machine-groups",
    params(MachineGroupPath, PutConditionHeaders),
    request_body = MachineGroupSpec,
    responses(
        (status = 200, description = "Replaced, or unchanged when the body equals the stored group", body = MachineGroup, headers(("ETag" = String))),
        (status = 201, description = "Created", body = MachineGroup, headers(("ETag" = String), ("Location" = String))),
    ))]
async fn machine_group_put(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<MachineGroupPath>,
    conditions: WriteConditions,
    ApiJson(spec): ApiJson<MachineGroupSpec>,
) -> ApiResult<Response> {
    check_new_name(&MACHINE_GROUP_NAME, "group", &path.group)?;
    let precondition = conditions.for_put()?;
    let outcome = state
        .store
        .put_machine_group(
            &ctx,
            &path.tenant,
            &path.project,
            &path.group,
            spec,
            precondition,
        )
        .await?;
    Ok(put_response(outcome, |g| &g.etag, &path.location()))
}

/// Delete a machine group. Refused (409) while collection configs are bound to it.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/projects/{project}/machine-groups/{group}", operation_id = "machine_group_delete", tag = "machine-groups",
    params(MachineGroupPath, DeleteConditionHeaders),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "Collection configs are bound to the group", body = logplane_model::Problem, content_type = "application/problem+json"),
    ))]
async fn machine_group_delete(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<MachineGroupPath>,
    conditions: WriteConditions,
) -> ApiResult<Response> {
    let precondition = conditions.for_delete()?;
    state
        .store
        .delete_machine_group(&ctx, &path.tenant, &path.project, &path.group, precondition)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// List the agents a machine group selects now.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/projects/{project}/machine-groups/{group}/agents", operation_id = "machine_group_agent_list", tag = "machine-groups",
    params(MachineGroupPath, PageParams),
    responses((status = 200, description = "One page of the group's current members, by id", body = Page<Agent>)))]
async fn machine_group_agent_list(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<MachineGroupPath>,
    PageQuery(page): PageQuery,
) -> ApiResult<Json<Page<Agent>>> {
    Ok(page_response(
        state
            .store
            .list_machine_group_agents(&ctx, &path.tenant, &path.project, &path.group, page)
            .await?,
    ))
}
