//! `If-Match` and `If-None-Match: *` on writes.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use logplane_store::Precondition;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::problem::ApiError;

/// Optimistic concurrency for PUT and DELETE.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct WriteConditionHeaders {
    /// Apply the write only if the resource's current ETag is this one (or, with `*`, if it
    /// exists at all); otherwise 412.
    #[serde(rename = "If-Match")]
    #[param(rename = "If-Match")]
    pub if_match: Option<String>,
    /// `*`: create only; 412 if the resource already exists. No other value is supported.
    #[serde(rename = "If-None-Match")]
    #[param(rename = "If-None-Match")]
    pub if_none_match: Option<String>,
}

/// The precondition a request's headers ask for.
pub struct WriteConditions(pub Precondition);

impl<S: Send + Sync> FromRequestParts<S> for WriteConditions {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse(&parts.headers).map(WriteConditions)
    }
}

fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|text| Some(text.trim()))
            .map_err(|_| ApiError::BadRequest(format!("{name} must be visible ASCII"))),
    }
}

fn parse(headers: &HeaderMap) -> Result<Precondition, ApiError> {
    let if_match = header_text(headers, "if-match")?;
    let if_none_match = header_text(headers, "if-none-match")?;
    match (if_match, if_none_match) {
        (Some(_), Some(_)) => Err(ApiError::BadRequest(
            "send either If-Match or If-None-Match, not both".into(),
        )),
        (None, Some("*")) => Ok(Precondition::IfAbsent),
        (None, Some(_)) => Err(ApiError::BadRequest(
            "If-None-Match supports only `*` on writes".into(),
        )),
        (Some("*"), None) => Ok(Precondition::IfMatch(None)),
        (Some(tag), None) => parse_entity_tag(tag).map(|tag| Precondition::IfMatch(Some(tag))),
        (None, None) => Ok(Precondition::None),
    }
}

/// Accepts one strong entity tag, quoted as RFC 9110 requires; weak tags never match a write.
fn parse_entity_tag(text: &str) -> Result<String, ApiError> {
    if text.starts_with("W/") {
        return Err(ApiError::PreconditionFailed(
            "a weak ETag never matches a write".into(),
        ));
    }
    let inner = text.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
    match inner {
        Some(tag) if !tag.contains('"') && !tag.is_empty() && tag.len() <= 128 => {
            Ok(tag.to_string())
        }
        _ => Err(ApiError::BadRequest(
            "If-Match must be `*` or one quoted ETag such as \"0f3a…\"".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn reads_each_supported_form() {
        assert_eq!(parse(&headers(&[])).unwrap(), Precondition::None);
        assert_eq!(
            parse(&headers(&[("if-none-match", "*")])).unwrap(),
            Precondition::IfAbsent
        );
        assert_eq!(
            parse(&headers(&[("if-match", "*")])).unwrap(),
            Precondition::IfMatch(None)
        );
        assert_eq!(
            parse(&headers(&[("if-match", "\"abc\"")])).unwrap(),
            Precondition::IfMatch(Some("abc".into()))
        );
    }

    #[test]
    fn refuses_unsupported_forms() {
        assert!(parse(&headers(&[("if-match", "abc")])).is_err());
        assert!(parse(&headers(&[("if-none-match", "\"abc\"")])).is_err());
        assert!(parse(&headers(&[("if-match", "*"), ("if-none-match", "*")])).is_err());
        assert!(matches!(
            parse(&headers(&[("if-match", "W/\"abc\"")])),
            Err(ApiError::PreconditionFailed(_))
        ));
    }
}
