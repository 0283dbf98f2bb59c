//! Balancing by load, within the count band.
//!
//! Counts come first (they are exact and known from the start); once workers report loads, this
//! phase moves or swaps shards until every worker's load is within its bound:
//!
//! `load ≤ max(tolerance × fair, largest shard load + slack × fair)`
//!
//! where `fair` is the worker's share of the total load by weight (the mean at equal capacity),
//! i.e. `max/mean ≤ max(1.10, largest/mean + 0.05)` with the default constants. A worker holding
//! the largest shard cannot do better than that shard, hence the second term.
//!
//! It stops as soon as every worker is within its bound rather than minimising further: every
//! move is a handover, and a second run on its output finds nothing to do (idempotence). Each step
//! takes the worker furthest above its bound and the transfer (one shard, or a swap of two) with
//! its least loaded peers that lowers the pair's higher relative load the most. Single moves are
//! allowed only between a worker at its ceiling and one at its floor, so the count band holds.
//! Every accepted step strictly lowers `Σ load²/weight`, so the loop ends; a step budget guards
//! against pathological inputs all the same.

use super::PlacementConfig;
use super::context::Context;
use super::ingest::{IngestState, load_weights};
use super::quota::Quota;

/// How many of the least loaded workers a step considers as the other side of a transfer.
const PEERS_PER_STEP: usize = 8;

/// A step must lower the pair's higher relative load by at least this fraction; smaller gains are
/// noise in reported loads and not worth a handover.
const MIN_GAIN: f64 = 1e-6;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct LoadOutcome {
    pub steps: usize,
    /// False when the step budget ran out before every worker was within bound or stuck.
    pub converged: bool,
}

pub(crate) fn balance(
    context: &Context<'_>,
    eligible: &[bool],
    quotas: &[Quota],
    fair_load: &[f64],
    state: &mut IngestState,
    config: &PlacementConfig,
) -> (LoadOutcome, Vec<usize>) {
    let mut outcome = LoadOutcome {
        steps: 0,
        converged: true,
    };
    let largest_shard = state
        .owner
        .iter()
        .enumerate()
        .filter(|(_, owner)| **owner != crate::assignment::NO_WORKER)
        .map(|(shard, _)| context.load_of(shard))
        .max()
        .unwrap_or(0);
    if largest_shard == 0 {
        return (outcome, Vec::new());
    }
    let bound: Vec<f64> = fair_load
        .iter()
        .map(|&fair| {
            (config.load_tolerance * fair).max(largest_shard as f64 + config.load_slack * fair)
        })
        .collect();
    let excess = |worker: usize, state: &IngestState| -> f64 {
        (state.worker_load[worker] as f64 - bound[worker]) / fair_load[worker]
    };
    let over_bound = |state: &IngestState| {
        (0..eligible.len()).any(|w| eligible[w] && fair_load[w] > 0.0 && excess(w, state) > 0.0)
    };
    if !over_bound(state) {
        return (outcome, Vec::new());
    }

    let weight = load_weights(context, eligible);
    let mut lists = ShardLists::build(context, state);
    let mut moved = Vec::new();
    let mut stuck = vec![false; eligible.len()];
    let budget = 4 * state.owner.len() + 64;
    loop {
        let heaviest = (0..eligible.len())
            .filter(|&w| eligible[w] && fair_load[w] > 0.0 && !stuck[w])
            .map(|w| (w, excess(w, state)))
            .filter(|&(_, excess)| excess > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        let Some((from, _)) = heaviest else {
            break;
        };
        let pair = Pair {
            quotas,
            fair_load,
            weight: &weight,
            state,
            lists: &lists,
        };
        match pair.best_transfer(from, eligible) {
            Some(transfer) => {
                transfer.apply(context, state, &mut lists, &mut moved);
                outcome.steps += 1;
                // The picture changed: a worker that was stuck may find a partner now.
                stuck.fill(false);
                if outcome.steps >= budget {
                    outcome.converged = false;
                    break;
                }
            }
            None => stuck[from] = true,
        }
    }
    (outcome, moved)
}

/// Each worker's shards as (load, shard), sorted, for nearest-load searches.
struct ShardLists {
    by_worker: Vec<Vec<(u64, usize)>>,
}

impl ShardLists {
    fn build(context: &Context<'_>, state: &IngestState) -> Self {
        let mut by_worker: Vec<Vec<(u64, usize)>> = vec![Vec::new(); state.count.len()];
        for (shard, &owner) in state.owner.iter().enumerate() {
            if owner != crate::assignment::NO_WORKER {
                by_worker[owner as usize].push((context.load_of(shard), shard));
            }
        }
        for list in &mut by_worker {
            list.sort_unstable();
        }
        Self { by_worker }
    }

    fn remove(&mut self, worker: usize, entry: (u64, usize)) {
        let list = &mut self.by_worker[worker];
        let at = list.binary_search(&entry).expect("a moved shard is listed");
        list.remove(at);
    }

    fn insert(&mut self, worker: usize, entry: (u64, usize)) {
        let list = &mut self.by_worker[worker];
        let at = list.binary_search(&entry).unwrap_or_else(|at| at);
        list.insert(at, entry);
    }
}

#[derive(Debug, Clone, Copy)]
struct Transfer {
    from: usize,
    to: usize,
    /// The shard going `from` → `to`.
    give: (u64, usize),
    /// For a swap, the shard coming back `to` → `from`.
    take: Option<(u64, usize)>,
    /// The higher relative load of the pair afterwards: lower is better.
    new_peak: f64,
}

impl Transfer {
    fn apply(
        self,
        context: &Context<'_>,
        state: &mut IngestState,
        lists: &mut ShardLists,
        moved: &mut Vec<usize>,
    ) {
        let mut hand_over = |shard: (u64, usize), from: usize, to: usize| {
            debug_assert_eq!(state.owner[shard.1], from as u32);
            debug_assert_eq!(context.load_of(shard.1), shard.0);
            state.owner[shard.1] = to as u32;
            state.count[from] -= 1;
            state.count[to] += 1;
            state.worker_load[from] -= shard.0;
            state.worker_load[to] += shard.0;
            lists.remove(from, shard);
            lists.insert(to, shard);
            moved.push(shard.1);
        };
        hand_over(self.give, self.from, self.to);
        if let Some(take) = self.take {
            hand_over(take, self.to, self.from);
        }
    }
}

struct Pair<'a> {
    quotas: &'a [Quota],
    fair_load: &'a [f64],
    weight: &'a [f64],
    state: &'a IngestState,
    lists: &'a ShardLists,
}

impl Pair<'_> {
    fn ratio(&self, worker: usize, load: f64) -> f64 {
        load / self.fair_load[worker]
    }

    fn best_transfer(&self, from: usize, eligible: &[bool]) -> Option<Transfer> {
        let mut peers: Vec<(f64, usize)> = (0..eligible.len())
            .filter(|&w| w != from && eligible[w] && self.fair_load[w] > 0.0)
            .map(|w| (self.ratio(w, self.state.worker_load[w] as f64), w))
            .collect();
        let take = PEERS_PER_STEP.min(peers.len());
        if take == 0 {
            return None;
        }
        peers.select_nth_unstable_by(take - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        peers.truncate(take);
        peers.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));

        let mut best: Option<Transfer> = None;
        for &(_, to) in &peers {
            for candidate in self.candidates(from, to) {
                let better = match &best {
                    None => true,
                    Some(current) => candidate.new_peak < current.new_peak,
                };
                if better {
                    best = Some(candidate);
                }
            }
        }
        best
    }

    /// The best single move and the best swap between two workers, if they improve the pair.
    fn candidates(&self, from: usize, to: usize) -> Vec<Transfer> {
        let (load_from, load_to) = (
            self.state.worker_load[from] as f64,
            self.state.worker_load[to] as f64,
        );
        let (fair_from, fair_to) = (self.fair_load[from], self.fair_load[to]);
        // The load that, moved from → to, equalises the two relative loads.
        let ideal = (load_from * fair_to - load_to * fair_from) / (fair_from + fair_to);
        if ideal <= 0.0 {
            return Vec::new();
        }
        let giver = &self.lists.by_worker[from];
        let taker = &self.lists.by_worker[to];
        let mut found = Vec::new();

        let count_allows_move = self.state.count[from] > self.quotas[from].floor
            && self.state.count[to] < self.quotas[to].ceil;
        if count_allows_move {
            let best_move = nearest(giver, ideal)
                .into_iter()
                .filter_map(|give| self.evaluate(from, to, give, None))
                .min_by(|a, b| a.new_peak.total_cmp(&b.new_peak));
            found.extend(best_move);
        }

        let mut best_swap: Option<Transfer> = None;
        for &give in giver {
            if give.0 == 0 {
                continue;
            }
            let wanted = give.0 as f64 - ideal;
            for take in nearest(taker, wanted) {
                if take.0 >= give.0 {
                    continue;
                }
                if let Some(candidate) = self.evaluate(from, to, give, Some(take))
                    && best_swap
                        .as_ref()
                        .is_none_or(|b| candidate.new_peak < b.new_peak)
                {
                    best_swap = Some(candidate);
                }
            }
        }
        found.extend(best_swap);
        found
    }

    fn evaluate(
        &self,
        from: usize,
        to: usize,
        give: (u64, usize),
        take: Option<(u64, usize)>,
    ) -> Option<Transfer> {
        let delta = give.0 as f64 - take.map_or(0.0, |t| t.0 as f64);
        if delta <= 0.0 {
            return None;
        }
        let (load_from, load_to) = (
            self.state.worker_load[from] as f64,
            self.state.worker_load[to] as f64,
        );
        let peak_before = self.ratio(from, load_from);
        let (after_from, after_to) = (
            self.ratio(from, load_from - delta),
            self.ratio(to, load_to + delta),
        );
        let new_peak = after_from.max(after_to);
        if new_peak >= peak_before * (1.0 - MIN_GAIN) {
            return None;
        }
        // Σ load²/weight must fall, which rules out cycles (see the module comment).
        let before =
            load_from * load_from / self.weight[from] + load_to * load_to / self.weight[to];
        let after = (load_from - delta).powi(2) / self.weight[from]
            + (load_to + delta).powi(2) / self.weight[to];
        if after >= before {
            return None;
        }
        Some(Transfer {
            from,
            to,
            give,
            take,
            new_peak,
        })
    }
}

/// The (at most two) entries of a sorted list whose loads are nearest to `wanted`.
fn nearest(list: &[(u64, usize)], wanted: f64) -> Vec<(u64, usize)> {
    let wanted = wanted.max(0.0).round() as u64;
    let at = list.partition_point(|entry| entry.0 < wanted);
    let mut out = Vec::with_capacity(2);
    if at > 0 {
        out.push(list[at - 1]);
    }
    if at < list.len() {
        out.push(list[at]);
    }
    out
}
