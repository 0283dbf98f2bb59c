//! API keys: long-lived secrets that are exchanged for short-lived access tokens. Only a hash of
//! the secret is stored; the secret itself is shown once, when the key is created.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::authz::Role;
use crate::names::API_KEY_NAME;
use crate::timestamp::Timestamp;
use crate::validation::ValidationErrors;

/// Where a key belongs: to the platform (platform admins, workers, query frontends) or to one
/// tenant (its admins, editors and viewers).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyScope {
    Platform,
    Tenant(String),
}

impl KeyScope {
    pub fn tenant(&self) -> Option<&str> {
        match self {
            KeyScope::Platform => None,
            KeyScope::Tenant(tenant) => Some(tenant),
        }
    }

    pub fn allowed_roles(&self) -> &'static [Role] {
        match self {
            KeyScope::Platform => &Role::PLATFORM_KEY_ROLES,
            KeyScope::Tenant(_) => &Role::TENANT_KEY_ROLES,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRequest {
    /// Unique within the scope; 3–63 characters of lowercase letters, digits, `-` and `_`.
    #[schema(
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9_-]*[a-z0-9]$"
    )]
    pub name: String,
    /// Platform keys: `platform-admin`, `worker`, `query-frontend`. Tenant keys: `admin`,
    /// `editor`, `viewer`.
    pub role: Role,
}

impl ApiKeyRequest {
    pub fn validate(&self, scope: &KeyScope) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        errors.check("name", API_KEY_NAME.check(&self.name));
        if !scope.allowed_roles().contains(&self.role) {
            let allowed: Vec<_> = scope.allowed_roles().iter().map(|r| r.as_str()).collect();
            errors.add(
                "role",
                format!("must be one of {} for this scope", allowed.join(", ")),
            );
        }
        errors.into_result()
    }
}

/// The roles a platform key can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PlatformKeyRole {
    PlatformAdmin,
    Worker,
    QueryFrontend,
}

/// The roles a tenant key can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TenantKeyRole {
    Admin,
    Editor,
    Viewer,
}

/// The body of `POST /v1/api-keys`: the same shape as [`ApiKeyRequest`], with the role limited
/// to platform roles so the schema itself says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlatformApiKeyRequest {
    /// Unique among platform keys; 3–63 characters of lowercase letters, digits, `-` and `_`.
    #[schema(
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9_-]*[a-z0-9]$"
    )]
    pub name: String,
    pub role: PlatformKeyRole,
}

/// The body of `POST /v1/tenants/{tenant}/api-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantApiKeyRequest {
    /// Unique within the tenant; 3–63 characters of lowercase letters, digits, `-` and `_`.
    #[schema(
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9_-]*[a-z0-9]$"
    )]
    pub name: String,
    pub role: TenantKeyRole,
}

impl From<PlatformApiKeyRequest> for ApiKeyRequest {
    fn from(request: PlatformApiKeyRequest) -> Self {
        let role = match request.role {
            PlatformKeyRole::PlatformAdmin => Role::PlatformAdmin,
            PlatformKeyRole::Worker => Role::Worker,
            PlatformKeyRole::QueryFrontend => Role::QueryFrontend,
        };
        ApiKeyRequest {
            name: request.name,
            role,
        }
    }
}

impl From<TenantApiKeyRequest> for ApiKeyRequest {
    fn from(request: TenantApiKeyRequest) -> Self {
        let role = match request.role {
            TenantKeyRole::Admin => Role::Admin,
            TenantKeyRole::Editor => Role::Editor,
            TenantKeyRole::Viewer => Role::Viewer,
        };
        ApiKeyRequest {
            name: request.name,
            role,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    /// Server-chosen, stable; used in URLs and as the `sub` of tokens minted from the key.
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The owning tenant; null for platform keys.
    pub tenant: Option<String>,
    pub created_at: Timestamp,
}

/// The answer to a key creation: the key and, this once, its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyCreated {
    #[serde(flatten)]
    pub key: ApiKey,
    /// Shown only now; exchange it at `POST /v1/auth/token`.
    pub secret: String,
}
