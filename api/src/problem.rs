//! Errors as the API answers them: RFC 9457 problem details. A handler returns an [`ApiError`];
//! the response carries the [`Problem`] as an extension, and the request middleware, which knows
//! the request id, writes it out as `application/problem+json`. Responses made by axum itself
//! (404 for unknown paths, 405) get the same treatment there.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use logplane_model::problem::{PROBLEM_TYPE_BASE, QuotaViolation};
use logplane_model::{FieldError, Problem, ValidationErrors};
use logplane_quota::{RateLimitStatus, RateLimited};
use logplane_store::StoreError;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Seconds a client should wait before retrying after a 503 or 429.
const RETRY_AFTER_SECONDS: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("the request body exceeds {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error(transparent)]
    Validation(ValidationErrors),
    #[error("{detail}")]
    QuotaExceeded {
        detail: String,
        quota: QuotaViolation,
    },
    #[error("{detail}")]
    RateLimited {
        detail: String,
        limited: RateLimited,
    },
    /// A query-slot request the tenant's queue could not take or serve in time.
    #[error("{detail}")]
    QueueLimited {
        detail: String,
        retry_after_seconds: u64,
    },
    #[error("{0}")]
    Unavailable(String),
    /// Details go to the log, never to the client.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(ValidationErrors::single(field, message))
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::QuotaExceeded { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } | ApiError::QueueLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad-request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::QuotaExceeded { .. } => "quota-exceeded",
            ApiError::NotFound(_) => "not-found",
            ApiError::Conflict(_) => "conflict",
            ApiError::PreconditionFailed(_) => "precondition-failed",
            ApiError::PayloadTooLarge { .. } => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::Validation(_) => "validation",
            ApiError::RateLimited { .. } => "rate-limited",
            ApiError::QueueLimited { .. } => "query-queue-limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            ApiError::Internal(_) => {
                "the server failed to handle the request; quote the request id when reporting it"
                    .to_string()
            }
            other => other.to_string(),
        };
        Problem {
            problem_type: format!("{PROBLEM_TYPE_BASE}{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail,
            request_id: None,
            errors: match self {
                ApiError::Validation(errors) => errors.errors.clone(),
                _ => Vec::<FieldError>::new(),
            },
            quota: match self {
                ApiError::QuotaExceeded { quota, .. } => Some(quota.clone()),
                _ => None,
            },
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            StoreError::Forbidden(why) => ApiError::Forbidden(why),
            StoreError::PreconditionFailed(why) => ApiError::PreconditionFailed(why),
            StoreError::Conflict(why) => ApiError::Conflict(why),
            StoreError::Invalid(errors) => ApiError::Validation(errors),
            StoreError::QuotaExceeded(exceeded) => ApiError::QuotaExceeded {
                detail: exceeded.to_string(),
                quota: QuotaViolation {
                    name: exceeded.quota.to_string(),
                    limit: exceeded.limit,
                    usage: exceeded.usage,
                },
            },
            StoreError::Unavailable {
                reason,
                may_have_committed,
            } => {
                tracing::warn!(%reason, may_have_committed, "store unavailable");
                ApiError::Unavailable(if may_have_committed {
                    "the store became unreachable while committing: the change may or may not have been applied; retry the idempotent request".to_string()
                } else {
                    "the store is unreachable; nothing was changed, retry later".to_string()
                })
            }
            StoreError::Fenced(reason) => {
                tracing::warn!(%reason, "a leader-only write was fenced");
                ApiError::Unavailable("this replica is no longer the leader; retry".to_string())
            }
            StoreError::Transient(reason) | StoreError::Internal(reason) => {
                ApiError::Internal(reason)
            }
        }
    }
}

/// Marks a response whose body is still to be written as a problem document.
#[derive(Debug, Clone)]
pub struct PendingProblem(pub Problem);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(reason) = &self {
            tracing::error!(%reason, "internal error");
        }
        let status = self.status();
        let mut response = status.into_response();
        match status {
            StatusCode::SERVICE_UNAVAILABLE => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            }
            StatusCode::UNAUTHORIZED => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        if let ApiError::QueueLimited {
            retry_after_seconds,
            ..
        } = &self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
        }
        if let ApiError::RateLimited { limited, .. } = &self {
            let headers = response.headers_mut();
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(limited.retry_after_seconds()),
            );
            insert_rate_limit_headers(headers, &limited.status);
        }
        response
            .extensions_mut()
            .insert(PendingProblem(self.to_problem()));
        response
    }
}

/// A problem for a status axum produced on its own (unknown path, method not allowed, …).
pub fn problem_for_status(status: StatusCode) -> Problem {
    let (slug, detail) = match status {
        StatusCode::NOT_FOUND => ("not-found", "no resource at this path"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method-not-allowed",
            "this path does not support the method; see the Allow header",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload-too-large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported-media-type",
            "the request body must be application/json",
        ),
        StatusCode::INTERNAL_SERVER_ERROR => {
            ("internal", "the server failed to handle the request")
        }
        _ => ("error", "the request failed"),
    };
    Problem {
        problem_type: format!("{PROBLEM_TYPE_BASE}{slug}"),
        title: status.canonical_reason().unwrap_or("Error").to_string(),
        status: status.as_u16(),
        detail: detail.to_string(),
        request_id: None,
        errors: Vec::new(),
        quota: None,
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (IETF httpapi draft), on
/// admitted and refused requests alike.
pub fn insert_rate_limit_headers(headers: &mut axum::http::HeaderMap, status: &RateLimitStatus) {
    headers.insert("ratelimit-limit", HeaderValue::from(status.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(status.remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(status.reset_seconds));
}
