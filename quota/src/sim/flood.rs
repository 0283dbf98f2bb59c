//! The quota issue's fairness scenario, shared by its benchmark and its tests: 8 slots, a light
//! tenant sending 80 queries a second of 10 ms each, and a heavy tenant keeping 64 queries of
//! 200 ms outstanding. Neither frontend sends cost hints.

use super::scenario::{Arrivals, Policy, QueryDuration, SECOND_US, Scenario, TenantSpec};

pub const FLOOD_CAPACITY: i64 = 8;
pub const LIGHT: &str = "light";
pub const HEAVY: &str = "heavy";
/// Excluded from the statistics: long enough for the heavy tenant's first burst of 64 to be
/// granted and for the tenants' recent demand to settle.
pub const FLOOD_WARMUP_US: u64 = 10 * SECOND_US;

pub fn light_tenant() -> TenantSpec {
    TenantSpec::new(
        LIGHT,
        Arrivals::Poisson { per_second: 80.0 },
        QueryDuration::Fixed { us: 10_000 },
    )
}

pub fn heavy_tenant() -> TenantSpec {
    TenantSpec::new(
        HEAVY,
        Arrivals::ClosedLoop { outstanding: 64 },
        QueryDuration::Fixed { us: 200_000 },
    )
}

/// The light and the heavy tenant together, for `seconds` of simulated time.
pub fn flood(policy: Policy, seconds: u64, seed: u64) -> Scenario {
    Scenario {
        capacity: FLOOD_CAPACITY,
        policy,
        run_us: seconds * SECOND_US,
        warmup_us: FLOOD_WARMUP_US,
        seed,
        tenants: vec![light_tenant(), heavy_tenant()],
    }
}

/// The light tenant alone on the same slots: the waits it is compared with. Its arrivals are
/// the same as in [`flood`] with the same seed (each tenant draws from its own streams).
pub fn light_alone(policy: Policy, seconds: u64, seed: u64) -> Scenario {
    Scenario {
        tenants: vec![light_tenant()],
        ..flood(policy, seconds, seed)
    }
}
