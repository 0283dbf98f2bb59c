//! Audit events: who did what to which resource, and who was turned away.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::timestamp::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditResult {
    Success,
    Denied,
}

impl AuditResult {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditResult::Success => "success",
            AuditResult::Denied => "denied",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "success" => Some(AuditResult::Success),
            "denied" => Some(AuditResult::Denied),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    pub time: Timestamp,
    /// The tenant the event belongs to; null for platform events.
    pub tenant: Option<String>,
    /// `role:key-id` of the caller, or `anonymous`.
    pub actor: String,
    /// What was done, such as `project.create` or `logstore.delete`.
    pub action: String,
    /// The resource path, such as `tenants/acme/projects/web`.
    pub resource: String,
    pub result: AuditResult,
    /// Why a request was denied.
    pub reason: Option<String>,
    pub request_id: Option<String>,
    /// The address of the client that sent the request (behind trusted proxies, the address
    /// they forwarded); null for events no request caused.
    pub client_address: Option<String>,
}

/// An audit event before the store numbers and times it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    pub tenant: Option<String>,
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub result: AuditResult,
    pub reason: Option<String>,
    pub request_id: Option<String>,
    pub client_address: Option<String>,
}
