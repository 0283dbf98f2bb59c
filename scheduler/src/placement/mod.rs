//! Placement: which worker owns each `readwrite` shard for ingest and which workers serve each
//! shard's queries. One pure function, [`place`], from the pool, the catalog, the loads and the
//! previous assignment to the new assignment, the moves between the two, and what did not fit.
//! The algorithm and its guarantees are described in the crate's README.

mod context;
mod ingest;
mod isolation;
mod load;
mod moves;
mod query;
mod quota;
mod report;
mod rooms;
mod zone_plan;

use std::sync::Arc;

use crate::assignment::Assignment;
use crate::ids::{ShardKey, WorkerId};
use crate::pool::{Role, ShardCatalog, Worker};

pub use moves::{Move, MoveReason};
pub use report::{PlacementReport, RoleReport};

/// The constants of the load-balance bound `load ≤ max(tolerance × fair, largest + slack × fair)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlacementConfig {
    pub load_tolerance: f64,
    pub load_slack: f64,
}

impl Default for PlacementConfig {
    fn default() -> Self {
        Self {
            load_tolerance: 1.10,
            load_slack: 0.05,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct PlacementInput<'a> {
    /// Every known worker, in any order; unschedulable ones hold nothing.
    pub workers: &'a [Worker],
    pub catalog: &'a Arc<ShardCatalog>,
    /// Reported ingest bytes/s per shard, in the catalog's order; empty while no load is known.
    pub ingest_load: &'a [u64],
    pub config: PlacementConfig,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    DuplicateWorker(WorkerId),
    LoadLength { shards: usize, loads: usize },
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::DuplicateWorker(id) => write!(f, "worker {id} is listed twice"),
            InputError::LoadLength { shards, loads } => write!(
                f,
                "ingest_load has {loads} entries for {shards} shards (want one per shard, or none)"
            ),
        }
    }
}

impl std::error::Error for InputError {}

/// A shard (role) that could not be given all its workers: capacity is short, or a logstore asks
/// for more query replicas than there are query workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unplaced {
    pub shard: ShardKey,
    pub role: Role,
    /// Workers missing: 1 for ingest, the missing replicas for query.
    pub missing: u8,
}

#[derive(Debug, Clone)]
pub struct Placement {
    pub assignment: Assignment,
    /// Every change from the previous assignment, in key order, ingest before query per shard.
    pub moves: Vec<Move>,
    pub unplaced: Vec<Unplaced>,
    pub report: PlacementReport,
}

/// Computes the next assignment. Deterministic: the same input gives the same output, whatever
/// the order of `workers`. Sticky: a shard stays where it is unless its worker is unavailable or
/// holds more than its share; on its own output with unchanged input it moves nothing.
pub fn place(input: &PlacementInput<'_>, previous: &Assignment) -> Result<Placement, InputError> {
    if !input.ingest_load.is_empty() && input.ingest_load.len() != input.catalog.len() {
        return Err(InputError::LoadLength {
            shards: input.catalog.len(),
            loads: input.ingest_load.len(),
        });
    }
    let context = context::Context::new(input.workers, input.catalog, input.ingest_load);
    if let Some(pair) = context.workers.windows(2).find(|p| p[0].id == p[1].id) {
        return Err(InputError::DuplicateWorker(pair[0].id.clone()));
    }
    let previous_aligned = context::align(previous, input.catalog, &context);

    let ingest = ingest::place_ingest(&context, &previous_aligned, &input.config);
    let query = query::place_query(&context, &previous_aligned);
    // Capacity is the one hard limit: unplaced shards are reported, never piled on a worker.
    debug_assert!(context.workers.iter().enumerate().all(|(w, worker)| {
        ingest.count[w] <= worker.capacity.shards && query.count[w] <= worker.capacity.shards
    }));

    let worker_table = context.worker_ids();
    let moves = moves::diff(&context, &previous_aligned, &ingest, &query, &worker_table);
    let shards = context.catalog.shards();
    let mut unplaced: Vec<Unplaced> = ingest
        .unplaced
        .iter()
        .map(|&shard| Unplaced {
            shard: shards[shard].key.clone(),
            role: Role::Ingest,
            missing: 1,
        })
        .chain(query.unplaced.iter().map(|&(shard, missing)| Unplaced {
            shard: shards[shard].key.clone(),
            role: Role::Query,
            missing,
        }))
        .collect();
    unplaced.sort_by(|a, b| a.shard.cmp(&b.shard).then(a.role.cmp(&b.role)));
    let report = report::build(&context, &ingest, &query, &moves, &input.config);
    let assignment = Assignment {
        catalog: Arc::clone(input.catalog),
        workers: worker_table,
        ingest: ingest.owner,
        query: query.replicas,
    };
    Ok(Placement {
        assignment,
        moves,
        unplaced,
        report,
    })
}
