//! The worker pool and the shard scheduler's state: the worker protocol (register, heartbeat),
//! the platform admin's operations on workers, resharding, and what the scheduler's leader reads
//! and writes. The leader's writes are fenced by its lease epoch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use logplane_model::page::PageRequest;
use logplane_model::{
    AssignedShard, AutoSplit, HandoverReport, HeartbeatAnswer, KeyRange, SchedulerStatus, Shard,
    ShardLoad, ShardRef, ShardSplitRequest, ShardStatus, TenantLimitShare, UnplacedShard, Worker,
    WorkerHeartbeat, WorkerSpec, WorkerState,
};

use crate::context::{Ctx, Listed, Precondition, PutOutcome};
use crate::error::StoreResult;
use crate::sql::{Leadership, LeaseBid};

/// The name of the scheduler's leader lease.
pub const SCHEDULER_LEASE: &str = "scheduler";

/// How workers are judged alive and how long their heartbeats wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSettings {
    /// A worker that sends no heartbeat for this long is dead; its ingest shards go to others.
    pub lease_ttl: Duration,
    /// How often a waiting heartbeat looks for an assignment published by another replica
    /// (assignments published by this replica wake it at once).
    pub poll_interval: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(10),
            poll_interval: Duration::from_millis(200),
        }
    }
}

impl WorkerSettings {
    /// The longest a heartbeat waits: half the lease, so the answer arrives with half the lease
    /// left to send the next heartbeat.
    pub fn max_wait(&self) -> Duration {
        self.lease_ttl / 2
    }
}

/// A worker as the leader sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotWorker {
    pub id: String,
    pub spec: WorkerSpec,
    pub state: WorkerState,
    /// Its lease was valid by the database's clock when read.
    pub live: bool,
    pub shard_load: Vec<ShardLoad>,
    pub ready: Vec<HandoverReport>,
    pub released: Vec<HandoverReport>,
}

/// A shard with what placement needs of its logstore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogShard {
    pub shard: ShardRef,
    pub range: KeyRange,
    pub status: ShardStatus,
    pub query_replicas: i64,
    pub auto_split: AutoSplit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoverPhaseName {
    /// The incoming worker prepares.
    Preparing,
    /// The incoming worker is ready; the owner was told to release.
    Releasing,
    /// The shard became readonly; its owner was told to release, with no successor.
    Retiring,
}

impl HandoverPhaseName {
    pub fn as_str(self) -> &'static str {
        match self {
            HandoverPhaseName::Preparing => "preparing",
            HandoverPhaseName::Releasing => "releasing",
            HandoverPhaseName::Retiring => "retiring",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "preparing" => Some(HandoverPhaseName::Preparing),
            "releasing" => Some(HandoverPhaseName::Releasing),
            "retiring" => Some(HandoverPhaseName::Retiring),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHandover {
    pub number: i64,
    /// The incoming worker; empty while retiring.
    pub to: String,
    pub phase: HandoverPhaseName,
}

/// One shard's placement as stored: its ingest ownership (the scheduler's `IngestOwnership`)
/// and its query replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementRow {
    pub shard: ShardRef,
    pub owner: Option<String>,
    pub owner_lost: bool,
    pub epoch: i64,
    pub last_handover: i64,
    pub handover: Option<StoredHandover>,
    pub next_target: Option<String>,
    /// Readonly shards: the last owner released it (or had none, or its lease expired).
    pub retired: bool,
    pub query_replicas: Vec<String>,
}

impl PlacementRow {
    /// A shard nobody owns or serves yet.
    pub fn empty(shard: ShardRef) -> Self {
        Self {
            shard,
            owner: None,
            owner_lost: false,
            epoch: 0,
            last_handover: 0,
            handover: None,
            next_target: None,
            retired: false,
            query_replicas: Vec::new(),
        }
    }
}

/// A worker's published assignment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedView {
    pub worker: String,
    pub version: i64,
    pub assignment: Vec<AssignedShard>,
    pub tenant_limits: Vec<TenantLimitShare>,
}

/// Everything one reconciliation reads.
#[derive(Debug, Clone, Default)]
pub struct PoolSnapshot {
    pub workers: Vec<SnapshotWorker>,
    /// Every shard, readwrite and readonly, by tenant, project, logstore and id.
    pub shards: Vec<CatalogShard>,
    pub placements: Vec<PlacementRow>,
    pub views: Vec<PublishedView>,
    /// The ingest limits (bytes/s, events/s) of every tenant with a quota row or shards, after
    /// the server's defaults.
    pub tenant_limits: HashMap<String, (i64, i64)>,
    /// The limits of tenants not in `tenant_limits` (the server's defaults).
    pub default_limits: (i64, i64),
}

/// A worker's new published assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewUpdate {
    pub worker: String,
    pub assignment: Vec<AssignedShard>,
    /// Whether `assignment` differs from the published one: then it gets the new generation as
    /// its version (and the worker's waiting heartbeat is answered); otherwise only its tenant
    /// limits change.
    pub assignment_changed: bool,
    pub tenant_limits: Vec<TenantLimitShare>,
}

/// What one reconciliation writes, in one transaction fenced by the leader's epoch.
#[derive(Debug, Clone, Default)]
pub struct SchedulerWrite {
    pub placements: Vec<PlacementRow>,
    pub views: Vec<ViewUpdate>,
    /// Workers this reconciliation treated as dead (their ingest ownership counted as lost). The
    /// write is refused as stale unless each is still dead, or gone, when it commits: a worker
    /// that renewed its lease in between may be writing again.
    pub dead_workers: Vec<String>,
    pub unplaced: Vec<UnplacedShard>,
    pub unplaced_total: i64,
}

/// The outcome of [`WorkerPool::publish_schedule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    Written {
        generation: i64,
    },
    /// Nothing was written: a worker treated as dead renewed its lease meanwhile. Reconcile again
    /// from a fresh snapshot.
    Stale,
}

/// The outcome of [`WorkerPool::auto_split_shard`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoSplitOutcome {
    Split {
        children: Vec<i64>,
    },
    /// Nothing was split, and why (auto-split disabled meanwhile, at its maximum, quota, …).
    Skipped(String),
}

#[async_trait]
pub trait WorkerPool: Send + Sync {
    // The worker protocol (role `worker`, audience `logplane-worker`).

    /// Registers a worker or updates its registration; renews its lease.
    async fn register_worker(
        &self,
        ctx: &Ctx,
        worker: &str,
        spec: WorkerSpec,
        precondition: Precondition,
    ) -> StoreResult<PutOutcome<Worker>>;
    /// Renews the worker's lease, records its loads and reports, and answers with its
    /// assignment; waits up to `wait` (bounded by half the lease) for a new one.
    async fn heartbeat_worker(
        &self,
        ctx: &Ctx,
        worker: &str,
        heartbeat: WorkerHeartbeat,
        wait: Duration,
    ) -> StoreResult<HeartbeatAnswer>;

    // Platform admins.

    async fn get_worker(&self, ctx: &Ctx, worker: &str) -> StoreResult<Worker>;
    async fn list_workers(&self, ctx: &Ctx, page: PageRequest) -> StoreResult<Listed<Worker>>;
    /// Forgets a worker; refused while it is live and involved in ingest.
    async fn delete_worker(
        &self,
        ctx: &Ctx,
        worker: &str,
        precondition: Precondition,
    ) -> StoreResult<()>;
    async fn set_worker_state(
        &self,
        ctx: &Ctx,
        worker: &str,
        state: WorkerState,
    ) -> StoreResult<Worker>;
    async fn get_scheduler_status(&self, ctx: &Ctx) -> StoreResult<SchedulerStatus>;

    // Resharding (tenant editors). Both answer the shards that changed: parents, then children.

    async fn split_shard(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        logstore: &str,
        shard_id: i64,
        request: ShardSplitRequest,
    ) -> StoreResult<Vec<Shard>>;
    async fn merge_shard(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        logstore: &str,
        shard_id: i64,
    ) -> StoreResult<Vec<Shard>>;

    // The scheduler's leader.

    async fn acquire_leadership(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> StoreResult<LeaseBid>;
    async fn renew_leadership(
        &self,
        leadership: &Leadership,
        ttl: Duration,
    ) -> StoreResult<Option<Leadership>>;
    async fn resign_leadership(&self, leadership: &Leadership) -> StoreResult<()>;
    async fn pool_snapshot(&self) -> StoreResult<PoolSnapshot>;
    /// Writes one reconciliation, refusing with `StoreError::Fenced` unless `leadership` still
    /// holds the scheduler lease under its epoch.
    async fn publish_schedule(
        &self,
        leadership: &Leadership,
        write: SchedulerWrite,
    ) -> StoreResult<Published>;
    /// Splits a hot shard at its midpoint, fenced like [`WorkerPool::publish_schedule`].
    async fn auto_split_shard(
        &self,
        leadership: &Leadership,
        shard: &ShardRef,
    ) -> StoreResult<AutoSplitOutcome>;
    /// Woken (one stored permit) when something the scheduler reconciles changed on this replica.
    fn scheduler_wakeups(&self) -> Arc<tokio::sync::Notify>;
    fn worker_settings(&self) -> WorkerSettings;
}
