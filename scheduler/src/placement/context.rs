//! The input, checked and put in a canonical order, and the previous assignment lined up with it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use crate::assignment::{Assignment, NO_WORKER, ReplicaSet};
use crate::ids::WorkerId;
use crate::pool::{Role, ShardCatalog, Worker};

/// Workers sorted by id (so the result never depends on the order the caller listed them in),
/// their zones numbered, and the shards' loads.
pub(crate) struct Context<'a> {
    pub workers: Vec<&'a Worker>,
    pub zone_of: Vec<u32>,
    pub zone_count: usize,
    pub catalog: &'a ShardCatalog,
    /// Per shard, aligned with the catalog; empty when no load is known yet.
    pub load: &'a [u64],
}

impl<'a> Context<'a> {
    pub fn new(workers: &'a [Worker], catalog: &'a ShardCatalog, load: &'a [u64]) -> Self {
        let mut workers: Vec<&Worker> = workers.iter().collect();
        workers.sort_by(|a, b| a.id.cmp(&b.id));
        let mut zones: Vec<&str> = workers.iter().map(|w| w.zone.as_str()).collect();
        zones.sort_unstable();
        zones.dedup();
        let zone_of = workers
            .iter()
            .map(|w| zones.binary_search(&w.zone.as_str()).unwrap() as u32)
            .collect();
        Self {
            workers,
            zone_of,
            zone_count: zones.len(),
            catalog,
            load,
        }
    }

    pub fn load_of(&self, shard: usize) -> u64 {
        self.load.get(shard).copied().unwrap_or(0)
    }

    pub fn eligible(&self, role: Role) -> Vec<bool> {
        self.workers.iter().map(|w| w.eligible_for(role)).collect()
    }

    pub fn worker_ids(&self) -> Arc<[WorkerId]> {
        self.workers.iter().map(|w| w.id.clone()).collect()
    }
}

/// The previous assignment over the current catalog: per shard, the previous owner and replicas
/// as numbers of the previous worker table, and that table's numbers translated to current
/// workers (`NO_WORKER` for a worker no longer listed).
pub(crate) struct Previous<'a> {
    pub ingest: Cow<'a, [u32]>,
    pub query: Cow<'a, [ReplicaSet]>,
    pub translate: Vec<u32>,
    pub table: &'a [WorkerId],
}

impl Previous<'_> {
    /// The previous ingest owner of a shard as a current worker number.
    pub fn ingest_owner(&self, shard: usize) -> u32 {
        self.current(self.ingest[shard])
    }

    pub fn current(&self, previous_number: u32) -> u32 {
        if previous_number == NO_WORKER {
            return NO_WORKER;
        }
        self.translate[previous_number as usize]
    }

    pub fn id(&self, previous_number: u32) -> Option<&WorkerId> {
        if previous_number == NO_WORKER {
            return None;
        }
        self.table.get(previous_number as usize)
    }
}

pub(crate) fn align<'a>(
    previous: &'a Assignment,
    catalog: &Arc<ShardCatalog>,
    context: &Context<'_>,
) -> Previous<'a> {
    let numbers: HashMap<&str, u32> = context
        .workers
        .iter()
        .enumerate()
        .map(|(number, worker)| (worker.id.as_str(), number as u32))
        .collect();
    let translate = previous
        .workers
        .iter()
        .map(|id| numbers.get(id.as_str()).copied().unwrap_or(NO_WORKER))
        .collect();
    let table = &previous.workers[..];

    // The common case: the catalog did not change since the previous round, so the arrays line
    // up index by index and nothing is compared.
    if Arc::ptr_eq(&previous.catalog, catalog) {
        return Previous {
            ingest: Cow::Borrowed(&previous.ingest),
            query: Cow::Borrowed(&previous.query),
            translate,
            table,
        };
    }

    // Otherwise walk both sorted key lists together: shards added since get nothing, shards
    // removed since are dropped.
    let mut ingest = vec![NO_WORKER; catalog.len()];
    let mut query = vec![ReplicaSet::default(); catalog.len()];
    let (old, new) = (previous.catalog.shards(), catalog.shards());
    let (mut i, mut j) = (0, 0);
    while i < old.len() && j < new.len() {
        match old[i].key.cmp(&new[j].key) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                ingest[j] = previous.ingest[i];
                query[j] = previous.query[i];
                i += 1;
                j += 1;
            }
        }
    }
    Previous {
        ingest: Cow::Owned(ingest),
        query: Cow::Owned(query),
        translate,
        table,
    }
}
