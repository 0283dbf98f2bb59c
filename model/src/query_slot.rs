//! Query slots: cluster-wide query concurrency. A query frontend acquires a slot for a tenant's
//! query, renews its lease while the query runs, and releases it; a slot whose lease runs out
//! returns to the pool, so a crashed frontend cannot leak capacity.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::validation::{ValidationErrors, check_range};

pub const MAX_WAIT_MS: i64 = 30_000;
/// Ten minutes of slot time: a hint, so a bound that only refuses nonsense.
pub const MAX_COST_HINT: i64 = 600_000;
pub const DEFAULT_COST_HINT: i64 = 100;

fn default_cost_hint() -> i64 {
    DEFAULT_COST_HINT
}

/// The body of `POST …/query-slots`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuerySlotRequest {
    /// The slot time the query is expected to take, in milliseconds (1–600000, default 100).
    /// Fair queuing charges the tenant this much when the query is queued, and settles the
    /// difference with the time the slot was really held when it is released.
    #[serde(default = "default_cost_hint")]
    #[schema(minimum = 1, maximum = 600000)]
    pub cost_hint: i64,
    /// How long to wait in the tenant's queue for a slot (0–30000 ms, default 0: answer at once).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 30000)]
    pub max_wait_ms: i64,
}

impl QuerySlotRequest {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        errors.check("cost_hint", check_range(self.cost_hint, 1, MAX_COST_HINT));
        errors.check("max_wait_ms", check_range(self.max_wait_ms, 0, MAX_WAIT_MS));
        errors.into_result()
    }
}

/// A granted slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuerySlot {
    pub slot_id: String,
    /// Renew within this many milliseconds, or the slot returns to the pool.
    pub lease_ttl_ms: i64,
}

/// A tenant's query slots in the usage report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuerySlotUsage {
    pub held: i64,
    pub max_concurrent_queries: i64,
    pub queued: i64,
    pub max_queued_queries: i64,
}
