//! What the simulated pool looks like from the workers' side: who holds which shard in which
//! role, when that has settled, how balanced it is and how much moved between two moments.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use logplane_e2e::OwnershipLedger;
use logplane_model::{AssignedState, ShardRef, WorkerRole};
use tokio::time::Instant;

/// (shard, role) → the live workers assigned it, and whether every ingest entry is `active`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Placement {
    pub holders: BTreeMap<(ShardRef, Role), BTreeSet<String>>,
    pub all_active: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Ingest,
    Query,
}

impl Placement {
    /// The placement the `live` workers last received.
    pub fn observe(ledger: &OwnershipLedger, live: &BTreeSet<String>) -> Placement {
        let mut placement = Placement {
            all_active: true,
            ..Placement::default()
        };
        for (worker, assignment) in ledger.assignments() {
            if !live.contains(&worker) {
                continue;
            }
            for entry in assignment {
                let role = match entry.role {
                    WorkerRole::Ingest => Role::Ingest,
                    WorkerRole::Query => Role::Query,
                };
                if entry.state != AssignedState::Active {
                    placement.all_active = false;
                }
                placement
                    .holders
                    .entry((entry.shard(), role))
                    .or_default()
                    .insert(worker.clone());
            }
        }
        placement
    }

    /// Shards with exactly one ingest holder and `query_replicas` query holders, every entry
    /// active: the scheduler's work is done.
    pub fn complete(&self, shards: usize, query_replicas: usize) -> bool {
        let ingest = self
            .holders
            .iter()
            .filter(|((_, role), holders)| *role == Role::Ingest && holders.len() == 1)
            .count();
        let query = self
            .holders
            .iter()
            .filter(|((_, role), holders)| *role == Role::Query && holders.len() == query_replicas)
            .count();
        self.all_active && ingest == shards && query == shards
    }

    /// Placements of `role` by worker, for the `workers` given (each listed, also with none;
    /// holders not given are left out).
    pub fn counts(&self, role: Role, workers: &BTreeSet<String>) -> BTreeMap<String, usize> {
        let mut counts: BTreeMap<String, usize> = workers.iter().map(|w| (w.clone(), 0)).collect();
        for ((_, placed_role), holders) in &self.holders {
            if *placed_role == role {
                for worker in holders {
                    if let Some(count) = counts.get_mut(worker) {
                        *count += 1;
                    }
                }
            }
        }
        counts
    }

    /// max − min of the placements of `role` per worker of `workers`.
    pub fn spread(&self, role: Role, workers: &BTreeSet<String>) -> usize {
        let counts = self.counts(role, workers);
        let max = counts.values().max().copied().unwrap_or(0);
        let min = counts.values().min().copied().unwrap_or(0);
        max - min
    }

    /// Live workers holding a single ingest shard heavier than the mean worker load: the hot
    /// shards the scheduler holds alone, outside the count band.
    pub fn hot_shards_alone(
        &self,
        loads: &HashMap<ShardRef, i64>,
        live: &BTreeSet<String>,
    ) -> BTreeSet<String> {
        let mean = loads.values().sum::<i64>() as f64 / live.len().max(1) as f64;
        live.iter()
            .filter(|worker| {
                let held = self.held_by(worker, Role::Ingest);
                held.len() == 1 && loads.get(&held[0]).copied().unwrap_or(0) as f64 > mean
            })
            .cloned()
            .collect()
    }

    /// How many placements of `role` are new in `self` compared with `before`.
    pub fn moves_since(&self, before: &Placement, role: Role) -> usize {
        self.holders
            .iter()
            .filter(|((_, placed_role), _)| *placed_role == role)
            .map(|(key, holders)| match before.holders.get(key) {
                Some(previous) => holders.difference(previous).count(),
                None => holders.len(),
            })
            .sum()
    }

    /// Placements of `role` held by `worker`.
    pub fn held_by(&self, worker: &str, role: Role) -> Vec<ShardRef> {
        self.holders
            .iter()
            .filter(|((_, placed_role), holders)| *placed_role == role && holders.contains(worker))
            .map(|((shard, _), _)| shard.clone())
            .collect()
    }

    pub fn total(&self, role: Role) -> usize {
        self.holders
            .iter()
            .filter(|((_, placed_role), _)| *placed_role == role)
            .map(|(_, holders)| holders.len())
            .sum()
    }

    /// Ingest load per live worker, from the shards it holds for ingest: (max/mean, the bound
    /// the scheduler promises: max(1.10, largest shard / mean + 0.05)).
    pub fn load_balance(
        &self,
        loads: &HashMap<ShardRef, i64>,
        live: &BTreeSet<String>,
    ) -> (f64, f64) {
        let mut per_worker: BTreeMap<&str, f64> = live.iter().map(|w| (w.as_str(), 0.0)).collect();
        for ((shard, role), holders) in &self.holders {
            if *role != Role::Ingest {
                continue;
            }
            for worker in holders {
                *per_worker.entry(worker).or_default() +=
                    loads.get(shard).copied().unwrap_or(0) as f64;
            }
        }
        let mean = per_worker.values().sum::<f64>() / per_worker.len().max(1) as f64;
        let max = per_worker.values().copied().fold(0.0, f64::max);
        let largest_shard = loads.values().copied().max().unwrap_or(0) as f64;
        if mean == 0.0 {
            return (1.0, 1.10);
        }
        (max / mean, f64::max(1.10, largest_shard / mean + 0.05))
    }
}

/// How long a placement must stay unchanged to count as settled.
const QUIET_FOR: Duration = Duration::from_secs(2);
const POLL_EVERY: Duration = Duration::from_millis(100);

/// Waits until the placement is complete and has not changed for [`QUIET_FOR`]; `None` when that
/// did not happen `within`.
pub async fn settle(
    ledger: &OwnershipLedger,
    live: &BTreeSet<String>,
    shards: usize,
    query_replicas: usize,
    within: Duration,
) -> Option<Placement> {
    let deadline = Instant::now() + within;
    let mut last = Placement::observe(ledger, live);
    let mut unchanged_since = Instant::now();
    loop {
        tokio::time::sleep(POLL_EVERY).await;
        let now = Placement::observe(ledger, live);
        if now != last {
            last = now;
            unchanged_since = Instant::now();
        } else if last.complete(shards, query_replicas) && unchanged_since.elapsed() >= QUIET_FOR {
            return Some(last);
        }
        if Instant::now() >= deadline {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: i64) -> ShardRef {
        ShardRef {
            tenant: "t".into(),
            project: "p".into(),
            logstore: "l".into(),
            shard_id: id,
        }
    }

    fn placement(entries: &[(i64, Role, &[&str])]) -> Placement {
        Placement {
            holders: entries
                .iter()
                .map(|(id, role, workers)| {
                    (
                        (shard(*id), *role),
                        workers.iter().map(|w| w.to_string()).collect(),
                    )
                })
                .collect(),
            all_active: true,
        }
    }

    #[test]
    fn moves_count_new_holders_and_spread_counts_idle_workers() {
        let before = placement(&[
            (0, Role::Ingest, &["a"]),
            (1, Role::Ingest, &["b"]),
            (0, Role::Query, &["a", "b"]),
        ]);
        let after = placement(&[
            (0, Role::Ingest, &["a"]),
            (1, Role::Ingest, &["c"]),
            (0, Role::Query, &["a", "c"]),
        ]);
        assert_eq!(after.moves_since(&before, Role::Ingest), 1);
        assert_eq!(after.moves_since(&before, Role::Query), 1);
        assert_eq!(after.moves_since(&after, Role::Ingest), 0);
        let live: BTreeSet<String> = ["a", "b", "c"].iter().map(|w| w.to_string()).collect();
        assert_eq!(after.spread(Role::Ingest, &live), 1, "b holds nothing");
        assert_eq!(before.held_by("b", Role::Ingest), vec![shard(1)]);
        assert!(!after.complete(2, 2), "shard 1 has no query replicas");
    }

    #[test]
    fn a_hot_shard_held_alone_is_found_and_left_out_of_the_spread() {
        let placed = placement(&[
            (0, Role::Ingest, &["a"]),
            (1, Role::Ingest, &["b"]),
            (2, Role::Ingest, &["b"]),
            (3, Role::Ingest, &["c"]),
            (4, Role::Ingest, &["c"]),
        ]);
        let loads: HashMap<ShardRef, i64> = [
            (shard(0), 900),
            (shard(1), 10),
            (shard(2), 10),
            (shard(3), 10),
            (shard(4), 10),
        ]
        .into();
        let live: BTreeSet<String> = ["a", "b", "c"].iter().map(|w| w.to_string()).collect();
        let alone = placed.hot_shards_alone(&loads, &live);
        assert_eq!(alone, BTreeSet::from(["a".to_string()]));
        let others: BTreeSet<String> = live.difference(&alone).cloned().collect();
        assert_eq!(placed.spread(Role::Ingest, &others), 0, "a is not counted");
        assert_eq!(placed.spread(Role::Ingest, &live), 1);
    }

    #[test]
    fn load_balance_compares_the_busiest_worker_with_the_mean() {
        let placed = placement(&[(0, Role::Ingest, &["a"]), (1, Role::Ingest, &["b"])]);
        let loads: HashMap<ShardRef, i64> = [(shard(0), 300), (shard(1), 100)].into();
        let live: BTreeSet<String> = ["a", "b"].iter().map(|w| w.to_string()).collect();
        let (ratio, bound) = placed.load_balance(&loads, &live);
        assert!((ratio - 1.5).abs() < 1e-9);
        assert!((bound - 1.55).abs() < 1e-9, "one shard is 1.5× the mean");
    }
}
