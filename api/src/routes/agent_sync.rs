//! `POST /v1/agents/{agent}/sync`: the agent protocol's one call (audience `logplane-agent`).
//! The agent reports, then long-polls for its bundle by hash; see docs/agent-protocol.md.

use std::time::Duration;

use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use logplane_model::{AgentSyncRequest, ConfigBundle, ValidationErrors};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::distribution::SyncOutcome;
use crate::extract::{AgentCaller, ApiJson, ApiPath};
use crate::problem::{ApiError, ApiResult};

/// The longest a sync call waits for a change.
pub const MAX_WAIT_MS: u64 = 60_000;
/// Set (to `true`) on an answer when the call's `seq` did not follow the previous one: the agent
/// must send its attributes and its status in the next call.
pub const FULL_STATE_HEADER: &str = "logplane-report-full-state";
/// Bundle hashes are 64 hex digits; the quotes and some slack bound the header.
const MAX_HASH_HEADER_CHARS: usize = 130;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AgentPath {
    /// The agent's own id: an agent's credential reaches no other.
    #[param(max_length = 64)]
    pub agent: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncParams {
    /// How long to wait for a change when the bundle is still the one named in
    /// `If-None-Match`: 0–60000 ms (default 0, answer at once).
    #[param(minimum = 0, maximum = 60000, nullable = false)]
    pub wait_ms: Option<u64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct SyncHeaders {
    /// The hash of the bundle the agent has, quoted as the `ETag` sent it.
    #[serde(rename = "If-None-Match")]
    #[param(
        rename = "If-None-Match",
        nullable = false,
        min_length = 1,
        max_length = 130
    )]
    pub if_none_match: Option<String>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(agent_sync))
}

fn wait_from_query(query: Option<&str>) -> Result<Duration, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("the query string does not parse: {e}")))?;
    let mut wait = Duration::ZERO;
    for (name, value) in pairs {
        if name != "wait_ms" {
            continue;
        }
        match value.parse::<u64>() {
            Ok(ms) if ms <= MAX_WAIT_MS => wait = Duration::from_millis(ms),
            _ => {
                return Err(ApiError::Validation(ValidationErrors::single(
                    "wait_ms",
                    format!("must be an integer from 0 to {MAX_WAIT_MS}"),
                )));
            }
        }
    }
    Ok(wait)
}

/// The hash an agent has: `"<hash>"` as the ETag was sent, or bare.
fn known_hash(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(header::IF_NONE_MATCH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::BadRequest("If-None-Match must be visible ASCII".into()))?
        .trim();
    let hash = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if hash.is_empty() || text.len() > MAX_HASH_HEADER_CHARS || hash == "*" {
        return Err(ApiError::BadRequest(
            "If-None-Match must name one bundle hash, as its ETag was sent".into(),
        ));
    }
    Ok(Some(hash.to_string()))
}

/// The hash in `If-None-Match`, read where the request holds its headers. Taking the whole
/// `HeaderMap` would copy it for every sync call; and header values share the connection's read
/// buffer, so a copy held through the wait would keep that buffer (8 KiB) alive beside the one
/// hyper reads the next request into.
struct KnownHash(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for KnownHash {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        known_hash(&parts.headers).map(KnownHash)
    }
}

fn with_headers(mut response: Response, hash: &str, full_state_requested: bool) -> Response {
    if let Ok(value) = HeaderValue::from_str(&format!("\"{hash}\"")) {
        response.headers_mut().insert(header::ETAG, value);
    }
    if full_state_requested {
        response
            .headers_mut()
            .insert(FULL_STATE_HEADER, HeaderValue::from_static("true"));
    }
    response
}

/// Report and receive the agent's config bundle (agents).
///
/// The body reports the call's `seq` (one more than the previous call's), the status of the last
/// bundle the agent worked on, and its attributes when they changed. Then: 200 with the bundle,
/// rendered for the agent's type, when it differs from the one named in `If-None-Match`; else the
/// call waits up to `wait_ms` for a change (a config of one of the agent's machine groups, a
/// binding, a rollout, the groups' selectors) and answers 200 as soon as the bundle changes, or
/// 304 without a body at the end of the wait. Both carry the bundle's hash as `ETag`. A `seq`
/// that does not follow the previous one is answered at once with `Logplane-Report-Full-State:
/// true`: the next call must carry the attributes and the status. A 304 with `Retry-After` means
/// the server could not hold the call (too many waiting agents, or shutting down): call again
/// after that many seconds.
#[utoipa::path(post, path = "/v1/agents/{agent}/sync", operation_id = "agent_sync", tag = "agents",
    params(AgentPath, SyncParams, SyncHeaders),
    request_body = AgentSyncRequest,
    responses(
        (status = 200, description = "The agent's bundle", body = ConfigBundle, headers(("ETag" = String, description = "The bundle's hash, quoted"), ("Logplane-Report-Full-State" = String, description = "`true` when the next call must carry the agent's full state"))),
        (status = 304, description = "The bundle is still the one named in If-None-Match", headers(("ETag" = String, description = "The bundle's hash, quoted"), ("Logplane-Report-Full-State" = String, description = "`true` when the next call must carry the agent's full state"), ("Retry-After" = String, description = "Set when the call could not wait: seconds before calling again"))),
    ))]
async fn agent_sync(
    State(state): State<AppState>,
    AgentCaller(ctx): AgentCaller,
    ApiPath(path): ApiPath<AgentPath>,
    RawQuery(query): RawQuery,
    KnownHash(known): KnownHash,
    ApiJson(request): ApiJson<AgentSyncRequest>,
) -> ApiResult<Response> {
    let wait = wait_from_query(query.as_deref())?;
    let report = state
        .store
        .report_agent_sync(&ctx, &path.agent, request)
        .await?;
    let outcome = state
        .distribution
        .sync(state.store.clone(), &ctx, report, known, wait)
        .await?;
    Ok(match outcome {
        SyncOutcome::Changed {
            bundle,
            full_state_requested,
        } => {
            let response = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                bundle.body.clone(),
            )
                .into_response();
            with_headers(response, &bundle.bundle.hash, full_state_requested)
        }
        SyncOutcome::Unchanged {
            hash,
            full_state_requested,
            retry_after_seconds,
        } => {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            if let Some(seconds) = retry_after_seconds {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            with_headers(response, &hash, full_state_requested)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_bounded_and_named_when_refused() {
        assert_eq!(wait_from_query(None).unwrap(), Duration::ZERO);
        assert_eq!(
            wait_from_query(Some("wait_ms=60000")).unwrap(),
            Duration::from_secs(60)
        );
        for bad in ["wait_ms=60001", "wait_ms=-1", "wait_ms=x"] {
            let Err(ApiError::Validation(errors)) = wait_from_query(Some(bad)) else {
                panic!("{bad} should be refused");
            };
            assert_eq!(errors.errors[0].field, "wait_ms");
        }
    }

    #[test]
    fn the_known_hash_is_read_quoted_or_bare() {
        let mut headers = HeaderMap::new();
        assert_eq!(known_hash(&headers).unwrap(), None);
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"abc\""));
        assert_eq!(known_hash(&headers).unwrap().as_deref(), Some("abc"));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("abc"));
        assert_eq!(known_hash(&headers).unwrap().as_deref(), Some("abc"));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(known_hash(&headers).is_err());
    }
}
