//! Tenants: the teams sharing the log service. Only platform admins create and delete them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::labels::{Labels, check_labels};
use crate::meta::ResourceMeta;
use crate::timestamp::Timestamp;
use crate::validation::{ValidationErrors, check_text};

pub const MAX_DISPLAY_NAME_CHARS: usize = 128;

/// The writable fields of a tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantSpec {
    /// A human-readable name; at most 128 characters.
    #[serde(default)]
    #[schema(max_length = 128, pattern = "^[^\\x00-\\x08\\x0B-\\x1F\\x7F-\\x9F]*$")]
    pub display_name: String,
    #[serde(default)]
    #[schema(schema_with = crate::labels::labels_schema)]
    pub labels: Labels,
}

impl TenantSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        errors.check(
            "display_name",
            check_text(&self.display_name, MAX_DISPLAY_NAME_CHARS),
        );
        check_labels("labels", &self.labels, &mut errors);
        errors.into_result()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Tenant {
    pub name: String,
    pub display_name: String,
    #[schema(schema_with = crate::labels::labels_schema)]
    pub labels: Labels,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub etag: String,
}

impl Tenant {
    pub fn from_parts(meta: ResourceMeta, spec: TenantSpec) -> Self {
        Self {
            name: meta.name,
            display_name: spec.display_name,
            labels: spec.labels,
            created_at: meta.created_at,
            updated_at: meta.updated_at,
            etag: meta.etag,
        }
    }

    pub fn spec(&self) -> TenantSpec {
        TenantSpec {
            display_name: self.display_name.clone(),
            labels: self.labels.clone(),
        }
    }
}
