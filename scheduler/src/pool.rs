//! What placement works on: the worker pool and the catalog of shards.

use std::sync::Arc;

use logplane_model::ShardStatus;
use logplane_model::logstore::MAX_QUERY_REPLICAS;

use crate::ids::{ShardKey, WorkerId, ZoneId};

/// The most query replicas a shard can ask for; replica sets are stored inline with this length.
pub const MAX_REPLICAS: usize = MAX_QUERY_REPLICAS as usize;

/// The two jobs a worker can do. Placement treats them independently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Owns a `readwrite` shard: the one worker that accepts its writes.
    Ingest,
    /// Serves queries over a shard (any status); a shard has `query_replicas` of them.
    Query,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Query => "query",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Roles {
    pub ingest: bool,
    pub query: bool,
}

impl Roles {
    pub const BOTH: Roles = Roles {
        ingest: true,
        query: true,
    };

    pub fn has(self, role: Role) -> bool {
        match role {
            Role::Ingest => self.ingest,
            Role::Query => self.query,
        }
    }
}

/// What a worker declared it can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capacity {
    /// The most shards of each role the worker takes: up to `shards` ingest shards and, separately,
    /// up to `shards` query replicas. A hard limit: placement never exceeds it.
    pub shards: u32,
    /// Ingest throughput the worker is sized for. Weighs the load balance (a worker with twice the
    /// throughput gets twice the load); see the README for why it is not a hard limit.
    pub ingest_bytes_per_sec: u64,
    /// Concurrent queries; used by the query-slot arbiter, not by placement.
    pub query_slots: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    pub id: WorkerId,
    pub zone: ZoneId,
    pub roles: Roles,
    pub capacity: Capacity,
    /// Live (within its lease) and neither cordoned nor draining. An unschedulable worker keeps
    /// nothing: its shards move to others (through a make-before-break handover).
    pub schedulable: bool,
}

impl Worker {
    pub(crate) fn eligible_for(&self, role: Role) -> bool {
        self.schedulable && self.roles.has(role) && self.capacity.shards > 0
    }
}

/// One shard as placement sees it. Its reported load is passed separately (see
/// [`crate::placement::PlacementInput::ingest_load`]) because it changes every heartbeat while the
/// catalog changes only on split, merge and logstore changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardSpec {
    pub key: ShardKey,
    pub status: ShardStatus,
    /// The logstore's `query_replicas` (1–3); values above [`MAX_REPLICAS`] are treated as it.
    pub query_replicas: u8,
}

impl ShardSpec {
    pub(crate) fn wanted_replicas(&self) -> usize {
        usize::from(self.query_replicas).min(MAX_REPLICAS)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogError {
    DuplicateShard(ShardKey),
}

impl std::fmt::Display for CatalogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CatalogError::DuplicateShard(key) => write!(f, "shard {key} is listed twice"),
        }
    }
}

impl std::error::Error for CatalogError {}

/// Every shard that placement knows, sorted by key. Shared through an `Arc` between the input and
/// the assignment computed from it: when the next round passes the same catalog, the previous
/// assignment lines up with it index by index and nothing is looked up by key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShardCatalog {
    shards: Vec<ShardSpec>,
}

impl ShardCatalog {
    /// Sorts the shards by key; a key listed twice is an error.
    pub fn new(mut shards: Vec<ShardSpec>) -> Result<Arc<Self>, CatalogError> {
        shards.sort_by(|a, b| a.key.cmp(&b.key));
        if let Some(pair) = shards.windows(2).find(|pair| pair[0].key == pair[1].key) {
            return Err(CatalogError::DuplicateShard(pair[0].key.clone()));
        }
        Ok(Arc::new(Self { shards }))
    }

    pub fn shards(&self) -> &[ShardSpec] {
        &self.shards
    }

    pub fn len(&self) -> usize {
        self.shards.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }

    /// The index of a shard in key order, which is also its index in an assignment over this
    /// catalog and in the load slice.
    pub fn position(&self, key: &ShardKey) -> Option<usize> {
        self.shards.binary_search_by(|spec| spec.key.cmp(key)).ok()
    }
}
