//! The middleware every request passes: it assigns the request id, names the operation, renders
//! problems (including axum's own 404 and 405) with the request id in them, and writes one log
//! line and the metrics per request.

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::app::AppState;
use crate::extract::caller::RateLimitSlot;
use crate::extract::{ClientAddress, OperationId, RequestId};
use crate::problem::{
    PROBLEM_CONTENT_TYPE, PendingProblem, insert_rate_limit_headers, problem_for_status,
};

pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Incoming ids longer than this, or with other than visible ASCII, are replaced.
const MAX_REQUEST_ID_CHARS: usize = 128;

pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id =
        incoming_request_id(&request).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let operation = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|path| state.operations.lookup(request.method(), path.as_str()))
        .unwrap_or("unmatched");
    let method = request.method().clone();
    let client = ClientAddress(
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|peer| {
                state
                    .trusted_proxies
                    .client_address(peer.0.ip(), request.headers())
            }),
    );
    request.extensions_mut().insert(client);
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));
    request.extensions_mut().insert(OperationId(operation));
    let rate_limit = RateLimitSlot::default();
    request.extensions_mut().insert(rate_limit.clone());

    let mut response = next.run(request).await;
    if let Some(status) = rate_limit.0.get() {
        insert_rate_limit_headers(response.headers_mut(), status);
    }
    render_problem(&mut response, &request_id);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }

    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state.metrics.observe_request(operation, status, elapsed);
    tracing::info!(
        request_id = %request_id,
        operation,
        method = %method,
        status,
        client = client.0.map(tracing::field::display),
        duration_ms = elapsed.as_micros() as f64 / 1000.0,
        "request"
    );
    response
}

fn incoming_request_id(request: &Request) -> Option<String> {
    let value = request.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let acceptable = !value.is_empty()
        && value.len() <= MAX_REQUEST_ID_CHARS
        && value.bytes().all(|b| b.is_ascii_graphic());
    acceptable.then(|| value.to_string())
}

/// Writes the body of an error response: the problem a handler raised, or one made for a status
/// axum answered on its own (keeping headers such as `Allow`).
fn render_problem(response: &mut Response, request_id: &str) {
    let pending = response.extensions_mut().remove::<PendingProblem>();
    let status = response.status();
    let mut problem = match pending {
        Some(PendingProblem(problem)) => problem,
        None if status.is_client_error() || status.is_server_error() => {
            let has_body_type = response.headers().contains_key(header::CONTENT_TYPE);
            if has_body_type && status.as_u16() != 405 && status.as_u16() != 413 {
                return;
            }
            problem_for_status(status)
        }
        None => return,
    };
    problem.request_id = Some(request_id.to_string());
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
    );
    response.headers_mut().remove(header::CONTENT_LENGTH);
    *response.body_mut() = Body::from(body);
}
