//! Projects group a tenant's logstores, machine groups and collection configs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::labels::{Labels, check_labels};
use crate::meta::ResourceMeta;
use crate::quota::MAX_QUOTA_VALUE;
use crate::timestamp::Timestamp;
use crate::validation::{ValidationErrors, check_range, check_text};

pub const MAX_DESCRIPTION_CHARS: usize = 256;

/// The writable fields of a project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectSpec {
    /// Free text; at most 256 characters.
    #[serde(default)]
    #[schema(max_length = 256, pattern = "^[^\\x00-\\x08\\x0B-\\x1F\\x7F-\\x9F]*$")]
    pub description: String,
    /// At most 64 entries; keys 1–63 characters of letters, digits, `-_./`; values at most 256
    /// characters. Order is kept as written.
    #[serde(default)]
    #[schema(schema_with = crate::labels::labels_schema)]
    pub labels: Labels,
    /// Queries of this project running at once, cluster-wide; null for the tenant's limit. The
    /// tenant's `max_concurrent_queries` applies too, so the lower of the two holds.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1125899906842624_i64)]
    pub max_concurrent_queries: Option<i64>,
}

impl ProjectSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if let Some(limit) = self.max_concurrent_queries {
            errors.check(
                "max_concurrent_queries",
                check_range(limit, 0, MAX_QUOTA_VALUE),
            );
        }
        errors.check(
            "description",
            check_text(&self.description, MAX_DESCRIPTION_CHARS),
        );
        check_labels("labels", &self.labels, &mut errors);
        errors.into_result()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Project {
    pub name: String,
    pub description: String,
    #[schema(schema_with = crate::labels::labels_schema)]
    pub labels: Labels,
    pub max_concurrent_queries: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub etag: String,
}

impl Project {
    pub fn from_parts(meta: ResourceMeta, spec: ProjectSpec) -> Self {
        Self {
            name: meta.name,
            description: spec.description,
            labels: spec.labels,
            max_concurrent_queries: spec.max_concurrent_queries,
            created_at: meta.created_at,
            updated_at: meta.updated_at,
            etag: meta.etag,
        }
    }

    pub fn spec(&self) -> ProjectSpec {
        ProjectSpec {
            description: self.description.clone(),
            labels: self.labels.clone(),
            max_concurrent_queries: self.max_concurrent_queries,
        }
    }
}
