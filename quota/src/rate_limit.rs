//! API rate limits with governor's GCRA limiters: one bucket per tenant (each tenant's own rate,
//! from its quota) and one per API key (one rate for all keys), so neither a tenant's many keys
//! nor one runaway script can take more than its share.
//!
//! Limits are kept per server replica: with N replicas behind a balancer a tenant gets up to N
//! times its rate. That keeps the check in memory (tens of nanoseconds, no store round trip);
//! the rates are a guard against floods, not a billing meter.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{NotUntil, Quota, RateLimiter};
use logplane_model::quota::ApiRate;

type DirectLimiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;
type KeyedLimiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

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
}

impl Budget {
    pub fn as_str(self) -> &'static str {
        match self {
            Budget::Tenant => "tenant",
            Budget::Key => "API key",
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

struct TenantBucket {
    rate: ApiRate,
    limiter: Arc<DirectLimiter>,
}

pub struct ApiRateLimiter {
    clock: DefaultClock,
    tenants: DashMap<String, TenantBucket>,
    keys: KeyedLimiter,
}

fn governor_quota(rate: ApiRate) -> Quota {
    let per_sec = NonZeroU32::new(rate.per_sec.clamp(1, i64::from(u32::MAX)) as u32)
        .unwrap_or(NonZeroU32::MIN);
    let burst =
        NonZeroU32::new(rate.burst.clamp(1, i64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(per_sec).allow_burst(burst)
}

impl ApiRateLimiter {
    /// A limiter where every API key gets `key_rate`; tenants get the rate passed to each check.
    pub fn new(key_rate: ApiRate) -> Self {
        let clock = DefaultClock::default();
        let keys = RateLimiter::dashmap_with_clock(governor_quota(key_rate), clock.clone())
            .with_middleware::<StateInformationMiddleware>();
        Self {
            clock,
            tenants: DashMap::new(),
            keys,
        }
    }

    /// Admits or refuses one request of `key_id`, of `tenant` at that tenant's rate (platform
    /// keys have no tenant). Both budgets must allow it.
    pub fn check(
        &self,
        tenant: Option<(&str, ApiRate)>,
        key_id: &str,
    ) -> Result<RateLimitStatus, RateLimited> {
        let tenant_status = match tenant {
            Some((name, rate)) => Some(self.check_tenant(name, rate)?),
            None => None,
        };
        let key_status = self.admit(Budget::Key, self.keys.check_key(&key_id.to_string()))?;
        Ok(match tenant_status {
            Some(status) if status.remaining < key_status.remaining => status,
            _ => key_status,
        })
    }

    fn check_tenant(&self, tenant: &str, rate: ApiRate) -> Result<RateLimitStatus, RateLimited> {
        let limiter = self.tenant_limiter(tenant, rate);
        self.admit(Budget::Tenant, limiter.check())
    }

    /// The tenant's limiter, replaced when its configured rate changed (the new rate applies
    /// from a full bucket, which errs towards the tenant).
    fn tenant_limiter(&self, tenant: &str, rate: ApiRate) -> Arc<DirectLimiter> {
        if let Some(bucket) = self.tenants.get(tenant)
            && bucket.rate == rate
        {
            return bucket.limiter.clone();
        }
        let limiter = Arc::new(
            RateLimiter::direct_with_clock(governor_quota(rate), self.clock.clone())
                .with_middleware::<StateInformationMiddleware>(),
        );
        self.tenants.insert(
            tenant.to_string(),
            TenantBucket {
                rate,
                limiter: limiter.clone(),
            },
        );
        limiter
    }

    fn admit(
        &self,
        budget: Budget,
        outcome: Result<StateSnapshot, NotUntil<<DefaultClock as Clock>::Instant>>,
    ) -> Result<RateLimitStatus, RateLimited> {
        match outcome {
            Ok(snapshot) => Ok(status_of(&snapshot)),
            Err(not_until) => {
                let quota = not_until.quota();
                let retry_after = not_until.wait_time_from(self.clock.now());
                let limit = quota.burst_size().get();
                let reset = quota.replenish_interval().saturating_mul(limit);
                Err(RateLimited {
                    budget,
                    retry_after,
                    status: RateLimitStatus {
                        limit,
                        remaining: 0,
                        reset_seconds: reset.as_secs_f64().ceil() as u64,
                    },
                })
            }
        }
    }

    /// Forgets key buckets that are full again, so memory follows the keys in use rather than
    /// every key ever seen. Tenant buckets stay: there is one per tenant, a bounded number.
    /// Call it now and then (the server does, every minute).
    pub fn forget_idle_keys(&self) {
        self.keys.retain_recent();
        self.keys.shrink_to_fit();
    }

    pub fn tracked_keys(&self) -> usize {
        self.keys.len()
    }
}

fn status_of(snapshot: &StateSnapshot) -> RateLimitStatus {
    let quota = snapshot.quota();
    let limit = quota.burst_size().get();
    let remaining = snapshot.remaining_burst_capacity();
    let reset = quota
        .replenish_interval()
        .saturating_mul(limit - remaining.min(limit));
    RateLimitStatus {
        limit,
        remaining,
        reset_seconds: reset.as_secs_f64().ceil() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENEROUS: ApiRate = ApiRate {
        per_sec: 1000,
        burst: 1000,
    };

    #[test]
    fn a_tenant_is_held_to_its_own_burst_across_keys() {
        let limiter = ApiRateLimiter::new(GENEROUS);
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
        let limiter = ApiRateLimiter::new(ApiRate {
            per_sec: 1,
            burst: 2,
        });
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
    fn reports_the_budget_closest_to_running_out() {
        let limiter = ApiRateLimiter::new(GENEROUS);
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
        assert!(status.reset_seconds >= 1);
    }

    #[test]
    fn a_changed_tenant_rate_takes_effect() {
        let limiter = ApiRateLimiter::new(GENEROUS);
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
