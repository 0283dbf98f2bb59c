//! Who is calling: the bearer token is verified, then the key it was minted from is looked up,
//! so a revoked key's tokens stop working at once and a token's claims can never claim more than
//! its key holds.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use logplane_model::AuditResult;
use logplane_model::audit::NewAuditEvent;
use std::sync::{Arc, OnceLock};

use logplane_quota::{Budget, RateLimitStatus};
use logplane_store::{Ctx, KeyIdentity};

use crate::app::AppState;
use crate::auth::refusals::refuse;
use crate::extract::ClientAddress;
use crate::problem::ApiError;

/// The id of the request, set by the request middleware before any extractor runs.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The OpenAPI operation id of the matched route (`project_get`), or `unmatched`.
#[derive(Debug, Clone, Copy)]
pub struct OperationId(pub &'static str);

/// An authenticated caller of the management API (audience `logplane-api`), within its
/// API rate budgets.
pub struct Authenticated(pub Ctx);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let identity = identify(parts, state, logplane_model::authz::AUDIENCE_API).await?;
        admit(parts, state, &identity)?;
        Ok(Authenticated(context(parts, identity.caller)))
    }
}

/// An authenticated query frontend (audience `logplane-query`). Its requests are bounded by the
/// tenants' query queues rather than by the management API's rate budgets.
pub struct QueryFrontend(pub Ctx);

impl FromRequestParts<AppState> for QueryFrontend {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let identity = identify(parts, state, logplane_model::authz::AUDIENCE_QUERY).await?;
        Ok(QueryFrontend(context(parts, identity.caller)))
    }
}

/// An authenticated agent (audience `logplane-agent`), within its own request budget: agent
/// fleets are far larger than a tenant's API budget, so each agent is limited on its own and never
/// draws on the management API's budgets.
pub struct AgentCaller(pub Ctx);

impl FromRequestParts<AppState> for AgentCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let identity = identify(parts, state, logplane_model::authz::AUDIENCE_AGENT).await?;
        if let Err(limited) = state
            .agent_limits
            .check_name(Budget::Agent, &identity.caller.key_id)
        {
            return Err(ApiError::RateLimited {
                detail: format!(
                    "this agent's request rate is exhausted; retry in {} s",
                    limited.retry_after_seconds()
                ),
                limited,
            });
        }
        Ok(AgentCaller(context(parts, identity.caller)))
    }
}

/// An authenticated worker (audience `logplane-worker`). Like query frontends, workers are not
/// held to the management API's rate budgets: their requests are bounded by the pool's size and
/// the heartbeat interval, and a tenant flooding the API must never delay a heartbeat.
pub struct Worker(pub Ctx);

impl FromRequestParts<AppState> for Worker {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let identity = identify(parts, state, logplane_model::authz::AUDIENCE_WORKER).await?;
        Ok(Worker(context(parts, identity.caller)))
    }
}

/// The store's context for an identified caller: who, which request, from where.
fn context(parts: &Parts, caller: logplane_model::Caller) -> Ctx {
    let client = ClientAddress::of(parts)
        .0
        .map(|address| address.to_string());
    Ctx::new(caller, request_id(parts)).with_client_address(client)
}

fn request_id(parts: &Parts) -> Option<String> {
    parts.extensions.get::<RequestId>().map(|id| id.0.clone())
}

/// The key behind the request's token for `audience`; a refused credential is audited.
async fn identify(
    parts: &Parts,
    state: &AppState,
    audience: &str,
) -> Result<KeyIdentity, ApiError> {
    match authenticate(parts, state, audience).await {
        Ok(identity) => Ok(identity),
        Err(Refusal::Store(error)) => Err(error),
        Err(Refusal::Credential(reason)) => {
            let operation = parts
                .extensions
                .get::<OperationId>()
                .map_or("unmatched", |op| op.0);
            let event = NewAuditEvent {
                tenant: None,
                actor: "anonymous".to_string(),
                action: operation.to_string(),
                resource: parts.uri.path().chars().take(512).collect(),
                result: AuditResult::Denied,
                reason: Some(reason.clone()),
                request_id: request_id(parts),
                client_address: None,
            };
            Err(refuse(state, ClientAddress::of(parts), event, reason).await)
        }
    }
}

enum Refusal {
    /// The credential is missing or not acceptable: 401.
    Credential(String),
    /// The store could not be asked: 503, not the caller's fault.
    Store(ApiError),
}

async fn authenticate(
    parts: &Parts,
    state: &AppState,
    audience: &str,
) -> Result<KeyIdentity, Refusal> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Err(Refusal::Credential(
            "an Authorization: Bearer <token> header is required".into(),
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| {
            Refusal::Credential("the Authorization header must be `Bearer <token>`".into())
        })?;
    let claims = state
        .tokens
        .verify(token, audience)
        .map_err(|e| Refusal::Credential(e.to_string()))?;
    // Agent tokens name agents, other tokens API keys: each is looked up where it lives.
    let found = if audience == logplane_model::authz::AUDIENCE_AGENT {
        state.store.find_agent_by_id(&claims.sub).await
    } else {
        state.store.find_key_by_id(&claims.sub).await
    };
    let key = found
        .map_err(|e| Refusal::Store(ApiError::from(e)))?
        .ok_or_else(|| {
            Refusal::Credential("the API key this token was issued for has been revoked".into())
        })?;
    if key.caller.role.as_str() != claims.role || key.caller.tenant != claims.tenant {
        return Err(Refusal::Credential(
            "the token's claims do not match its API key".into(),
        ));
    }
    Ok(key)
}

/// Where the request middleware finds the rate-limit status of an admitted request, to put in
/// its response headers.
#[derive(Debug, Clone, Default)]
pub struct RateLimitSlot(pub Arc<OnceLock<RateLimitStatus>>);

/// Applies the tenant's and the key's API budgets. Refusals are counted in the metrics but not
/// audited: writing an audit row per refused request would turn a flood into a write load.
fn admit(parts: &Parts, state: &AppState, identity: &KeyIdentity) -> Result<(), ApiError> {
    let tenant = identity.caller.tenant.as_deref().zip(identity.api_rate);
    match state.api_limits.check(tenant, &identity.caller.key_id) {
        Ok(status) => {
            if let Some(slot) = parts.extensions.get::<RateLimitSlot>() {
                let _ = slot.0.set(status);
            }
            Ok(())
        }
        Err(limited) => Err(ApiError::RateLimited {
            detail: format!(
                "the API rate limit of this {} is exhausted; retry in {} s",
                limited.budget.as_str(),
                limited.retry_after_seconds()
            ),
            limited,
        }),
    }
}
