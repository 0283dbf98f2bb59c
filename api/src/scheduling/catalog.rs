//! Turning a store snapshot into the scheduler's inputs: the shard catalog, the worker pool and
//! the previous desired assignment.

use std::collections::HashMap;
use std::sync::Arc;

use logplane_model::{ShardRef, ShardStatus, WorkerRole, WorkerState};
use logplane_scheduler::handover::IngestOwnership;
use logplane_scheduler::{
    Assignment, Capacity, LogstoreRef, Role, Roles, ShardCatalog, ShardKey, ShardSpec, Worker,
    WorkerId, ZoneId,
};
use logplane_store::{CatalogShard, PlacementRow, PoolSnapshot, SnapshotWorker};

use super::ownership::record_of;

/// The snapshot's shards in the catalog's order, with lookups both ways.
pub(crate) struct Catalog {
    pub specs: Arc<ShardCatalog>,
    /// `shards[i]` is the shard at catalog index `i`.
    pub shards: Vec<CatalogShard>,
    pub index: HashMap<ShardRef, usize>,
}

impl Catalog {
    pub fn new(snapshot: &PoolSnapshot) -> Self {
        let mut logstores: HashMap<(&str, &str, &str), Arc<LogstoreRef>> = HashMap::new();
        let mut specs = Vec::with_capacity(snapshot.shards.len());
        let mut keys = Vec::with_capacity(snapshot.shards.len());
        for shard in &snapshot.shards {
            let r = &shard.shard;
            let logstore = logstores
                .entry((&r.tenant, &r.project, &r.logstore))
                .or_insert_with(|| LogstoreRef::new(&r.tenant, &r.project, &r.logstore));
            let key = ShardKey::new(logstore, r.shard_id);
            keys.push(key.clone());
            specs.push(ShardSpec {
                key,
                status: shard.status,
                query_replicas: u8::try_from(shard.query_replicas.clamp(1, 3)).unwrap_or(1),
            });
        }
        // Keys are unique (the shards table's primary key), so this cannot fail; an empty
        // catalog is the safe answer if it ever did.
        let specs = ShardCatalog::new(specs).unwrap_or_default();
        let mut shards: Vec<Option<CatalogShard>> = vec![None; specs.len()];
        for (shard, key) in snapshot.shards.iter().zip(&keys) {
            if let Some(at) = specs.position(key) {
                shards[at] = Some(shard.clone());
            }
        }
        let shards: Vec<CatalogShard> = shards.into_iter().flatten().collect();
        debug_assert_eq!(
            shards.len(),
            specs.len(),
            "every catalog entry has its shard"
        );
        let index = shards
            .iter()
            .enumerate()
            .map(|(at, shard)| (shard.shard.clone(), at))
            .collect();
        Self {
            specs,
            shards,
            index,
        }
    }

    pub fn len(&self) -> usize {
        self.shards.len()
    }

    pub fn is_readwrite(&self, at: usize) -> bool {
        self.shards[at].status == ShardStatus::Readwrite
    }
}

/// The previous desired assignment, from the stored placements: each readwrite shard's ingest
/// target (a handover in flight is already decided) and every shard's query replicas.
pub(crate) fn previous_assignment(catalog: &Catalog, rows: &[Option<PlacementRow>]) -> Assignment {
    let mut records = Vec::new();
    for (at, row) in rows.iter().enumerate() {
        let Some(row) = row else {
            continue;
        };
        let key = catalog.specs.shards()[at].key.clone();
        if catalog.is_readwrite(at) {
            let ownership = IngestOwnership::from_record(record_of(row));
            if let Some(desired) = ownership.desired_owner() {
                records.push((key.clone(), Role::Ingest, desired.clone()));
            }
        }
        for replica in &row.query_replicas {
            records.push((key.clone(), Role::Query, WorkerId::new(replica.as_str())));
        }
    }
    Assignment::from_records(&catalog.specs, records)
}

/// The pool as placement sees it. A live worker is schedulable unless draining; a cordoned one
/// may keep what it holds but takes nothing new: it is given only the roles it holds and a
/// capacity of what it holds (it can still gain replicas of its less-used role up to its
/// larger count; placement has no per-role capacity).
pub(crate) fn pool(snapshot: &PoolSnapshot, previous: &Assignment) -> Vec<Worker> {
    let ingest_held = previous.counts(Role::Ingest);
    let query_held = previous.counts(Role::Query);
    snapshot
        .workers
        .iter()
        .map(|worker| {
            let id = WorkerId::new(worker.id.as_str());
            let mut roles = roles_of(worker);
            let mut shards = u32::try_from(worker.spec.capacity.shards).unwrap_or(u32::MAX);
            if worker.state == WorkerState::Cordoned {
                let ingest = ingest_held.get(&id).copied().unwrap_or(0);
                let query = query_held.get(&id).copied().unwrap_or(0);
                roles.ingest &= ingest > 0;
                roles.query &= query > 0;
                shards = shards.min(u32::try_from(ingest.max(query)).unwrap_or(u32::MAX));
            }
            Worker {
                zone: ZoneId::new(worker.spec.zone.as_str()),
                roles,
                capacity: Capacity {
                    shards,
                    ingest_bytes_per_sec: u64::try_from(worker.spec.capacity.ingest_bytes_per_sec)
                        .unwrap_or(0),
                    query_slots: u32::try_from(worker.spec.capacity.query_slots).unwrap_or(0),
                },
                schedulable: worker.live && worker.state != WorkerState::Draining,
                id,
            }
        })
        .collect()
}

fn roles_of(worker: &SnapshotWorker) -> Roles {
    Roles {
        ingest: worker.spec.has_role(WorkerRole::Ingest),
        query: worker.spec.has_role(WorkerRole::Query),
    }
}
