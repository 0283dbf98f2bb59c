//! [`Store`] for [`SqlStore`]: each operation delegates to the module of its resource.

use async_trait::async_trait;
use logplane_model::audit::NewAuditEvent;
use logplane_model::page::PageRequest;
use logplane_model::quota::TenantUsage;
use logplane_model::{
    ApiKey, ApiKeyRequest, AuditEvent, Caller, KeyScope, Logstore, LogstoreSpec, Project,
    ProjectSpec, QuerySlot, QuerySlotRequest, QuotaSpec, Shard, Tenant, TenantQuota, TenantSpec,
};

use super::logstores::LogstoreKind;
use super::projects::ProjectKind;
use super::tenants::TenantKind;
use super::{PoolStats, SqlStore};
use crate::Store;
use crate::context::{Ctx, KeyIdentity, Listed, Precondition, PutOutcome, SlotAdmission};
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
        self.key_identity(key_id).await
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
}
