//! `/v1/tenants`: platform admins create and delete tenants; a tenant's roles read their own.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use logplane_model::names::TENANT_NAME;
use logplane_model::{Page, Tenant, TenantSpec};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{page_response, put_response, resource_response};
use crate::app::AppState;
use crate::extract::page::PageParams;
use crate::extract::path::check_new_name;
use crate::extract::precondition::{DeleteConditionHeaders, PutConditionHeaders};
use crate::extract::{ApiJson, ApiPath, Authenticated, PageQuery, WriteConditions};
use crate::problem::ApiResult;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TenantPath {
    /// The tenant's name: 3–63 characters of lowercase letters, digits and `-`.
    #[param(
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9-]*[a-z0-9]$"
    )]
    pub tenant: String,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tenant_list))
        .routes(routes!(tenant_get, tenant_put, tenant_delete))
}

/// List tenants.
///
/// Platform admins see every tenant; a tenant's own credentials see only their tenant.
#[utoipa::path(get, path = "/v1/tenants", operation_id = "tenant_list", tag = "tenants",
    params(PageParams),
    responses((status = 200, description = "One page of tenants, by name", body = Page<Tenant>)))]
async fn tenant_list(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    PageQuery(page): PageQuery,
) -> ApiResult<Json<Page<Tenant>>> {
    Ok(page_response(state.store.list_tenants(&ctx, page).await?))
}

/// Get a tenant.
#[utoipa::path(get, path = "/v1/tenants/{tenant}", operation_id = "tenant_get", tag = "tenants",
    params(TenantPath),
    responses((status = 200, description = "The tenant", body = Tenant, headers(("ETag" = String)))))]
async fn tenant_get(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<TenantPath>,
) -> ApiResult<Response> {
    let tenant = state.store.get_tenant(&ctx, &path.tenant).await?;
    Ok(resource_response(StatusCode::OK, &tenant.etag, &tenant))
}

/// Create or replace a tenant (platform admins).
#[utoipa::path(put, path = "/v1/tenants/{tenant}", operation_id = "tenant_put", tag = "tenants",
    params(TenantPath, PutConditionHeaders),
    request_body = TenantSpec,
    responses(
        (status = 200, description = "Replaced, or unchanged when the body equals the stored tenant", body = Tenant, headers(("ETag" = String))),
        (status = 201, description = "Created", body = Tenant, headers(("ETag" = String), ("Location" = String))),
    ))]
async fn tenant_put(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<TenantPath>,
    conditions: WriteConditions,
    ApiJson(spec): ApiJson<TenantSpec>,
) -> ApiResult<Response> {
    check_new_name(&TENANT_NAME, "tenant", &path.tenant)?;
    let precondition = conditions.for_put()?;
    let outcome = state
        .store
        .put_tenant(&ctx, &path.tenant, spec, precondition)
        .await?;
    Ok(put_response(
        outcome,
        |t| &t.etag,
        &format!("/v1/tenants/{}", path.tenant),
    ))
}

/// Delete a tenant (platform admins). Its projects must be deleted first; its API keys go with it.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}", operation_id = "tenant_delete", tag = "tenants",
    params(TenantPath, DeleteConditionHeaders),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "The tenant still has projects", body = logplane_model::Problem, content_type = "application/problem+json"),
    ))]
async fn tenant_delete(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<TenantPath>,
    conditions: WriteConditions,
) -> ApiResult<Response> {
    let precondition = conditions.for_delete()?;
    state
        .store
        .delete_tenant(&ctx, &path.tenant, precondition)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
