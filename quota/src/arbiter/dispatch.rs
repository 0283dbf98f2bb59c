//! Granting waiting requests: in start-tag order, each if a slot is free and its tenant and
//! project are under their concurrency caps. A request skipped for its caps does not block the
//! ones behind it (the arbiter is work-conserving).

use std::collections::HashMap;

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
/// slots held and each tenant's and project's caps. `holdings` is updated with the grants.
pub fn dispatch(
    capacity: i64,
    virtual_time: i64,
    holdings: &mut Holdings,
    waiting: &[Waiting],
    caps: impl Fn(&str, &str) -> Caps,
) -> Dispatch {
    let mut order: Vec<usize> = (0..waiting.len()).collect();
    order.sort_by_key(|&i| waiting[i].start_tag);
    let mut granted = Vec::new();
    let mut virtual_time = virtual_time;
    for index in order {
        if holdings.total >= capacity {
            break;
        }
        let request = &waiting[index];
        let limits = caps(&request.tenant, &request.project);
        if holdings.tenant(&request.tenant) >= limits.tenant
            || holdings.project(&request.tenant, &request.project)
                >= limits.project.min(limits.tenant)
        {
            continue;
        }
        holdings.add(&request.tenant, &request.project);
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
        let decided = dispatch(2, 0, &mut holdings, &queue, |_, _| ROOMY);
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
        let decided = dispatch(8, 0, &mut holdings, &queue, caps);
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
        let decided = dispatch(8, 0, &mut holdings, &queue, caps);
        assert_eq!(decided.granted, [0, 2]);
    }
}
