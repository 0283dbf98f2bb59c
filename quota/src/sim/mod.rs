//! A deterministic discrete-event simulator of the query-slot arbiter: tenants send queries
//! (Poisson arrivals or closed loops), queries hold slots for their durations, and after every
//! arrival and completion the admission policy decides — the real arbiter (`tag_request` and
//! `dispatch`, called as the store calls them) or a FIFO baseline. The clock is virtual, in
//! microseconds, and every random draw comes from the scenario's seed, so a run is a pure
//! function of its scenario: tests can assert on it and benchmarks can compare policies on the
//! same arrivals.

mod engine;
mod fair_share;
pub mod flood;
mod random;
mod report;
mod scenario;

pub use engine::{DISPATCH_WINDOW, run};
pub use fair_share::{jain_index, max_min_fair_shares};
pub use random::Random;
pub use report::{Report, TenantReport, percentile};
pub use scenario::{
    ArbiterSettings, Arrivals, Charging, DEMAND_TIME_CONSTANT_US, Policy, QueryDuration, SECOND_US,
    Scenario, TenantSpec,
};
