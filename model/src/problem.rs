//! The error body every failed request carries: RFC 9457 problem details, with the fields a
//! client needs to fix a rejected body.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One rejected input: which field (a JSON path such as `labels.team` or `auto_split.max_shards`,
/// or a path or query parameter name) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// `application/problem+json` (RFC 9457).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, stable across releases; its last segment is a short
    /// slug such as `quota-exceeded` or `validation`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The request id, as echoed in `X-Request-Id`; quote it when asking for help.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Present for validation problems: every rejected field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Present for `quota-exceeded`: which quota, its limit and the current usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaViolation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuotaViolation {
    pub name: String,
    pub limit: i64,
    pub usage: i64,
}

pub const PROBLEM_TYPE_BASE: &str = "https://logplane.dev/problems/";

impl Problem {
    /// The short name of the problem type (`not-found`, `quota-exceeded`, ...).
    pub fn slug(&self) -> &str {
        self.problem_type
            .strip_prefix(PROBLEM_TYPE_BASE)
            .unwrap_or(&self.problem_type)
    }
}
