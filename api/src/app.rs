//! The application: shared state and the router with its middleware.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use logplane_model::Quota;
use logplane_model::quota::ApiRate;
use logplane_quota::ApiRateLimiter;
use logplane_store::Store;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::tokens::TokenService;
use crate::distribution::Distribution;
use crate::extract::TrustedProxies;
use crate::extract::body::MAX_BODY_BYTES;
use crate::openapi::{self, OperationIndex};
use crate::problem::ApiError;
use crate::routes;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::request::observe;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub tokens: Arc<TokenService>,
    pub metrics: Arc<Metrics>,
    pub operations: Arc<OperationIndex>,
    /// The management API's budget. Worker and agent protocols get limiters of their own, so a
    /// tenant flooding the API never delays a heartbeat.
    pub api_limits: Arc<ApiRateLimiter>,
    /// Each agent's own budget for the agent protocol.
    pub agent_limits: Arc<ApiRateLimiter>,
    /// Refused credentials by client address.
    pub refusal_limits: Arc<ApiRateLimiter>,
    /// Agents' bundles: snapshots, renders and the long poll.
    pub distribution: Arc<Distribution>,
    /// Whose forwarding headers say who the client is.
    pub trusted_proxies: Arc<TrustedProxies>,
}

/// Where rendered configs send records unless configured (`--ingest-url`).
pub const DEFAULT_INGEST_URL: &str = "http://127.0.0.1:7471";

/// What the application is built with besides its store and token service.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// Every API key's rate; each tenant's comes from its quota.
    pub key_rate: ApiRate,
    /// The API rate of tenants whose quota does not set one (the server's quota default).
    pub default_tenant_rate: ApiRate,
    /// Every agent's rate on the agent protocol.
    pub agent_rate: ApiRate,
    /// Refused credentials per client address that are answered 401 and audited; beyond,
    /// 429 without an audit row (`auth/refusals.rs`).
    pub refused_credential_rate: ApiRate,
    /// The base URL of the ingest service, written into rendered configs.
    pub ingest_url: String,
    /// Sync calls that may wait at once on this replica; beyond, calls are answered without
    /// waiting and told when to call again.
    pub max_waiting_agents: usize,
    /// Proxies whose forwarding header names the client (none: the peer is the client).
    pub trusted_proxies: TrustedProxies,
}

impl Default for AppOptions {
    fn default() -> Self {
        let quota = Quota::default();
        Self {
            key_rate: ApiRate {
                per_sec: 100,
                burst: 200,
            },
            default_tenant_rate: ApiRate {
                per_sec: quota.api_requests_per_sec,
                burst: quota.api_burst,
            },
            // A well-behaved agent calls once per change or per wait; the burst covers a restart
            // with a full-state exchange.
            agent_rate: ApiRate {
                per_sec: 10,
                burst: 30,
            },
            refused_credential_rate: ApiRate {
                per_sec: 10,
                burst: 100,
            },
            ingest_url: DEFAULT_INGEST_URL.to_string(),
            max_waiting_agents: 50_000,
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

/// Every documented route, with its part of the OpenAPI document.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base_document())
        .merge(routes::auth_token::router())
        .merge(routes::tenants::router())
        .merge(routes::projects::router())
        .merge(routes::logstores::router())
        .merge(routes::shards::router())
        .merge(routes::api_keys::router())
        .merge(routes::audit_events::router())
        .merge(routes::quotas::router())
        .merge(routes::query_slots::router())
        .merge(routes::machine_groups::router())
        .merge(routes::collection_configs::router())
        .merge(routes::rollouts::router())
        .merge(routes::bindings::router())
        .merge(routes::enrollment_tokens::router())
        .merge(routes::agents::router())
        .merge(routes::agent_sync::router())
        .merge(routes::workers::router())
        .merge(routes::worker_heartbeat::router())
        .merge(routes::scheduler::router())
        .merge(routes::operations::router())
}

/// The OpenAPI document the routes describe, as served at `/openapi.json`.
pub fn openapi_document() -> OpenApi {
    let (_, document) = api_routes().split_for_parts();
    openapi::complete(document)
}

/// Builds the application. Fails only on options it cannot serve (an ingest URL rendered configs
/// could not use).
pub fn build(
    store: Arc<dyn Store>,
    tokens: Arc<TokenService>,
    options: AppOptions,
) -> Result<Router, String> {
    build_with(store, tokens, options, Arc::new(Metrics::new())).map(|(router, _)| router)
}

/// [`build`] with a metrics registry shared with the background tasks (the scheduler), also
/// handing back the distribution, which the server tells to stop holding waiting agents when it
/// shuts down.
pub fn build_with(
    store: Arc<dyn Store>,
    tokens: Arc<TokenService>,
    options: AppOptions,
    metrics: Arc<Metrics>,
) -> Result<(Router, Arc<Distribution>), String> {
    let (router, document) = api_routes().split_for_parts();
    let document = openapi::complete(document);
    let state = AppState {
        store,
        tokens,
        metrics,
        operations: Arc::new(OperationIndex::from_document(&document)),
        api_limits: Arc::new(ApiRateLimiter::new(
            options.key_rate,
            options.default_tenant_rate,
        )),
        agent_limits: Arc::new(ApiRateLimiter::new(options.agent_rate, options.agent_rate)),
        refusal_limits: Arc::new(ApiRateLimiter::new(
            options.refused_credential_rate,
            options.refused_credential_rate,
        )),
        distribution: Arc::new(Distribution::new(
            &options.ingest_url,
            options.max_waiting_agents,
        )?),
        trusted_proxies: Arc::new(options.trusted_proxies),
    };
    let distribution = state.distribution.clone();
    spawn_limiter_housekeeping(&state.api_limits);
    spawn_limiter_housekeeping(&state.agent_limits);
    spawn_limiter_housekeeping(&state.refusal_limits);
    let router = router
        .merge(SwaggerUi::new("/docs").url("/openapi.json", document))
        .fallback(|| async { ApiError::NotFound("no resource at this path".into()) })
        .layer(CatchPanicLayer::custom(|_panic| {
            ApiError::Internal("a handler panicked".into()).into_response()
        }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state);
    Ok((router, distribution))
}

/// How often idle API-key buckets are forgotten.
const LIMITER_HOUSEKEEPING_INTERVAL: std::time::Duration =
    logplane_quota::rate_limit::HOUSEKEEPING_EPOCH;

/// Forgets idle key buckets now and then; stops when the application (the last `Arc`) is gone.
fn spawn_limiter_housekeeping(limits: &Arc<ApiRateLimiter>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let limits = Arc::downgrade(limits);
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval(LIMITER_HOUSEKEEPING_INTERVAL);
        loop {
            ticks.tick().await;
            let Some(limits) = limits.upgrade() else {
                break;
            };
            limits.forget_idle();
        }
    });
}
