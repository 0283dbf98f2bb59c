//! `/v1/tenants/{tenant}/agent-enrollment-tokens` (tenant admins). The secret is in the creation
//! response only; revoking a token stops further enrollments with it.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use logplane_model::{EnrollmentToken, EnrollmentTokenCreated, EnrollmentTokenRequest, Page};
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
pub struct EnrollmentTokenPath {
    #[param(
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9-]*[a-z0-9]$"
    )]
    pub tenant: String,
    /// The token's id, as returned when it was created.
    #[param(max_length = 64)]
    pub token: String,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(enrollment_token_list, enrollment_token_create))
        .routes(routes!(enrollment_token_delete))
}

/// Create an agent enrollment token (tenant admins).
///
/// Agents present its secret to `POST /v1/agents/enroll`, until it expires or is revoked. Labels
/// set here are carried by every agent enrolled with it, over the labels the agent reports. A
/// tenant holds at most 100 unexpired tokens (403 `quota-exceeded`).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/agent-enrollment-tokens", operation_id = "enrollment_token_create", tag = "agents",
    params(TenantPath),
    request_body = EnrollmentTokenRequest,
    responses((status = 201, description = "Created; the secret is shown this once", body = EnrollmentTokenCreated, headers(("Location" = String)))))]
async fn enrollment_token_create(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<TenantPath>,
    ApiJson(request): ApiJson<EnrollmentTokenRequest>,
) -> ApiResult<Response> {
    let secret = new_secret();
    let token = state
        .store
        .create_enrollment_token(&ctx, &path.tenant, request, &hash_secret(&secret))
        .await?;
    let location = format!(
        "/v1/tenants/{}/agent-enrollment-tokens/{}",
        path.tenant, token.id
    );
    let mut response = (
        StatusCode::CREATED,
        Json(EnrollmentTokenCreated { token, secret }),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// List a tenant's enrollment tokens (tenant admins).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/agent-enrollment-tokens", operation_id = "enrollment_token_list", tag = "agents",
    params(TenantPath, PageParams),
    responses((status = 200, description = "One page of tokens, by id; secrets are never listed", body = Page<EnrollmentToken>)))]
async fn enrollment_token_list(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<TenantPath>,
    PageQuery(page): PageQuery,
) -> ApiResult<Json<Page<EnrollmentToken>>> {
    Ok(page_response(
        state
            .store
            .list_enrollment_tokens(&ctx, &path.tenant, page)
            .await?,
    ))
}

/// Revoke an enrollment token. Agents enrolled with it keep their own credentials.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/agent-enrollment-tokens/{token}", operation_id = "enrollment_token_delete", tag = "agents",
    params(EnrollmentTokenPath),
    responses((status = 204, description = "Revoked")))]
async fn enrollment_token_delete(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<EnrollmentTokenPath>,
) -> ApiResult<StatusCode> {
    state
        .store
        .delete_enrollment_token(&ctx, &path.tenant, &path.token)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
