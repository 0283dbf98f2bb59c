//! Agents: enrollment (`POST /v1/agents/enroll`, the token is the credential), the tenant's list
//! of agents, and removing one (which revokes its credential).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use logplane_model::audit::NewAuditEvent;
use logplane_model::{Agent, AgentEnrollRequest, AgentEnrolled, AuditResult, Page};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::page_response;
use super::tenants::TenantPath;
use crate::app::AppState;
use crate::auth::refusals::refuse;
use crate::auth::secrets::{hash_secret, new_secret};
use crate::extract::ClientAddress;
use crate::extract::page::PageParams;
use crate::extract::{ApiJson, ApiPath, Authenticated, PageQuery, RequestId};
use crate::problem::ApiResult;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TenantAgentPath {
    #[param(
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9-]*[a-z0-9]$"
    )]
    pub tenant: String,
    /// The agent's id, as returned at enrollment.
    #[param(max_length = 64)]
    pub agent: String,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(agent_enroll))
        .routes(routes!(agent_list))
        .routes(routes!(agent_delete))
}

/// Enroll an agent with an enrollment token.
///
/// Needs no bearer token: the enrollment token's secret is the credential (401 when it is
/// unknown, expired or revoked). Answers the agent's id and, this once, its API key; exchange the
/// key at `POST /v1/auth/token` for tokens of audience `logplane-agent`, which reach only this
/// agent's own endpoints.
#[utoipa::path(post, path = "/v1/agents/enroll", operation_id = "agent_enroll", tag = "agents",
    request_body = AgentEnrollRequest,
    responses((status = 201, description = "Enrolled; the API key is shown this once", body = AgentEnrolled, headers(("Location" = String)))))]
async fn agent_enroll(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    client: ClientAddress,
    ApiJson(request): ApiJson<AgentEnrollRequest>,
) -> ApiResult<Response> {
    let token_hash = hash_secret(&request.token);
    let api_key = new_secret();
    let enrolled = state
        .store
        .enroll_agent(
            &token_hash,
            request,
            &hash_secret(&api_key),
            Some(request_id.0.clone()),
        )
        .await?;
    let Some(enrolled) = enrolled else {
        let event = NewAuditEvent {
            tenant: None,
            actor: "anonymous".to_string(),
            action: "agent_enroll".to_string(),
            resource: "agents/enroll".to_string(),
            result: AuditResult::Denied,
            reason: Some("unknown, expired or revoked enrollment token".to_string()),
            request_id: Some(request_id.0),
            client_address: None,
        };
        let reason = "the enrollment token is unknown, expired or revoked".to_string();
        return Err(refuse(&state, client, event, reason).await);
    };
    let location = format!(
        "/v1/tenants/{}/agents/{}",
        enrolled.tenant, enrolled.agent_id
    );
    let body = AgentEnrolled {
        agent_id: enrolled.agent_id,
        tenant: enrolled.tenant,
        api_key,
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// List a tenant's agents.
///
/// Each with what it reported, when it was last heard from (`online` turns false after the
/// server's offline threshold), the hash of the bundle it was sent and of the one it applied.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/agents", operation_id = "agent_list", tag = "agents",
    params(TenantPath, PageParams),
    responses((status = 200, description = "One page of agents, by id", body = Page<Agent>)))]
async fn agent_list(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<TenantPath>,
    PageQuery(page): PageQuery,
) -> ApiResult<Json<Page<Agent>>> {
    Ok(page_response(
        state.store.list_agents(&ctx, &path.tenant, page).await?,
    ))
}

/// Remove an agent (tenant admins). Its credential stops working at once; to come back it must
/// enroll again.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/agents/{agent}", operation_id = "agent_delete", tag = "agents",
    params(TenantAgentPath),
    responses((status = 204, description = "Removed")))]
async fn agent_delete(
    State(state): State<AppState>,
    Authenticated(ctx): Authenticated,
    ApiPath(path): ApiPath<TenantAgentPath>,
) -> ApiResult<StatusCode> {
    state
        .store
        .delete_agent(&ctx, &path.tenant, &path.agent)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
