//! Turning a store snapshot into the scheduler's inputs: the shard catalog, the worker pool and
//! the previous desired assignment.

use std::collections::{HashMap, HashSet};
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

/// The pool as placement sees it: a live worker is schedulable unless cordoned or draining.
/// (A cordoned worker keeps what it holds through [`pin_cordoned`], outside placement.)
pub(crate) fn pool(snapshot: &PoolSnapshot) -> Vec<Worker> {
    snapshot
        .workers
        .iter()
        .map(|worker| Worker {
            id: WorkerId::new(worker.id.as_str()),
            zone: ZoneId::new(worker.spec.zone.as_str()),
            roles: roles_of(worker),
            capacity: Capacity {
                shards: u32::try_from(worker.spec.capacity.shards).unwrap_or(u32::MAX),
                ingest_bytes_per_sec: u64::try_from(worker.spec.capacity.ingest_bytes_per_sec)
                    .unwrap_or(0),
                query_slots: u32::try_from(worker.spec.capacity.query_slots).unwrap_or(0),
            },
            schedulable: worker.live && worker.state == WorkerState::Active,
        })
        .collect()
}

/// What live cordoned workers keep, by catalog index: placement has no notion of "keep, but take
/// nothing new", so these roles are taken out of what it places and added back after.
pub(crate) struct Pins {
    pub ingest: Vec<Option<WorkerId>>,
    pub query: Vec<Vec<WorkerId>>,
}

/// The catalog placement works on: shards whose ingest a cordoned worker keeps count as
/// readonly there, and replicas a cordoned worker keeps are subtracted from the replicas asked
/// for. Keys and order are the catalog's, so indexes line up.
pub(crate) fn pin_cordoned(
    snapshot: &PoolSnapshot,
    catalog: &Catalog,
    previous: &Assignment,
) -> (Arc<ShardCatalog>, Pins) {
    let keeps = |role: WorkerRole| -> HashSet<&str> {
        snapshot
            .workers
            .iter()
            .filter(|w| w.live && w.state == WorkerState::Cordoned && w.spec.has_role(role))
            .map(|w| w.id.as_str())
            .collect()
    };
    let (ingest_keepers, query_keepers) = (keeps(WorkerRole::Ingest), keeps(WorkerRole::Query));
    let mut pins = Pins {
        ingest: vec![None; catalog.len()],
        query: vec![Vec::new(); catalog.len()],
    };
    if ingest_keepers.is_empty() && query_keepers.is_empty() {
        return (Arc::clone(&catalog.specs), pins);
    }
    let mut specs: Vec<ShardSpec> = catalog.specs.shards().to_vec();
    for (at, spec) in specs.iter_mut().enumerate() {
        if let Some(owner) = previous.ingest_owner_at(at)
            && spec.status == ShardStatus::Readwrite
            && ingest_keepers.contains(owner.as_str())
        {
            pins.ingest[at] = Some(owner.clone());
            spec.status = ShardStatus::Readonly;
        }
        pins.query[at] = previous
            .query_replicas_at(at)
            .filter(|worker| query_keepers.contains(worker.as_str()))
            .cloned()
            .collect();
        let kept = u8::try_from(pins.query[at].len()).unwrap_or(u8::MAX);
        spec.query_replicas = spec.query_replicas.saturating_sub(kept);
    }
    let pinned = ShardCatalog::new(specs).unwrap_or_else(|_| Arc::clone(&catalog.specs));
    (pinned, pins)
}

/// The placement with the pinned roles added back, over the real catalog.
pub(crate) fn with_pins(catalog: &Catalog, placed: &Assignment, pins: &Pins) -> Assignment {
    let mut records = Vec::new();
    for at in 0..catalog.len() {
        let key = &catalog.specs.shards()[at].key;
        let owner = pins.ingest[at].as_ref().or(placed.ingest_owner_at(at));
        if let Some(owner) = owner.filter(|_| catalog.is_readwrite(at)) {
            records.push((key.clone(), Role::Ingest, owner.clone()));
        }
        for worker in pins.query[at].iter().chain(placed.query_replicas_at(at)) {
            records.push((key.clone(), Role::Query, worker.clone()));
        }
    }
    Assignment::from_records(&catalog.specs, records)
}

fn roles_of(worker: &SnapshotWorker) -> Roles {
    Roles {
        ingest: worker.spec.has_role(WorkerRole::Ingest),
        query: worker.spec.has_role(WorkerRole::Query),
    }
}
