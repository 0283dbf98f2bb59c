//! API rate limits with governor's GCRA limiters: one bucket per tenant (each tenant's own rate,
//! from its quota) and one per API key (one rate for all keys), so neither a tenant's many keys
//! nor one runaway script can take more than its share.
//!
//! Limits are kept per server replica: with N replicas behind a balancer a tenant gets up to N
//! times its rate. That keeps the check in memory (tens of nanoseconds, no store round trip);
//! the rates are a guard against floods, not a billing meter.

use std::hash::BuildHasher;
use std::num::NonZeroU32;
use std::time::Duration;

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::state::keyed::DashMapStateStore;
use governor::{NotUntil, Quota, RateLimiter};
use logplane_model::quota::ApiRate;

/// What the `RateLimit-*` headers of an admitted request say: the budget that is closest to
/// running out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitStatus {
    /// The burst size of the limiting budget.
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the budget is full again.
    pub reset_seconds: u64,
}

/// Which budget refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Tenant,
    Key,
    /// One agent's own budget for the agent protocol.
    Agent,
    /// Refused credentials presented from one client address.
    ClientAddress,
}

impl Budget {
    pub fn as_str(self) -> &'static str {
        match self {
            Budget::Tenant => "tenant",
            Budget::Key => "API key",
            Budget::Agent => "agent",
            Budget::ClientAddress => "client address",
        }
    }
}

/// A refused request: when to retry, and the status of the budget that refused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    pub budget: Budget,
    pub retry_after: Duration,
    pub status: RateLimitStatus,
}

impl RateLimited {
    /// `Retry-After` in whole seconds, never 0 (a client retrying at once would be refused again).
    pub fn retry_after_seconds(&self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }
}

/// Hashes bucket names (tenant names, key ids) and the limiters' maps. Randomly seeded per
/// process, so a client cannot craft names that collide.
type Hasher = foldhash::fast::RandomState;
type KeyedLimiter =
    RateLimiter<u64, DashMapStateStore<u64, Hasher>, DefaultClock, StateInformationMiddleware>;

/// The period the server calls [`ApiRateLimiter::forget_idle`] with.
pub const HOUSEKEEPING_EPOCH: Duration = Duration::from_secs(60);

/// Budgets are governor keyed limiters whose keys are 64-bit hashes of the names: a lookup by
/// hash needs no allocated `String` per request, and with 10,000 tenants the chance that any
/// two share a hash (and so a budget) is about 3 × 10⁻¹².
pub struct ApiRateLimiter {
    clock: DefaultClock,
    names: Hasher,
    keys: KeyedLimiter,
    /// The tenants at the default rate: most of them, so they skip the lookup by rate.
    default_tenant_rate: ApiRate,
    default_rate_tenants: KeyedLimiter,
    /// One keyed limiter per other tenant rate; a tenant whose rate changes starts afresh in the
    /// limiter of its new rate.
    tenants_by_rate: DashMap<ApiRate, KeyedLimiter, Hasher>,
}

fn governor_quota(rate: ApiRate) -> Quota {
    let per_sec = NonZeroU32::new(rate.per_sec.clamp(1, i64::from(u32::MAX)) as u32)
        .unwrap_or(NonZeroU32::MIN);
    let burst =
        NonZeroU32::new(rate.burst.clamp(1, i64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(per_sec).allow_burst(burst)
}

fn keyed_limiter(rate: ApiRate, clock: &DefaultClock) -> KeyedLimiter {
    RateLimiter::dashmap_with_clock_and_hasher(
        governor_quota(rate),
        clock.clone(),
        Hasher::default(),
    )
    .with_middleware::<StateInformationMiddleware>()
}

impl ApiRateLimiter {
    /// A limiter where every API key gets `key_rate`; tenants get the rate passed to each
    /// check, which is `default_tenant_rate` for most of them.
    pub fn new(key_rate: ApiRate, default_tenant_rate: ApiRate) -> Self {
        let clock = DefaultClock::default();
        Self {
            keys: keyed_limiter(key_rate, &clock),
            default_tenant_rate,
            default_rate_tenants: keyed_limiter(default_tenant_rate, &clock),
            tenants_by_rate: DashMap::with_hasher(Hasher::default()),
            names: Hasher::default(),
            clock,
        }
    }

    /// Admits or refuses one request of `key_id`, of `tenant` at that tenant's rate (platform
    /// keys have no tenant). Both budgets must allow it.
    pub fn check(
        &self,
        tenant: Option<(&str, ApiRate)>,
        key_id: &str,
    ) -> Result<RateLimitStatus, RateLimited> {
        let tenant_snapshot = match tenant {
            Some((name, rate)) => Some(self.check_tenant(name, rate)?),
            None => None,
        };
        let key_snapshot = self.check_one(Budget::Key, key_id)?;
        // Each budget's remaining capacity costs a division: worked out once per snapshot.
        let key_remaining = key_snapshot.remaining_burst_capacity();
        Ok(match tenant_snapshot {
            Some(tenant) => match tenant.remaining_burst_capacity() {
                tenant_remaining if tenant_remaining < key_remaining => {
                    status_of(&tenant, tenant_remaining)
                }
                _ => status_of(&key_snapshot, key_remaining),
            },
            None => status_of(&key_snapshot, key_remaining),
        })
    }

    /// Admits or refuses one event of `name` against its own budget alone, at the key rate;
    /// a refusal names `budget`. For budgets that are not an API key's, such as the refused
    /// credentials of one client address.
    pub fn check_name(&self, budget: Budget, name: &str) -> Result<RateLimitStatus, RateLimited> {
        self.check_one(budget, name)
            .map(|snapshot| status_of(&snapshot, snapshot.remaining_burst_capacity()))
    }

    fn check_one(&self, budget: Budget, name: &str) -> Result<StateSnapshot, RateLimited> {
        self.admit(budget, self.keys.check_key(&self.names.hash_one(name)))
    }

    fn check_tenant(&self, tenant: &str, rate: ApiRate) -> Result<StateSnapshot, RateLimited> {
        let id = self.names.hash_one(tenant);
        if rate == self.default_tenant_rate {
            return self.admit(Budget::Tenant, self.default_rate_tenants.check_key(&id));
        }
        if let Some(limiter) = self.tenants_by_rate.get(&rate) {
            return self.admit(Budget::Tenant, limiter.check_key(&id));
        }
        let limiter = self
            .tenants_by_rate
            .entry(rate)
            .or_insert_with(|| keyed_limiter(rate, &self.clock));
        self.admit(Budget::Tenant, limiter.check_key(&id))
    }

    fn admit(
        &self,
        budget: Budget,
        outcome: Result<StateSnapshot, NotUntil<<DefaultClock as Clock>::Instant>>,
    ) -> Result<StateSnapshot, RateLimited> {
        outcome.map_err(|not_until| {
            let quota = not_until.quota();
            let limit = quota.burst_size().get();
            let reset = quota.replenish_interval().saturating_mul(limit);
            RateLimited {
                budget,
                retry_after: not_until.wait_time_from(self.clock.now()),
                status: RateLimitStatus {
                    limit,
                    remaining: 0,
                    reset_seconds: reset.as_secs_f64().ceil() as u64,
                },
            }
        })
    }

    /// Forgets the budgets that are full again (governor's `retain_recent`), so memory follows
    /// the keys and tenants in use rather than every one ever seen, and drops the limiters of
    /// rates no tenant uses any more. Call it every [`HOUSEKEEPING_EPOCH`].
    pub fn forget_idle(&self) {
        for limiter in [&self.keys, &self.default_rate_tenants] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        for limiter in self.tenants_by_rate.iter() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        self.tenants_by_rate
            .retain(|_, limiter| !limiter.is_empty());
    }

    /// The budgets currently remembered (tenants and keys).
    pub fn tracked_budgets(&self) -> usize {
        let other_rates: usize = self
            .tenants_by_rate
            .iter()
            .map(|limiter| limiter.len())
            .sum();
        self.keys.len() + self.default_rate_tenants.len() + other_rates
    }
}

/// The status an admitted request reports, given its budget's `remaining` capacity.
fn status_of(snapshot: &StateSnapshot, remaining: u32) -> RateLimitStatus {
    let quota = snapshot.quota();
    let limit = quota.burst_size().get();
    let owed = u64::from(limit - remaining.min(limit));
    let replenish_nanos = u64::try_from(quota.replenish_interval().as_nanos()).unwrap_or(u64::MAX);
    RateLimitStatus {
        limit,
        remaining,
        // In whole integers: this runs on every admitted request.
        reset_seconds: replenish_nanos.saturating_mul(owed).div_ceil(1_000_000_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENEROUS: ApiRate = ApiRate {
        per_sec: 1000,
        burst: 1000,
    };
    const DEFAULT_TENANT: ApiRate = ApiRate {
        per_sec: 100,
        burst: 200,
    };

    #[test]
    fn a_tenant_is_held_to_its_own_burst_across_keys() {
        let limiter = ApiRateLimiter::new(GENEROUS, DEFAULT_TENANT);
        let tenant = (
            "acme",
            ApiRate {
                per_sec: 1,
                burst: 3,
            },
        );
        for key in ["key-a", "key-b", "key-c"] {
            assert!(limiter.check(Some(tenant), key).is_ok());
        }
        let refused = limiter.check(Some(tenant), "key-d").unwrap_err();
        assert_eq!(refused.status.limit, 3);
        assert_eq!(refused.budget, Budget::Tenant);
        assert_eq!(refused.status.remaining, 0);
        assert!(refused.retry_after_seconds() >= 1);
        assert!(
            limiter
                .check(
                    Some((
                        "other",
                        ApiRate {
                            per_sec: 1,
                            burst: 3
                        }
                    )),
                    "key-e"
                )
                .is_ok(),
            "other tenants are untouched"
        );
    }

    #[test]
    fn a_key_is_held_to_the_key_rate_within_a_generous_tenant() {
        let limiter = ApiRateLimiter::new(
            ApiRate {
                per_sec: 1,
                burst: 2,
            },
            DEFAULT_TENANT,
        );
        assert!(limiter.check(Some(("acme", GENEROUS)), "key-a").is_ok());
        assert!(limiter.check(Some(("acme", GENEROUS)), "key-a").is_ok());
        assert!(limiter.check(Some(("acme", GENEROUS)), "key-a").is_err());
        assert!(limiter.check(Some(("acme", GENEROUS)), "key-b").is_ok());
        assert!(
            limiter.check(None, "platform-key").is_ok(),
            "platform keys have only the key budget"
        );
    }

    #[test]
    fn tenants_at_the_default_rate_are_held_to_it() {
        let limiter = ApiRateLimiter::new(
            GENEROUS,
            ApiRate {
                per_sec: 1,
                burst: 2,
            },
        );
        let tenant = Some((
            "acme",
            ApiRate {
                per_sec: 1,
                burst: 2,
            },
        ));
        assert!(limiter.check(tenant, "key-a").is_ok());
        assert!(limiter.check(tenant, "key-b").is_ok());
        assert_eq!(
            limiter.check(tenant, "key-c").unwrap_err().budget,
            Budget::Tenant
        );
        assert!(
            limiter
                .check(
                    Some((
                        "other",
                        ApiRate {
                            per_sec: 1,
                            burst: 2
                        }
                    )),
                    "key-d"
                )
                .is_ok()
        );
    }

    #[test]
    fn reports_the_budget_closest_to_running_out() {
        let limiter = ApiRateLimiter::new(GENEROUS, DEFAULT_TENANT);
        let status = limiter
            .check(
                Some((
                    "acme",
                    ApiRate {
                        per_sec: 1,
                        burst: 5,
                    },
                )),
                "key-a",
            )
            .unwrap();
        assert_eq!((status.limit, status.remaining), (5, 4));
        assert_eq!(status.reset_seconds, 1, "one request owed, at one a second");
        let slow = ApiRate {
            per_sec: 1,
            burst: 5,
        };
        limiter.check(Some(("acme", slow)), "key-a").unwrap();
        let status = limiter.check(Some(("acme", slow)), "key-a").unwrap();
        assert_eq!(
            (status.remaining, status.reset_seconds),
            (2, 3),
            "three owed: full again in three seconds"
        );
    }

    #[test]
    fn idle_budgets_are_forgotten_once_they_are_full_again() {
        // 1,000 per second: a bucket is full again a millisecond after its one request.
        let limiter = ApiRateLimiter::new(
            ApiRate {
                per_sec: 1000,
                burst: 1,
            },
            DEFAULT_TENANT,
        );
        limiter
            .check(
                Some((
                    "acme",
                    ApiRate {
                        per_sec: 1000,
                        burst: 1,
                    },
                )),
                "key-a",
            )
            .unwrap();
        assert_eq!(limiter.tracked_budgets(), 2);
        std::thread::sleep(Duration::from_millis(20));
        limiter.forget_idle();
        assert_eq!(limiter.tracked_budgets(), 0);
        let busy = ApiRateLimiter::new(
            ApiRate {
                per_sec: 1,
                burst: 1000,
            },
            DEFAULT_TENANT,
        );
        busy.check(None, "key-b").unwrap();
        busy.forget_idle();
        assert_eq!(
            busy.tracked_budgets(),
            1,
            "a bucket still refilling is kept"
        );
    }

    #[test]
    fn a_changed_tenant_rate_takes_effect() {
        let limiter = ApiRateLimiter::new(GENEROUS, DEFAULT_TENANT);
        assert!(
            limiter
                .check(
                    Some((
                        "acme",
                        ApiRate {
                            per_sec: 1,
                            burst: 1
                        }
                    )),
                    "key-a"
                )
                .is_ok()
        );
        assert!(
            limiter
                .check(
                    Some((
                        "acme",
                        ApiRate {
                            per_sec: 1,
                            burst: 1
                        }
                    )),
                    "key-a"
                )
                .is_err()
        );
        assert!(
            limiter
                .check(
                    Some((
                        "acme",
                        ApiRate {
                            per_sec: 1,
                            burst: 10
                        }
                    )),
                    "key-a"
                )
                .is_ok()
        );
    }
}
