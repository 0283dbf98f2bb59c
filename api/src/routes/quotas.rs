//! `/v1/tenants/{tenant}/quota` (platform admins write, the tenant's roles read) and
//! `/v1/tenants/{tenant}/usage`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use logplane_model::quota::TenantUsage;
use logplane_model::{QuotaSpec, TenantQuota};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::resource_response;
use super::tenants::TenantPath;
use crate::app::AppState;
use crate::extract::precondition::PutConditionHeaders;
use crate::extract::{ApiJson, ApiPath, Authenticated, WriteConditions};
use crate::problem::ApiResult;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(quota_get, quota_put))
        .routes(routes!(usage_get))
}

/// Get a tenant's quota.
///
/// `effective` holds every value in force; `overrides` the fields set for this tenant, the
/// others following the server's defaults.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/quota", operation_id = "quota_get", tag = "quotas",
    params(TenantPath),
    responses((status = 200, description = "The tenant's quota", body = TenantQuota, headers(("ETag" = String)))))]
async fn quota_get(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<TenantPath>,
) -> ApiResult<Response> {
    let quota = state.store.get_quota(&ctx, &path.tenant).await?;
    Ok(resource_response(StatusCode::OK, &quota.etag, &quota))
}

/// Set a tenant's quota (platform admins).
///
/// The body lists the fields set for this tenant; omitted fields follow the server's defaults.
/// Lowering a count below what is in use is allowed: it blocks further creates and deletes nothing.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/quota", operation_id = "quota_put", tag = "quotas",
    params(TenantPath, PutConditionHeaders),
    request_body = QuotaSpec,
    responses((status = 200, description = "The quota now in force", body = TenantQuota, headers(("ETag" = String)))))]
async fn quota_put(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<TenantPath>,
    conditions: WriteConditions,
    ApiJson(spec): ApiJson<QuotaSpec>,
) -> ApiResult<Response> {
    let precondition = conditions.for_put()?;
    let outcome = state
        .store
        .put_quota(&ctx, &path.tenant, spec, precondition)
        .await?;
    let quota = outcome.into_resource();
    Ok(resource_response(StatusCode::OK, &quota.etag, &quota))
}

/// Get a tenant's usage: every count against its limit, and the rates workers report.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/usage", operation_id = "usage_get", tag = "quotas",
    params(TenantPath),
    responses((status = 200, description = "The tenant's usage", body = TenantUsage)))]
async fn usage_get(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<TenantPath>,
) -> ApiResult<Json<TenantUsage>> {
    Ok(Json(state.store.get_usage(&ctx, &path.tenant).await?))
}
