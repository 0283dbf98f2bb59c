//! `?page_size=&page_token=` on lists. The token is opaque to clients: a versioned, base64url
//! encoding of where the previous page stopped.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use logplane_model::ValidationErrors;
use logplane_model::page::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageRequest};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::problem::ApiError;

const TOKEN_VERSION: &str = "v1:";
const MAX_TOKEN_CHARS: usize = 512;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000, nullable = false)]
    pub page_size: Option<u32>,
    /// The `next_page_token` of the previous page.
    #[param(max_length = 512, nullable = false)]
    pub page_token: Option<String>,
}

pub struct PageQuery(pub PageRequest);

impl<S: Send + Sync> FromRequestParts<S> for PageQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse(parts.uri.query().unwrap_or("")).map(PageQuery)
    }
}

fn parse(query: &str) -> Result<PageRequest, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|e| ApiError::BadRequest(format!("the query string does not parse: {e}")))?;
    let mut errors = ValidationErrors::new();
    let mut request = PageRequest::first(DEFAULT_PAGE_SIZE);
    for (name, value) in pairs {
        match name.as_str() {
            "page_size" => match value.parse::<u32>() {
                Ok(size) if (1..=MAX_PAGE_SIZE).contains(&size) => request.size = size,
                _ => errors.add(
                    "page_size",
                    format!("must be an integer from 1 to {MAX_PAGE_SIZE}"),
                ),
            },
            "page_token" => match decode_token(&value) {
                Some(cursor) => request.after = Some(cursor),
                None => errors.add("page_token", "is not a token this server issued"),
            },
            _ => {}
        }
    }
    errors.into_result().map_err(ApiError::Validation)?;
    Ok(request)
}

pub fn encode_token(cursor: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{TOKEN_VERSION}{cursor}"))
}

fn decode_token(token: &str) -> Option<String> {
    if token.len() > MAX_TOKEN_CHARS {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(TOKEN_VERSION).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_bad_ones_name_the_field() {
        let token = encode_token("web-2");
        let request = parse(&format!("page_size=5&page_token={token}")).unwrap();
        assert_eq!(
            request,
            PageRequest {
                size: 5,
                after: Some("web-2".into())
            }
        );
        for bad in [
            "page_size=0",
            "page_size=1001",
            "page_size=x",
            "page_token=zzz",
        ] {
            let Err(ApiError::Validation(errors)) = parse(bad) else {
                panic!("{bad} should be refused")
            };
            assert_eq!(errors.errors[0].field, bad.split('=').next().unwrap());
        }
        assert_eq!(parse("").unwrap(), PageRequest::first(DEFAULT_PAGE_SIZE));
    }
}
