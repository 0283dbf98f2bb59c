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
}

/// What the application is built with besides its store and token service.
#[derive(Debug, Clone, Copy)]
pub struct AppOptions {
    /// Every API key's rate; each tenant's comes from its quota.
    pub key_rate: ApiRate,
    /// The API rate of tenants whose quota does not set one (the server's quota default).
    pub default_tenant_rate: ApiRate,
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

pub fn build(store: Arc<dyn Store>, tokens: Arc<TokenService>, options: AppOptions) -> Router {
    build_with_metrics(store, tokens, options, Arc::new(Metrics::new()))
}

/// [`build`] with a metrics registry shared with the background tasks (the scheduler).
pub fn build_with_metrics(
    store: Arc<dyn Store>,
    tokens: Arc<TokenService>,
    options: AppOptions,
    metrics: Arc<Metrics>,
) -> Router {
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
    };
    spawn_limiter_housekeeping(&state.api_limits);
    router
        .merge(SwaggerUi::new("/docs").url("/openapi.json", document))
        .fallback(|| async { ApiError::NotFound("no resource at this path".into()) })
        .layer(CatchPanicLayer::custom(|_panic| {
            ApiError::Internal("a handler panicked".into()).into_response()
        }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
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
