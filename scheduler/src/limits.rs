//! Per-tenant limit shares: how much of a tenant's ingest limit each worker may admit.
//!
//! A tenant's limit (bytes/s and events/s) is enforced by the workers hosting its shards, each
//! admitting its share. Shares follow the tenant's traffic on each worker, not limit ÷ workers:
//! with skewed traffic an even split throttles the busy worker while idle ones waste their share.
//!
//! Each dimension is split the same way:
//!
//! 1. A minimum: `MIN_SHARE_PERMILLE` ‰ of the limit, divided evenly, goes to every hosting
//!    worker. A worker with no traffic yet (a shard just moved to it, a client that just started)
//!    must still admit some writes until the next recomputation gives it a real share; the
//!    reserve is kept small so it barely dilutes the proportional part.
//! 2. The rest in proportion to traffic; with no traffic anywhere, evenly.
//! 3. Largest-remainder rounding (ties to the lower worker id), so the shares are integers that
//!    sum exactly to the limit.

use std::collections::HashMap;

use crate::assignment::Assignment;
use crate::ids::WorkerId;

/// The part of a limit reserved as a minimum for every hosting worker, in per mille (5 %).
pub const MIN_SHARE_PERMILLE: u32 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TenantLimit {
    pub ingest_bytes_per_sec: u64,
    pub ingest_events_per_sec: u64,
}

/// A tenant's recent traffic on the shards one worker owns for ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerTraffic {
    pub worker: WorkerId,
    pub ingest_bytes_per_sec: u64,
    pub ingest_events_per_sec: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitShare {
    pub worker: WorkerId,
    pub limit: TenantLimit,
}

/// Splits a tenant's limit among the workers hosting its shards (listed once each with their
/// traffic; a worker listed twice has its traffic added). Sorted by worker id.
pub fn limit_shares(limit: TenantLimit, traffic: &[WorkerTraffic]) -> Vec<LimitShare> {
    limit_shares_with_minimum(limit, traffic, MIN_SHARE_PERMILLE)
}

/// [`limit_shares`] with another minimum reserve (per mille of the limit, at most 1000).
pub fn limit_shares_with_minimum(
    limit: TenantLimit,
    traffic: &[WorkerTraffic],
    min_share_permille: u32,
) -> Vec<LimitShare> {
    let mut merged: Vec<WorkerTraffic> = traffic.to_vec();
    merged.sort_by(|a, b| a.worker.cmp(&b.worker));
    merged.dedup_by(|later, kept| {
        if later.worker != kept.worker {
            return false;
        }
        kept.ingest_bytes_per_sec += later.ingest_bytes_per_sec;
        kept.ingest_events_per_sec += later.ingest_events_per_sec;
        true
    });
    let permille = min_share_permille.min(1000);
    let bytes: Vec<u64> = merged.iter().map(|t| t.ingest_bytes_per_sec).collect();
    let events: Vec<u64> = merged.iter().map(|t| t.ingest_events_per_sec).collect();
    let byte_shares = split(limit.ingest_bytes_per_sec, &bytes, permille);
    let event_shares = split(limit.ingest_events_per_sec, &events, permille);
    merged
        .into_iter()
        .zip(byte_shares.into_iter().zip(event_shares))
        .map(|(t, (bytes, events))| LimitShare {
            worker: t.worker,
            limit: TenantLimit {
                ingest_bytes_per_sec: bytes,
                ingest_events_per_sec: events,
            },
        })
        .collect()
}

/// Each tenant's traffic per ingest owner, from an assignment and the per-shard rates reported in
/// heartbeats (`bytes` and `events` in the assignment's catalog order). Every worker owning one of
/// a tenant's readwrite shards is listed, with zero traffic if it reported none, so it gets the
/// minimum share. Tenants and workers in name order.
pub fn tenant_traffic(
    assignment: &Assignment,
    bytes: &[u64],
    events: &[u64],
) -> Vec<(String, Vec<WorkerTraffic>)> {
    let mut by_tenant: HashMap<&str, HashMap<&WorkerId, (u64, u64)>> = HashMap::new();
    for (at, spec) in assignment.catalog().shards().iter().enumerate() {
        let Some(owner) = assignment.ingest_owner_at(at) else {
            continue;
        };
        let entry = by_tenant
            .entry(spec.key.logstore.tenant.as_str())
            .or_default()
            .entry(owner)
            .or_default();
        entry.0 += bytes.get(at).copied().unwrap_or(0);
        entry.1 += events.get(at).copied().unwrap_or(0);
    }
    let mut out: Vec<(String, Vec<WorkerTraffic>)> = by_tenant
        .into_iter()
        .map(|(tenant, workers)| {
            let mut traffic: Vec<WorkerTraffic> = workers
                .into_iter()
                .map(|(worker, (bytes, events))| WorkerTraffic {
                    worker: worker.clone(),
                    ingest_bytes_per_sec: bytes,
                    ingest_events_per_sec: events,
                })
                .collect();
            traffic.sort_by(|a, b| a.worker.cmp(&b.worker));
            (tenant.to_string(), traffic)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// One dimension: the minimum for everyone, the rest by traffic, largest remainder.
fn split(limit: u64, traffic: &[u64], min_share_permille: u32) -> Vec<u64> {
    let workers = traffic.len() as u128;
    if workers == 0 {
        return Vec::new();
    }
    let limit_wide = u128::from(limit);
    let minimum = limit_wide * u128::from(min_share_permille) / 1000 / workers;
    let rest = limit_wide - minimum * workers;
    let total: u128 = traffic.iter().map(|&t| u128::from(t)).sum();
    // With no traffic anywhere every worker weighs the same.
    let weight = |t: u64| if total == 0 { 1 } else { u128::from(t) };
    let denominator = if total == 0 { workers } else { total };

    let mut shares: Vec<u128> = Vec::with_capacity(traffic.len());
    let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(traffic.len());
    for (at, &t) in traffic.iter().enumerate() {
        let numerator = rest * weight(t);
        shares.push(minimum + numerator / denominator);
        remainders.push((numerator % denominator, at));
    }
    let handed_out: u128 = shares.iter().sum();
    let left = (limit_wide - handed_out) as usize;
    // Fewer units are left than workers: each of the `left` largest remainders gets one.
    debug_assert!(
        left < traffic.len(),
        "floors leave less than one unit per worker"
    );
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, at) in &remainders[..left] {
        shares[at] += 1;
    }
    let out: Vec<u64> = shares.into_iter().map(|s| s as u64).collect();
    debug_assert_eq!(out.iter().map(|&s| u128::from(s)).sum::<u128>(), limit_wide);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn traffic(entries: &[(&str, u64, u64)]) -> Vec<WorkerTraffic> {
        entries
            .iter()
            .map(|&(worker, bytes, events)| WorkerTraffic {
                worker: WorkerId::new(worker),
                ingest_bytes_per_sec: bytes,
                ingest_events_per_sec: events,
            })
            .collect()
    }

    fn bytes(shares: &[LimitShare]) -> Vec<u64> {
        shares
            .iter()
            .map(|s| s.limit.ingest_bytes_per_sec)
            .collect()
    }

    #[test]
    fn shares_follow_traffic_not_the_number_of_workers() {
        let limit = TenantLimit {
            ingest_bytes_per_sec: 1000,
            ingest_events_per_sec: 100,
        };
        let shares = limit_shares(limit, &traffic(&[("a", 900, 90), ("b", 100, 10)]));
        // 5 % reserved (25 each), the rest 9:1.
        assert_eq!(bytes(&shares), [880, 120]);
        assert_eq!(shares[0].limit.ingest_events_per_sec, 88);
    }

    #[test]
    fn a_worker_without_traffic_keeps_the_minimum() {
        let limit = TenantLimit {
            ingest_bytes_per_sec: 1000,
            ingest_events_per_sec: 0,
        };
        let shares = limit_shares(limit, &traffic(&[("a", 500, 0), ("b", 0, 0)]));
        assert_eq!(bytes(&shares), [975, 25]);
        assert!(shares.iter().all(|s| s.limit.ingest_events_per_sec == 0));
    }

    #[test]
    fn no_traffic_anywhere_splits_evenly_and_remainders_go_to_the_lowest_ids() {
        let limit = TenantLimit {
            ingest_bytes_per_sec: 10,
            ingest_events_per_sec: 10,
        };
        let shares = limit_shares(limit, &traffic(&[("c", 0, 0), ("a", 0, 0), ("b", 0, 0)]));
        assert_eq!(bytes(&shares), [4, 3, 3]);
        assert_eq!(shares[0].worker, WorkerId::new("a"));
    }

    #[test]
    fn traffic_is_gathered_per_tenant_from_the_ingest_owners() {
        use crate::ids::{LogstoreRef, ShardKey};
        use crate::pool::{Role, ShardCatalog, ShardSpec};
        use logplane_model::ShardStatus;
        let (acme, other) = (
            LogstoreRef::new("acme", "p", "logs"),
            LogstoreRef::new("other", "p", "logs"),
        );
        let spec = |store: &std::sync::Arc<LogstoreRef>, id| ShardSpec {
            key: ShardKey::new(store, id),
            status: ShardStatus::Readwrite,
            query_replicas: 1,
        };
        let catalog =
            ShardCatalog::new(vec![spec(&acme, 0), spec(&acme, 1), spec(&other, 0)]).unwrap();
        let records = [
            (ShardKey::new(&acme, 0), Role::Ingest, WorkerId::new("a")),
            (ShardKey::new(&acme, 1), Role::Ingest, WorkerId::new("b")),
            (ShardKey::new(&other, 0), Role::Ingest, WorkerId::new("a")),
        ];
        let assignment = Assignment::from_records(&catalog, records);
        let traffic = tenant_traffic(&assignment, &[100, 0, 7], &[10, 0, 1]);
        assert_eq!(traffic.len(), 2);
        assert_eq!(traffic[0].0, "acme");
        assert_eq!(
            traffic[0].1,
            vec![
                WorkerTraffic {
                    worker: WorkerId::new("a"),
                    ingest_bytes_per_sec: 100,
                    ingest_events_per_sec: 10
                },
                WorkerTraffic {
                    worker: WorkerId::new("b"),
                    ingest_bytes_per_sec: 0,
                    ingest_events_per_sec: 0
                },
            ]
        );
        assert_eq!(traffic[1].1[0].ingest_bytes_per_sec, 7);
    }

    #[test]
    fn a_worker_listed_twice_counts_once_with_both_traffics() {
        let limit = TenantLimit {
            ingest_bytes_per_sec: 100,
            ingest_events_per_sec: 0,
        };
        let shares = limit_shares_with_minimum(
            limit,
            &traffic(&[("a", 10, 0), ("b", 20, 0), ("a", 10, 0)]),
            0,
        );
        assert_eq!(bytes(&shares), [50, 50]);
    }

    proptest! {
        #[test]
        fn shares_sum_to_the_limit_and_stay_within_one_of_their_exact_value(
            limit in 0u64..=u64::MAX / 2,
            loads in proptest::collection::vec(0u64..1_000_000_000, 1..40),
            permille in 0u32..=1000,
        ) {
            let entries: Vec<WorkerTraffic> = loads.iter().enumerate().map(|(at, &t)| WorkerTraffic {
                worker: WorkerId::new(format!("w{at:03}")),
                ingest_bytes_per_sec: t,
                ingest_events_per_sec: t / 3,
            }).collect();
            let tenant = TenantLimit { ingest_bytes_per_sec: limit, ingest_events_per_sec: limit / 7 };
            let shares = limit_shares_with_minimum(tenant, &entries, permille);
            let sum: u128 = shares.iter().map(|s| u128::from(s.limit.ingest_bytes_per_sec)).sum();
            prop_assert_eq!(sum, u128::from(limit));
            let events: u128 = shares.iter().map(|s| u128::from(s.limit.ingest_events_per_sec)).sum();
            prop_assert_eq!(events, u128::from(limit / 7));

            let workers = loads.len() as f64;
            let minimum = (u128::from(limit) * u128::from(permille) / 1000 / loads.len() as u128) as f64;
            let rest = limit as f64 - minimum * workers;
            let total: f64 = loads.iter().map(|&t| t as f64).sum();
            for (share, &t) in shares.iter().zip(&loads) {
                let exact = if total == 0.0 { minimum + rest / workers } else { minimum + rest * t as f64 / total };
                let got = share.limit.ingest_bytes_per_sec as f64;
                // Within one unit, with room for f64 rounding on large limits.
                prop_assert!((got - exact).abs() <= 1.0 + exact * 1e-12, "share {} exact {}", got, exact);
                prop_assert!(got >= minimum);
            }
        }
    }
}
