//! API keys: `/v1/api-keys` for the platform, `/v1/tenants/{tenant}/api-keys` for a tenant.
//! The secret is in the creation response only; deleting a key revokes it and its tokens.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use logplane_model::{
    ApiKey, ApiKeyCreated, ApiKeyRequest, KeyScope, Page, PlatformApiKeyRequest,
    TenantApiKeyRequest,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::page_response;
use super::tenants::TenantPath;
use crate::app::AppState;
use crate::auth::secrets::{hash_secret, new_secret};
use crate::extract::page::PageParams;
use crate::extract::{ApiJson, ApiPath, Authenticated, PageQuery};
use crate::problem::ApiResult;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PlatformKeyPath {
    /// The key's id, as returned when it was created.
    pub key: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TenantKeyPath {
    #[param(
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9-]*[a-z0-9]$"
    )]
    pub tenant: String,
    /// The key's id, as returned when it was created.
    pub key: String,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(platform_api_key_list, platform_api_key_create))
        .routes(routes!(platform_api_key_get, platform_api_key_delete))
        .routes(routes!(api_key_list, api_key_create))
        .routes(routes!(api_key_get, api_key_delete))
}

async fn create(
    state: &AppState,
    ctx: &logplane_store::Ctx,
    scope: KeyScope,
    request: ApiKeyRequest,
    base: &str,
) -> ApiResult<Response> {
    let secret = new_secret();
    let key = state
        .store
        .create_api_key(ctx, &scope, request, &hash_secret(&secret))
        .await?;
    let location = format!("{base}/{}", key.id);
    let mut response = (StatusCode::CREATED, Json(ApiKeyCreated { key, secret })).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// List platform API keys (platform admins).
#[utoipa::path(get, path = "/v1/api-keys", operation_id = "platform_api_key_list", tag = "api-keys",
    params(PageParams),
    responses((status = 200, description = "One page of platform keys, by name; secrets are never listed", body = Page<ApiKey>)))]
async fn platform_api_key_list(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    PageQuery(page): PageQuery,
) -> ApiResult<Json<Page<ApiKey>>> {
    Ok(page_response(
        state
            .store
            .list_api_keys(&ctx, &KeyScope::Platform, page)
            .await?,
    ))
}

/// Create a platform API key (roles `platform-admin`, `worker`, `query-frontend`).
#[utoipa::path(post, path = "/v1/api-keys", operation_id = "platform_api_key_create", tag = "api-keys",
    request_body = PlatformApiKeyRequest,
    responses(
        (status = 201, description = "Created; the secret is shown this once", body = ApiKeyCreated, headers(("Location" = String))),
        (status = 409, description = "A platform key with this name exists", body = logplane_model::Problem, content_type = "application/problem+json"),
    ))]
async fn platform_api_key_create(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiJson(request): ApiJson<PlatformApiKeyRequest>,
) -> ApiResult<Response> {
    create(
        &state,
        &ctx,
        KeyScope::Platform,
        request.into(),
        "/v1/api-keys",
    )
    .await
}

/// Get a platform API key.
#[utoipa::path(get, path = "/v1/api-keys/{key}", operation_id = "platform_api_key_get", tag = "api-keys",
    params(PlatformKeyPath),
    responses((status = 200, description = "The key, without its secret", body = ApiKey)))]
async fn platform_api_key_get(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<PlatformKeyPath>,
) -> ApiResult<Json<ApiKey>> {
    Ok(Json(
        state
            .store
            .get_api_key(&ctx, &KeyScope::Platform, &path.key)
            .await?,
    ))
}

/// Revoke a platform API key. Tokens minted from it stop working at once.
#[utoipa::path(delete, path = "/v1/api-keys/{key}", operation_id = "platform_api_key_delete", tag = "api-keys",
    params(PlatformKeyPath),
    responses((status = 204, description = "Revoked")))]
async fn platform_api_key_delete(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<PlatformKeyPath>,
) -> ApiResult<StatusCode> {
    state
        .store
        .delete_api_key(&ctx, &KeyScope::Platform, &path.key)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a tenant's API keys (tenant admins).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/api-keys", operation_id = "api_key_list", tag = "api-keys",
    params(TenantPath, PageParams),
    responses((status = 200, description = "One page of the tenant's keys, by name; secrets are never listed", body = Page<ApiKey>)))]
async fn api_key_list(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<TenantPath>,
    PageQuery(page): PageQuery,
) -> ApiResult<Json<Page<ApiKey>>> {
    Ok(page_response(
        state
            .store
            .list_api_keys(&ctx, &KeyScope::Tenant(path.tenant), page)
            .await?,
    ))
}

/// Create a tenant API key (roles `admin`, `editor`, `viewer`).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/api-keys", operation_id = "api_key_create", tag = "api-keys",
    params(TenantPath),
    request_body = TenantApiKeyRequest,
    responses(
        (status = 201, description = "Created; the secret is shown this once", body = ApiKeyCreated, headers(("Location" = String))),
        (status = 409, description = "The tenant has a key with this name", body = logplane_model::Problem, content_type = "application/problem+json"),
    ))]
async fn api_key_create(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<TenantPath>,
    ApiJson(request): ApiJson<TenantApiKeyRequest>,
) -> ApiResult<Response> {
    let base = format!("/v1/tenants/{}/api-keys", path.tenant);
    create(
        &state,
        &ctx,
        KeyScope::Tenant(path.tenant),
        request.into(),
        &base,
    )
    .await
}

/// Get a tenant API key.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/api-keys/{key}", operation_id = "api_key_get", tag = "api-keys",
    params(TenantKeyPath),
    responses((status = 200, description = "The key, without its secret", body = ApiKey)))]
async fn api_key_get(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<TenantKeyPath>,
) -> ApiResult<Json<ApiKey>> {
    Ok(Json(
        state
            .store
            .get_api_key(&ctx, &KeyScope::Tenant(path.tenant), &path.key)
            .await?,
    ))
}

/// Revoke a tenant API key. Tokens minted from it stop working at once.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/api-keys/{key}", operation_id = "api_key_delete", tag = "api-keys",
    params(TenantKeyPath),
    responses((status = 204, description = "Revoked")))]
async fn api_key_delete(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<TenantKeyPath>,
) -> ApiResult<StatusCode> {
    state
        .store
        .delete_api_key(&ctx, &KeyScope::Tenant(path.tenant), &path.key)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
