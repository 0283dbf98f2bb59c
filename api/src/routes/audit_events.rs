//! Audit events, newest first: a tenant's for its admins, everything for platform admins.

use axum::Json;
use axum::extract::State;
use logplane_model::{AuditEvent, Page};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::page_response;
use super::tenants::TenantPath;
use crate::app::AppState;
use crate::extract::page::PageParams;
use crate::extract::{ApiPath, Authenticated, PageQuery};
use crate::problem::ApiResult;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(platform_audit_event_list))
        .routes(routes!(audit_event_list))
}

/// List every audit event (platform admins), newest first.
#[utoipa::path(get, path = "/v1/audit-events", operation_id = "platform_audit_event_list", tag = "audit",
    params(PageParams),
    responses((status = 200, description = "One page of events, newest first", body = Page<AuditEvent>)))]
async fn platform_audit_event_list(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    PageQuery(page): PageQuery,
) -> ApiResult<Json<Page<AuditEvent>>> {
    Ok(page_response(
        state.store.list_audit_events(&ctx, None, page).await?,
    ))
}

/// List a tenant's audit events (tenant admins), newest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/audit-events", operation_id = "audit_event_list", tag = "audit",
    params(TenantPath, PageParams),
    responses((status = 200, description = "One page of events, newest first", body = Page<AuditEvent>)))]
async fn audit_event_list(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<TenantPath>,
    PageQuery(page): PageQuery,
) -> ApiResult<Json<Page<AuditEvent>>> {
    Ok(page_response(
        state
            .store
            .list_audit_events(&ctx, Some(&path.tenant), page)
            .await?,
    ))
}
