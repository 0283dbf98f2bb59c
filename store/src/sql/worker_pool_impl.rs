//! [`WorkerPool`] for [`SqlStore`]: each operation delegates to the module of its concern.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use logplane_model::page::PageRequest;
use logplane_model::{
    HeartbeatAnswer, SchedulerStatus, Shard, ShardRef, ShardSplitRequest, Worker, WorkerHeartbeat,
    WorkerSpec, WorkerState,
};

use super::{Leadership, LeaseBid, SqlStore};
use crate::context::{Ctx, Listed, Precondition, PutOutcome};
use crate::error::StoreResult;
use crate::worker_pool::{
    AutoSplitOutcome, PoolSnapshot, Published, SchedulerWrite, WorkerPool, WorkerSettings,
};

#[async_trait]
impl WorkerPool for SqlStore {
    async fn register_worker(
        &self,
        ctx: &Ctx,
        worker: &str,
        spec: WorkerSpec,
        precondition: Precondition,
    ) -> StoreResult<PutOutcome<Worker>> {
        self.register(ctx, worker, spec, precondition).await
    }

    async fn heartbeat_worker(
        &self,
        ctx: &Ctx,
        worker: &str,
        heartbeat: WorkerHeartbeat,
        wait: Duration,
    ) -> StoreResult<HeartbeatAnswer> {
        self.heartbeat(ctx, worker, heartbeat, wait).await
    }

    async fn get_worker(&self, ctx: &Ctx, worker: &str) -> StoreResult<Worker> {
        self.worker(ctx, worker).await
    }

    async fn list_workers(&self, ctx: &Ctx, page: PageRequest) -> StoreResult<Listed<Worker>> {
        self.workers(ctx, &page).await
    }

    async fn delete_worker(
        &self,
        ctx: &Ctx,
        worker: &str,
        precondition: Precondition,
    ) -> StoreResult<()> {
        self.forget_worker(ctx, worker, precondition).await
    }

    async fn set_worker_state(
        &self,
        ctx: &Ctx,
        worker: &str,
        state: WorkerState,
    ) -> StoreResult<Worker> {
        self.change_worker_state(ctx, worker, state).await
    }

    async fn get_scheduler_status(&self, ctx: &Ctx) -> StoreResult<SchedulerStatus> {
        self.status(ctx).await
    }

    async fn split_shard(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        logstore: &str,
        shard_id: i64,
        request: ShardSplitRequest,
    ) -> StoreResult<Vec<Shard>> {
        self.split(ctx, &[tenant, project, logstore], shard_id, &request)
            .await
    }

    async fn merge_shard(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        logstore: &str,
        shard_id: i64,
    ) -> StoreResult<Vec<Shard>> {
        self.merge(ctx, &[tenant, project, logstore], shard_id)
            .await
    }

    async fn acquire_leadership(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> StoreResult<LeaseBid> {
        self.try_lead(name, holder, ttl).await
    }

    async fn renew_leadership(
        &self,
        leadership: &Leadership,
        ttl: Duration,
    ) -> StoreResult<Option<Leadership>> {
        self.renew_lead(leadership, ttl).await
    }

    async fn resign_leadership(&self, leadership: &Leadership) -> StoreResult<()> {
        self.resign_lead(leadership).await
    }

    async fn pool_snapshot(&self) -> StoreResult<PoolSnapshot> {
        self.snapshot().await
    }

    async fn publish_schedule(
        &self,
        leadership: &Leadership,
        write: SchedulerWrite,
    ) -> StoreResult<Published> {
        self.publish(leadership, &write).await
    }

    async fn auto_split_shard(
        &self,
        leadership: &Leadership,
        shard: &ShardRef,
    ) -> StoreResult<AutoSplitOutcome> {
        self.auto_split(leadership, shard).await
    }

    fn scheduler_wakeups(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.scheduler_wakeups)
    }

    fn worker_settings(&self) -> WorkerSettings {
        self.worker_settings
    }
}
