//! One reconciliation: read the pool, the catalog and the stored placements; place; step every
//! shard's ingest ownership; render each worker's assignment and limit shares; write what
//! changed in one fenced transaction; then split what stayed hot.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use logplane_model::{ShardRef, UnplacedShard, WorkerRole};
use logplane_scheduler::{PlacementConfig, PlacementInput, Role, place};
use logplane_store::{
    AutoSplitOutcome, Leadership, PlacementRow, PoolSnapshot, Published, SchedulerWrite,
    StoreError, ViewUpdate, WorkerPool,
};

use super::catalog::{self, Catalog};
use super::loads::{AutoSplitPolicy, LoadTracker};
use super::{ownership, views};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileSettings {
    pub auto_split: AutoSplitPolicy,
    /// The time constant of the moving average over reported shard loads.
    pub load_smoothing: Duration,
    /// How long a shard nobody reports keeps its load (a handover, a dead owner not yet
    /// replaced): the worker lease, the longest a shard's owner can be gone unnoticed.
    pub load_hold: Duration,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        Self {
            auto_split: AutoSplitPolicy::default(),
            load_smoothing: Duration::from_secs(10),
            load_hold: Duration::from_secs(10),
        }
    }
}

/// What a reconciliation would write, and the shards to split after it.
pub(crate) struct Plan {
    pub write: SchedulerWrite,
    pub split_candidates: Vec<ShardRef>,
    pub unplaced_ingest: usize,
    pub unplaced_query: usize,
}

/// What a reconciliation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    pub published: Published,
    pub unplaced_ingest: usize,
    pub unplaced_query: usize,
    pub views_changed: usize,
    pub splits: usize,
}

/// The leader's reconciler. Its memory (smoothed loads, how long shards stayed hot) is an
/// optimisation: every decision is made from the snapshot it reads.
#[derive(Debug, Default)]
pub struct Reconciler {
    settings: ReconcileSettings,
    loads: LoadTracker,
}

impl Reconciler {
    pub fn new(settings: ReconcileSettings) -> Self {
        Self {
            settings,
            loads: LoadTracker::default(),
        }
    }

    pub async fn reconcile(
        &mut self,
        store: &dyn WorkerPool,
        leadership: &Leadership,
    ) -> Result<Reconciled, StoreError> {
        let snapshot = store.pool_snapshot().await?;
        let plan = self.plan(&snapshot, Instant::now())?;
        let views_changed = plan
            .write
            .views
            .iter()
            .filter(|view| view.assignment_changed)
            .count();
        let published = store.publish_schedule(leadership, plan.write).await?;
        let mut splits = 0;
        if matches!(published, Published::Written { .. }) {
            for shard in &plan.split_candidates {
                match store.auto_split_shard(leadership, shard).await? {
                    AutoSplitOutcome::Split { children } => {
                        splits += 1;
                        tracing::info!(tenant = %shard.tenant, project = %shard.project, logstore = %shard.logstore,
                            shard = shard.shard_id, ?children, "auto-split a hot shard");
                    }
                    AutoSplitOutcome::Skipped(reason) => {
                        tracing::debug!(tenant = %shard.tenant, logstore = %shard.logstore,
                            shard = shard.shard_id, %reason, "auto-split skipped");
                    }
                }
                self.loads.forget(shard);
            }
        }
        Ok(Reconciled {
            published,
            unplaced_ingest: plan.unplaced_ingest,
            unplaced_query: plan.unplaced_query,
            views_changed,
            splits,
        })
    }

    pub(crate) fn plan(
        &mut self,
        snapshot: &PoolSnapshot,
        now: Instant,
    ) -> Result<Plan, StoreError> {
        let catalog = Catalog::new(snapshot);
        let mut stored: Vec<Option<PlacementRow>> = vec![None; catalog.len()];
        for row in &snapshot.placements {
            if let Some(&at) = catalog.index.get(&row.shard) {
                stored[at] = Some(row.clone());
            }
        }
        let loads = self.loads.observe(
            snapshot,
            &catalog,
            self.settings.load_smoothing,
            self.settings.load_hold,
            now,
        );
        let previous = catalog::previous_assignment(&catalog, &stored);
        let workers = catalog::pool(snapshot);
        let (placement_catalog, pins) = catalog::pin_cordoned(snapshot, &catalog, &previous);
        let input = PlacementInput {
            workers: &workers,
            catalog: &placement_catalog,
            ingest_load: if loads.any_reported {
                &loads.bytes
            } else {
                &[]
            },
            config: PlacementConfig::default(),
        };
        let placement = place(&input, &previous)
            .map_err(|e| StoreError::Internal(format!("placement refused its input: {e}")))?;
        let desired = catalog::with_pins(&catalog, &placement.assignment, &pins);

        let ingest = ownership::step(snapshot, &catalog, &stored, &desired);
        let mut rows = ingest.rows;
        for (at, row) in rows.iter_mut().enumerate() {
            row.query_replicas = desired
                .query_replicas_at(at)
                .map(|worker| worker.as_str().to_string())
                .collect();
        }
        let assignments = views::assignments(snapshot, &catalog, &ingest.instructions, &rows);
        let mut limits = views::limit_shares_by_worker(snapshot, &catalog, &rows, &loads);

        let placements: Vec<PlacementRow> = rows
            .iter()
            .zip(&stored)
            .filter(|(row, stored)| match stored {
                Some(stored) => stored != *row,
                None => **row != PlacementRow::empty(row.shard.clone()),
            })
            .map(|(row, _)| row.clone())
            .collect();
        let published: HashMap<&str, _> = snapshot
            .views
            .iter()
            .map(|view| (view.worker.as_str(), view))
            .collect();
        let mut view_updates = Vec::new();
        for (worker, assignment) in assignments {
            let tenant_limits = limits.remove(&worker).unwrap_or_default();
            let before = published.get(worker.as_str());
            let assignment_changed = before.is_none_or(|view| view.assignment != assignment);
            let limits_changed = before.is_none_or(|view| view.tenant_limits != tenant_limits);
            if assignment_changed || limits_changed {
                view_updates.push(ViewUpdate {
                    worker,
                    assignment,
                    assignment_changed,
                    tenant_limits,
                });
            }
        }
        view_updates.sort_by(|a, b| a.worker.cmp(&b.worker));

        let unplaced: Vec<UnplacedShard> = placement
            .unplaced
            .iter()
            .map(|u| UnplacedShard {
                tenant: u.shard.logstore.tenant.clone(),
                project: u.shard.logstore.project.clone(),
                logstore: u.shard.logstore.logstore.clone(),
                shard_id: u.shard.shard_id,
                role: match u.role {
                    Role::Ingest => WorkerRole::Ingest,
                    Role::Query => WorkerRole::Query,
                },
                missing: i64::from(u.missing),
            })
            .collect();
        let unplaced_ingest = unplaced
            .iter()
            .filter(|u| u.role == WorkerRole::Ingest)
            .count();
        let unplaced_query = unplaced.len() - unplaced_ingest;
        let split_candidates =
            self.loads
                .split_candidates(&catalog, &loads, &self.settings.auto_split, now);
        Ok(Plan {
            write: SchedulerWrite {
                placements,
                views: view_updates,
                dead_workers: ingest.dead_relied_on.into_iter().collect(),
                unplaced_total: unplaced.len() as i64,
                unplaced,
            },
            split_candidates,
            unplaced_ingest,
            unplaced_query,
        })
    }
}
