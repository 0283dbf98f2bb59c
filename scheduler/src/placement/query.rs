//! The query role: `query_replicas` distinct workers per shard, spread across zones.
//!
//! The same keep / target / shed / place steps as the ingest role, over replica slots, with three
//! differences. Targets cap each zone at what spreading allows (a zone holds at most one replica
//! of a shard when there are enough zones), so balance does not fight spread. The zones of all
//! missing replicas are chosen together by a small maximum flow ([`super::zone_plan`]), then
//! each goes to the worker of its zone with the most room. What that cannot place falls back to a
//! zone the shard already uses, then to an exchange with another shard's replica. No load phase:
//! workers report no per-shard query load.

use std::cmp::Reverse;

use super::context::{Context, Previous};
use super::quota::{self, Quota, QuotaInput};
use super::rooms::Rooms;
use super::zone_plan::{self, MAX_PLANNED_ZONES, Missing};
use crate::assignment::{NO_WORKER, ReplicaSet};
use crate::pool::Role;

pub(crate) struct QueryOutcome {
    /// Per shard: the replicas' worker numbers.
    pub replicas: Vec<ReplicaSet>,
    pub eligible: Vec<bool>,
    pub count: Vec<u32>,
    pub slots: u64,
    /// Shards with fewer replicas than asked, and how many are missing.
    pub unplaced: Vec<(usize, u8)>,
    /// Shards with two replicas in one zone although there are zones enough to avoid it.
    pub spread_violations: usize,
}

pub(crate) fn place_query(context: &Context<'_>, previous: &Previous<'_>) -> QueryOutcome {
    let workers = context.workers.len();
    let shards = context.catalog.shards();
    let eligible = context.eligible(Role::Query);
    let eligible_workers = eligible.iter().filter(|&&e| e).count();
    let mut zone_has_eligible = vec![false; context.zone_count];
    for worker in (0..workers).filter(|&w| eligible[w]) {
        zone_has_eligible[context.zone_of[worker] as usize] = true;
    }
    let zones_available = zone_has_eligible.iter().filter(|&&z| z).count().max(1);

    // 1. Keep the previous replicas that are still eligible (and distinct, and not more than
    // asked for, which drops the extras when a logstore lowers its replica count).
    let mut replicas = vec![ReplicaSet::default(); shards.len()];
    let mut count = vec![0u32; workers];
    let mut wanted = vec![0u8; shards.len()];
    let mut slots = 0u64;
    let mut zone_limit = 0u64;
    for (shard, spec) in shards.iter().enumerate() {
        let want = spec.wanted_replicas().min(eligible_workers);
        wanted[shard] = want as u8;
        slots += want as u64;
        zone_limit += want.div_ceil(zones_available) as u64;
        let set = &mut replicas[shard];
        for &number in previous.query[shard].as_slice() {
            let worker = previous.current(number);
            if worker != NO_WORKER
                && eligible[worker as usize]
                && !set.contains(worker)
                && set.len() < want
            {
                set.push(worker);
                count[worker as usize] += 1;
            }
        }
    }

    // 2. Targets, each zone capped at what spreading allows, each worker at one replica per shard.
    let caps: Vec<u32> = (0..workers)
        .map(|w| {
            if eligible[w] {
                context.workers[w]
                    .capacity
                    .shards
                    .min(u32::try_from(shards.len()).unwrap_or(u32::MAX))
            } else {
                0
            }
        })
        .collect();
    let quotas = quota::quotas(&QuotaInput {
        caps: &caps,
        zone_of: &context.zone_of,
        zone_count: context.zone_count,
        zone_limit,
        slots,
        kept: &count,
    })
    .per_worker;

    // 3. Shed the excess.
    shed_excess(context, &quotas, zones_available, &mut replicas, &mut count);

    // 4. Place the missing replicas, shards asking for more first (they need more zones).
    let mut pending: Vec<usize> = (0..shards.len())
        .filter(|&s| replicas[s].len() < usize::from(wanted[s]))
        .collect();
    pending.sort_by_key(|&s| (Reverse(wanted[s]), s));
    let mut rooms = Rooms::new(context, &quotas, &count);
    let mut fresh: Vec<(usize, u32)> = Vec::new();
    if context.zone_count <= MAX_PLANNED_ZONES && !pending.is_empty() {
        let missing: Vec<Missing> = pending
            .iter()
            .map(|&shard| {
                let mut per_zone = vec![0u8; context.zone_count];
                for &w in replicas[shard].as_slice() {
                    per_zone[context.zone_of[w as usize] as usize] += 1;
                }
                Missing {
                    shard,
                    missing: wanted[shard] - replicas[shard].len() as u8,
                    wanted: wanted[shard],
                    per_zone,
                }
            })
            .collect();
        let zones_for = zone_plan::plan(&missing, &rooms.zone_room, zones_available);
        for (entry, zones) in missing.iter().zip(zones_for) {
            for zone in zones {
                if let Some(worker) = rooms.take_in_zone(zone, &replicas[entry.shard]) {
                    replicas[entry.shard].push(worker);
                    count[worker as usize] += 1;
                    fresh.push((entry.shard, worker));
                }
            }
        }
    }
    // What the plan could not place without breaking spread (or every replica, with many
    // zones): one at a time, falling back to a zone the shard uses, then to an exchange.
    for shard in pending {
        while replicas[shard].len() < usize::from(wanted[shard]) {
            let worker = match rooms.take(context, &replicas[shard]) {
                Some(worker) => worker,
                None => match place_by_exchange(
                    context,
                    shard,
                    &mut replicas,
                    &mut count,
                    &mut rooms,
                    &mut fresh,
                ) {
                    Some(worker) => worker,
                    None => break,
                },
            };
            replicas[shard].push(worker);
            count[worker as usize] += 1;
            fresh.push((shard, worker));
        }
    }
    let unplaced: Vec<(usize, u8)> = shards
        .iter()
        .enumerate()
        .filter_map(|(shard, spec)| {
            // Counts shards whose replicas did not fit and shards asking for more replicas than
            // there are eligible workers.
            let missing = spec.wanted_replicas().saturating_sub(replicas[shard].len());
            (missing > 0).then_some((shard, missing as u8))
        })
        .collect();

    let spread_violations = replicas
        .iter()
        .filter(|set| set.len() <= zones_available && has_zone_duplicate(context, set))
        .count();

    QueryOutcome {
        replicas,
        eligible,
        count,
        slots,
        unplaced,
        spread_violations,
    }
}

/// Whether two replicas of a set share a zone. Sets are tiny (at most `MAX_REPLICAS`), and this
/// runs for every shard of every round: pairs are compared in place, with no allocation.
fn has_zone_duplicate(context: &Context<'_>, set: &ReplicaSet) -> bool {
    let workers = set.as_slice();
    let zone = |at: usize| context.zone_of[workers[at] as usize];
    (0..workers.len()).any(|i| (i + 1..workers.len()).any(|j| zone(i) == zone(j)))
}

/// Takes the excess replicas off every worker above its target. First those whose shard has
/// more replicas in this zone than an even spread needs (moving them repairs spread), then those
/// that a worker with room can take without hosting the shard twice or crowding a zone, then the
/// rest; within each, the last in key order. A shard loses at most one replica this way unless
/// nothing else is left: a second one would need a second receiver.
///
/// Each preference is one scan from the last shard backwards that stops as soon as every excess
/// is shed, so a join (every worker sheds a little) does not sort what every worker holds.
fn shed_excess(
    context: &Context<'_>,
    quotas: &[Quota],
    zones_available: usize,
    replicas: &mut [ReplicaSet],
    count: &mut [u32],
) {
    let mut need: Vec<u32> = count
        .iter()
        .zip(quotas)
        .map(|(&count, quota)| count.saturating_sub(quota.target))
        .collect();
    let mut remaining: u64 = need.iter().map(|&n| u64::from(n)).sum();
    if remaining == 0 {
        return;
    }
    // A few of the workers with the most room stand for all receivers: enough to tell a replica
    // that can move from one that cannot, without scanning every worker for every replica.
    let mut receivers: Vec<(u32, usize)> = quotas
        .iter()
        .enumerate()
        .filter(|(w, quota)| count[*w] < quota.target)
        .map(|(w, quota)| (quota.target - count[w], w))
        .collect();
    receivers.sort_by_key(|&(room, w)| (Reverse(room), w));
    receivers.truncate(16);
    let zone_of = |w: u32| context.zone_of[w as usize];

    let crowds_zone = |set: &[u32], worker: u32| {
        let zone = zone_of(worker);
        set.iter().filter(|&&w| zone_of(w) == zone).count() > set.len().div_ceil(zones_available)
    };
    let movable = |set: &[u32], worker: u32| {
        let zone = zone_of(worker);
        let others_use = |z: u32| set.iter().any(|&w| w != worker && zone_of(w) == z);
        receivers.iter().any(|&(_, r)| {
            let r = r as u32;
            !set.contains(&r) && (zone_of(r) == zone || !others_use(zone_of(r)))
        })
    };
    let mut already_shed = vec![false; replicas.len()];
    for preference in 0..4 {
        for shard in (0..replicas.len()).rev() {
            if remaining == 0 {
                return;
            }
            if already_shed[shard] && preference < 3 {
                continue;
            }
            let set = replicas[shard];
            for &worker in set.as_slice() {
                if need[worker as usize] == 0 {
                    continue;
                }
                let chosen = match preference {
                    0 => crowds_zone(set.as_slice(), worker),
                    1 => movable(set.as_slice(), worker),
                    _ => true,
                };
                if chosen {
                    replicas[shard].remove(worker);
                    count[worker as usize] -= 1;
                    need[worker as usize] -= 1;
                    remaining -= 1;
                    already_shed[shard] = true;
                    break;
                }
            }
        }
    }
    debug_assert_eq!(remaining, 0, "every worker can shed what it holds");
}

/// The last resort when every worker with room already serves `shard`: find a replica of another
/// shard on a worker `x` that does not serve `shard`, move that replica to a worker with room, and
/// give `x` to `shard`. Replicas placed this round are tried first (re-routing them costs no
/// move), then kept ones (one extra move instead of a replica left unplaced); within each, those
/// whose move keeps their shard's zones spread first.
fn place_by_exchange(
    context: &Context<'_>,
    shard: usize,
    replicas: &mut [ReplicaSet],
    count: &mut [u32],
    rooms: &mut Rooms,
    fresh: &mut [(usize, u32)],
) -> Option<u32> {
    let zone_of = |w: u32| context.zone_of[w as usize];
    let fits = |replicas: &[ReplicaSet], other: usize, x: u32, with_room: u32, spread: bool| {
        other != shard
            && !replicas[shard].contains(x)
            && !replicas[other].contains(with_room)
            && (!spread
                || zone_of(with_room) == zone_of(x)
                || !replicas[other]
                    .as_slice()
                    .iter()
                    .any(|&w| zone_of(w) == zone_of(with_room)))
    };
    for with_room in rooms.workers_with_room() {
        debug_assert!(replicas[shard].contains(with_room));
        let mut choice: Option<(usize, u32, Option<usize>)> = None;
        'search: for spread in [true, false] {
            for (at, &(other, x)) in fresh.iter().enumerate() {
                if replicas[other].contains(x) && fits(replicas, other, x, with_room, spread) {
                    choice = Some((other, x, Some(at)));
                    break 'search;
                }
            }
        }
        if choice.is_none() {
            'kept: for spread in [true, false] {
                for other in 0..replicas.len() {
                    for &x in replicas[other].as_slice() {
                        if fits(replicas, other, x, with_room, spread) {
                            choice = Some((other, x, None));
                            break 'kept;
                        }
                    }
                }
            }
        }
        if let Some((other, x, fresh_at)) = choice {
            rooms.consume(with_room);
            replicas[other].remove(x);
            replicas[other].push(with_room);
            count[with_room as usize] += 1;
            count[x as usize] -= 1;
            if let Some(at) = fresh_at {
                fresh[at] = (other, with_room);
            }
            return Some(x);
        }
    }
    None
}
