//! `If-Match` and `If-None-Match: *` on writes. The extractor only collects the headers; the
//! handler interprets them after it has checked the names in the path, so a malformed name is
//! reported as such rather than as a failed precondition about it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use logplane_store::Precondition;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::problem::ApiError;

/// The longest entity tag accepted, quotes included.
const MAX_ENTITY_TAG_CHARS: usize = 130;

/// Optimistic concurrency for PUT.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct PutConditionHeaders {
    /// Apply the write only if the resource's current ETag is this one, as sent in `ETag`
    /// (quoted; an unquoted tag is taken as written), or with `*` if the resource exists at all;
    /// otherwise 412.
    #[serde(rename = "If-Match")]
    #[param(
        rename = "If-Match",
        nullable = false,
        min_length = 1,
        max_length = 130
    )]
    pub if_match: Option<String>,
    /// `*`: create only; 412 if the resource already exists. No other value is supported.
    #[serde(rename = "If-None-Match")]
    #[param(rename = "If-None-Match", nullable = false, inline)]
    pub if_none_match: Option<AnyVersion>,
}

/// The only `If-None-Match` value writes support.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub enum AnyVersion {
    #[serde(rename = "*")]
    Any,
}

/// Optimistic concurrency for DELETE.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct DeleteConditionHeaders {
    /// Delete only if the resource's current ETag is this one (or, with `*`, if it exists);
    /// otherwise 412.
    #[serde(rename = "If-Match")]
    #[param(
        rename = "If-Match",
        nullable = false,
        min_length = 1,
        max_length = 130
    )]
    pub if_match: Option<String>,
}

/// The conditional headers of a write, not yet interpreted.
#[derive(Debug, Default)]
pub struct WriteConditions {
    if_match: Option<HeaderValue>,
    if_none_match: Option<HeaderValue>,
}

impl<S: Send + Sync> FromRequestParts<S> for WriteConditions {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_headers(&parts.headers))
    }
}

impl WriteConditions {
    fn from_headers(headers: &HeaderMap) -> Self {
        Self {
            if_match: headers.get("if-match").cloned(),
            if_none_match: headers.get("if-none-match").cloned(),
        }
    }

    /// The precondition of a PUT: `If-Match` or `If-None-Match: *`.
    pub fn for_put(&self) -> Result<Precondition, ApiError> {
        let if_match = header_text(self.if_match.as_ref(), "If-Match")?;
        let if_none_match = header_text(self.if_none_match.as_ref(), "If-None-Match")?;
        match (if_match, if_none_match) {
            (_, Some(value)) if value != "*" => Err(ApiError::BadRequest(
                "If-None-Match supports only `*` on writes".into(),
            )),
            // If-Match needs the resource to exist, If-None-Match: * needs it absent: both can
            // never hold, which is a failed precondition rather than a malformed request.
            (Some(tag), Some(_)) => parse_if_match(tag).map(|_| Precondition::Contradictory),
            (None, Some(_)) => Ok(Precondition::IfAbsent),
            (Some(tag), None) => parse_if_match(tag),
            (None, None) => Ok(Precondition::None),
        }
    }

    /// The precondition of a DELETE: `If-Match` only.
    pub fn for_delete(&self) -> Result<Precondition, ApiError> {
        match header_text(self.if_match.as_ref(), "If-Match")? {
            Some(tag) => parse_if_match(tag),
            None => Ok(Precondition::None),
        }
    }
}

fn header_text<'h>(
    value: Option<&'h HeaderValue>,
    name: &str,
) -> Result<Option<&'h str>, ApiError> {
    match value {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|text| Some(text.trim()))
            .map_err(|_| ApiError::BadRequest(format!("{name} must be visible ASCII"))),
    }
}

/// `*`, or one strong entity tag: quoted as RFC 9110 writes it, or unquoted as many clients send
/// it. A weak tag never matches a write.
fn parse_if_match(text: &str) -> Result<Precondition, ApiError> {
    if text == "*" {
        return Ok(Precondition::IfMatch(None));
    }
    if text.starts_with("W/") {
        return Err(ApiError::PreconditionFailed(
            "a weak ETag never matches a write".into(),
        ));
    }
    let tag = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if tag.is_empty() || text.len() > MAX_ENTITY_TAG_CHARS {
        return Err(ApiError::BadRequest(format!(
            "If-Match must be `*` or an ETag of 1 to {MAX_ENTITY_TAG_CHARS} characters"
        )));
    }
    Ok(Precondition::IfMatch(Some(tag.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conditions(pairs: &[(&'static str, &'static str)]) -> WriteConditions {
        let headers: HeaderMap = pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect();
        WriteConditions::from_headers(&headers)
    }

    #[test]
    fn reads_each_supported_form() {
        assert_eq!(conditions(&[]).for_put().unwrap(), Precondition::None);
        assert_eq!(
            conditions(&[("if-none-match", "*")]).for_put().unwrap(),
            Precondition::IfAbsent
        );
        assert_eq!(
            conditions(&[("if-match", "*")]).for_put().unwrap(),
            Precondition::IfMatch(None)
        );
        let quoted = conditions(&[("if-match", "\"abc\"")]);
        assert_eq!(
            quoted.for_put().unwrap(),
            Precondition::IfMatch(Some("abc".into()))
        );
        assert_eq!(
            quoted.for_delete().unwrap(),
            Precondition::IfMatch(Some("abc".into()))
        );
        let unquoted = conditions(&[("if-match", "abc")]);
        assert_eq!(
            unquoted.for_put().unwrap(),
            Precondition::IfMatch(Some("abc".into()))
        );
    }

    #[test]
    fn refuses_unsupported_forms() {
        assert!(matches!(
            conditions(&[("if-none-match", "\"abc\"")]).for_put(),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            conditions(&[("if-match", "\"\"")]).for_put(),
            Err(ApiError::BadRequest(_))
        ));
        let too_long = Box::leak(format!("\"{}\"", "a".repeat(129)).into_boxed_str());
        assert!(matches!(
            conditions(&[("if-match", too_long)]).for_put(),
            Err(ApiError::BadRequest(_))
        ));
        let both = conditions(&[("if-match", "*"), ("if-none-match", "*")]).for_put();
        assert_eq!(
            both.unwrap(),
            Precondition::Contradictory,
            "both can never hold"
        );
        let weak = conditions(&[("if-match", "W/\"abc\"")]).for_put();
        assert!(matches!(weak, Err(ApiError::PreconditionFailed(_))));
    }

    #[test]
    fn a_malformed_if_match_is_reported_before_the_conflict_with_if_none_match() {
        let empty = conditions(&[("if-match", ""), ("if-none-match", "*")]).for_put();
        assert!(matches!(empty, Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn deletes_ignore_if_none_match() {
        assert_eq!(
            conditions(&[("if-none-match", "*")]).for_delete().unwrap(),
            Precondition::None
        );
    }
}
