//! Logstores: where one kind of log of a project lands, split into hash-range shards.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::labels::{Labels, check_labels};
use crate::meta::ResourceMeta;
use crate::timestamp::Timestamp;
use crate::validation::{ValidationErrors, check_range};

pub const DEFAULT_RETENTION_DAYS: i64 = 30;
pub const MAX_RETENTION_DAYS: i64 = 3650;
pub const MIN_HOT_RETENTION_DAYS: i64 = 7;
pub const DEFAULT_SHARD_COUNT: i64 = 2;
pub const MAX_SHARDS: i64 = 256;
pub const DEFAULT_AUTO_SPLIT_MAX_SHARDS: i64 = 64;
pub const DEFAULT_QUERY_REPLICAS: i64 = 1;
pub const MAX_QUERY_REPLICAS: i64 = 3;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogstoreMode {
    /// Full indexing and analytics.
    #[default]
    Standard,
    /// Cheaper storage for logs that are searched but not analysed.
    Query,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Telemetry {
    #[default]
    Logs,
    Metrics,
}

/// Splitting shards automatically when their ingest rate stays above the per-shard limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoSplit {
    #[serde(default)]
    pub enabled: bool,
    /// The number of `readwrite` shards auto-split stops at (1–256, default 64).
    #[serde(default = "default_auto_split_max_shards")]
    #[schema(minimum = 1, maximum = 256)]
    pub max_shards: i64,
}

impl Default for AutoSplit {
    fn default() -> Self {
        Self {
            enabled: false,
            max_shards: DEFAULT_AUTO_SPLIT_MAX_SHARDS,
        }
    }
}

fn default_auto_split_max_shards() -> i64 {
    DEFAULT_AUTO_SPLIT_MAX_SHARDS
}
fn default_retention_days() -> i64 {
    DEFAULT_RETENTION_DAYS
}
fn default_shard_count() -> i64 {
    DEFAULT_SHARD_COUNT
}
fn default_query_replicas() -> i64 {
    DEFAULT_QUERY_REPLICAS
}

/// The writable fields of a logstore. Omitted fields take their documented defaults, and the
/// response shows them, so what a client reads back is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogstoreSpec {
    /// Days logs are kept (1–3650, default 30).
    #[serde(default = "default_retention_days")]
    #[schema(minimum = 1, maximum = 3650)]
    pub retention_days: i64,
    /// Days logs stay on hot storage (7 to `retention_days`); null keeps them hot throughout.
    #[serde(default)]
    #[schema(minimum = 7, maximum = 3650)]
    pub hot_retention_days: Option<i64>,
    /// The number of `readwrite` shards (1–256, default 2). Changing it reshards: the widest
    /// ranges are split or the narrowest adjacent pairs merged, and their parents become
    /// `readonly`. Splits and merges (by hand or automatic) update it.
    #[serde(default = "default_shard_count")]
    #[schema(minimum = 1, maximum = 256)]
    pub shard_count: i64,
    #[serde(default)]
    pub auto_split: AutoSplit,
    /// Immutable after creation.
    #[serde(default)]
    pub mode: LogstoreMode,
    /// Immutable after creation.
    #[serde(default)]
    pub telemetry: Telemetry,
    /// Query workers serving each shard (1–3, default 1).
    #[serde(default = "default_query_replicas")]
    #[schema(minimum = 1, maximum = 3)]
    pub query_replicas: i64,
    #[serde(default)]
    #[schema(schema_with = crate::labels::labels_schema)]
    pub labels: Labels,
}

impl Default for LogstoreSpec {
    fn default() -> Self {
        Self {
            retention_days: DEFAULT_RETENTION_DAYS,
            hot_retention_days: None,
            shard_count: DEFAULT_SHARD_COUNT,
            auto_split: AutoSplit::default(),
            mode: LogstoreMode::default(),
            telemetry: Telemetry::default(),
            query_replicas: DEFAULT_QUERY_REPLICAS,
            labels: Labels::new(),
        }
    }
}

impl LogstoreSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        errors.check(
            "retention_days",
            check_range(self.retention_days, 1, MAX_RETENTION_DAYS),
        );
        if let Some(hot) = self.hot_retention_days
            && !(MIN_HOT_RETENTION_DAYS..=self.retention_days).contains(&hot)
        {
            errors.add(
                "hot_retention_days",
                format!(
                    "must be between {MIN_HOT_RETENTION_DAYS} and retention_days ({}), got {hot}",
                    self.retention_days
                ),
            );
        }
        errors.check("shard_count", check_range(self.shard_count, 1, MAX_SHARDS));
        errors.check(
            "auto_split.max_shards",
            check_range(self.auto_split.max_shards, 1, MAX_SHARDS),
        );
        errors.check(
            "query_replicas",
            check_range(self.query_replicas, 1, MAX_QUERY_REPLICAS),
        );
        check_labels("labels", &self.labels, &mut errors);
        errors.into_result()
    }

    /// Checks a replacement against the stored spec: some fields are fixed once the logstore exists.
    /// A new `shard_count` is not one of them: the store reshards to it.
    pub fn check_update(&self, stored: &LogstoreSpec) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.mode != stored.mode {
            errors.add(
                "mode",
                "is immutable: delete and recreate the logstore to change it",
            );
        }
        if self.telemetry != stored.telemetry {
            errors.add(
                "telemetry",
                "is immutable: delete and recreate the logstore to change it",
            );
        }
        errors.into_result()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Logstore {
    pub name: String,
    pub retention_days: i64,
    pub hot_retention_days: Option<i64>,
    pub shard_count: i64,
    pub auto_split: AutoSplit,
    pub mode: LogstoreMode,
    pub telemetry: Telemetry,
    pub query_replicas: i64,
    #[schema(schema_with = crate::labels::labels_schema)]
    pub labels: Labels,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub etag: String,
}

impl Logstore {
    pub fn from_parts(meta: ResourceMeta, spec: LogstoreSpec) -> Self {
        Self {
            name: meta.name,
            retention_days: spec.retention_days,
            hot_retention_days: spec.hot_retention_days,
            shard_count: spec.shard_count,
            auto_split: spec.auto_split,
            mode: spec.mode,
            telemetry: spec.telemetry,
            query_replicas: spec.query_replicas,
            labels: spec.labels,
            created_at: meta.created_at,
            updated_at: meta.updated_at,
            etag: meta.etag,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(result: Result<(), ValidationErrors>) -> Vec<String> {
        result
            .err()
            .map(|e| e.errors.into_iter().map(|e| e.field).collect())
            .unwrap_or_default()
    }

    #[test]
    fn an_empty_body_means_every_default() {
        let spec: LogstoreSpec = serde_json::from_str("{}").unwrap();
        assert_eq!(spec, LogstoreSpec::default());
        assert_eq!(spec.validate(), Ok(()));
        let echoed = serde_json::to_value(&spec).unwrap();
        assert_eq!(echoed["retention_days"], 30);
        assert_eq!(echoed["shard_count"], 2);
        assert_eq!(echoed["hot_retention_days"], serde_json::Value::Null);
        assert_eq!(echoed["auto_split"]["max_shards"], 64);
    }

    #[test]
    fn hot_retention_must_lie_between_seven_days_and_retention() {
        let mut spec = LogstoreSpec {
            retention_days: 10,
            ..Default::default()
        };
        spec.hot_retention_days = Some(6);
        assert_eq!(fields(spec.validate()), ["hot_retention_days"]);
        spec.hot_retention_days = Some(11);
        assert_eq!(fields(spec.validate()), ["hot_retention_days"]);
        spec.hot_retention_days = Some(10);
        assert_eq!(spec.validate(), Ok(()));
    }

    #[test]
    fn reports_every_bad_field_at_once() {
        let spec = LogstoreSpec {
            retention_days: 0,
            shard_count: 257,
            query_replicas: 4,
            auto_split: AutoSplit {
                enabled: true,
                max_shards: 0,
            },
            ..Default::default()
        };
        assert_eq!(
            fields(spec.validate()),
            [
                "retention_days",
                "shard_count",
                "auto_split.max_shards",
                "query_replicas"
            ]
        );
    }

    #[test]
    fn mode_and_telemetry_are_fixed_after_creation_and_shard_count_is_not() {
        let stored = LogstoreSpec::default();
        let changed = LogstoreSpec {
            mode: LogstoreMode::Query,
            telemetry: Telemetry::Metrics,
            shard_count: 4,
            retention_days: 90,
            ..Default::default()
        };
        assert_eq!(fields(changed.check_update(&stored)), ["mode", "telemetry"]);
        let resharded = LogstoreSpec {
            retention_days: 90,
            shard_count: 7,
            ..Default::default()
        };
        assert_eq!(resharded.check_update(&stored), Ok(()));
    }

    #[test]
    fn unknown_nested_fields_are_rejected() {
        let result: Result<LogstoreSpec, _> =
            serde_json::from_str(r#"{"auto_split": {"enable": true}}"#);
        assert!(
            result
                .unwrap_err()
                .to_string()
                .contains("unknown field `enable`")
        );
    }
}
