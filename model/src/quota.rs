//! Per-tenant quotas: what each team may create, send and run. A tenant's quota is the server's
//! defaults with the fields a platform admin set for it laid over them, so raising a default
//! raises it for every tenant that was not given its own value.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::timestamp::Timestamp;
use crate::validation::{ValidationErrors, check_range};

/// Upper bound of every count and rate field, so arithmetic on them never overflows.
pub const MAX_QUOTA_VALUE: i64 = 1 << 50;

/// Declares the quota fields once: the effective quota, the written overrides and the names,
/// all in the same order. A field list written three times by hand drifts.
/// `$min` is a token tree, not an `expr`: utoipa's `#[schema]` parser does not see through the
/// invisible group an `expr` fragment is wrapped in, and wrote `minimum` = the maximum.
macro_rules! quota_fields {
    ($($(#[doc = $doc:literal])* $name:ident: $default:expr, $min:tt;)*) => {
        /// A tenant's effective quota: every field has a value.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        pub struct Quota {
            $($(#[doc = $doc])* pub $name: i64,)*
        }

        impl Default for Quota {
            /// Defaults modelled on Alibaba Cloud SLS's.
            fn default() -> Self {
                Self { $($name: $default,)* }
            }
        }

        /// The body of `PUT /v1/tenants/{tenant}/quota`: the fields set for this tenant. An
        /// omitted field follows the server's default.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct QuotaSpec {
            $(
                $(#[doc = $doc])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                #[schema(minimum = $min, maximum = 1125899906842624_i64)]
                pub $name: Option<i64>,
            )*
        }

        impl QuotaSpec {
            /// The effective quota: these fields over `defaults`.
            pub fn over(&self, defaults: &Quota) -> Quota {
                Quota { $($name: self.$name.unwrap_or(defaults.$name),)* }
            }

            /// Lays `other`'s fields over these (server defaults from configuration).
            pub fn merged_with(&self, other: &QuotaSpec) -> QuotaSpec {
                QuotaSpec { $($name: other.$name.or(self.$name),)* }
            }

            pub fn validate(&self) -> Result<(), ValidationErrors> {
                let mut errors = ValidationErrors::new();
                $(
                    if let Some(value) = self.$name {
                        errors.check(stringify!($name), check_range(value, $min, MAX_QUOTA_VALUE));
                    }
                )*
                errors.into_result()
            }
        }

        impl Quota {
            /// Every field with its name, in declaration order.
            pub fn fields(&self) -> Vec<(&'static str, i64)> {
                vec![$((stringify!($name), self.$name),)*]
            }
        }
    };
}

quota_fields! {
    /// Projects in the tenant.
    max_projects: 50, 0;
    /// Logstores in each project.
    max_logstores_per_project: 200, 0;
    /// Read-write shards in each project, over all its logstores.
    max_shards_per_project: 400, 0;
    /// Machine groups in each project.
    max_machine_groups_per_project: 200, 0;
    /// Collection configs in each project.
    max_collection_configs_per_project: 200, 0;
    /// The tenant's API keys.
    max_api_keys: 100, 0;
    /// Agents enrolled in the tenant (online or not); enrolling more is refused.
    max_agents: 50_000, 0;
    /// Ingest bytes per second over the tenant's shards, enforced by the workers.
    ingest_bytes_per_sec: 100 * 1024 * 1024, 0;
    /// Ingest events per second, enforced by the workers.
    ingest_events_per_sec: 1_000_000, 0;
    /// Query requests per second, enforced by the workers.
    query_requests_per_sec: 100, 0;
    /// Bytes stored over all the tenant's logstores, as workers report it.
    storage_bytes: 1 << 40, 0;
    /// Queries running at once, cluster-wide.
    max_concurrent_queries: 15, 0;
    /// Queries waiting for a slot, cluster-wide; more are refused with 429.
    max_queued_queries: 100, 0;
    /// The tenant's share of query capacity when the cluster is saturated, relative to other tenants.
    query_weight: 1, 1;
    /// Control-plane API requests per second, sustained, over all the tenant's keys.
    api_requests_per_sec: 100, 1;
    /// Control-plane API requests allowed in a burst above the sustained rate.
    api_burst: 200, 1;
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
