//! `/v1/workers` and `/v1/scheduler`. A worker registers and heartbeats with a `worker` API key
//! (tokens of audience `logplane-worker`); platform admins read, cordon, drain, uncordon and
//! forget workers and read the scheduler's status.

use logplane_model::{HeartbeatAnswer, Page, SchedulerStatus, Worker, WorkerHeartbeat, WorkerSpec};
use reqwest::{Method, Url};

use crate::Result;
use crate::client::Client;
use crate::request::{PageOptions, Precondition, PutResponse, read_json};

impl Client {
    fn worker_url(&self, worker: &str) -> Result<Url> {
        self.endpoint(&["v1", "workers", worker])
    }

    /// Registers a worker or updates its registration, renewing its lease (`worker_put`).
    pub async fn put_worker(
        &self,
        worker: &str,
        spec: &WorkerSpec,
        precondition: Precondition,
    ) -> Result<PutResponse<Worker>> {
        self.put_json(self.worker_url(worker)?, spec, &precondition)
            .await
    }

    /// Heartbeats (`worker_heartbeat`): renews the lease, hands in loads and handover reports,
    /// and answers with the assignment when it differs from the applied one. With `wait_ms` the
    /// server waits up to that long (and at most half the lease) for a new assignment; the
    /// client's timeout must exceed it (`ClientBuilder::timeout`).
    ///
    /// The lease runs from when this call was *sent*: accept writes for `active` ingest shards
    /// only until `lease_ttl_ms` after that moment (see `docs/worker-protocol.md`).
    pub async fn heartbeat_worker(
        &self,
        worker: &str,
        heartbeat: &WorkerHeartbeat,
        wait_ms: Option<u32>,
    ) -> Result<HeartbeatAnswer> {
        let mut url = self.endpoint(&["v1", "workers", worker, "heartbeat"])?;
        if let Some(wait) = wait_ms {
            url.query_pairs_mut()
                .append_pair("wait_ms", &wait.to_string());
        }
        self.post_json(url, heartbeat).await
    }

    /// `worker_get` (platform admins).
    pub async fn get_worker(&self, worker: &str) -> Result<Worker> {
        self.get_json(self.worker_url(worker)?).await
    }

    /// One page of workers, by id (`worker_list`, platform admins).
    pub async fn list_workers(&self, page: &PageOptions) -> Result<Page<Worker>> {
        self.get_page(self.endpoint(&["v1", "workers"])?, page)
            .await
    }

    /// Every worker, following `next_page_token` to the end.
    pub async fn list_all_workers(&self) -> Result<Vec<Worker>> {
        self.get_all_pages(self.endpoint(&["v1", "workers"])?).await
    }

    /// Forgets a worker (`worker_delete`); refused (409) while it is live and involved in ingest.
    pub async fn delete_worker(&self, worker: &str, if_match: Option<&str>) -> Result<()> {
        self.delete(
            self.worker_url(worker)?,
            &Precondition::for_delete(if_match),
        )
        .await
    }

    async fn set_worker_state(&self, worker: &str, action: &str) -> Result<Worker> {
        let url = self.endpoint(&["v1", "workers", worker, action])?;
        let response = self.execute(self.request(Method::POST, url)).await?;
        read_json(response).await
    }

    /// Takes no new shards, keeps what it has (`worker_cordon`).
    pub async fn cordon_worker(&self, worker: &str) -> Result<Worker> {
        self.set_worker_state(worker, "cordon").await
    }

    /// Moves every shard away, make-before-break (`worker_drain`).
    pub async fn drain_worker(&self, worker: &str) -> Result<Worker> {
        self.set_worker_state(worker, "drain").await
    }

    /// Schedulable again (`worker_uncordon`).
    pub async fn uncordon_worker(&self, worker: &str) -> Result<Worker> {
        self.set_worker_state(worker, "uncordon").await
    }

    /// The scheduler's leader, generation and unplaced shards (`scheduler_get`).
    pub async fn get_scheduler_status(&self) -> Result<SchedulerStatus> {
        self.get_json(self.endpoint(&["v1", "scheduler"])?).await
    }
}
