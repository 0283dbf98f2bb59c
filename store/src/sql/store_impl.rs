//! [`Store`] for [`SqlStore`]: each operation delegates to the module of its resource.

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

use super::bindings::{BindingKey, BindingSide};
use super::collection_configs::CollectionConfigKind;
use super::credentials::KeyLookup;
use super::logstores::LogstoreKind;
use super::machine_groups::MachineGroupKind;
use super::projects::ProjectKind;
use super::tenants::TenantKind;
use super::{PoolStats, SqlStore};
use crate::Store;
use crate::context::{
    Ctx, EnrolledAgent, KeyIdentity, Listed, Precondition, PutOutcome, SlotAdmission,
};
use crate::distribution::{SentBundle, SyncReport, TenantDistribution};
use crate::error::{StoreError, StoreResult};

#[async_trait]
impl Store for SqlStore {
    async fn check_ready(&self) -> StoreResult<()> {
        let expected = self.backend.migrator().iter().map(|m| m.version).max();
        let applied = self.latest_applied_migration().await?;
        if applied < expected {
            return Err(StoreError::Unavailable {
                reason: format!("schema at migration {applied:?}, this build needs {expected:?}"),
                may_have_committed: false,
            });
        }
        Ok(())
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.pool.size(),
            idle: self.pool.num_idle() as u32,
            max: self.max_connections,
        }
    }

    async fn ensure_signing_key(&self, candidate: &[u8]) -> StoreResult<Vec<u8>> {
        self.signing_key(candidate).await
    }

    async fn ensure_bootstrap_key(&self, secret_hash: &str) -> StoreResult<()> {
        self.bootstrap_key(secret_hash).await
    }

    async fn find_key_by_secret_hash(&self, secret_hash: &str) -> StoreResult<Option<Caller>> {
        self.key_caller("secret_hash", secret_hash).await
    }

    async fn find_key_by_id(&self, key_id: &str) -> StoreResult<Option<KeyIdentity>> {
        self.key_identity(KeyLookup::Any(key_id.to_string())).await
    }

    async fn find_agent_by_id(&self, agent_id: &str) -> StoreResult<Option<KeyIdentity>> {
        self.key_identity(KeyLookup::Agent(agent_id.to_string()))
            .await
    }

    async fn record_denied(&self, event: NewAuditEvent) -> StoreResult<()> {
        self.insert_audit_event(&event).await
    }

    async fn put_tenant(
        &self,
        ctx: &Ctx,
        name: &str,
        spec: TenantSpec,
        precondition: Precondition,
    ) -> StoreResult<PutOutcome<Tenant>> {
        self.put_resource::<TenantKind>(ctx, &[name], spec, precondition)
            .await
    }

    async fn get_tenant(&self, ctx: &Ctx, name: &str) -> StoreResult<Tenant> {
        self.get_resource::<TenantKind>(ctx, &[name]).await
    }

    async fn delete_tenant(
        &self,
        ctx: &Ctx,
        name: &str,
        precondition: Precondition,
    ) -> StoreResult<()> {
        self.delete_resource::<TenantKind>(ctx, &[name], precondition)
            .await
    }

    async fn list_tenants(&self, ctx: &Ctx, page: PageRequest) -> StoreResult<Listed<Tenant>> {
        self.list_resources::<TenantKind>(ctx, &[], &page).await
    }

    async fn put_project(
        &self,
        ctx: &Ctx,
        tenant: &str,
        name: &str,
        spec: ProjectSpec,
        precondition: Precondition,
    ) -> StoreResult<PutOutcome<Project>> {
        self.put_resource::<ProjectKind>(ctx, &[tenant, name], spec, precondition)
            .await
    }

    async fn get_project(&self, ctx: &Ctx, tenant: &str, name: &str) -> StoreResult<Project> {
        self.get_resource::<ProjectKind>(ctx, &[tenant, name]).await
    }

    async fn delete_project(
        &self,
        ctx: &Ctx,
        tenant: &str,
        name: &str,
        precondition: Precondition,
    ) -> StoreResult<()> {
        self.delete_resource::<ProjectKind>(ctx, &[tenant, name], precondition)
            .await
    }

    async fn list_projects(
        &self,
        ctx: &Ctx,
        tenant: &str,
        page: PageRequest,
    ) -> StoreResult<Listed<Project>> {
        self.list_resources::<ProjectKind>(ctx, &[tenant], &page)
            .await
    }

    async fn put_logstore(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        name: &str,
        spec: LogstoreSpec,
        precondition: Precondition,
    ) -> StoreResult<PutOutcome<Logstore>> {
        let outcome = self
            .put_resource::<LogstoreKind>(ctx, &[tenant, project, name], spec, precondition)
            .await?;
        // New shards, or a reshard, for the scheduler to place.
        if !matches!(outcome, PutOutcome::Unchanged(_)) {
            self.wake_scheduler();
        }
        Ok(outcome)
    }

    async fn get_logstore(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        name: &str,
    ) -> StoreResult<Logstore> {
        self.get_resource::<LogstoreKind>(ctx, &[tenant, project, name])
            .await
    }

    async fn delete_logstore(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        name: &str,
        precondition: Precondition,
    ) -> StoreResult<()> {
        self.delete_resource::<LogstoreKind>(ctx, &[tenant, project, name], precondition)
            .await?;
        self.wake_scheduler();
        Ok(())
    }

    async fn list_logstores(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        page: PageRequest,
    ) -> StoreResult<Listed<Logstore>> {
        self.list_resources::<LogstoreKind>(ctx, &[tenant, project], &page)
            .await
    }

    async fn list_shards(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        logstore: &str,
    ) -> StoreResult<Vec<Shard>> {
        self.shards_of(ctx, &[tenant, project, logstore]).await
    }

    async fn get_quota(&self, ctx: &Ctx, tenant: &str) -> StoreResult<TenantQuota> {
        self.tenant_quota(ctx, tenant).await
    }

    async fn put_quota(
        &self,
        ctx: &Ctx,
        tenant: &str,
        spec: QuotaSpec,
        precondition: Precondition,
    ) -> StoreResult<PutOutcome<TenantQuota>> {
        self.put_tenant_quota(ctx, tenant, spec, precondition).await
    }

    async fn get_usage(&self, ctx: &Ctx, tenant: &str) -> StoreResult<TenantUsage> {
        self.tenant_usage(ctx, tenant).await
    }

    async fn acquire_query_slot(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        request: QuerySlotRequest,
    ) -> StoreResult<SlotAdmission> {
        self.acquire_slot(ctx, tenant, project, request).await
    }

    async fn renew_query_slot(&self, ctx: &Ctx, slot_id: &str) -> StoreResult<QuerySlot> {
        self.renew_slot(ctx, slot_id).await
    }

    async fn release_query_slot(&self, ctx: &Ctx, slot_id: &str) -> StoreResult<()> {
        self.release_slot(ctx, slot_id).await
    }

    async fn reconcile_query_slots(&self) -> StoreResult<usize> {
        self.reconcile_slots().await
    }

    async fn create_api_key(
        &self,
        ctx: &Ctx,
        scope: &KeyScope,
        request: ApiKeyRequest,
        secret_hash: &str,
    ) -> StoreResult<ApiKey> {
        self.create_key(ctx, scope, &request, secret_hash).await
    }

    async fn get_api_key(&self, ctx: &Ctx, scope: &KeyScope, id: &str) -> StoreResult<ApiKey> {
        self.get_key(ctx, scope, id).await
    }

    async fn delete_api_key(&self, ctx: &Ctx, scope: &KeyScope, id: &str) -> StoreResult<()> {
        self.delete_key(ctx, scope, id).await
    }

    async fn list_api_keys(
        &self,
        ctx: &Ctx,
        scope: &KeyScope,
        page: PageRequest,
    ) -> StoreResult<Listed<ApiKey>> {
        self.list_keys(ctx, scope, &page).await
    }

    async fn list_audit_events(
        &self,
        ctx: &Ctx,
        tenant: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<Listed<AuditEvent>> {
        self.audit_events(ctx, tenant, &page).await
    }

    async fn put_machine_group(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        group: &str,
        spec: MachineGroupSpec,
        precondition: Precondition,
    ) -> StoreResult<PutOutcome<MachineGroup>> {
        self.put_resource::<MachineGroupKind>(ctx, &[tenant, project, group], spec, precondition)
            .await
    }

    async fn get_machine_group(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        group: &str,
    ) -> StoreResult<MachineGroup> {
        self.get_resource::<MachineGroupKind>(ctx, &[tenant, project, group])
            .await
    }

    async fn delete_machine_group(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        group: &str,
        precondition: Precondition,
    ) -> StoreResult<()> {
        self.delete_resource::<MachineGroupKind>(ctx, &[tenant, project, group], precondition)
            .await
    }

    async fn list_machine_groups(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        page: PageRequest,
    ) -> StoreResult<Listed<MachineGroup>> {
        self.list_resources::<MachineGroupKind>(ctx, &[tenant, project], &page)
            .await
    }

    async fn list_machine_group_agents(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        group: &str,
        page: PageRequest,
    ) -> StoreResult<Listed<Agent>> {
        self.group_members(ctx, &[tenant, project, group], &page)
            .await
    }

    async fn put_collection_config(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        config: &str,
        spec: CollectionConfigSpec,
        precondition: Precondition,
    ) -> StoreResult<PutOutcome<CollectionConfig>> {
        self.put_resource::<CollectionConfigKind>(
            ctx,
            &[tenant, project, config],
            spec,
            precondition,
        )
        .await
    }

    async fn get_collection_config(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        config: &str,
    ) -> StoreResult<CollectionConfig> {
        self.get_resource::<CollectionConfigKind>(ctx, &[tenant, project, config])
            .await
    }

    async fn delete_collection_config(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        config: &str,
        precondition: Precondition,
    ) -> StoreResult<()> {
        self.delete_resource::<CollectionConfigKind>(ctx, &[tenant, project, config], precondition)
            .await
    }

    async fn list_collection_configs(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        page: PageRequest,
    ) -> StoreResult<Listed<CollectionConfig>> {
        self.list_resources::<CollectionConfigKind>(ctx, &[tenant, project], &page)
            .await
    }

    async fn list_collection_config_revisions(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        config: &str,
        page: PageRequest,
    ) -> StoreResult<Listed<CollectionConfigRevision>> {
        self.config_revisions(ctx, &[tenant, project, config], &page)
            .await
    }

    async fn rollback_collection_config(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        config: &str,
        revision: i64,
    ) -> StoreResult<CollectionConfig> {
        self.rollback_config(ctx, &[tenant, project, config], revision)
            .await
    }

    async fn put_collection_config_rollout(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        config: &str,
        request: RolloutRequest,
    ) -> StoreResult<PutOutcome<CollectionConfigRollout>> {
        self.set_rollout(ctx, &[tenant, project, config], request)
            .await
    }

    async fn resume_collection_config_rollout(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        config: &str,
    ) -> StoreResult<CollectionConfigRollout> {
        self.resume_rollout(ctx, &[tenant, project, config]).await
    }

    async fn get_collection_config_status(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        config: &str,
    ) -> StoreResult<CollectionConfigStatus> {
        self.config_status(ctx, &[tenant, project, config]).await
    }

    async fn reconcile_rollouts(&self) -> StoreResult<usize> {
        self.guard_rollouts().await
    }

    async fn expire_silent_agents(&self) -> StoreResult<u64> {
        self.expire_agents().await
    }

    fn failure_reports(&self) -> Arc<tokio::sync::Notify> {
        self.failure_reports.clone()
    }

    async fn put_binding(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        machine_group: &str,
        collection_config: &str,
    ) -> StoreResult<PutOutcome<CollectionConfigBinding>> {
        let key = BindingKey {
            tenant,
            project,
            group: machine_group,
            config: collection_config,
        };
        self.bind(ctx, key).await
    }

    async fn delete_binding(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        machine_group: &str,
        collection_config: &str,
    ) -> StoreResult<()> {
        let key = BindingKey {
            tenant,
            project,
            group: machine_group,
            config: collection_config,
        };
        self.unbind(ctx, key).await
    }

    async fn list_machine_group_bindings(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        group: &str,
        page: PageRequest,
    ) -> StoreResult<Listed<CollectionConfigBinding>> {
        self.bindings_of(ctx, BindingSide::Group, &[tenant, project, group], &page)
            .await
    }

    async fn list_collection_config_bindings(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        config: &str,
        page: PageRequest,
    ) -> StoreResult<Listed<CollectionConfigBinding>> {
        self.bindings_of(ctx, BindingSide::Config, &[tenant, project, config], &page)
            .await
    }

    async fn create_enrollment_token(
        &self,
        ctx: &Ctx,
        tenant: &str,
        request: EnrollmentTokenRequest,
        secret_hash: &str,
    ) -> StoreResult<EnrollmentToken> {
        self.create_token(ctx, tenant, &request, secret_hash).await
    }

    async fn list_enrollment_tokens(
        &self,
        ctx: &Ctx,
        tenant: &str,
        page: PageRequest,
    ) -> StoreResult<Listed<EnrollmentToken>> {
        self.tokens_of(ctx, tenant, &page).await
    }

    async fn delete_enrollment_token(&self, ctx: &Ctx, tenant: &str, id: &str) -> StoreResult<()> {
        self.revoke_token(ctx, tenant, id).await
    }

    async fn enroll_agent(
        &self,
        token_hash: &str,
        request: AgentEnrollRequest,
        secret_hash: &str,
        request_id: Option<String>,
    ) -> StoreResult<Option<EnrolledAgent>> {
        self.enroll(token_hash, &request, secret_hash, request_id)
            .await
    }

    async fn list_agents(
        &self,
        ctx: &Ctx,
        tenant: &str,
        page: PageRequest,
    ) -> StoreResult<Listed<Agent>> {
        self.agents_of(ctx, tenant, &page).await
    }

    async fn delete_agent(&self, ctx: &Ctx, tenant: &str, agent: &str) -> StoreResult<()> {
        self.remove_agent(ctx, tenant, agent).await
    }

    async fn report_agent_sync(
        &self,
        ctx: &Ctx,
        agent: &str,
        request: AgentSyncRequest,
    ) -> StoreResult<SyncReport> {
        self.record_sync_report(ctx, agent, request).await
    }

    async fn record_agent_bundle(
        &self,
        ctx: &Ctx,
        agent: &str,
        bundle: SentBundle,
    ) -> StoreResult<()> {
        self.record_sent_bundle(ctx, agent, bundle).await
    }

    async fn load_distribution(&self, ctx: &Ctx, tenant: &str) -> StoreResult<TenantDistribution> {
        self.distribution_of(ctx, tenant).await
    }

    fn watch_distribution(&self, tenant: &str) -> tokio::sync::watch::Receiver<i64> {
        self.generations.subscribe(tenant)
    }

    async fn poll_distribution(&self) -> StoreResult<usize> {
        self.poll_generations().await
    }
}
