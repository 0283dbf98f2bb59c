//! Liveness, readiness and metrics, for load balancers and Prometheus. Unauthenticated: they
//! reveal nothing about tenants.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use logplane_model::Health;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::problem::{ApiError, ApiResult};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health_check))
        .routes(routes!(readiness_check))
        .routes(routes!(metrics_get))
}

/// Whether the process is alive.
#[utoipa::path(get, path = "/healthz", operation_id = "health_check", tag = "operations",
    responses((status = 200, description = "The process is alive", body = Health)))]
async fn health_check() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Whether this replica can serve: the store is reachable and fully migrated.
#[utoipa::path(get, path = "/readyz", operation_id = "readiness_check", tag = "operations",
    responses((status = 200, description = "Ready to serve", body = Health)))]
async fn readiness_check(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    state
        .store
        .check_ready()
        .await
        .map_err(|error| match ApiError::from(error) {
            ApiError::Internal(reason) => {
                ApiError::Unavailable(format!("the store is not ready: {reason}"))
            }
            other => other,
        })?;
    Ok(Json(Health {
        status: "ready".into(),
    }))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics_get", tag = "operations",
    responses((status = 200, description = "Metrics", body = String, content_type = "text/plain; version=0.0.4")))]
async fn metrics_get(State(state): State<AppState>) -> Response {
    let body = state
        .metrics
        .render(state.store.pool_stats(), state.distribution.waiting_calls());
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
