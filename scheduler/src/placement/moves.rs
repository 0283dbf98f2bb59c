//! The moves between the previous assignment and the new one, with why each happened.

use logplane_model::ShardStatus;

use super::context::{Context, Previous};
use super::ingest::IngestOutcome;
use super::query::QueryOutcome;
use crate::assignment::{NO_WORKER, ReplicaSet};
use crate::ids::{ShardKey, WorkerId};
use crate::pool::Role;

/// One shard role changing workers. `from: None` is a first placement; `to: None` a release.
/// A query replica moving is one move; a replica added or removed has one side `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub shard: ShardKey,
    pub role: Role,
    pub from: Option<WorkerId>,
    pub to: Option<WorkerId>,
    pub reason: MoveReason,
}

impl Move {
    /// A shard role leaving one worker for another, as opposed to a first placement or a release.
    pub fn is_relocation(&self) -> bool {
        self.from.is_some() && self.to.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveReason {
    /// Had no worker: a new shard, a raised replica count, or capacity that was short before.
    Placed,
    /// Its worker left the pool, became unschedulable (dead, cordoned, draining) or lost the role.
    WorkerUnavailable,
    /// Count balance: its worker held more than its share (typically after a worker joined).
    Rebalanced,
    /// Load balance: its worker was above the load bound.
    LoadBalanced,
    /// No worker any more: the shard became readonly (ingest), its logstore lowered its replica
    /// count, or capacity is short.
    Released,
}

pub(crate) fn diff(
    context: &Context<'_>,
    previous: &Previous<'_>,
    ingest: &IngestOutcome,
    query: &QueryOutcome,
    worker_table: &[WorkerId],
) -> Vec<Move> {
    let shards = context.catalog.shards();
    let mut load_moved = vec![
        false;
        if ingest.load_moved.is_empty() {
            0
        } else {
            shards.len()
        }
    ];
    for &shard in &ingest.load_moved {
        load_moved[shard] = true;
    }
    let id = |worker: u32| worker_table.get(worker as usize).cloned();
    // A first placement moves every slot: sized at once, the list is not copied as it grows
    // (300,000 moves for 100,000 shards with two replicas).
    let expected = if previous.table.is_empty() {
        usize::try_from(ingest.slots + query.slots).unwrap_or(0)
    } else {
        0
    };
    let mut moves = Vec::with_capacity(expected);
    for (shard, spec) in shards.iter().enumerate() {
        // Ingest.
        let before = previous.ingest[shard];
        let before_now = previous.current(before);
        let after = ingest.owner[shard];
        let unchanged = before != NO_WORKER && before_now == after;
        let never_owned = before == NO_WORKER && after == NO_WORKER;
        if !unchanged && !never_owned {
            let from_unavailable = before_now == NO_WORKER || !ingest.eligible[before_now as usize];
            let reason = if before == NO_WORKER {
                MoveReason::Placed
            } else if after == NO_WORKER {
                if spec.status != ShardStatus::Readwrite || !from_unavailable {
                    MoveReason::Released
                } else {
                    MoveReason::WorkerUnavailable
                }
            } else if from_unavailable {
                MoveReason::WorkerUnavailable
            } else if load_moved.get(shard).copied().unwrap_or(false) {
                MoveReason::LoadBalanced
            } else {
                MoveReason::Rebalanced
            };
            moves.push(Move {
                shard: spec.key.clone(),
                role: Role::Ingest,
                from: previous.id(before).cloned(),
                to: if after == NO_WORKER { None } else { id(after) },
                reason,
            });
        }

        // Query.
        let before_set = previous.query[shard].as_slice();
        let after_set = query.replicas[shard].as_slice();
        let same = before_set.len() == after_set.len()
            && before_set
                .iter()
                .zip(after_set)
                .all(|(&b, &a)| previous.current(b) == a);
        if same {
            continue;
        }
        // Sets of at most `MAX_REPLICAS`, on the stack: this runs for every shard that changed,
        // which is every shard of a first placement.
        let mut removed = ReplicaSet::default();
        for &b in before_set {
            let now = previous.current(b);
            if now == NO_WORKER || !after_set.contains(&now) {
                removed.push(b);
            }
        }
        let mut added = ReplicaSet::default();
        for &a in after_set {
            if !before_set.iter().any(|&b| previous.current(b) == a) {
                added.push(a);
            }
        }
        let (removed, added) = (removed.as_slice(), added.as_slice());
        let unavailable = |b: u32| {
            let now = previous.current(b);
            now == NO_WORKER || !query.eligible[now as usize]
        };
        for at in 0..removed.len().max(added.len()) {
            let (from, to) = (removed.get(at).copied(), added.get(at).copied());
            let reason = match (from, to) {
                (None, _) => MoveReason::Placed,
                (Some(b), _) if unavailable(b) => MoveReason::WorkerUnavailable,
                (Some(_), None) => MoveReason::Released,
                (Some(_), Some(_)) => MoveReason::Rebalanced,
            };
            moves.push(Move {
                shard: spec.key.clone(),
                role: Role::Query,
                from: from.and_then(|b| previous.id(b).cloned()),
                to: to.and_then(id),
                reason,
            });
        }
    }
    moves
}
