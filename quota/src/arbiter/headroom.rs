//! Headroom: free slots kept for the tenants that are using less than their share.
//!
//! Slots are not preemptive. Under plain start-time fair queuing a tenant that keeps many long
//! queries waiting takes every slot that frees, so a light tenant's next query, however early its
//! start tag, waits for one of the long queries to finish. Headroom trades a little of the heavy
//! tenant's throughput for the light tenant's latency: a tenant already holding its weighted share
//! may not take a slot if that leaves fewer free slots than the tenants below their share are
//! likely to need at once, judged from their recent demand. The arbiter stays work-conserving
//! when one tenant is active (nobody to keep room for), and every tenant can always reach its
//! weighted share.

use std::collections::HashMap;

use super::dispatch::Holdings;

/// What dispatch needs to know about an active tenant beyond its holdings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TenantLoad {
    /// The tenant's `query_weight`.
    pub weight: i64,
    /// The tenant's `max_concurrent_queries`: room beyond it would never be used.
    pub max_concurrent: i64,
    /// The tenant's recent demand, in slots: [`RecentDemand::average`] now.
    pub recent_demand: f64,
}

/// How much room to keep free for the tenants below their share.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HeadroomRule {
    /// Plain start-time fair queuing: any tenant may take any free slot.
    WorkConserving,
    /// Keep enough slots free that the tenants below their share, together, can run as many
    /// queries at once as they run at the `quantile` of the time, judged from their recent
    /// demand (see [`slots_wanted`]).
    Reserve { quantile: f64 },
}

/// The tenants active now and the rule to keep room for them.
#[derive(Debug, Clone, PartialEq)]
pub struct Headroom {
    pub rule: HeadroomRule,
    /// Every tenant with slots held or requests waiting, and those whose recent demand is at
    /// least [`ACTIVE_DEMAND`]. A tenant missing here counts with weight 1 for its own share and
    /// gets no room kept for it.
    pub tenants: HashMap<String, TenantLoad>,
}

/// Below this recent demand (in slots) a tenant with nothing held or waiting is idle: no room is
/// kept for it and it does not dilute the others' shares.
pub const ACTIVE_DEMAND: f64 = 0.01;

/// The quantile the server uses unless configured otherwise: room for the tenants below their
/// share to run as many queries at once as they do nine times in ten. For a tenant using 0.8
/// slots on average that is room for 2, and about 81% of its queries find a slot free at once
/// (fewer than 2 of its own running, P(N ≤ 1)); most others wait for one of its own queries to
/// end. Higher quantiles shorten the light tenants' waits further and cost the flooding tenants
/// more; the quota issue's flood benchmark (docs/benchmarks.md) shows the trade-off.
pub const DEFAULT_QUANTILE: f64 = 0.9;

impl Headroom {
    /// Plain start-time fair queuing.
    pub fn work_conserving() -> Self {
        Self {
            rule: HeadroomRule::WorkConserving,
            tenants: HashMap::new(),
        }
    }

    fn total_weight(&self) -> i64 {
        self.tenants.values().map(|load| load.weight.max(1)).sum()
    }
}

/// How many queries at once a demand of `recent_demand` slots runs, at `quantile` of the time.
///
/// Queries that arrive independently (a Poisson process) and never wait are, at any moment, a
/// Poisson-distributed number in progress, with mean their average demand (the M/G/∞ queue,
/// whatever the query durations); a sum of such tenants is Poisson again, with the summed mean.
/// This is the smallest `k` with P(N ≤ k) ≥ `quantile`. With room for `k`, a new query finds a
/// slot free when fewer than `k` are in progress, which is P(N ≤ k − 1) of its arrivals.
pub fn slots_wanted(recent_demand: f64, quantile: f64) -> i64 {
    if recent_demand <= 0.0 || quantile <= 0.0 {
        return 0;
    }
    let quantile = quantile.min(MOST_QUANTILE);
    // Past this the Poisson is close to a normal of the same mean and variance, and e^-mean
    // heads for underflow.
    const LARGE_DEMAND: f64 = 500.0;
    if recent_demand >= LARGE_DEMAND {
        let spread = standard_normal_quantile(quantile) * recent_demand.sqrt();
        return (recent_demand + spread).ceil().max(0.0) as i64;
    }
    let mut probability = (-recent_demand).exp();
    let mut cumulative = probability;
    let mut slots = 0i64;
    while cumulative < quantile {
        slots += 1;
        probability *= recent_demand / slots as f64;
        cumulative += probability;
    }
    slots
}

/// Quantiles closer to 1 than this are read as this: rounding would keep the Poisson sum from
/// ever reaching them.
const MOST_QUANTILE: f64 = 1.0 - 1e-9;

/// The `quantile` of the standard normal distribution (Abramowitz and Stegun 26.2.23, within
/// 4.5 × 10⁻⁴), for `quantile` in (0, 1).
fn standard_normal_quantile(quantile: f64) -> f64 {
    if quantile < 0.5 {
        return -standard_normal_quantile(1.0 - quantile);
    }
    let t = (-2.0 * (1.0 - quantile).ln()).sqrt();
    let numerator = 2.515_517 + 0.802_853 * t + 0.010_328 * t * t;
    let denominator = 1.0 + 1.432_788 * t + 0.189_269 * t * t + 0.001_308 * t * t * t;
    t - numerator / denominator
}

/// The tenants below their share ("protected"), pooled: the room kept for them is worked out
/// once per dispatch and updated as grants change their holdings.
pub(crate) struct Reserves {
    capacity: i64,
    total_weight: i64,
    quantile: Option<f64>,
    protected_tenants: usize,
    /// Their recent demand, each counted up to what it may use (its share and its cap).
    protected_demand: f64,
    protected_held: i64,
    /// The most they could use together: their shares, or caps where lower.
    protected_room: f64,
    /// Slots to keep free for them now.
    reserve: i64,
}

impl Reserves {
    /// One pass over the active tenants' loads, then one lookup per tenant holding slots (at
    /// most the capacity): a tenant holding none is below its share.
    pub(crate) fn new(capacity: i64, headroom: &Headroom, holdings: &Holdings) -> Self {
        let quantile = match headroom.rule {
            HeadroomRule::Reserve { quantile } if capacity > 0 => Some(quantile),
            _ => None,
        };
        let mut reserves = Self {
            capacity,
            total_weight: headroom.total_weight().max(1),
            quantile,
            protected_tenants: 0,
            protected_demand: 0.0,
            protected_held: 0,
            protected_room: 0.0,
            reserve: 0,
        };
        if reserves.quantile.is_none() {
            return reserves;
        }
        for load in headroom.tenants.values() {
            let room = reserves.room(load);
            reserves.protected_tenants += 1;
            reserves.protected_demand += load.recent_demand.clamp(0.0, room);
            reserves.protected_room += room;
        }
        for (tenant, &held) in &holdings.by_tenant {
            let Some(load) = headroom.tenants.get(tenant) else {
                continue;
            };
            if reserves.below_share(load.weight, held) {
                reserves.protected_held += held;
            } else {
                reserves.unprotect(load, 0);
            }
        }
        reserves.update_reserve();
        reserves
    }

    /// Whether a tenant holding `held` slots is below its weighted share of the capacity among
    /// the active tenants.
    fn below_share(&self, weight: i64, held: i64) -> bool {
        let share = self.capacity.max(0) as f64 * weight.max(1) as f64 / self.total_weight as f64;
        (held as f64) < share
    }

    fn room(&self, load: &TenantLoad) -> f64 {
        let share =
            self.capacity.max(0) as f64 * load.weight.max(1) as f64 / self.total_weight as f64;
        share.min(load.max_concurrent.max(0) as f64)
    }

    /// Takes a tenant that reached its share out of the pool, with the `held` it had added.
    fn unprotect(&mut self, load: &TenantLoad, held: i64) {
        let room = self.room(load);
        self.protected_tenants -= 1;
        self.protected_demand -= load.recent_demand.clamp(0.0, room);
        self.protected_held -= held;
        self.protected_room -= room;
    }

    fn update_reserve(&mut self) {
        let Some(quantile) = self.quantile else {
            return;
        };
        if self.protected_tenants == 0 {
            self.reserve = 0;
            return;
        }
        // The small epsilon keeps a room of exactly n slots from flooring to n - 1 after the
        // additions and subtractions above.
        let most = (self.protected_room + 1e-9).floor() as i64;
        let wanted = slots_wanted(self.protected_demand.max(0.0), quantile).min(most);
        self.reserve = (wanted - self.protected_held).max(0);
    }

    /// Whether a tenant holding `held` slots may take one more when `free` slots are free.
    pub(crate) fn allows(&self, load: Option<&TenantLoad>, held: i64, free: i64) -> bool {
        let weight = load.map_or(1, |load| load.weight);
        if self.reserve == 0 || self.below_share(weight, held) {
            // Below its share a tenant is never held back: that is the share guarantee.
            return true;
        }
        // Taking one leaves `free - 1`, which must not fall below the room kept.
        free > self.reserve
    }

    /// Records a grant to a tenant, which now holds `held` slots.
    pub(crate) fn granted(&mut self, load: Option<&TenantLoad>, held: i64) {
        let Some(load) = load else {
            // Not active, so never in the pool.
            return;
        };
        if self.quantile.is_none() || !self.below_share(load.weight, held - 1) {
            return;
        }
        if self.below_share(load.weight, held) {
            self.protected_held += 1;
        } else {
            self.unprotect(load, held - 1);
        }
        self.update_reserve();
    }
}

/// A tenant's recent demand: the time-weighted moving average of its outstanding queries (held
/// and waiting), with the time constant the server is configured with. The store keeps one per
/// tenant and brings it forward whenever the tenant's outstanding count changes (a request
/// arrives, is released, expires or gives up), so between updates the count was constant.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RecentDemand {
    pub average: f64,
    /// When `average` was brought forward, in microseconds on the arbiter's clock.
    pub at_us: i64,
}

impl RecentDemand {
    /// The average at `now_us`, the tenant having had `outstanding` queries since `at_us`.
    pub fn at(self, now_us: i64, outstanding: i64, time_constant_us: i64) -> RecentDemand {
        let elapsed = now_us.saturating_sub(self.at_us).max(0) as f64;
        let kept = (-elapsed / time_constant_us.max(1) as f64).exp();
        let outstanding = outstanding.max(0) as f64;
        RecentDemand {
            average: outstanding + (self.average - outstanding) * kept,
            at_us: now_us.max(self.at_us),
        }
    }

    /// When a tenant with no queries outstanding since `at_us` stops being active (its average
    /// falls below [`ACTIVE_DEMAND`]): the store can keep this in an indexed column and load only
    /// the tenants active now, rather than bring every tenant's average forward.
    pub fn idle_from_us(self, time_constant_us: i64) -> i64 {
        if self.average <= ACTIVE_DEMAND {
            return self.at_us;
        }
        let decay = (self.average / ACTIVE_DEMAND).ln() * time_constant_us.max(1) as f64;
        self.at_us.saturating_add(decay.ceil() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_wanted_follows_the_poisson_quantile() {
        assert_eq!(slots_wanted(0.0, 0.99), 0);
        // P(N ≤ 2) = 0.953 and P(N ≤ 3) = 0.991 for a mean of 0.8.
        assert_eq!(slots_wanted(0.8, 0.95), 2);
        assert_eq!(slots_wanted(0.8, 0.99), 3);
        // A tenant that is rarely busy needs no room: P(N = 0) = 0.951.
        assert_eq!(slots_wanted(0.05, 0.95), 0);
        // Twenty such tenants together do: their sum is Poisson with mean 1.
        assert_eq!(slots_wanted(20.0 * 0.05, 0.95), 3);
        // Past the exact sum, the normal approximation: 1000 + 2.326 × √1000 = 1073.6.
        assert_eq!(slots_wanted(1000.0, 0.99), 1074);
        assert_eq!(slots_wanted(1000.0, 0.5), 1000);
        // On either side of the switch the two agree within a slot.
        let exact = slots_wanted(499.0, 0.9);
        let approximate = slots_wanted(500.0, 0.9);
        assert!(
            (approximate - exact - 1).abs() <= 1,
            "{exact} {approximate}"
        );
        assert!(slots_wanted(3.0, 1.0) < 30, "a quantile of 1 still ends");
    }

    #[test]
    fn recent_demand_moves_toward_the_outstanding_count() {
        let second = 1_000_000;
        let start = RecentDemand::default();
        let after_one_constant = start.at(second, 4, second);
        assert!((after_one_constant.average - 4.0 * (1.0 - (-1.0f64).exp())).abs() < 1e-9);
        let much_later = after_one_constant.at(100 * second, 0, second);
        assert!(much_later.average < 1e-9);
        assert_eq!(much_later.at_us, 100 * second);
    }

    #[test]
    fn an_idle_tenant_stops_being_active_when_its_average_decays() {
        let second = 1_000_000;
        let busy = RecentDemand {
            average: 1.0,
            at_us: 10 * second,
        };
        let idle_from = busy.idle_from_us(second);
        assert!(busy.at(idle_from - 1000, 0, second).average > ACTIVE_DEMAND);
        assert!(busy.at(idle_from, 0, second).average <= ACTIVE_DEMAND);
        assert_eq!(RecentDemand::default().idle_from_us(second), 0);
    }
}
