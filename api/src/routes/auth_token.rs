//! `POST /v1/auth/token`: exchanges an API key for a short-lived access token.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use logplane_model::AuditResult;
use logplane_model::audit::NewAuditEvent;
use logplane_model::{TokenRequest, TokenResponse};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::refusals::refuse;
use crate::auth::secrets::hash_secret;
use crate::extract::ClientAddress;
use crate::extract::{ApiJson, RequestId};
use crate::problem::{ApiError, ApiResult};

/// Secrets this server issues are 67 characters; anything far longer is not one.
const MAX_API_KEY_CHARS: usize = 256;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(token_create))
}

/// Exchange an API key for an access token.
///
/// The token's audience follows the key's role: management API keys get `logplane-api`, worker
/// keys `logplane-worker`, query-frontend keys `logplane-query`, and the API keys agents receive
/// at enrollment `logplane-agent`.
#[utoipa::path(post, path = "/v1/auth/token", operation_id = "token_create", tag = "auth",
    request_body = TokenRequest,
    responses((status = 200, description = "An access token", body = TokenResponse)))]
async fn token_create(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    client: ClientAddress,
    ApiJson(request): ApiJson<TokenRequest>,
) -> ApiResult<Json<TokenResponse>> {
    if request.api_key.len() > MAX_API_KEY_CHARS {
        return Err(ApiError::validation(
            "api_key",
            format!("must be at most {MAX_API_KEY_CHARS} characters"),
        ));
    }
    let Some(caller) = state
        .store
        .find_key_by_secret_hash(&hash_secret(&request.api_key))
        .await?
    else {
        let event = NewAuditEvent {
            tenant: None,
            actor: "anonymous".to_string(),
            action: "token_create".to_string(),
            resource: "auth/token".to_string(),
            result: AuditResult::Denied,
            reason: Some("unknown or revoked API key".to_string()),
            request_id: Some(request_id.0),
            client_address: None,
        };
        let reason = "the API key is unknown or has been revoked".to_string();
        return Err(refuse(&state, client, event, reason).await);
    };
    let access_token = state
        .tokens
        .mint(&caller)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: state.tokens.ttl().as_secs(),
    }))
}
