//! Path parameters, with a problem instead of axum's plain-text rejection.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::problem::ApiError;
use logplane_model::names::NameRule;

pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
    }
}

/// Checks the name a PUT would create a resource under; `parameter` is the path parameter.
pub fn check_new_name(rule: &NameRule, parameter: &str, name: &str) -> Result<(), ApiError> {
    rule.check(name)
        .map_err(|message| ApiError::validation(parameter, message))
}
