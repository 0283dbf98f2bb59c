//! What a call can fail with. The server answers every refusal with an RFC 9457 problem
//! document; the client keeps it whole, because its `type`, `errors` and `request_id` are what a
//! caller acts on (fix a field, wait and retry, quote the id in a bug report).

use std::time::Duration;

use logplane_model::Problem;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How much of an undecodable body an error keeps: enough to recognise a proxy's error page,
/// not so much that a log line explodes.
const MAX_BODY_EXCERPT_CHARS: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused the request and said why.
    #[error("{status}: {}{}", .problem.detail, request_id_suffix(.problem))]
    Api {
        status: StatusCode,
        problem: Problem,
        /// Seconds to wait before retrying, from `Retry-After` (sent with 429 and 503).
        retry_after: Option<u64>,
    },
    /// No answer: the server could not be reached, the connection broke, or the request took
    /// longer than the client's timeout.
    #[error("request failed: {0}")]
    Transport(#[source] reqwest::Error),
    /// An answer the client cannot read: a success body that is not the documented type, or an
    /// error body that is not a problem document (a proxy's error page, say).
    #[error("cannot decode the {status} response: {reason}")]
    Decode {
        status: StatusCode,
        reason: String,
        /// The start of the body, for diagnosis.
        body_excerpt: String,
    },
    /// The caller asked for something that cannot be sent: a bad base URL, a name that cannot
    /// be a path segment, a token or request id that is not a valid header value.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

fn request_id_suffix(problem: &Problem) -> String {
    match &problem.request_id {
        Some(id) => format!(" (request id {id})"),
        None => String::new(),
    }
}

impl Error {
    /// The problem document the server answered with, if it refused the request.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Error::Api { problem, .. } => Some(problem),
            _ => None,
        }
    }

    /// The HTTP status of the answer, if there was one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Api { status, .. } | Error::Decode { status, .. } => Some(*status),
            Error::Transport(error) => error.status(),
            Error::InvalidInput(_) => None,
        }
    }

    /// The short problem type (`not-found`, `precondition-failed`, `unavailable`, …).
    pub fn problem_slug(&self) -> Option<&str> {
        self.problem().map(Problem::slug)
    }

    /// How long the server asked the caller to wait before trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api {
                retry_after: Some(seconds),
                ..
            } => Some(Duration::from_secs(*seconds)),
            _ => None,
        }
    }

    /// Whether the same request may succeed later unchanged: the server was overloaded or its
    /// store unreachable (429, 503), or no answer came at all. Writes are idempotent PUTs, so a
    /// caller may retry them too.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS
                    || *status == StatusCode::SERVICE_UNAVAILABLE
            }
            Error::Transport(error) => error.is_connect() || error.is_timeout(),
            Error::Decode { .. } | Error::InvalidInput(_) => false,
        }
    }

    pub(crate) fn decode(status: StatusCode, reason: impl Into<String>, body: &[u8]) -> Error {
        Error::Decode {
            status,
            reason: reason.into(),
            body_excerpt: excerpt(body),
        }
    }

    /// Reads an error answer (status 4xx or 5xx): its problem document and `Retry-After`.
    pub(crate) fn from_error_response(
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Error {
        match serde_json::from_slice::<Problem>(body) {
            Ok(problem) => Error::Api {
                status,
                problem,
                retry_after: retry_after_seconds(headers),
            },
            Err(error) => Error::decode(
                status,
                format!("the error body is not a problem document: {error}"),
                body,
            ),
        }
    }
}

/// `Retry-After` in its delta-seconds form, the only one this server sends. The HTTP-date form
/// needs a clock to interpret and reads as `None`, which callers treat as "pick your own delay".
fn retry_after_seconds(headers: &HeaderMap) -> Option<u64> {
    headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()
}

fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(MAX_BODY_EXCERPT_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    const UNAVAILABLE: &str = r#"{
        "type": "https://logplane.dev/problems/unavailable",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "the store is unreachable; nothing was changed, retry later",
        "request_id": "req-7"
    }"#;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.parse().unwrap(), HeaderValue::from_static(value)))
            .collect()
    }

    #[test]
    fn a_problem_answer_keeps_the_problem_and_retry_after() {
        let error = Error::from_error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &headers(&[("retry-after", "1")]),
            UNAVAILABLE.as_bytes(),
        );
        assert_eq!(error.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(error.problem_slug(), Some("unavailable"));
        assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
        assert!(error.is_retryable());
        let problem = error.problem().unwrap();
        assert_eq!(problem.request_id.as_deref(), Some("req-7"));
        // The message a caller logs names the status, the reason and the id to quote.
        let message = error.to_string();
        assert!(message.contains("503"), "{message}");
        assert!(message.contains("the store is unreachable"), "{message}");
        assert!(message.contains("req-7"), "{message}");
    }

    #[test]
    fn validation_problems_keep_every_field_error() {
        let body = r#"{
            "type": "https://logplane.dev/problems/validation",
            "title": "Unprocessable Entity",
            "status": 422,
            "detail": "invalid input: shard_count: must be between 1 and 256, got 0",
            "errors": [{"field": "shard_count", "message": "must be between 1 and 256, got 0"}]
        }"#;
        let error = Error::from_error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &HeaderMap::new(),
            body.as_bytes(),
        );
        let problem = error.problem().unwrap();
        assert_eq!(problem.errors[0].field, "shard_count");
        assert_eq!(error.retry_after(), None);
        assert!(!error.is_retryable());
    }

    #[test]
    fn an_error_page_that_is_not_a_problem_is_a_decode_error_with_an_excerpt() {
        let page = format!("<html>Bad Gateway{}</html>", "x".repeat(2000));
        let error =
            Error::from_error_response(StatusCode::BAD_GATEWAY, &HeaderMap::new(), page.as_bytes());
        let Error::Decode {
            status,
            body_excerpt,
            ..
        } = &error
        else {
            panic!("expected a decode error, got {error:?}");
        };
        assert_eq!(*status, StatusCode::BAD_GATEWAY);
        assert!(body_excerpt.starts_with("<html>Bad Gateway"));
        assert_eq!(body_excerpt.chars().count(), MAX_BODY_EXCERPT_CHARS);
        assert_eq!(error.problem(), None);
    }

    #[test]
    fn retry_after_in_http_date_form_or_garbage_reads_as_none() {
        for value in ["Wed, 21 Oct 2015 07:28:00 GMT", "soon", "-1"] {
            let mut map = HeaderMap::new();
            map.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
            assert_eq!(retry_after_seconds(&map), None, "{value}");
        }
        assert_eq!(
            retry_after_seconds(&headers(&[("retry-after", " 30 ")])),
            Some(30)
        );
    }
}
