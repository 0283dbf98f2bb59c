//! Logplane's storage: one [`Store`] trait, one SQL implementation that runs on PostgreSQL (the
//! production store) and SQLite (the embedded default), and the rules that keep both correct
//! under concurrency.
//!
//! Every invariant that concurrent requests could break lives in the database: unique and foreign
//! keys, conditional updates on the ETag, row locks. Authorization is checked here, from the
//! [`Ctx`] every call carries, where data is read or written; every mutation writes its audit
//! event in the same transaction.

mod context;
pub mod distribution;
mod error;
mod sql;
#[cfg(feature = "testing")]
pub mod testing;
mod worker_pool;

use std::sync::Arc;

use async_trait::async_trait;
use logplane_model::audit::NewAuditEvent;
use logplane_model::page::PageRequest;
use logplane_model::quota::TenantUsage;
use logplane_model::{
    Agent, AgentEnrollRequest, AgentSyncRequest, ApiKey, ApiKeyRequest, AuditEvent, Caller,
    CollectionConfig, CollectionConfigBinding, CollectionConfigRevision, CollectionConfigRollout,
    CollectionConfigSpec, CollectionConfigStatus, EnrollmentToken, EnrollmentTokenRequest,
    KeyScope, Logstore, LogstoreSpec, MachineGroup, MachineGroupSpec, Project, ProjectSpec,
    QuerySlot, QuerySlotRequest, QuotaSpec, RolloutRequest, Shard, Tenant, TenantQuota, TenantSpec,
};

pub use context::{
    Ctx, EnrolledAgent, KeyIdentity, Listed, Precondition, PutOutcome, SlotAdmission,
};
use distribution::{SentBundle, SyncReport, TenantDistribution};
pub use error::{StoreError, StoreResult};
pub use sql::{
    AgentSettings, Backend, DEFAULT_AGENT_EXPIRY, Leadership, LeaseBid, LeaseState, PoolStats,
    QuerySlotSettings, SqlStore, StoreOptions,
};
pub use worker_pool::{
    AutoSplitOutcome, CatalogShard, HandoverPhaseName, PlacementRow, PoolSnapshot, Published,
    PublishedView, SCHEDULER_LEASE, SchedulerWrite, SnapshotWorker, StoredHandover, ViewUpdate,
    WorkerPool, WorkerSettings,
};

#[async_trait]
/// Everything the API needs from storage. The worker pool and the scheduler's state are a
/// sub-interface of their own, [`WorkerPool`].
pub trait Store: WorkerPool + Send + Sync + 'static {
    /// Whether the database answers and every migration this build knows has been applied.
    async fn check_ready(&self) -> StoreResult<()>;
    fn pool_stats(&self) -> PoolStats;

    // Credentials, looked up before a caller is known.

    /// Returns the shared token-signing secret, storing `candidate` if none exists yet.
    async fn ensure_signing_key(&self, candidate: &[u8]) -> StoreResult<Vec<u8>>;
    /// Makes sure a platform-admin key with this secret hash exists (`LOGPLANE_BOOTSTRAP_ADMIN_KEY`).
    async fn ensure_bootstrap_key(&self, secret_hash: &str) -> StoreResult<()>;
    async fn find_key_by_secret_hash(&self, secret_hash: &str) -> StoreResult<Option<Caller>>;
    /// The key behind a token's `sub`, with its tenant's API rate; `None` once it is revoked.
    async fn find_key_by_id(&self, key_id: &str) -> StoreResult<Option<KeyIdentity>>;
    /// The agent behind an agent token's `sub`, without an API rate (agents have budgets of
    /// their own); `None` once it is revoked. Only agents are looked up, never API keys.
    async fn find_agent_by_id(&self, agent_id: &str) -> StoreResult<Option<KeyIdentity>>;
    /// Records a request turned away before it reached a resource (no or bad credential).
    async fn record_denied(&self, event: NewAuditEvent) -> StoreResult<()>;

    // Tenants (platform admins write; a tenant's own roles read).

    async fn put_tenant(
        &self,
        ctx: &Ctx,
        name: &str,
        spec: TenantSpec,
        precondition: Precondition,
    ) -> StoreResult<PutOutcome<Tenant>>;
    async fn get_tenant(&self, ctx: &Ctx, name: &str) -> StoreResult<Tenant>;
    async fn delete_tenant(
        &self,
        ctx: &Ctx,
        name: &str,
        precondition: Precondition,
    ) -> StoreResult<()>;
    async fn list_tenants(&self, ctx: &Ctx, page: PageRequest) -> StoreResult<Listed<Tenant>>;

    // Projects.

    async fn put_project(
        &self,
        ctx: &Ctx,
        tenant: &str,
        name: &str,
        spec: ProjectSpec,
        precondition: Precondition,
    ) -> StoreResult<PutOutcome<Project>>;
    async fn get_project(&self, ctx: &Ctx, tenant: &str, name: &str) -> StoreResult<Project>;
    async fn delete_project(
        &self,
        ctx: &Ctx,
        tenant: &str,
        name: &str,
        precondition: Precondition,
    ) -> StoreResult<()>;
    async fn list_projects(
        &self,
        ctx: &Ctx,
        tenant: &str,
        page: PageRequest,
    ) -> StoreResult<Listed<Project>>;

    // Logstores and their shards.

    async fn put_logstore(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        name: &str,
        spec: LogstoreSpec,
        precondition: Precondition,
    ) -> StoreResult<PutOutcome<Logstore>>;
    async fn get_logstore(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        name: &str,
    ) -> StoreResult<Logstore>;
    async fn delete_logstore(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        name: &str,
        precondition: Precondition,
    ) -> StoreResult<()>;
    async fn list_logstores(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        page: PageRequest,
    ) -> StoreResult<Listed<Logstore>>;
    async fn list_shards(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        logstore: &str,
    ) -> StoreResult<Vec<Shard>>;

    // Quotas and usage.

    async fn get_quota(&self, ctx: &Ctx, tenant: &str) -> StoreResult<TenantQuota>;
    async fn put_quota(
        &self,
        ctx: &Ctx,
        tenant: &str,
        spec: QuotaSpec,
        precondition: Precondition,
    ) -> StoreResult<PutOutcome<TenantQuota>>;
    async fn get_usage(&self, ctx: &Ctx, tenant: &str) -> StoreResult<TenantUsage>;

    // Query slots (query frontends, audience logplane-query).

    /// Grants a slot for one query of the tenant's project, waiting up to `max_wait_ms` in the
    /// tenant's queue; refuses when the queue is full or the wait runs out.
    async fn acquire_query_slot(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        request: QuerySlotRequest,
    ) -> StoreResult<SlotAdmission>;
    /// Extends a granted slot's lease; 404 once it expired, or for another frontend's slot.
    async fn renew_query_slot(&self, ctx: &Ctx, slot_id: &str) -> StoreResult<QuerySlot>;
    async fn release_query_slot(&self, ctx: &Ctx, slot_id: &str) -> StoreResult<()>;
    /// Expires lapsed slots and grants what that frees; run now and then by every replica.
    async fn reconcile_query_slots(&self) -> StoreResult<usize>;

    // API keys.

    async fn create_api_key(
        &self,
        ctx: &Ctx,
        scope: &KeyScope,
        request: ApiKeyRequest,
        secret_hash: &str,
    ) -> StoreResult<ApiKey>;
    async fn get_api_key(&self, ctx: &Ctx, scope: &KeyScope, id: &str) -> StoreResult<ApiKey>;
    async fn delete_api_key(&self, ctx: &Ctx, scope: &KeyScope, id: &str) -> StoreResult<()>;
    async fn list_api_keys(
        &self,
        ctx: &Ctx,
        scope: &KeyScope,
        page: PageRequest,
    ) -> StoreResult<Listed<ApiKey>>;

    // Audit events, newest first. `tenant: None` lists every event (platform admins only).

    async fn list_audit_events(
        &self,
        ctx: &Ctx,
        tenant: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<Listed<AuditEvent>>;

    // Machine groups.

    async fn put_machine_group(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        group: &str,
        spec: MachineGroupSpec,
        precondition: Precondition,
    ) -> StoreResult<PutOutcome<MachineGroup>>;
    async fn get_machine_group(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        group: &str,
    ) -> StoreResult<MachineGroup>;
    async fn delete_machine_group(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        group: &str,
        precondition: Precondition,
    ) -> StoreResult<()>;
    async fn list_machine_groups(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        page: PageRequest,
    ) -> StoreResult<Listed<MachineGroup>>;
    /// The agents the group's selector picks now, by id.
    async fn list_machine_group_agents(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        group: &str,
        page: PageRequest,
    ) -> StoreResult<Listed<Agent>>;

    // Collection configs, their revisions and rollouts.

    /// A change of the spec makes a new revision and restarts the rollout at 0%.
    async fn put_collection_config(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        config: &str,
        spec: CollectionConfigSpec,
        precondition: Precondition,
    ) -> StoreResult<PutOutcome<CollectionConfig>>;
    async fn get_collection_config(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        config: &str,
    ) -> StoreResult<CollectionConfig>;
    async fn delete_collection_config(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        config: &str,
        precondition: Precondition,
    ) -> StoreResult<()>;
    async fn list_collection_configs(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        page: PageRequest,
    ) -> StoreResult<Listed<CollectionConfig>>;
    /// Newest first.
    async fn list_collection_config_revisions(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        config: &str,
        page: PageRequest,
    ) -> StoreResult<Listed<CollectionConfigRevision>>;
    /// Makes a new revision with `revision`'s content, rolled out to every agent at once.
    async fn rollback_collection_config(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        config: &str,
        revision: i64,
    ) -> StoreResult<CollectionConfig>;
    async fn put_collection_config_rollout(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        config: &str,
        request: RolloutRequest,
    ) -> StoreResult<PutOutcome<CollectionConfigRollout>>;
    async fn resume_collection_config_rollout(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        config: &str,
    ) -> StoreResult<CollectionConfigRollout>;
    async fn get_collection_config_status(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        config: &str,
    ) -> StoreResult<CollectionConfigStatus>;
    /// Pauses rollouts whose updated agents fail too often; run now and then by every replica,
    /// and at once after a failure report (see [`Store::failure_reports`]). Returns how many it paused.
    async fn reconcile_rollouts(&self) -> StoreResult<usize>;
    /// Removes the agents silent for longer than the configured expiry, auditing each; run now
    /// and then by every replica. Returns how many it removed.
    async fn expire_silent_agents(&self) -> StoreResult<u64>;
    /// Notified when an agent reports a failed bundle.
    fn failure_reports(&self) -> Arc<tokio::sync::Notify>;

    // Bindings between machine groups and collection configs.

    async fn put_binding(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        machine_group: &str,
        collection_config: &str,
    ) -> StoreResult<PutOutcome<CollectionConfigBinding>>;
    async fn delete_binding(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        machine_group: &str,
        collection_config: &str,
    ) -> StoreResult<()>;
    /// The configs bound to a group, by config name.
    async fn list_machine_group_bindings(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        group: &str,
        page: PageRequest,
    ) -> StoreResult<Listed<CollectionConfigBinding>>;
    /// The groups a config is bound to, by group name.
    async fn list_collection_config_bindings(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        config: &str,
        page: PageRequest,
    ) -> StoreResult<Listed<CollectionConfigBinding>>;

    // Enrollment tokens (tenant admins) and agents.

    async fn create_enrollment_token(
        &self,
        ctx: &Ctx,
        tenant: &str,
        request: EnrollmentTokenRequest,
        secret_hash: &str,
    ) -> StoreResult<EnrollmentToken>;
    async fn list_enrollment_tokens(
        &self,
        ctx: &Ctx,
        tenant: &str,
        page: PageRequest,
    ) -> StoreResult<Listed<EnrollmentToken>>;
    async fn delete_enrollment_token(&self, ctx: &Ctx, tenant: &str, id: &str) -> StoreResult<()>;
    /// Enrolls an agent with the token whose secret hashes to `token_hash`; `None` when no such
    /// token exists or it expired.
    async fn enroll_agent(
        &self,
        token_hash: &str,
        request: AgentEnrollRequest,
        secret_hash: &str,
        request_id: Option<String>,
    ) -> StoreResult<Option<EnrolledAgent>>;
    async fn list_agents(
        &self,
        ctx: &Ctx,
        tenant: &str,
        page: PageRequest,
    ) -> StoreResult<Listed<Agent>>;
    /// Removes the agent and revokes its credential.
    async fn delete_agent(&self, ctx: &Ctx, tenant: &str, agent: &str) -> StoreResult<()>;

    // The agent protocol (audience logplane-agent; an agent acts for itself only).

    /// Records a sync call's seq, attributes and status; returns what the bundle is computed for.
    async fn report_agent_sync(
        &self,
        ctx: &Ctx,
        agent: &str,
        request: AgentSyncRequest,
    ) -> StoreResult<SyncReport>;
    /// Records what the agent was sent.
    async fn record_agent_bundle(
        &self,
        ctx: &Ctx,
        agent: &str,
        bundle: SentBundle,
    ) -> StoreResult<()>;
    /// Everything the tenant's bundles are computed from, as of one generation.
    async fn load_distribution(&self, ctx: &Ctx, tenant: &str) -> StoreResult<TenantDistribution>;
    /// The tenant's distribution generation as published on this replica: raised after every
    /// change made here, and by [`Store::poll_distribution`] for changes made elsewhere.
    fn watch_distribution(&self, tenant: &str) -> tokio::sync::watch::Receiver<i64>;
    /// Reads the generations of tenants with waiting agents here and publishes them.
    async fn poll_distribution(&self) -> StoreResult<usize>;
}
