//! Workers: the data plane's nodes. Ingest workers own `readwrite` shards (the one worker that
//! accepts a shard's writes), query workers serve shards' queries. A worker registers with
//! `PUT /v1/workers/{worker}`, then heartbeats; the control plane answers with its assignment
//! and its share of each hosted tenant's ingest limit. See `docs/worker-protocol.md`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::names::{LOGSTORE_NAME, PROJECT_NAME, TENANT_NAME};
use crate::quota::MAX_QUOTA_VALUE;
use crate::timestamp::Timestamp;
use crate::validation::{ValidationErrors, check_range};

/// The most shards of one role a worker may declare it carries.
pub const MAX_WORKER_SHARDS: i64 = 1_000_000;
/// The most concurrent queries a worker may declare.
pub const MAX_WORKER_QUERY_SLOTS: i64 = 100_000;
pub const MAX_ADDRESS_CHARS: usize = 255;
pub const MAX_ZONE_CHARS: usize = 63;
/// Entries of each list in a heartbeat at most. A worker carries at most
/// [`MAX_WORKER_SHARDS`] shards, but a heartbeat is one request: a worker with more shards than
/// this reports the busiest ones.
pub const MAX_HEARTBEAT_ENTRIES: usize = 10_000;
/// The longest a heartbeat may wait for a new assignment (`wait_ms`), before the lease bound.
pub const MAX_HEARTBEAT_WAIT_MS: i64 = 30_000;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WorkerRole {
    /// Owns `readwrite` shards: accepts their writes.
    Ingest,
    /// Serves queries over shards, `readwrite` and `readonly`.
    Query,
}

impl WorkerRole {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerRole::Ingest => "ingest",
            WorkerRole::Query => "query",
        }
    }
}

/// What a worker declares it can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerCapacity {
    /// The most shards of each role it takes (0–1000000): up to this many ingest shards and,
    /// separately, this many query replicas. Placement never exceeds it.
    #[schema(minimum = 0, maximum = 1000000)]
    pub shards: i64,
    /// The ingest throughput it is sized for; weighs the load balance (0 means "like the others").
    #[serde(default)]
    #[schema(minimum = 0)]
    pub ingest_bytes_per_sec: i64,
    /// Queries it runs at once (0–100000). The cluster's query slots are the sum over live query
    /// workers.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100000)]
    pub query_slots: i64,
}

/// The body of `PUT /v1/workers/{worker}`: what a worker registers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerSpec {
    /// Where clients reach the worker (`host:port` or a URL), shown to tenants beside the
    /// shards it serves. 1–255 characters, no whitespace.
    #[schema(min_length = 1, max_length = 255)]
    pub address: String,
    /// The failure domain (availability zone); query replicas of a shard are spread across zones.
    /// 1–63 characters, no whitespace.
    #[schema(min_length = 1, max_length = 63)]
    pub zone: String,
    /// One or both of `ingest` and `query`, each at most once.
    #[schema(min_items = 1, max_items = 2)]
    pub roles: Vec<WorkerRole>,
    pub capacity: WorkerCapacity,
}

impl WorkerSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        errors.check("address", check_token(&self.address, MAX_ADDRESS_CHARS));
        errors.check("zone", check_token(&self.zone, MAX_ZONE_CHARS));
        if self.roles.is_empty() || self.roles.len() > 2 {
            errors.add("roles", "must list one or both of ingest and query");
        } else if self.roles.len() == 2 && self.roles[0] == self.roles[1] {
            errors.add("roles", "must not list a role twice");
        }
        errors.check(
            "capacity.shards",
            check_range(self.capacity.shards, 0, MAX_WORKER_SHARDS),
        );
        errors.check(
            "capacity.ingest_bytes_per_sec",
            check_range(self.capacity.ingest_bytes_per_sec, 0, MAX_QUOTA_VALUE),
        );
        errors.check(
            "capacity.query_slots",
            check_range(self.capacity.query_slots, 0, MAX_WORKER_QUERY_SLOTS),
        );
        errors.into_result()
    }

    pub fn has_role(&self, role: WorkerRole) -> bool {
        self.roles.contains(&role)
    }
}

/// Text that is one token: non-empty, bounded, no whitespace or control characters.
fn check_token(value: &str, max_chars: usize) -> Result<(), String> {
    let chars = value.chars().count();
    if chars == 0 || chars > max_chars {
        return Err(format!("must be 1 to {max_chars} characters, got {chars}"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters".into());
    }
    Ok(())
}

/// What a platform admin set for a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Schedulable.
    Active,
    /// Takes no new shards; keeps what it has (it may still give some up for balance).
    Cordoned,
    /// Gives up every shard, each through a make-before-break handover; drained once it holds
    /// nothing (`ingest_shards` and `query_shards` both 0).
    Draining,
}

impl WorkerState {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Active => "active",
            WorkerState::Cordoned => "cordoned",
            WorkerState::Draining => "draining",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(WorkerState::Active),
            "cordoned" => Some(WorkerState::Cordoned),
            "draining" => Some(WorkerState::Draining),
            _ => None,
        }
    }
}

/// A registered worker, as platform admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Worker {
    pub id: String,
    pub address: String,
    pub zone: String,
    pub roles: Vec<WorkerRole>,
    pub capacity: WorkerCapacity,
    pub state: WorkerState,
    /// Whether its lease is valid by the database's clock. A worker that missed heartbeats for
    /// its lease TTL is dead: its ingest shards go to others.
    pub live: bool,
    pub lease_expires_at: Timestamp,
    pub last_heartbeat_at: Option<Timestamp>,
    /// The version of the assignment the control plane published for it (0: none yet).
    pub assignment_version: i64,
    /// The version it last reported applied.
    pub applied_assignment_version: i64,
    /// Shards it owns or is taking over for ingest, and shards it serves for queries, in its
    /// published assignment.
    pub ingest_shards: i64,
    pub query_shards: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Changes when its registration (`PUT`) or its state changes, not with heartbeats.
    pub etag: String,
}

/// A shard of a logstore, as the worker protocol names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardRef {
    pub tenant: String,
    pub project: String,
    pub logstore: String,
    #[schema(minimum = 0)]
    pub shard_id: i64,
}

impl ShardRef {
    fn validate_into(&self, field: &str, errors: &mut ValidationErrors) {
        errors.check(&format!("{field}.tenant"), TENANT_NAME.check(&self.tenant));
        errors.check(
            &format!("{field}.project"),
            PROJECT_NAME.check(&self.project),
        );
        errors.check(
            &format!("{field}.logstore"),
            LOGSTORE_NAME.check(&self.logstore),
        );
        if self.shard_id < 0 {
            errors.add(format!("{field}.shard_id"), "must not be negative");
        }
    }
}

/// One shard's recent ingest rate, as its ingest worker measured it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardLoad {
    pub tenant: String,
    pub project: String,
    pub logstore: String,
    #[schema(minimum = 0)]
    pub shard_id: i64,
    #[schema(minimum = 0)]
    pub ingest_bytes_per_sec: i64,
    #[schema(minimum = 0)]
    pub ingest_events_per_sec: i64,
}

impl ShardLoad {
    pub fn shard(&self) -> ShardRef {
        ShardRef {
            tenant: self.tenant.clone(),
            project: self.project.clone(),
            logstore: self.logstore.clone(),
            shard_id: self.shard_id,
        }
    }
}

/// A handover step a worker completed: `ready` (it prepared a shard it was told `pending`) or
/// `released` (it stopped writing a shard it was told `releasing`, and flushed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoverReport {
    pub tenant: String,
    pub project: String,
    pub logstore: String,
    #[schema(minimum = 0)]
    pub shard_id: i64,
    /// The handover number the instruction carried.
    #[schema(minimum = 1)]
    pub handover: i64,
}

impl HandoverReport {
    pub fn shard(&self) -> ShardRef {
        ShardRef {
            tenant: self.tenant.clone(),
            project: self.project.clone(),
            logstore: self.logstore.clone(),
            shard_id: self.shard_id,
        }
    }
}

/// The body of `POST /v1/workers/{worker}/heartbeat`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerHeartbeat {
    /// The assignment version the worker runs (0: none, or "send me the whole assignment").
    #[serde(default)]
    #[schema(minimum = 0)]
    pub applied_assignment_version: i64,
    /// Recent ingest rates of the shards it owns (at most 10000 entries).
    #[serde(default)]
    #[schema(max_items = 10000)]
    pub shard_load: Vec<ShardLoad>,
    /// Bytes it stores for each tenant on the shards it owns for ingest (at most 10000 tenants).
    #[serde(default)]
    pub storage_bytes_by_tenant: std::collections::BTreeMap<String, i64>,
    /// Shards told `pending` that it is ready to take (at most 10000).
    #[serde(default)]
    #[schema(max_items = 10000)]
    pub ready: Vec<HandoverReport>,
    /// Shards told `releasing` that it stopped writing and flushed (at most 10000).
    #[serde(default)]
    #[schema(max_items = 10000)]
    pub released: Vec<HandoverReport>,
}

impl WorkerHeartbeat {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.applied_assignment_version < 0 {
            errors.add("applied_assignment_version", "must not be negative");
        }
        for (field, len) in [
            ("shard_load", self.shard_load.len()),
            (
                "storage_bytes_by_tenant",
                self.storage_bytes_by_tenant.len(),
            ),
            ("ready", self.ready.len()),
            ("released", self.released.len()),
        ] {
            if len > MAX_HEARTBEAT_ENTRIES {
                errors.add(
                    field,
                    format!("must have at most {MAX_HEARTBEAT_ENTRIES} entries, got {len}"),
                );
            }
        }
        if !errors.is_empty() {
            // Per-entry checks of an oversized list would only repeat the same message.
            return errors.into_result();
        }
        for (at, load) in self.shard_load.iter().enumerate() {
            let field = format!("shard_load[{at}]");
            load.shard().validate_into(&field, &mut errors);
            errors.check(
                &format!("{field}.ingest_bytes_per_sec"),
                check_range(load.ingest_bytes_per_sec, 0, MAX_QUOTA_VALUE),
            );
            errors.check(
                &format!("{field}.ingest_events_per_sec"),
                check_range(load.ingest_events_per_sec, 0, MAX_QUOTA_VALUE),
            );
        }
        for (tenant, bytes) in &self.storage_bytes_by_tenant {
            let field = format!("storage_bytes_by_tenant.{tenant}");
            errors.check(&field, TENANT_NAME.check(tenant));
            errors.check(&field, check_range(*bytes, 0, MAX_QUOTA_VALUE));
        }
        for (list, reports) in [("ready", &self.ready), ("released", &self.released)] {
            for (at, report) in reports.iter().enumerate() {
                let field = format!("{list}[{at}]");
                report.shard().validate_into(&field, &mut errors);
                if report.handover < 1 {
                    errors.add(format!("{field}.handover"), "must be at least 1");
                }
            }
        }
        errors.into_result()
    }
}

/// What a worker is told to do with one shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssignedState {
    /// Ingest: prepare the shard, do not accept writes; report `ready` with `handover`.
    Pending,
    /// Ingest: accept writes while the lease is valid, fenced by `epoch`. Query: serve it.
    Active,
    /// Ingest: stop accepting writes, flush, report `released` with `handover`.
    Releasing,
}

impl AssignedState {
    pub fn as_str(self) -> &'static str {
        match self {
            AssignedState::Pending => "pending",
            AssignedState::Active => "active",
            AssignedState::Releasing => "releasing",
        }
    }
}

/// One entry of a worker's assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AssignedShard {
    pub tenant: String,
    pub project: String,
    pub logstore: String,
    pub shard_id: i64,
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub inclusive_begin_key: String,
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub exclusive_end_key: String,
    pub role: WorkerRole,
    pub state: AssignedState,
    /// Ingest `pending` and `releasing`: the number to report back.
    pub handover: Option<i64>,
    /// Ingest `active`: the ownership epoch, which fences writes of earlier owners in the data
    /// plane.
    pub epoch: Option<i64>,
}

impl AssignedShard {
    pub fn shard(&self) -> ShardRef {
        ShardRef {
            tenant: self.tenant.clone(),
            project: self.project.clone(),
            logstore: self.logstore.clone(),
            shard_id: self.shard_id,
        }
    }
}

/// A worker's share of a tenant's ingest limit: it admits at most this much of the tenant's
/// traffic. The shares of a tenant over all workers sum to its quota.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenantLimitShare {
    pub tenant: String,
    pub ingest_bytes_per_sec: i64,
    pub ingest_events_per_sec: i64,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HeartbeatAnswer {
    /// The lease this heartbeat renewed. The worker may accept writes for its `active` ingest
    /// shards until `lease_ttl_ms` after it *sent* this heartbeat, and not a moment longer unless
    /// a later heartbeat is answered.
    pub lease_ttl_ms: i64,
    /// The version of the worker's current assignment.
    pub assignment_version: i64,
    /// The whole assignment, present only when `assignment_version` differs from the
    /// `applied_assignment_version` the worker sent.
    pub assignment: Option<Vec<AssignedShard>>,
    /// Its share of each hosted tenant's ingest limit, in every answer.
    pub tenant_limits: Vec<TenantLimitShare>,
    /// What a platform admin set for the worker (`draining`: it is being emptied).
    pub state: WorkerState,
}

/// A worker serving a shard, as tenants see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShardWorker {
    pub worker: String,
    pub address: String,
}

/// A shard (role) that could not be given all its workers: capacity is short, or there are
/// fewer query workers than a logstore's `query_replicas`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UnplacedShard {
    pub tenant: String,
    pub project: String,
    pub logstore: String,
    pub shard_id: i64,
    pub role: WorkerRole,
    /// Workers missing: 1 for ingest, the missing replicas for query.
    pub missing: i64,
}

/// The leader lease of the scheduler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SchedulerLeader {
    /// The replica holding (or last holding) the lease.
    pub holder: String,
    /// Grows with every takeover; every scheduler write is conditional on it.
    pub epoch: i64,
    pub expires_at: Timestamp,
    pub expired: bool,
}

/// `GET /v1/scheduler`: who schedules, what it last published, and what did not fit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SchedulerStatus {
    pub leader: Option<SchedulerLeader>,
    /// The latest assignment generation; every worker's `assignment_version` is one of them.
    pub generation: i64,
    /// The leader epoch that wrote `generation`.
    pub written_by_epoch: i64,
    pub reconciled_at: Option<Timestamp>,
    pub live_workers: i64,
    pub dead_workers: i64,
    /// Shards the last reconciliation could not give all their workers (at most 1000 listed).
    pub unplaced: Vec<UnplacedShard>,
    /// How many shard roles were unplaced in all.
    pub unplaced_total: i64,
}

/// The body of `POST …/shards/{shard}/split`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardSplitRequest {
    /// Where the right child starts: 32 lowercase hex digits strictly inside the shard's range.
    /// The midpoint when omitted.
    #[serde(default)]
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub split_key: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> WorkerSpec {
        WorkerSpec {
            address: "10.0.0.1:7000".into(),
            zone: "zone-a".into(),
            roles: vec![WorkerRole::Ingest, WorkerRole::Query],
            capacity: WorkerCapacity {
                shards: 100,
                ingest_bytes_per_sec: 0,
                query_slots: 8,
            },
        }
    }

    fn fields(result: Result<(), ValidationErrors>) -> Vec<String> {
        result
            .err()
            .map(|e| e.errors.into_iter().map(|e| e.field).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_registration_names_every_bad_field() {
        assert_eq!(spec().validate(), Ok(()));
        let bad = WorkerSpec {
            address: "has space".into(),
            zone: String::new(),
            roles: vec![WorkerRole::Query, WorkerRole::Query],
            capacity: WorkerCapacity {
                shards: -1,
                ingest_bytes_per_sec: 0,
                query_slots: MAX_WORKER_QUERY_SLOTS + 1,
            },
        };
        assert_eq!(
            fields(bad.validate()),
            [
                "address",
                "zone",
                "roles",
                "capacity.shards",
                "capacity.query_slots"
            ]
        );
    }

    #[test]
    fn a_heartbeat_names_the_bad_entry() {
        let heartbeat = WorkerHeartbeat {
            shard_load: vec![ShardLoad {
                tenant: "Acme".into(),
                project: "web".into(),
                logstore: "nginx".into(),
                shard_id: 0,
                ingest_bytes_per_sec: -5,
                ingest_events_per_sec: 1,
            }],
            ready: vec![HandoverReport {
                tenant: "acme".into(),
                project: "web".into(),
                logstore: "nginx".into(),
                shard_id: -1,
                handover: 0,
            }],
            ..Default::default()
        };
        assert_eq!(
            fields(heartbeat.validate()),
            [
                "shard_load[0].tenant",
                "shard_load[0].ingest_bytes_per_sec",
                "ready[0].shard_id",
                "ready[0].handover"
            ]
        );
    }

    #[test]
    fn oversized_lists_are_refused_once() {
        let report = HandoverReport {
            tenant: "acme".into(),
            project: "web".into(),
            logstore: "nginx".into(),
            shard_id: 0,
            handover: 1,
        };
        let heartbeat = WorkerHeartbeat {
            released: vec![report; MAX_HEARTBEAT_ENTRIES + 1],
            ..Default::default()
        };
        assert_eq!(fields(heartbeat.validate()), ["released"]);
    }
}
