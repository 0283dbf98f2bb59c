//! Hot shards held alone.
//!
//! The count band and the load bound usually agree. They part when one shard carries more than a
//! worker's fair load: its worker must still hold its band's share of other shards, and even the
//! lightest of them can push it past `largest + slack × fair`. With 120 shards on 12 workers and
//! Zipf loads, the hottest shard is 2.78 × the mean worker load, and it plus the 9 lightest others
//! is 2.89 × — over the bound of 2.83 that the load phase could then never reach.
//!
//! Such a shard is *isolated*: one worker holds it and nothing else, and the count band applies to
//! the other workers and shards. A shard is isolated only when both hold:
//!
//! - its load exceeds the mean worker load: it cannot share a worker without that worker being
//!   above the mean, so isolating it never leaves another worker hotter than it, and fewer shards
//!   than workers can qualify;
//! - its load plus the `floor − 1` lightest shards' loads exceeds the bound, where `floor` is the
//!   fewest shards the band would give any worker: the band makes the bound unreachable for
//!   whichever worker holds it.
//!
//! A shard already held alone keeps its worker until it clears both conditions by the load slack
//! (5 % of the mean), so a load hovering at a threshold does not move shards on every round.
//! Everywhere else the band wins, as before: a few hot shards that each fit beside the band's
//! share of cold ones are balanced by the load phase, within the band. The host is the shard's
//! current owner when it can be (sticky: a second run moves nothing), else the eligible worker
//! holding the fewest shards (a newcomer gives up nothing). The cure for a shard too hot for any
//! single worker remains a split, which auto-split does.

use super::PlacementConfig;
use super::context::Context;
use super::ingest::IngestState;
use crate::assignment::NO_WORKER;

/// Which workers hold one hot shard alone this round.
pub(crate) struct Isolation {
    /// Per worker: it holds an isolated shard and nothing else.
    pub host: Vec<bool>,
    /// The isolated shards and the shards their hosts gave up, for the moves' reasons.
    pub moved: Vec<usize>,
}

impl Isolation {
    pub fn none(workers: usize) -> Self {
        Self {
            host: vec![false; workers],
            moved: Vec::new(),
        }
    }

    pub fn hosts(&self) -> u64 {
        self.host.iter().filter(|&&host| host).count() as u64
    }
}

/// What isolation looks at: the kept assignment (after the keep step) and the workers' capacity
/// for the role (0 for ineligible workers).
pub(crate) struct IsolationInput<'a> {
    pub caps: &'a [u32],
    /// `readwrite` shards, the slots of the role.
    pub slots: u64,
    pub total_load: u64,
    /// The heaviest `readwrite` shard's load.
    pub largest_load: u64,
    pub config: &'a PlacementConfig,
}

/// Picks the shards to isolate and gives each its host: the host keeps only that shard, the rest
/// it held go to `unassigned`.
pub(crate) fn isolate_hot_shards(
    context: &Context<'_>,
    input: &IsolationInput<'_>,
    state: &mut IngestState,
    unassigned: &mut Vec<usize>,
) -> Isolation {
    let workers = input.caps.len();
    let mut isolation = Isolation::none(workers);
    let eligible = input.caps.iter().filter(|&&cap| cap > 0).count() as u64;
    if context.load.is_empty() || eligible < 2 || input.total_load == 0 {
        return isolation;
    }
    let mean = input.total_load as f64 / eligible as f64;
    let readwrite = || {
        context
            .catalog
            .shards()
            .iter()
            .enumerate()
            .filter(|(_, spec)| spec.status == logplane_model::ShardStatus::Readwrite)
            .map(|(shard, _)| shard)
    };
    let largest = input.largest_load;
    // Hysteresis: a shard already held alone stays so until it clears both thresholds by the
    // slack, so a load hovering at a threshold does not move the band's share of shards to and
    // fro on every round.
    let margin = input.config.load_slack * mean;
    // Most rounds end here: no shard outweighs a worker's fair load.
    if largest as f64 <= mean - margin {
        return isolation;
    }
    let Some(fewest) = fewest_in_band(input.caps, input.slots) else {
        return isolation;
    };
    if fewest < 2 {
        // The band lets a worker hold a single shard anyway.
        return isolation;
    }
    let lightest = lightest_sum(readwrite().map(|s| context.load_of(s)), fewest as usize - 1);
    let config = input.config;
    let bound = (config.load_tolerance * mean).max(largest as f64 + config.load_slack * mean);
    // With the band's floor at two or more, a worker keeping a single shard is a host from the
    // previous round.
    let held_alone = |s: usize| {
        let owner = state.owner[s];
        owner != NO_WORKER && state.count[owner as usize] == 1
    };
    let mut hot: Vec<usize> = readwrite()
        .filter(|&s| {
            let load = context.load_of(s) as f64;
            let leeway = if held_alone(s) { margin } else { 0.0 };
            load > mean - leeway && load + lightest as f64 > bound - leeway
        })
        .collect();
    hot.sort_unstable_by(|&a, &b| context.load_of(b).cmp(&context.load_of(a)).then(a.cmp(&b)));

    let mut room_left: u64 = input.caps.iter().map(|&cap| u64::from(cap)).sum();
    let mut slots_left = input.slots;
    for shard in hot {
        let Some(host) = choose_host(input.caps, &isolation.host, state, shard) else {
            break;
        };
        // The other shards must still fit on the other workers.
        let room_after = room_left - u64::from(input.caps[host]);
        if room_after < slots_left - 1 {
            break;
        }
        room_left = room_after;
        slots_left -= 1;
        isolation.host[host] = true;
        host_alone(
            context,
            state,
            unassigned,
            &mut isolation.moved,
            host,
            shard,
        );
    }
    isolation
}

/// The fewest slots the band gives an eligible worker: the smallest `⌊slots × cap / total⌋`.
fn fewest_in_band(caps: &[u32], slots: u64) -> Option<u64> {
    let total: u128 = caps.iter().map(|&cap| u128::from(cap)).sum();
    caps.iter()
        .filter(|&&cap| cap > 0)
        .map(|&cap| (u128::from(slots) * u128::from(cap) / total) as u64)
        .min()
}

/// The sum of the `count` smallest of `loads`.
fn lightest_sum(loads: impl Iterator<Item = u64>, count: usize) -> u64 {
    let mut loads: Vec<u64> = loads.collect();
    if count == 0 || loads.is_empty() {
        return 0;
    }
    let count = count.min(loads.len());
    loads.select_nth_unstable(count - 1);
    loads[..count].iter().sum()
}

/// The shard's current owner when it may host, else the eligible worker holding the fewest
/// shards (then the least load, then the lowest number).
fn choose_host(caps: &[u32], hosts: &[bool], state: &IngestState, shard: usize) -> Option<usize> {
    let may_host = |w: usize| caps[w] > 0 && !hosts[w];
    let owner = state.owner[shard];
    if owner != NO_WORKER && may_host(owner as usize) {
        return Some(owner as usize);
    }
    (0..caps.len())
        .filter(|&w| may_host(w))
        .min_by_key(|&w| (state.count[w], state.worker_load[w], w))
}

/// Leaves `host` holding `shard` and nothing else.
fn host_alone(
    context: &Context<'_>,
    state: &mut IngestState,
    unassigned: &mut Vec<usize>,
    moved: &mut Vec<usize>,
    host: usize,
    shard: usize,
) {
    if state.count[host] > u32::from(state.owner[shard] == host as u32) {
        for other in 0..state.owner.len() {
            if other != shard && state.owner[other] == host as u32 {
                state.release(other, context.load_of(other));
                unassigned.push(other);
                moved.push(other);
            }
        }
    }
    if state.owner[shard] != host as u32 {
        if state.owner[shard] == NO_WORKER {
            unassigned.retain(|&s| s != shard);
        } else {
            state.release(shard, context.load_of(shard));
        }
        state.assign(shard, host as u32, context.load_of(shard));
        moved.push(shard);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fewest_in_band_is_the_smallest_rounded_down_share() {
        assert_eq!(fewest_in_band(&[100, 100, 100], 30), Some(10));
        assert_eq!(fewest_in_band(&[100, 0, 200], 30), Some(10));
        assert_eq!(fewest_in_band(&[0, 0], 30), None);
    }

    #[test]
    fn the_lightest_sum_adds_the_smallest_loads() {
        assert_eq!(lightest_sum([5, 1, 9, 2, 7].into_iter(), 2), 3);
        assert_eq!(lightest_sum([5, 1].into_iter(), 9), 6);
        assert_eq!(lightest_sum([5, 1].into_iter(), 0), 0);
    }
}
