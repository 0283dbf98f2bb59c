//! Per-tenant quotas: what each team may create, send and run. A tenant's quota is the server's
//! defaults with the fields a platform admin set for it laid over them, so raising a default
//! raises it for every tenant that was not given its own value.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::timestamp::Timestamp;
use crate::validation::{ValidationErrors, check_range};

/// Upper bound of every count and rate field, so arithmetic on them never overflows.
pub const MAX_QUOTA_VALUE: i64 = 1 << 50;

/// A tenant's effective quota: every field has a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Quota {
    /// Projects in the tenant.
    pub max_projects: i64,
    /// Logstores in each project.
    pub max_logstores_per_project: i64,
    /// Read-write shards in each project, over all its logstores.
    pub max_shards_per_project: i64,
    /// Machine groups in each project.
    pub max_machine_groups_per_project: i64,
    /// Collection configs in each project.
    pub max_collection_configs_per_project: i64,
    /// The tenant's API keys.
    pub max_api_keys: i64,
    /// Agents enrolled in the tenant (online or not); enrolling more is refused.
    pub max_agents: i64,
    /// Ingest bytes per second over the tenant's shards, enforced by the workers.
    pub ingest_bytes_per_sec: i64,
    /// Ingest events per second, enforced by the workers.
    pub ingest_events_per_sec: i64,
    /// Query requests per second, enforced by the workers.
    pub query_requests_per_sec: i64,
    /// Bytes stored over all the tenant's logstores, as workers report it.
    pub storage_bytes: i64,
    /// Queries running at once, cluster-wide.
    pub max_concurrent_queries: i64,
    /// Queries waiting for a slot, cluster-wide; more are refused with 429.
    pub max_queued_queries: i64,
    /// The tenant's share of query capacity when the cluster is saturated, relative to other tenants.
    pub query_weight: i64,
    /// Control-plane API requests per second, sustained, over all the tenant's keys.
    pub api_requests_per_sec: i64,
    /// Control-plane API requests allowed in a burst above the sustained rate.
    pub api_burst: i64,
}

impl Default for Quota {
    /// Defaults modelled on Alibaba Cloud SLS's.
    fn default() -> Self {
        Self {
            max_projects: 50,
            max_logstores_per_project: 200,
            max_shards_per_project: 400,
            max_machine_groups_per_project: 200,
            max_collection_configs_per_project: 200,
            max_api_keys: 100,
            max_agents: 50_000,
            ingest_bytes_per_sec: 100 * 1024 * 1024,
            ingest_events_per_sec: 1_000_000,
            query_requests_per_sec: 100,
            storage_bytes: 1 << 40,
            max_concurrent_queries: 15,
            max_queued_queries: 100,
            query_weight: 1,
            api_requests_per_sec: 100,
            api_burst: 200,
        }
    }
}

impl Quota {
    /// Every field with its name, in declaration order.
    pub fn fields(&self) -> Vec<(&'static str, i64)> {
        vec![
            ("max_projects", self.max_projects),
            ("max_logstores_per_project", self.max_logstores_per_project),
            ("max_shards_per_project", self.max_shards_per_project),
            (
                "max_machine_groups_per_project",
                self.max_machine_groups_per_project,
            ),
            (
                "max_collection_configs_per_project",
                self.max_collection_configs_per_project,
            ),
            ("max_api_keys", self.max_api_keys),
            ("max_agents", self.max_agents),
            ("ingest_bytes_per_sec", self.ingest_bytes_per_sec),
            ("ingest_events_per_sec", self.ingest_events_per_sec),
            ("query_requests_per_sec", self.query_requests_per_sec),
            ("storage_bytes", self.storage_bytes),
            ("max_concurrent_queries", self.max_concurrent_queries),
            ("max_queued_queries", self.max_queued_queries),
            ("query_weight", self.query_weight),
            ("api_requests_per_sec", self.api_requests_per_sec),
            ("api_burst", self.api_burst),
        ]
    }
}

/// The body of `PUT /v1/tenants/{tenant}/quota`: the fields set for this tenant. An omitted
/// field follows the server's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaSpec {
    /// Projects in the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1125899906842624_i64)]
    pub max_projects: Option<i64>,
    /// Logstores in each project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1125899906842624_i64)]
    pub max_logstores_per_project: Option<i64>,
    /// Read-write shards in each project, over all its logstores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1125899906842624_i64)]
    pub max_shards_per_project: Option<i64>,
    /// Machine groups in each project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1125899906842624_i64)]
    pub max_machine_groups_per_project: Option<i64>,
    /// Collection configs in each project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1125899906842624_i64)]
    pub max_collection_configs_per_project: Option<i64>,
    /// The tenant's API keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1125899906842624_i64)]
    pub max_api_keys: Option<i64>,
    /// Agents enrolled in the tenant (online or not); enrolling more is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1125899906842624_i64)]
    pub max_agents: Option<i64>,
    /// Ingest bytes per second over the tenant's shards, enforced by the workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1125899906842624_i64)]
    pub ingest_bytes_per_sec: Option<i64>,
    /// Ingest events per second, enforced by the workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1125899906842624_i64)]
    pub ingest_events_per_sec: Option<i64>,
    /// Query requests per second, enforced by the workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1125899906842624_i64)]
    pub query_requests_per_sec: Option<i64>,
    /// Bytes stored over all the tenant's logstores, as workers report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1125899906842624_i64)]
    pub storage_bytes: Option<i64>,
    /// Queries running at once, cluster-wide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1125899906842624_i64)]
    pub max_concurrent_queries: Option<i64>,
    /// Queries waiting for a slot, cluster-wide; more are refused with 429.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1125899906842624_i64)]
    pub max_queued_queries: Option<i64>,
    /// The tenant's share of query capacity when the cluster is saturated, relative to other tenants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1125899906842624_i64)]
    pub query_weight: Option<i64>,
    /// Control-plane API requests per second, sustained, over all the tenant's keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1125899906842624_i64)]
    pub api_requests_per_sec: Option<i64>,
    /// Control-plane API requests allowed in a burst above the sustained rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1125899906842624_i64)]
    pub api_burst: Option<i64>,
}

impl QuotaSpec {
    /// The effective quota: these fields over `defaults`.
    pub fn over(&self, defaults: &Quota) -> Quota {
        Quota {
            max_projects: self.max_projects.unwrap_or(defaults.max_projects),
            max_logstores_per_project: self
                .max_logstores_per_project
                .unwrap_or(defaults.max_logstores_per_project),
            max_shards_per_project: self
                .max_shards_per_project
                .unwrap_or(defaults.max_shards_per_project),
            max_machine_groups_per_project: self
                .max_machine_groups_per_project
                .unwrap_or(defaults.max_machine_groups_per_project),
            max_collection_configs_per_project: self
                .max_collection_configs_per_project
                .unwrap_or(defaults.max_collection_configs_per_project),
            max_api_keys: self.max_api_keys.unwrap_or(defaults.max_api_keys),
            max_agents: self.max_agents.unwrap_or(defaults.max_agents),
            ingest_bytes_per_sec: self
                .ingest_bytes_per_sec
                .unwrap_or(defaults.ingest_bytes_per_sec),
            ingest_events_per_sec: self
                .ingest_events_per_sec
                .unwrap_or(defaults.ingest_events_per_sec),
            query_requests_per_sec: self
                .query_requests_per_sec
                .unwrap_or(defaults.query_requests_per_sec),
            storage_bytes: self.storage_bytes.unwrap_or(defaults.storage_bytes),
            max_concurrent_queries: self
                .max_concurrent_queries
                .unwrap_or(defaults.max_concurrent_queries),
            max_queued_queries: self
                .max_queued_queries
                .unwrap_or(defaults.max_queued_queries),
            query_weight: self.query_weight.unwrap_or(defaults.query_weight),
            api_requests_per_sec: self
                .api_requests_per_sec
                .unwrap_or(defaults.api_requests_per_sec),
            api_burst: self.api_burst.unwrap_or(defaults.api_burst),
        }
    }

    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if let Some(value) = self.max_projects {
            errors.check("max_projects", check_range(value, 0, MAX_QUOTA_VALUE));
        }
        if let Some(value) = self.max_logstores_per_project {
            errors.check(
                "max_logstores_per_project",
                check_range(value, 0, MAX_QUOTA_VALUE),
            );
        }
        if let Some(value) = self.max_shards_per_project {
            errors.check(
                "max_shards_per_project",
                check_range(value, 0, MAX_QUOTA_VALUE),
            );
        }
        if let Some(value) = self.max_machine_groups_per_project {
            errors.check(
                "max_machine_groups_per_project",
                check_range(value, 0, MAX_QUOTA_VALUE),
            );
        }
        if let Some(value) = self.max_collection_configs_per_project {
            errors.check(
                "max_collection_configs_per_project",
                check_range(value, 0, MAX_QUOTA_VALUE),
            );
        }
        if let Some(value) = self.max_api_keys {
            errors.check("max_api_keys", check_range(value, 0, MAX_QUOTA_VALUE));
        }
        if let Some(value) = self.max_agents {
            errors.check("max_agents", check_range(value, 0, MAX_QUOTA_VALUE));
        }
        if let Some(value) = self.ingest_bytes_per_sec {
            errors.check(
                "ingest_bytes_per_sec",
                check_range(value, 0, MAX_QUOTA_VALUE),
            );
        }
        if let Some(value) = self.ingest_events_per_sec {
            errors.check(
                "ingest_events_per_sec",
                check_range(value, 0, MAX_QUOTA_VALUE),
            );
        }
        if let Some(value) = self.query_requests_per_sec {
            errors.check(
                "query_requests_per_sec",
                check_range(value, 0, MAX_QUOTA_VALUE),
            );
        }
        if let Some(value) = self.storage_bytes {
            errors.check("storage_bytes", check_range(value, 0, MAX_QUOTA_VALUE));
        }
        if let Some(value) = self.max_concurrent_queries {
            errors.check(
                "max_concurrent_queries",
                check_range(value, 0, MAX_QUOTA_VALUE),
            );
        }
        if let Some(value) = self.max_queued_queries {
            errors.check("max_queued_queries", check_range(value, 0, MAX_QUOTA_VALUE));
        }
        if let Some(value) = self.query_weight {
            errors.check("query_weight", check_range(value, 1, MAX_QUOTA_VALUE));
        }
        if let Some(value) = self.api_requests_per_sec {
            errors.check(
                "api_requests_per_sec",
                check_range(value, 1, MAX_QUOTA_VALUE),
            );
        }
        if let Some(value) = self.api_burst {
            errors.check("api_burst", check_range(value, 1, MAX_QUOTA_VALUE));
        }
        errors.into_result()
    }
}

/// A tenant's quota as the API shows it: the effective values, and which were set for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenantQuota {
    /// Every field's value in force.
    pub effective: Quota,
    /// The fields set for this tenant, as last written; the others follow the server defaults.
    pub overrides: QuotaSpec,
    pub updated_at: Option<Timestamp>,
    pub etag: String,
}

/// A sustained rate with the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApiRate {
    pub per_sec: i64,
    pub burst: i64,
}

/// One count quota with what is used of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CountUsage {
    /// The quota field, such as `max_projects`.
    pub quota: String,
    pub limit: i64,
    pub used: i64,
}

/// A project's usage of the per-project quotas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProjectUsage {
    pub project: String,
    pub counts: Vec<CountUsage>,
}

/// A rate or amount that workers enforce and report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReportedUsage {
    /// The quota field, such as `ingest_bytes_per_sec`.
    pub quota: String,
    pub limit: i64,
    /// The latest value workers reported; null until a worker has reported one.
    pub reported: Option<i64>,
    pub reported_at: Option<Timestamp>,
}

/// `GET /v1/tenants/{tenant}/usage`: every quota with what is used of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenantUsage {
    pub tenant: String,
    /// Tenant-wide counts: projects, API keys.
    pub counts: Vec<CountUsage>,
    /// Per-project counts, by project name (at most 1000 projects are listed).
    pub projects: Vec<ProjectUsage>,
    /// Rates and storage, as reported by workers.
    pub reported: Vec<ReportedUsage>,
    /// Query slots held and waiting, cluster-wide.
    pub query_slots: crate::query_slot::QuerySlotUsage,
}

/// A count quota a create would exceed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaExceeded {
    pub quota: &'static str,
    pub limit: i64,
    pub usage: i64,
}

impl std::fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "quota {} is exhausted: {} of {} used",
            self.quota, self.usage, self.limit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_lie_over_the_defaults() {
        let spec: QuotaSpec = serde_json::from_str(r#"{"max_projects": 3}"#).unwrap();
        let effective = spec.over(&Quota::default());
        assert_eq!(effective.max_projects, 3);
        assert_eq!(effective.max_api_keys, Quota::default().max_api_keys);
        assert_eq!(
            serde_json::to_string(&spec).unwrap(),
            r#"{"max_projects":3}"#,
            "only what was written"
        );
    }

    #[test]
    fn refuses_negative_and_unknown_fields() {
        let negative = QuotaSpec {
            max_projects: Some(-1),
            query_weight: Some(0),
            ..Default::default()
        };
        let fields: Vec<_> = negative
            .validate()
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["max_projects", "query_weight"]);
        assert!(serde_json::from_str::<QuotaSpec>(r#"{"max_project": 3}"#).is_err());
    }
}
