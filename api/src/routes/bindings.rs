//! Bindings between machine groups and collection configs, and their lists in both directions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use logplane_model::{CollectionConfigBinding, Page};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::collection_configs::CollectionConfigPath;
use super::machine_groups::MachineGroupPath;
use super::{page_response, put_response};
use crate::app::AppState;
use crate::extract::page::PageParams;
use crate::extract::{ApiPath, Authenticated, PageQuery};
use crate::problem::ApiResult;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct BindingPath {
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
        min_length = 2,
        max_length = 128,
        pattern = "^[a-z0-9][a-z0-9_-]*[a-z0-9]$"
    )]
    pub group: String,
    #[param(
        min_length = 2,
        max_length = 128,
        pattern = "^[a-z0-9][a-z0-9_-]*[a-z0-9]$"
    )]
    pub config: String,
}

impl BindingPath {
    fn location(&self) -> String {
        format!(
            "/v1/tenants/{}/projects/{}/machine-groups/{}/collection-configs/{}",
            self.tenant, self.project, self.group, self.config
        )
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(binding_put, binding_delete))
        .routes(routes!(machine_group_config_list))
        .routes(routes!(config_machine_group_list))
}

/// Bind a collection config to a machine group.
///
/// The group's agents then run the config (at the revision its rollout gives each). Refused
/// (422, naming each field) when an agent type present in the group cannot express the config;
/// agents of such a type that join later have it left out of their bundle, and the config's
/// status counts them as skipped.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/projects/{project}/machine-groups/{group}/collection-configs/{config}", operation_id = "binding_put", tag = "machine-groups",
    params(BindingPath),
    responses(
        (status = 200, description = "Already bound", body = CollectionConfigBinding, headers(("ETag" = String))),
        (status = 201, description = "Bound", body = CollectionConfigBinding, headers(("ETag" = String), ("Location" = String))),
    ))]
async fn binding_put(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<BindingPath>,
) -> ApiResult<Response> {
    let outcome = state
        .store
        .put_binding(&ctx, &path.tenant, &path.project, &path.group, &path.config)
        .await?;
    Ok(put_response(outcome, |b| &b.etag, &path.location()))
}

/// Unbind a collection config from a machine group.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/projects/{project}/machine-groups/{group}/collection-configs/{config}", operation_id = "binding_delete", tag = "machine-groups",
    params(BindingPath),
    responses((status = 204, description = "Unbound")))]
async fn binding_delete(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<BindingPath>,
) -> ApiResult<Response> {
    state
        .store
        .delete_binding(&ctx, &path.tenant, &path.project, &path.group, &path.config)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// List the collection configs bound to a machine group.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/projects/{project}/machine-groups/{group}/collection-configs", operation_id = "machine_group_config_list", tag = "machine-groups",
    params(MachineGroupPath, PageParams),
    responses((status = 200, description = "One page of bindings, by config name", body = Page<CollectionConfigBinding>)))]
async fn machine_group_config_list(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<MachineGroupPath>,
    PageQuery(page): PageQuery,
) -> ApiResult<Json<Page<CollectionConfigBinding>>> {
    Ok(page_response(
        state
            .store
            .list_machine_group_bindings(&ctx, &path.tenant, &path.project, &path.group, page)
            .await?,
    ))
}

/// List the machine groups a collection config is bound to.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/projects/{project}/collection-configs/{config}/machine-groups", operation_id = "config_machine_group_list", tag = "collection-configs",
    params(CollectionConfigPath, PageParams),
    responses((status = 200, description = "One page of bindings, by machine group name", body = Page<CollectionConfigBinding>)))]
async fn config_machine_group_list(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<CollectionConfigPath>,
    PageQuery(page): PageQuery,
) -> ApiResult<Json<Page<CollectionConfigBinding>>> {
    Ok(page_response(
        state
            .store
            .list_collection_config_bindings(&ctx, &path.tenant, &path.project, &path.config, page)
            .await?,
    ))
}
