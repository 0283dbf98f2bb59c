//! JSON request bodies: `application/json` only (415), at most 1 MiB (413), well-formed (400),
//! and holding only writable fields of the right types (422, naming each field).

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::problem::ApiError;
use logplane_model::ValidationErrors;

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A type that can be sent as a request body, and the response fields a client must not send.
pub trait RequestBody: DeserializeOwned {
    const READ_ONLY_FIELDS: &'static [&'static str] = &[];
}

impl RequestBody for logplane_model::TenantSpec {
    const READ_ONLY_FIELDS: &'static [&'static str] = logplane_model::META_FIELDS;
}
impl RequestBody for logplane_model::ProjectSpec {
    const READ_ONLY_FIELDS: &'static [&'static str] = logplane_model::META_FIELDS;
}
impl RequestBody for logplane_model::LogstoreSpec {
    const READ_ONLY_FIELDS: &'static [&'static str] = logplane_model::META_FIELDS;
}
impl RequestBody for logplane_model::PlatformApiKeyRequest {
    const READ_ONLY_FIELDS: &'static [&'static str] = &["id", "tenant", "created_at", "secret"];
}
impl RequestBody for logplane_model::TenantApiKeyRequest {
    const READ_ONLY_FIELDS: &'static [&'static str] = &["id", "tenant", "created_at", "secret"];
}
impl RequestBody for logplane_model::TokenRequest {}
impl RequestBody for logplane_model::QuerySlotRequest {
    const READ_ONLY_FIELDS: &'static [&'static str] = &["slot_id", "lease_ttl_ms"];
}
impl RequestBody for logplane_model::WorkerSpec {
    const READ_ONLY_FIELDS: &'static [&'static str] = &[
        "id",
        "state",
        "live",
        "lease_expires_at",
        "last_heartbeat_at",
        "assignment_version",
        "applied_assignment_version",
        "ingest_shards",
        "query_shards",
        "created_at",
        "updated_at",
        "etag",
    ];
}
impl RequestBody for logplane_model::WorkerHeartbeat {
    const READ_ONLY_FIELDS: &'static [&'static str] = &[
        "lease_ttl_ms",
        "assignment_version",
        "assignment",
        "tenant_limits",
        "state",
    ];
}
impl RequestBody for logplane_model::ShardSplitRequest {}
impl RequestBody for logplane_model::QuotaSpec {
    const READ_ONLY_FIELDS: &'static [&'static str] =
        &["effective", "overrides", "updated_at", "etag"];
}
impl RequestBody for logplane_model::MachineGroupSpec {
    const READ_ONLY_FIELDS: &'static [&'static str] = logplane_model::META_FIELDS;
}
impl RequestBody for logplane_model::CollectionConfigSpec {
    const READ_ONLY_FIELDS: &'static [&'static str] = &[
        "name",
        "created_at",
        "updated_at",
        "etag",
        "revision",
        "content_hash",
    ];
}
impl RequestBody for logplane_model::RolloutRequest {
    const READ_ONLY_FIELDS: &'static [&'static str] = &[
        "revision",
        "previous_revision",
        "paused",
        "paused_reason",
        "updated_at",
    ];
}
impl RequestBody for logplane_model::RollbackRequest {}
impl RequestBody for logplane_model::collection_config::PreviewRequest {
    const READ_ONLY_FIELDS: &'static [&'static str] = &["entries"];
}
impl RequestBody for logplane_model::EnrollmentTokenRequest {
    const READ_ONLY_FIELDS: &'static [&'static str] = &["id", "created_at", "expires_at", "secret"];
}
impl RequestBody for logplane_model::AgentEnrollRequest {
    const READ_ONLY_FIELDS: &'static [&'static str] = &["agent_id", "tenant", "api_key"];
}
impl RequestBody for logplane_model::AgentSyncRequest {
    const READ_ONLY_FIELDS: &'static [&'static str] = &["hash", "configs", "files"];
}

pub struct ApiJson<T>(pub T);

impl<T: RequestBody, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        check_content_type(&request)?;
        let bytes = read_limited(request.into_body()).await?;
        parse_body(&bytes).map(ApiJson)
    }
}

fn check_content_type(request: &Request) -> Result<(), ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        return Ok(());
    }
    Err(ApiError::UnsupportedMediaType(format!(
        "the request body must be application/json, not {:?}",
        if content_type.is_empty() {
            "(none)"
        } else {
            content_type
        }
    )))
}

async fn read_limited(body: Body) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|error| {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::PayloadTooLarge {
                    limit: MAX_BODY_BYTES,
                }
            } else {
                ApiError::BadRequest(format!("could not read the request body: {error}"))
            }
        })
}

/// Parses a body in three steps, so each kind of mistake gets its own answer: syntax (400),
/// read-only fields (422), then types and unknown fields (422 with the JSON path).
pub fn parse_body<T: RequestBody>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err(ApiError::validation(
            "",
            "the request body must be a JSON object",
        ));
    };
    let mut read_only = ValidationErrors::new();
    for field in T::READ_ONLY_FIELDS
        .iter()
        .filter(|f| object.contains_key(**f))
    {
        read_only.add(
            *field,
            "is read-only: the server sets it; leave it out of the request",
        );
    }
    if !read_only.is_empty() {
        return Err(ApiError::Validation(read_only));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let (field, message) = describe_deserialize_error(&error);
        ApiError::validation(field, message)
    })
}

fn describe_deserialize_error(
    error: &serde_path_to_error::Error<serde_json::Error>,
) -> (String, String) {
    let path = error.path().to_string();
    let parent = if path == "." {
        String::new()
    } else {
        path.clone()
    };
    let message = error.inner().to_string();
    // For an unknown field the path already ends with the offending key; for a missing one it
    // ends at the object that lacks it.
    if backticked_after(&message, "unknown field `").is_some() {
        return (parent, "is not a known field".to_string());
    }
    if let Some(name) = backticked_after(&message, "missing field `") {
        let field = if parent.is_empty() {
            name.to_string()
        } else {
            format!("{parent}.{name}")
        };
        return (field, "is required".to_string());
    }
    (parent, message)
}

fn backticked_after<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use logplane_model::{LogstoreSpec, ProjectSpec, TenantApiKeyRequest};

    fn fields(error: ApiError) -> Vec<(String, String)> {
        match error {
            ApiError::Validation(errors) => errors
                .errors
                .into_iter()
                .map(|e| (e.field, e.message))
                .collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn names_unknown_fields_with_their_path() {
        let error = parse_body::<LogstoreSpec>(br#"{"auto_split": {"enabled": true, "max": 3}}"#)
            .err()
            .unwrap();
        assert_eq!(
            fields(error),
            [(
                "auto_split.max".to_string(),
                "is not a known field".to_string()
            )]
        );
        let error = parse_body::<ProjectSpec>(br#"{"owner": "x"}"#)
            .err()
            .unwrap();
        assert_eq!(fields(error)[0].0, "owner");
    }

    #[test]
    fn names_read_only_fields() {
        let error =
            parse_body::<ProjectSpec>(br#"{"etag": "1", "created_at": "x", "description": ""}"#)
                .err()
                .unwrap();
        let named: Vec<_> = fields(error).into_iter().map(|(f, _)| f).collect();
        assert_eq!(named, ["created_at", "etag"]);
    }

    #[test]
    fn names_fields_of_the_wrong_type_and_missing_ones() {
        let error = parse_body::<LogstoreSpec>(br#"{"retention_days": "long"}"#)
            .err()
            .unwrap();
        assert_eq!(fields(error)[0].0, "retention_days");
        let error = parse_body::<TenantApiKeyRequest>(br#"{"role": "viewer"}"#)
            .err()
            .unwrap();
        assert_eq!(
            fields(error),
            [("name".to_string(), "is required".to_string())]
        );
    }

    #[test]
    fn malformed_json_is_a_bad_request() {
        assert!(matches!(
            parse_body::<ProjectSpec>(b"{"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_body::<ProjectSpec>(b"[]"),
            Err(ApiError::Validation(_))
        ));
    }
}
