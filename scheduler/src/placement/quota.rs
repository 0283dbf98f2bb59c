//! Capacity-proportional targets: how many slots of a role each worker should hold.
//!
//! A worker's exact share is `slots × capacity / total capacity`; it holds that share rounded
//! down or up (`floor` or `ceil`), so at equal capacity any two workers differ by at most one.
//! Which workers round up is chosen to save moves: first those that already hold more than their
//! floor, so a balanced assignment keeps its rounding and a join or leave moves only what it must.
//!
//! Query replicas add a zone limit: a zone can hold at most one replica of each shard (when there
//! are at least as many zones as replicas), so its share is capped and the rest flows to the other
//! zones in proportion to their capacity ("water-filling").

/// A worker's share of a role's slots: it may hold `floor` or `ceil`; `target` is the one chosen
/// for this round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Quota {
    pub floor: u32,
    pub ceil: u32,
    pub target: u32,
}

pub(crate) struct QuotaInput<'a> {
    /// Per worker: the slots it can hold at most (its capacity); 0 when it is not eligible.
    pub caps: &'a [u32],
    pub zone_of: &'a [u32],
    pub zone_count: usize,
    /// The most slots one zone may hold; `u64::MAX` when zones do not matter.
    pub zone_limit: u64,
    /// Slots to place in all.
    pub slots: u64,
    /// Per worker: the slots it keeps from the previous assignment.
    pub kept: &'a [u32],
}

pub(crate) struct Quotas {
    pub per_worker: Vec<Quota>,
    /// Slots that fit: `slots` unless capacity (or the zone limits) is short.
    pub placeable: u64,
}

/// An exact share `numerator / denominator`, kept as integers so that a million slots round
/// without floating-point drift (a share of exactly 100 must not become 99.999…).
#[derive(Clone, Copy)]
struct Share {
    numerator: u128,
    denominator: u128,
}

impl Share {
    fn floor(self) -> u64 {
        (self.numerator / self.denominator) as u64
    }

    fn remainder(self) -> u128 {
        self.numerator % self.denominator
    }
}

pub(crate) fn quotas(input: &QuotaInput<'_>) -> Quotas {
    let workers = input.caps.len();
    let mut zone_weight = vec![0u128; input.zone_count];
    for (worker, &cap) in input.caps.iter().enumerate() {
        zone_weight[input.zone_of[worker] as usize] += u128::from(cap);
    }
    let zone_cap: Vec<u128> = zone_weight
        .iter()
        .map(|&weight| weight.min(u128::from(input.zone_limit)))
        .collect();
    let placeable = u128::from(input.slots).min(zone_cap.iter().sum());

    // Water-filling: a zone whose proportional share exceeds its cap is fixed at the cap, which
    // raises everyone else's share, so repeat until no zone exceeds.
    let mut fixed = vec![false; input.zone_count];
    let mut remaining = placeable;
    let mut active_weight: u128 = zone_weight.iter().sum();
    loop {
        let mut changed = false;
        for zone in 0..input.zone_count {
            let weight = zone_weight[zone];
            if fixed[zone] || weight == 0 {
                continue;
            }
            if remaining * weight > zone_cap[zone] * active_weight {
                fixed[zone] = true;
                remaining -= zone_cap[zone];
                active_weight -= weight;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // Every slot that fits has a zone: either a fixed zone took it or active zones share it.
    debug_assert!(remaining == 0 || active_weight > 0);

    let shares: Vec<Option<Share>> = (0..workers)
        .map(|worker| {
            let cap = u128::from(input.caps[worker]);
            if cap == 0 {
                return None;
            }
            let zone = input.zone_of[worker] as usize;
            Some(if fixed[zone] {
                Share {
                    numerator: zone_cap[zone] * cap,
                    denominator: zone_weight[zone],
                }
            } else {
                Share {
                    numerator: remaining * cap,
                    denominator: active_weight,
                }
            })
        })
        .collect();

    let mut per_worker = vec![Quota::default(); workers];
    let mut zone_total = vec![0u128; input.zone_count];
    let mut floors: u128 = 0;
    for (worker, share) in shares.iter().enumerate() {
        if let Some(share) = share {
            let floor = share.floor() as u32;
            let ceil = floor + u32::from(share.remainder() > 0);
            per_worker[worker] = Quota {
                floor,
                ceil,
                target: floor,
            };
            floors += u128::from(floor);
            zone_total[input.zone_of[worker] as usize] += u128::from(floor);
        }
    }

    // Largest remainder, but a worker that already holds more than its floor rounds up first:
    // rounding it down would make it shed a slot that another worker then has to take.
    let mut round_up: Vec<usize> = (0..workers)
        .filter(|&worker| shares[worker].is_some_and(|share| share.remainder() > 0))
        .collect();
    round_up.sort_by(|&a, &b| {
        let holds_more = |worker: usize| input.kept[worker] > per_worker[worker].floor;
        let (share_a, share_b) = (shares[a].unwrap(), shares[b].unwrap());
        holds_more(b)
            .cmp(&holds_more(a))
            .then_with(|| {
                (share_b.remainder() * share_a.denominator)
                    .cmp(&(share_a.remainder() * share_b.denominator))
            })
            .then(a.cmp(&b))
    });
    let mut extra = placeable - floors;
    for worker in round_up {
        if extra == 0 {
            break;
        }
        let zone = input.zone_of[worker] as usize;
        if zone_total[zone] >= zone_cap[zone] {
            continue;
        }
        per_worker[worker].target += 1;
        zone_total[zone] += 1;
        extra -= 1;
    }
    // The shares sum to `placeable` and each zone can absorb its own fractions, so every extra
    // slot finds a worker.
    debug_assert_eq!(extra, 0, "rounding must hand out every placeable slot");

    Quotas {
        per_worker,
        placeable: placeable as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(caps: &[u32], slots: u64, kept: &[u32]) -> Vec<u32> {
        let zone_of = vec![0; caps.len()];
        quotas(&QuotaInput {
            caps,
            zone_of: &zone_of,
            zone_count: 1,
            zone_limit: u64::MAX,
            slots,
            kept,
        })
        .per_worker
        .iter()
        .map(|quota| quota.target)
        .collect()
    }

    #[test]
    fn equal_capacity_differs_by_at_most_one_and_rounds_up_the_fullest() {
        assert_eq!(targets(&[10, 10, 10], 7, &[0, 3, 0]), [2, 3, 2]);
        assert_eq!(targets(&[10, 10, 10], 7, &[0, 0, 0]), [3, 2, 2]);
    }

    #[test]
    fn shares_follow_capacity_and_stop_at_it() {
        assert_eq!(targets(&[10, 30], 8, &[0, 0]), [2, 6]);
        assert_eq!(targets(&[10, 30], 100, &[0, 0]), [10, 30]);
        assert_eq!(targets(&[0, 30], 8, &[0, 0]), [0, 8]);
    }

    #[test]
    fn a_small_zone_is_filled_to_its_limit_and_the_rest_flows_elsewhere() {
        // 4 shards × 3 replicas over 3 zones: a zone holds at most one replica of each shard (4).
        // By capacity the two-worker zones would take 4.8 each; they are capped at 4 and the
        // one-worker zone takes the remaining 4.
        let caps = [10, 10, 10, 10, 10];
        let zone_of = [0, 0, 1, 1, 2];
        let result = quotas(&QuotaInput {
            caps: &caps,
            zone_of: &zone_of,
            zone_count: 3,
            zone_limit: 4,
            slots: 12,
            kept: &[0; 5],
        });
        let targets: Vec<u32> = result.per_worker.iter().map(|q| q.target).collect();
        assert_eq!(targets, [2, 2, 2, 2, 4]);
    }
}
