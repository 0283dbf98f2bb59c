//! The shard scheduler, wired to the store and to time: a background task on every replica that
//! contends for the `scheduler` leader lease and, while it holds it, reconciles the worker pool
//! (placement, make-before-break handovers, limit shares, auto-split). The placement, handover,
//! resharding and limit-share logic is `logplane_scheduler`'s; this module feeds it snapshots
//! and writes its decisions, each write fenced by the lease's epoch.

mod catalog;
mod leader;
mod loads;
mod ownership;
mod reconcile;
#[cfg(test)]
mod tests;
mod views;

use std::sync::Arc;
use std::time::Duration;

use logplane_store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use loads::AutoSplitPolicy;
pub use reconcile::{ReconcileSettings, Reconciled, Reconciler};

use crate::telemetry::metrics::Metrics;

#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// This replica's name in the lease; unique per process.
    pub replica_id: String,
    /// How long the leader lease lasts without renewal; the leader renews every third of it.
    pub leader_lease: Duration,
    /// How often the leader reconciles without a wake-up.
    pub reconcile_interval: Duration,
    pub reconcile: ReconcileSettings,
}

impl SchedulerSettings {
    /// Settings with a fresh replica id (`<prefix>-<random>`).
    pub fn new(replica_prefix: &str) -> Self {
        Self {
            replica_id: format!(
                "{replica_prefix}-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..12]
            ),
            leader_lease: Duration::from_secs(4),
            reconcile_interval: Duration::from_secs(1),
            reconcile: ReconcileSettings::default(),
        }
    }
}

/// The running scheduler task of this replica.
pub struct SchedulerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl SchedulerHandle {
    /// Stops the task; a leader resigns its lease so another replica takes over at once.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

pub fn spawn(
    store: Arc<dyn Store>,
    settings: SchedulerSettings,
    metrics: Arc<Metrics>,
) -> SchedulerHandle {
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(leader::run(store, settings, metrics, stopped));
    SchedulerHandle { stop, task }
}
