//! The ingest role: one owner per `readwrite` shard.
//!
//! 1. Keep: every shard stays with its previous owner while that worker is eligible.
//! 2. Isolate ([`super::isolation`]): a shard too hot for the count band's share of others is
//!    held alone by one worker; the band applies to the rest.
//! 3. Targets: capacity-proportional counts ([`super::quota`]), rounded to save moves.
//! 4. Shed: a worker above its target gives up its excess, choosing shards whose load brings it
//!    nearest its fair load.
//! 5. Place: shards without an owner (new, orphaned, shed), heaviest first, each to the worker
//!    below target with the lowest load relative to its weight.
//! 6. Balance load ([`super::load`]): bounded moves and swaps that keep the counts in band.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::binary_heap::PeekMut;

use logplane_model::ShardStatus;

use super::PlacementConfig;
use super::context::{Context, Previous};
use super::isolation::{self, IsolationInput};
use super::load::{self, LoadOutcome};
use super::quota::{self, Quota, QuotaInput};
use crate::assignment::NO_WORKER;
use crate::pool::Role;

pub(crate) struct IngestOutcome {
    /// Per shard: the owner's worker number, `NO_WORKER` for readonly or unplaced shards.
    pub owner: Vec<u32>,
    pub eligible: Vec<bool>,
    pub count: Vec<u32>,
    pub worker_load: Vec<u64>,
    pub fair_load: Vec<f64>,
    pub slots: u64,
    pub unplaced: Vec<usize>,
    /// Shards that isolation or the load phase moved (a shard moved back and forth is listed
    /// too).
    pub load_moved: Vec<usize>,
    /// Per worker: it holds one hot shard alone, outside the count band.
    pub isolated: Vec<bool>,
    pub load: LoadOutcome,
}

/// The mutable picture both phases work on.
pub(crate) struct IngestState {
    pub owner: Vec<u32>,
    pub count: Vec<u32>,
    pub worker_load: Vec<u64>,
}

impl IngestState {
    pub(super) fn assign(&mut self, shard: usize, worker: u32, load: u64) {
        debug_assert_eq!(self.owner[shard], NO_WORKER, "a shard has one owner");
        self.owner[shard] = worker;
        self.count[worker as usize] += 1;
        self.worker_load[worker as usize] += load;
    }

    pub(super) fn release(&mut self, shard: usize, load: u64) {
        let worker = self.owner[shard] as usize;
        self.owner[shard] = NO_WORKER;
        self.count[worker] -= 1;
        self.worker_load[worker] -= load;
    }
}

pub(crate) fn place_ingest(
    context: &Context<'_>,
    previous: &Previous<'_>,
    config: &PlacementConfig,
) -> IngestOutcome {
    let workers = context.workers.len();
    let shards = context.catalog.shards();
    let eligible = context.eligible(Role::Ingest);
    let mut state = IngestState {
        owner: vec![NO_WORKER; shards.len()],
        count: vec![0; workers],
        worker_load: vec![0; workers],
    };

    // 1. Keep.
    let mut slots = 0u64;
    let mut total_load = 0u64;
    let mut largest_load = 0u64;
    let mut unassigned: Vec<usize> = Vec::new();
    for (shard, spec) in shards.iter().enumerate() {
        if spec.status != ShardStatus::Readwrite {
            continue;
        }
        slots += 1;
        let load = context.load_of(shard);
        total_load += load;
        largest_load = largest_load.max(load);
        let owner = previous.ingest_owner(shard);
        if owner != NO_WORKER && eligible[owner as usize] {
            state.assign(shard, owner, load);
        } else {
            unassigned.push(shard);
        }
    }

    let caps: Vec<u32> = (0..workers)
        .map(|w| {
            if eligible[w] {
                context.workers[w].capacity.shards
            } else {
                0
            }
        })
        .collect();

    // 2. Isolate.
    let isolation = isolation::isolate_hot_shards(
        context,
        &IsolationInput {
            caps: &caps,
            slots,
            total_load,
            largest_load,
            config,
        },
        &mut state,
        &mut unassigned,
    );

    // 3. Targets, for the workers and slots in the band.
    let in_band = |w: usize, value: u32| if isolation.host[w] { 0 } else { value };
    let band_caps: Vec<u32> = (0..workers).map(|w| in_band(w, caps[w])).collect();
    let band_kept: Vec<u32> = (0..workers).map(|w| in_band(w, state.count[w])).collect();
    let single_zone = vec![0u32; workers];
    let quota::Quotas {
        per_worker: mut quotas,
        placeable,
    } = quota::quotas(&QuotaInput {
        caps: &band_caps,
        zone_of: &single_zone,
        zone_count: 1,
        zone_limit: u64::MAX,
        slots: slots - isolation.hosts(),
        kept: &band_kept,
    });
    for (quota, _) in quotas.iter_mut().zip(&isolation.host).filter(|(_, h)| **h) {
        *quota = Quota {
            floor: 1,
            ceil: 1,
            target: 1,
        };
    }
    let placeable = placeable + isolation.hosts();
    let fair_load = fair_loads(context, &eligible, total_load);

    // 4. Shed.
    shed_excess(context, &quotas, &fair_load, &mut state, &mut unassigned);

    // 5. Place, heaviest first: the light shards placed last even out what the heavy ones left.
    unassigned
        .sort_unstable_by(|&a, &b| context.load_of(b).cmp(&context.load_of(a)).then(a.cmp(&b)));
    let weight: Vec<f64> = load_weights(context, &eligible);
    let mut receivers: BinaryHeap<Receiver> = (0..workers)
        .filter(|&w| eligible[w] && state.count[w] < quotas[w].target)
        .map(|w| Receiver::of(w, &state, &quotas, &weight))
        .collect();
    let mut unplaced = Vec::new();
    for shard in unassigned {
        let Some(mut top) = receivers.peek_mut() else {
            unplaced.push(shard);
            continue;
        };
        let worker = top.worker() as usize;
        state.assign(shard, worker as u32, context.load_of(shard));
        // Update the receiver in place (one sift) or drop it once it reached its target.
        if state.count[worker] < quotas[worker].target {
            *top = Receiver::of(worker, &state, &quotas, &weight);
        } else {
            PeekMut::pop(top);
        }
    }
    // Targets sum to the placeable slots, so shards are left over only when capacity is short.
    debug_assert_eq!(unplaced.len() as u64, slots - placeable);

    // 6. Balance load, among the workers in the band: a host is within its bound already.
    let balanced: Vec<bool> = (0..workers)
        .map(|w| eligible[w] && !isolation.host[w])
        .collect();
    let (load_outcome, mut load_moved) =
        load::balance(context, &balanced, &quotas, &fair_load, &mut state, config);
    load_moved.extend(&isolation.moved);

    IngestOutcome {
        owner: state.owner,
        eligible,
        count: state.count,
        worker_load: state.worker_load,
        fair_load,
        slots,
        unplaced,
        load_moved,
        isolated: isolation.host,
        load: load_outcome,
    }
}

/// What a worker's load is weighed by: its declared ingest throughput, or its shard capacity
/// when some eligible worker declared no throughput (mixing the two would be meaningless).
pub(crate) fn load_weights(context: &Context<'_>, eligible: &[bool]) -> Vec<f64> {
    let all_declared = context
        .workers
        .iter()
        .zip(eligible)
        .filter(|(_, eligible)| **eligible)
        .all(|(w, _)| w.capacity.ingest_bytes_per_sec > 0);
    context
        .workers
        .iter()
        .zip(eligible)
        .map(|(w, &eligible)| match (eligible, all_declared) {
            (false, _) => 0.0,
            (true, true) => w.capacity.ingest_bytes_per_sec as f64,
            (true, false) => f64::from(w.capacity.shards),
        })
        .collect()
}

/// Each eligible worker's fair share of the total load, in proportion to its weight.
fn fair_loads(context: &Context<'_>, eligible: &[bool], total_load: u64) -> Vec<f64> {
    let weight = load_weights(context, eligible);
    let total_weight: f64 = weight.iter().sum();
    if total_weight == 0.0 {
        return vec![0.0; weight.len()];
    }
    weight
        .iter()
        .map(|w| total_load as f64 * w / total_weight)
        .collect()
}

/// Takes the excess shards off every worker above its target. With loads known it picks the
/// shards whose loads bring the worker closest to its fair load, so the load phase has less to
/// do; without loads it sheds its last shards in key order (any choice moves as many).
fn shed_excess(
    context: &Context<'_>,
    quotas: &[Quota],
    fair_load: &[f64],
    state: &mut IngestState,
    unassigned: &mut Vec<usize>,
) {
    let excess: Vec<u32> = state
        .count
        .iter()
        .zip(quotas)
        .map(|(&count, quota)| count.saturating_sub(quota.target))
        .collect();
    if excess.iter().all(|&e| e == 0) {
        return;
    }
    let mut held: Vec<Vec<usize>> = vec![Vec::new(); excess.len()];
    for (shard, &owner) in state.owner.iter().enumerate() {
        if owner != NO_WORKER && excess[owner as usize] > 0 {
            held[owner as usize].push(shard);
        }
    }
    for (worker, mut shards) in held.into_iter().enumerate() {
        let excess = excess[worker] as usize;
        if excess == 0 {
            continue;
        }
        let surplus = state.worker_load[worker] as f64 - fair_load[worker];
        let wanted_each = (surplus / excess as f64).max(0.0);
        // Closest to the wanted load first; ties (e.g. all loads zero) shed the last in key order.
        // A total order, so the `excess` first are one well-defined set; selecting them is linear.
        let distance = |s: usize| (context.load_of(s) as f64 - wanted_each).abs();
        shards.select_nth_unstable_by(excess - 1, |&a, &b| {
            distance(a).total_cmp(&distance(b)).then(b.cmp(&a))
        });
        for &shard in &shards[..excess] {
            state.release(shard, context.load_of(shard));
            unassigned.push(shard);
        }
    }
}

/// A worker below its target, ordered so that a max-heap pops the least loaded (relative to its
/// weight), then the least filled, then the lowest number: a total, deterministic order. The two
/// ratios are never negative, so their IEEE bits order as the numbers do and a comparison is three
/// integer comparisons (the heap makes millions of them in a first placement).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Receiver(Reverse<(u64, u64, u32)>);

impl Receiver {
    fn of(worker: usize, state: &IngestState, quotas: &[Quota], weight: &[f64]) -> Self {
        let load_ratio = if weight[worker] > 0.0 {
            state.worker_load[worker] as f64 / weight[worker]
        } else {
            0.0
        };
        let fill = f64::from(state.count[worker]) / f64::from(quotas[worker].target.max(1));
        Self(Reverse((
            load_ratio.to_bits(),
            fill.to_bits(),
            worker as u32,
        )))
    }

    fn worker(&self) -> u32 {
        self.0.0.2
    }
}
