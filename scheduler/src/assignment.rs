//! An assignment: for every shard of a catalog, its ingest owner and its query replicas.

use std::collections::HashMap;
use std::sync::Arc;

use crate::ids::{ShardKey, WorkerId};
use crate::pool::{MAX_REPLICAS, Role, ShardCatalog};

/// Marks "no worker" in the dense per-shard arrays; u32 rather than `Option<u32>` halves them.
pub(crate) const NO_WORKER: u32 = u32::MAX;

/// The query replicas of one shard, stored inline (a shard has at most [`MAX_REPLICAS`]).
/// Worker numbers index the worker table of the assignment holding the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReplicaSet {
    workers: [u32; MAX_REPLICAS],
    len: u8,
}

impl Default for ReplicaSet {
    fn default() -> Self {
        Self {
            workers: [NO_WORKER; MAX_REPLICAS],
            len: 0,
        }
    }
}

impl ReplicaSet {
    pub(crate) fn as_slice(&self) -> &[u32] {
        &self.workers[..usize::from(self.len)]
    }

    pub(crate) fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub(crate) fn contains(&self, worker: u32) -> bool {
        self.as_slice().contains(&worker)
    }

    pub(crate) fn push(&mut self, worker: u32) {
        debug_assert!(
            self.len() < MAX_REPLICAS,
            "a shard never has more than MAX_REPLICAS query replicas"
        );
        debug_assert!(
            !self.contains(worker),
            "query replicas of one shard are distinct workers"
        );
        self.workers[self.len()] = worker;
        self.len += 1;
    }

    pub(crate) fn remove(&mut self, worker: u32) {
        if let Some(at) = self.as_slice().iter().position(|&w| w == worker) {
            let last = self.len() - 1;
            // Keep the remaining replicas in their order: order is not meaningful, but a stable
            // layout keeps the output identical for identical input.
            self.workers.copy_within(at + 1..=last, at);
            self.workers[last] = NO_WORKER;
            self.len -= 1;
        }
    }
}

/// For every shard of a catalog: its ingest owner (readwrite shards) and its query replicas.
/// Produced by [`crate::placement::place`], and given back to it as the previous assignment of
/// the next round.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub(crate) catalog: Arc<ShardCatalog>,
    /// The worker table the per-shard numbers below index.
    pub(crate) workers: Arc<[WorkerId]>,
    pub(crate) ingest: Vec<u32>,
    pub(crate) query: Vec<ReplicaSet>,
}

/// One shard's assignment, for reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardAssignment<'a> {
    pub key: &'a ShardKey,
    pub ingest_owner: Option<&'a WorkerId>,
    pub query_replicas: Vec<&'a WorkerId>,
}

impl Default for Assignment {
    fn default() -> Self {
        Self::empty()
    }
}

impl Assignment {
    /// Nothing assigned: the previous assignment of the very first round.
    pub fn empty() -> Self {
        Self {
            catalog: Arc::new(ShardCatalog::default()),
            workers: Arc::from(Vec::new()),
            ingest: Vec::new(),
            query: Vec::new(),
        }
    }

    /// Rebuilds an assignment from stored records (shard, role, worker), e.g. when a new leader
    /// takes over. Records of shards missing from the catalog, a second ingest owner and replicas
    /// beyond [`MAX_REPLICAS`] are ignored: placement repairs what is left.
    pub fn from_records(
        catalog: &Arc<ShardCatalog>,
        records: impl IntoIterator<Item = (ShardKey, Role, WorkerId)>,
    ) -> Self {
        let mut table: Vec<WorkerId> = Vec::new();
        let mut numbers: HashMap<WorkerId, u32> = HashMap::new();
        let mut ingest = vec![NO_WORKER; catalog.len()];
        let mut query = vec![ReplicaSet::default(); catalog.len()];
        for (key, role, worker) in records {
            let Some(shard) = catalog.position(&key) else {
                continue;
            };
            let number = *numbers.entry(worker.clone()).or_insert_with(|| {
                table.push(worker);
                (table.len() - 1) as u32
            });
            match role {
                Role::Ingest if ingest[shard] == NO_WORKER => ingest[shard] = number,
                Role::Ingest => {}
                Role::Query => {
                    let replicas = &mut query[shard];
                    if replicas.len() < MAX_REPLICAS && !replicas.contains(number) {
                        replicas.push(number);
                    }
                }
            }
        }
        Self {
            catalog: Arc::clone(catalog),
            workers: Arc::from(table),
            ingest,
            query,
        }
    }

    pub fn catalog(&self) -> &Arc<ShardCatalog> {
        &self.catalog
    }

    pub fn len(&self) -> usize {
        self.catalog.len()
    }

    pub fn is_empty(&self) -> bool {
        self.catalog.is_empty()
    }

    fn worker(&self, number: u32) -> Option<&WorkerId> {
        if number == NO_WORKER {
            return None;
        }
        self.workers.get(number as usize)
    }

    /// The ingest owner of the shard at `index` in the catalog's key order.
    pub fn ingest_owner_at(&self, index: usize) -> Option<&WorkerId> {
        self.worker(self.ingest[index])
    }

    /// The query replicas of the shard at `index` in the catalog's key order.
    pub fn query_replicas_at(&self, index: usize) -> impl Iterator<Item = &WorkerId> {
        self.query[index]
            .as_slice()
            .iter()
            .filter_map(|&number| self.worker(number))
    }

    /// The ingest owner of a shard, looked up by key.
    pub fn ingest_owner(&self, key: &ShardKey) -> Option<&WorkerId> {
        self.catalog
            .position(key)
            .and_then(|index| self.ingest_owner_at(index))
    }

    /// Every shard with its owner and replicas, in key order.
    pub fn iter(&self) -> impl Iterator<Item = ShardAssignment<'_>> {
        self.catalog
            .shards()
            .iter()
            .enumerate()
            .map(|(index, spec)| ShardAssignment {
                key: &spec.key,
                ingest_owner: self.ingest_owner_at(index),
                query_replicas: self.query_replicas_at(index).collect(),
            })
    }

    /// Every (shard, role, worker) record, in key order: what the store keeps and what a
    /// worker's heartbeat answer is rendered from.
    pub fn records(&self) -> impl Iterator<Item = (&ShardKey, Role, &WorkerId)> {
        self.iter().flat_map(|shard| {
            let key = shard.key;
            let ingest = shard
                .ingest_owner
                .map(|owner| (key, Role::Ingest, owner))
                .into_iter();
            let query = shard
                .query_replicas
                .into_iter()
                .map(move |worker| (key, Role::Query, worker));
            ingest.chain(query)
        })
    }

    /// Each worker's shards and roles, in key order: what its heartbeat answer lists. Computed in
    /// one pass, so rendering every worker's answer costs O(shards), not O(workers × shards).
    pub fn shards_by_worker(&self) -> HashMap<&WorkerId, Vec<(&ShardKey, Role)>> {
        let mut by_worker: HashMap<&WorkerId, Vec<(&ShardKey, Role)>> = HashMap::new();
        for (key, role, worker) in self.records() {
            by_worker.entry(worker).or_default().push((key, role));
        }
        by_worker
    }

    /// How many shards of a role each worker holds, for every worker that holds one.
    pub fn counts(&self, role: Role) -> HashMap<&WorkerId, usize> {
        let mut counts: HashMap<&WorkerId, usize> = HashMap::new();
        for index in 0..self.len() {
            match role {
                Role::Ingest => {
                    if let Some(owner) = self.ingest_owner_at(index) {
                        *counts.entry(owner).or_default() += 1;
                    }
                }
                Role::Query => {
                    for worker in self.query_replicas_at(index) {
                        *counts.entry(worker).or_default() += 1;
                    }
                }
            }
        }
        counts
    }
}
