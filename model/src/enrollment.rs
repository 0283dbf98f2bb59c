//! Agent enrollment. A tenant admin makes an enrollment token and hands it to the installer of a
//! fleet; each agent presents it once and receives an identity and an API key of its own. The
//! token is a secret shared by many hosts, so it expires, can be revoked, and can pin labels that
//! every agent enrolled with it carries (machine groups can select on them).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::agent::{AgentAttributes, AgentType};
use crate::labels::{Labels, check_labels};
use crate::timestamp::Timestamp;
use crate::validation::{ValidationErrors, check_range};

pub const MIN_ENROLLMENT_TOKEN_TTL_S: i64 = 60;
/// Thirty days: long enough for an image baked with the token, short enough that a leaked one
/// stops working without anyone remembering to revoke it.
pub const MAX_ENROLLMENT_TOKEN_TTL_S: i64 = 30 * 24 * 3600;
/// Secrets this server issues are 67 characters; anything far longer is not one.
pub const MAX_ENROLLMENT_SECRET_CHARS: usize = 256;

/// The body of `POST /v1/tenants/{tenant}/agent-enrollment-tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentTokenRequest {
    /// Seconds until the token stops enrolling agents: 60 to 2592000 (30 days). Agents enrolled
    /// before keep working.
    #[schema(minimum = 60, maximum = 2592000)]
    pub expires_in_s: i64,
    /// Labels every agent enrolled with this token carries. They take precedence over labels the
    /// agent reports, so a host cannot talk itself into another machine group.
    #[serde(default)]
    #[schema(schema_with = crate::labels::labels_schema)]
    pub labels: Labels,
}

impl EnrollmentTokenRequest {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        errors.check(
            "expires_in_s",
            check_range(
                self.expires_in_s,
                MIN_ENROLLMENT_TOKEN_TTL_S,
                MAX_ENROLLMENT_TOKEN_TTL_S,
            ),
        );
        check_labels("labels", &self.labels, &mut errors);
        errors.into_result()
    }
}

/// An enrollment token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnrollmentToken {
    /// Server-chosen; used in URLs to revoke the token.
    pub id: String,
    pub labels: Labels,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// The answer to a token creation: the token and, this once, its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnrollmentTokenCreated {
    #[serde(flatten)]
    pub token: EnrollmentToken,
    /// Shown only now; agents present it to `POST /v1/agents/enroll`.
    pub secret: String,
}

/// The body of `POST /v1/agents/enroll`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentEnrollRequest {
    /// The secret of an enrollment token of the tenant the agent joins.
    #[schema(min_length = 1, max_length = 256)]
    pub token: String,
    pub agent_type: AgentType,
    pub attributes: AgentAttributes,
}

impl AgentEnrollRequest {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.token.is_empty() || self.token.len() > MAX_ENROLLMENT_SECRET_CHARS {
            errors.add(
                "token",
                format!("must be 1 to {MAX_ENROLLMENT_SECRET_CHARS} characters"),
            );
        }
        self.attributes.validate_into("attributes", &mut errors);
        errors.into_result()
    }
}

/// The answer to an enrollment: the agent's identity and, this once, its API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentEnrolled {
    pub agent_id: String,
    pub tenant: String,
    /// Exchange it at `POST /v1/auth/token` for tokens of audience `logplane-agent`. Shown only now.
    pub api_key: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_requests_bound_the_lifetime_and_check_labels() {
        let ok: EnrollmentTokenRequest =
            serde_json::from_str(r#"{"expires_in_s": 3600, "labels": {"env": "prod"}}"#).unwrap();
        assert_eq!(ok.validate(), Ok(()));
        let bad: EnrollmentTokenRequest =
            serde_json::from_str(r#"{"expires_in_s": 59, "labels": {"-x": "1"}}"#).unwrap();
        let fields: Vec<_> = bad
            .validate()
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["expires_in_s", "labels.-x"]);
        assert!(
            serde_json::from_str::<EnrollmentTokenRequest>(r#"{"expires_in_s": 60, "id": "x"}"#)
                .is_err()
        );
    }

    #[test]
    fn enroll_requests_name_bad_attributes() {
        let request: AgentEnrollRequest = serde_json::from_value(serde_json::json!({
            "token": "lp_x", "agent_type": "vector", "attributes": {"hostname": "bad host"}
        }))
        .unwrap();
        assert_eq!(
            request.validate().unwrap_err().errors[0].field,
            "attributes.hostname"
        );
    }
}
