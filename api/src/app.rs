//! The application: shared state and the router with its middleware.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
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
        .merge(routes::operations::router())
}

/// The OpenAPI document the routes describe, as served at `/openapi.json`.
pub fn openapi_document() -> OpenApi {
    let (_, document) = api_routes().split_for_parts();
    openapi::complete(document)
}

pub fn build(store: Arc<dyn Store>, tokens: Arc<TokenService>) -> Router {
    let (router, document) = api_routes().split_for_parts();
    let document = openapi::complete(document);
    let state = AppState {
        store,
        tokens,
        metrics: Arc::new(Metrics::new()),
        operations: Arc::new(OperationIndex::from_document(&document)),
    };
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
