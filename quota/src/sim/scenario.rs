//! What a simulation runs: the cluster's slots, the admission policy and the tenants' load.

use crate::arbiter::{DEFAULT_QUANTILE, HeadroomRule};

/// Microseconds in a second, the simulator's clock unit.
pub const SECOND_US: u64 = 1_000_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Query slots in the cluster.
    pub capacity: i64,
    pub policy: Policy,
    /// Simulated time, in microseconds.
    pub run_us: u64,
    /// Statistics cover `warmup_us..run_us`, so queues have filled before anything is counted.
    pub warmup_us: u64,
    pub seed: u64,
    pub tenants: Vec<TenantSpec>,
}

/// Who gets the next free slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Policy {
    /// The baseline: requests are granted in arrival order, within the caps; no fairness.
    Fifo,
    /// The arbiter: `tag_request` on arrival, `dispatch` on every arrival and release.
    Arbiter(ArbiterSettings),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArbiterSettings {
    pub headroom: HeadroomRule,
    pub charging: Charging,
    /// The time constant of each tenant's [`crate::arbiter::RecentDemand`].
    pub demand_time_constant_us: i64,
}

/// The time constant of the tenants' recent demand the server uses by default: long enough to
/// remember a light tenant between its queries, short enough to forget a tenant gone quiet
/// within half a minute.
pub const DEMAND_TIME_CONSTANT_US: i64 = 5 * SECOND_US as i64;

impl Default for ArbiterSettings {
    /// What the server runs: headroom at [`DEFAULT_QUANTILE`], charged for the slot time used.
    fn default() -> Self {
        Self::with_headroom(HeadroomRule::Reserve {
            quantile: DEFAULT_QUANTILE,
        })
    }
}

impl ArbiterSettings {
    /// Plain start-time fair queuing, charged for the slot time used.
    pub fn work_conserving() -> Self {
        Self::with_headroom(HeadroomRule::WorkConserving)
    }

    pub fn with_headroom(headroom: HeadroomRule) -> Self {
        Self {
            headroom,
            charging: Charging::SlotTime,
            demand_time_constant_us: DEMAND_TIME_CONSTANT_US,
        }
    }
}

/// What a tenant's tags are charged for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charging {
    /// The cost hint its requests were tagged with, and nothing else.
    Hint,
    /// The slot time each request really held, settled when it releases its slot
    /// ([`crate::arbiter::settle_cost`]).
    SlotTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TenantSpec {
    pub name: String,
    pub weight: i64,
    /// The tenant's `max_concurrent_queries`.
    pub max_concurrent: i64,
    /// One entry per project: its `max_concurrent_queries`. Requests go to the projects in turn.
    pub project_caps: Vec<i64>,
    pub arrivals: Arrivals,
    pub duration: QueryDuration,
    /// The cost hint each request is tagged with, in milliseconds of slot time.
    pub cost_hint_ms: i64,
    /// The tenant sends requests from `active_from_us` until `active_until_us`.
    pub active_from_us: u64,
    pub active_until_us: u64,
}

/// When a tenant's queries arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrivals {
    /// Independently, at an average rate (exponential gaps).
    Poisson { per_second: f64 },
    /// A closed loop: the tenant keeps this many queries outstanding (waiting or running) and
    /// sends the next the moment one finishes.
    ClosedLoop { outstanding: u32 },
}

/// How long a query holds its slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QueryDuration {
    Fixed { us: u64 },
    Uniform { min_us: u64, max_us: u64 },
    Exponential { mean_us: u64 },
}

impl QueryDuration {
    pub fn mean_us(self) -> f64 {
        match self {
            QueryDuration::Fixed { us } => us as f64,
            QueryDuration::Uniform { min_us, max_us } => (min_us as f64 + max_us as f64) / 2.0,
            QueryDuration::Exponential { mean_us } => mean_us as f64,
        }
    }
}

impl TenantSpec {
    /// A tenant with weight 1, caps that never bind and one project, active throughout; its
    /// queries are tagged with the default cost hint of 1 ms (frontends send no hint).
    pub fn new(name: &str, arrivals: Arrivals, duration: QueryDuration) -> Self {
        const UNBOUNDED: i64 = 1 << 20;
        Self {
            name: name.to_string(),
            weight: 1,
            max_concurrent: UNBOUNDED,
            project_caps: vec![UNBOUNDED],
            arrivals,
            duration,
            cost_hint_ms: 1,
            active_from_us: 0,
            active_until_us: u64::MAX,
        }
    }

    /// The slots this tenant would keep busy on average with no other tenant and no waiting,
    /// within its caps and its active window's overlap with `measured` (the statistics window).
    pub fn demand_slots(&self, measured: (u64, u64)) -> f64 {
        let (from, until) = measured;
        let active_from = self.active_from_us.max(from);
        let active_until = self.active_until_us.min(until);
        if active_until <= active_from || until <= from {
            return 0.0;
        }
        let active_fraction = (active_until - active_from) as f64 / (until - from) as f64;
        let concurrency = match self.arrivals {
            Arrivals::Poisson { per_second } => {
                per_second * self.duration.mean_us() / SECOND_US as f64
            }
            Arrivals::ClosedLoop { outstanding } => f64::from(outstanding),
        };
        let project_room: i64 = self
            .project_caps
            .iter()
            .map(|&cap| cap.clamp(0, self.max_concurrent.max(0)))
            .sum();
        let most = self.max_concurrent.max(0).min(project_room) as f64;
        concurrency.min(most) * active_fraction
    }
}
