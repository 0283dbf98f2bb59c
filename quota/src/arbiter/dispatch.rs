//! Granting waiting requests: in start-tag order, each if a slot is free, its tenant and project
//! are under their concurrency caps, and (with headroom) it would not take room kept for another
//! tenant below its share. A request skipped does not block the ones behind it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::headroom::{Headroom, Reserves};

/// A request waiting for a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub tenant: String,
    pub project: String,
    pub start_tag: i64,
}

/// The caps that apply to one tenant and project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// The tenant's `max_concurrent_queries`.
    pub tenant: i64,
    /// The project's own cap, at most the tenant's.
    pub project: i64,
}

/// The slots held now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holdings {
    pub total: i64,
    pub by_tenant: HashMap<String, i64>,
    pub by_project: HashMap<(String, String), i64>,
}

impl Holdings {
    pub fn add(&mut self, tenant: &str, project: &str) {
        self.total += 1;
        *self.by_tenant.entry(tenant.to_string()).or_default() += 1;
        *self
            .by_project
            .entry((tenant.to_string(), project.to_string()))
            .or_default() += 1;
    }

    /// Takes back a slot that was released or expired.
    pub fn remove(&mut self, tenant: &str, project: &str) {
        debug_assert!(
            self.project(tenant, project) > 0,
            "only a slot that is held can be given back"
        );
        self.total -= 1;
        if let Some(held) = self.by_tenant.get_mut(tenant) {
            *held -= 1;
            if *held <= 0 {
                self.by_tenant.remove(tenant);
            }
        }
        let key = (tenant.to_string(), project.to_string());
        if let Some(held) = self.by_project.get_mut(&key) {
            *held -= 1;
            if *held <= 0 {
                self.by_project.remove(&key);
            }
        }
    }

    pub fn tenant(&self, tenant: &str) -> i64 {
        self.by_tenant.get(tenant).copied().unwrap_or(0)
    }

    pub fn project(&self, tenant: &str, project: &str) -> i64 {
        self.by_project
            .get(&(tenant.to_string(), project.to_string()))
            .copied()
            .unwrap_or(0)
    }
}

/// What a dispatch decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch {
    /// Indexes into the waiting list, in the order granted.
    pub granted: Vec<usize>,
    /// The virtual time after the grants: the start tag of the last request granted.
    pub virtual_time: i64,
}

/// Decides which of `waiting` (in any order) to grant with `capacity` slots in all, given the
/// slots held, each tenant's and project's caps, and the room to keep for tenants below their
/// share (`Headroom::work_conserving()` for none). `holdings` is updated with the grants.
pub fn dispatch(
    capacity: i64,
    virtual_time: i64,
    holdings: &mut Holdings,
    waiting: &[Waiting],
    caps: impl Fn(&str, &str) -> Caps,
    headroom: &Headroom,
) -> Dispatch {
    if holdings.total >= capacity || waiting.is_empty() {
        // The common case on a saturated cluster: an arrival that must wait.
        return Dispatch {
            granted: Vec::new(),
            virtual_time,
        };
    }
    // A heap rather than a sort: a dispatch usually grants a few of many waiting requests, and
    // building the heap is linear. Ties in start tag go to the earlier index.
    let mut order: BinaryHeap<Reverse<(i64, usize)>> = waiting
        .iter()
        .enumerate()
        .map(|(index, request)| Reverse((request.start_tag, index)))
        .collect();
    let mut reserves = Reserves::new(capacity, headroom, holdings);
    let mut granted = Vec::new();
    let mut virtual_time = virtual_time;
    while let Some(Reverse((_, index))) = order.pop() {
        if holdings.total >= capacity {
            break;
        }
        let request = &waiting[index];
        let limits = caps(&request.tenant, &request.project);
        let tenant_held = holdings.tenant(&request.tenant);
        if tenant_held >= limits.tenant {
            continue;
        }
        let load = headroom.tenants.get(&request.tenant);
        if !reserves.allows(load, tenant_held, capacity - holdings.total) {
            continue;
        }
        // A project holds no more than its tenant, so its cap binds only when it is lower.
        if limits.project < limits.tenant
            && holdings.project(&request.tenant, &request.project) >= limits.project
        {
            continue;
        }
        holdings.add(&request.tenant, &request.project);
        reserves.granted(load, tenant_held + 1);
        virtual_time = virtual_time.max(request.start_tag);
        granted.push(index);
    }
    debug_assert!(
        holdings.total <= capacity.max(0) || granted.is_empty(),
        "never more slots than the capacity"
    );
    Dispatch {
        granted,
        virtual_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arbiter::{HeadroomRule, TenantLoad};

    fn waiting(tenant: &str, project: &str, start_tag: i64) -> Waiting {
        Waiting {
            tenant: tenant.into(),
            project: project.into(),
            start_tag,
        }
    }

    const ROOMY: Caps = Caps {
        tenant: 100,
        project: 100,
    };

    #[test]
    fn grants_in_start_tag_order_up_to_capacity() {
        let queue = [
            waiting("a", "p", 30),
            waiting("b", "p", 10),
            waiting("c", "p", 20),
        ];
        let mut holdings = Holdings::default();
        let decided = dispatch(
            2,
            0,
            &mut holdings,
            &queue,
            |_, _| ROOMY,
            &Headroom::work_conserving(),
        );
        assert_eq!(decided.granted, [1, 2]);
        assert_eq!(decided.virtual_time, 20);
        assert_eq!(holdings.total, 2);
    }

    #[test]
    fn a_capped_tenant_does_not_block_the_others() {
        let queue = [
            waiting("heavy", "p", 1),
            waiting("heavy", "p", 2),
            waiting("light", "p", 3),
        ];
        let mut holdings = Holdings::default();
        holdings.add("heavy", "p");
        let caps = |tenant: &str, _: &str| {
            if tenant == "heavy" {
                Caps {
                    tenant: 1,
                    project: 1,
                }
            } else {
                ROOMY
            }
        };
        let decided = dispatch(
            8,
            0,
            &mut holdings,
            &queue,
            caps,
            &Headroom::work_conserving(),
        );
        assert_eq!(decided.granted, [2]);
    }

    #[test]
    fn a_project_cap_below_the_tenants_holds() {
        let queue = [
            waiting("t", "small", 1),
            waiting("t", "small", 2),
            waiting("t", "big", 3),
        ];
        let mut holdings = Holdings::default();
        let caps = |_: &str, project: &str| Caps {
            tenant: 10,
            project: if project == "small" { 1 } else { 10 },
        };
        let decided = dispatch(
            8,
            0,
            &mut holdings,
            &queue,
            caps,
            &Headroom::work_conserving(),
        );
        assert_eq!(decided.granted, [0, 2]);
    }

    fn load(recent_demand: f64) -> TenantLoad {
        TenantLoad {
            weight: 1,
            max_concurrent: 100,
            recent_demand,
        }
    }

    /// A heavy tenant holding 5 of 8 slots with more waiting, and a light tenant that has
    /// recently run about 0.8 queries at once and holds none now.
    fn heavy_and_light(quantile: f64) -> (Holdings, Vec<Waiting>, Headroom) {
        let mut holdings = Holdings::default();
        for _ in 0..5 {
            holdings.add("heavy", "p");
        }
        let queue = (0..10).map(|tag| waiting("heavy", "p", tag)).collect();
        let headroom = Headroom {
            rule: HeadroomRule::Reserve { quantile },
            tenants: HashMap::from([("heavy".into(), load(64.0)), ("light".into(), load(0.8))]),
        };
        (holdings, queue, headroom)
    }

    #[test]
    fn a_tenant_over_its_share_leaves_room_for_one_below_it() {
        // At 0.9 the light tenant wants room for 2 (P(N ≤ 2) = 0.95 for a mean of 0.8).
        let (mut holdings, queue, headroom) = heavy_and_light(0.9);
        let decided = dispatch(8, 0, &mut holdings, &queue, |_, _| ROOMY, &headroom);
        assert_eq!(
            decided.granted,
            [0],
            "the heavy tenant stops 2 short of the capacity"
        );
        assert_eq!(holdings.total, 6);
    }

    #[test]
    fn the_tenant_below_its_share_takes_the_room() {
        let (mut holdings, mut queue, headroom) = heavy_and_light(0.9);
        holdings.add("heavy", "p");
        queue.push(waiting("light", "p", 100));
        let decided = dispatch(8, 0, &mut holdings, &queue, |_, _| ROOMY, &headroom);
        assert_eq!(decided.granted, [10], "despite the later tag");
        assert_eq!(holdings.tenant("light"), 1);
    }

    #[test]
    fn with_no_other_active_tenant_nothing_is_kept_back() {
        let (mut holdings, queue, mut headroom) = heavy_and_light(0.9);
        headroom.tenants.remove("light");
        let decided = dispatch(8, 0, &mut holdings, &queue, |_, _| ROOMY, &headroom);
        assert_eq!(decided.granted, [0, 1, 2]);
    }

    #[test]
    fn every_tenant_can_reach_its_share() {
        // Four active tenants on 8 slots: 2 each. The heavy one holds 1, under its share, and
        // is not held back by the room the others want.
        let mut holdings = Holdings::default();
        holdings.add("heavy", "p");
        let queue: Vec<Waiting> = (0..4).map(|tag| waiting("heavy", "p", tag)).collect();
        let headroom = Headroom {
            rule: HeadroomRule::Reserve { quantile: 0.99 },
            tenants: HashMap::from([
                ("heavy".into(), load(64.0)),
                ("a".into(), load(2.0)),
                ("b".into(), load(2.0)),
                ("c".into(), load(2.0)),
            ]),
        };
        let decided = dispatch(8, 0, &mut holdings, &queue, |_, _| ROOMY, &headroom);
        assert_eq!(
            decided.granted,
            [0],
            "to its share of 2, no further: 6 are kept"
        );
    }
}
