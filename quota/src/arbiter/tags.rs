//! Start-time fair queuing (SFQ) tags. Each tenant's requests get start tags that advance by
//! `cost / weight` per request, from the later of the system's virtual time and the tenant's
//! previous finish tag. Granting in start-tag order then gives each backlogged tenant slots in
//! proportion to its weight, and a tenant that was idle starts at the current virtual time, ahead
//! of any backlog a heavy tenant has piled up.

/// Tags are integers: cost units × `TAG_SCALE` / weight, so integer arithmetic stays exact
/// enough for weights up to `TAG_SCALE`.
pub const TAG_SCALE: i64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tags {
    pub start: i64,
    pub finish: i64,
}

/// Tags a new request of a tenant whose previous request finished at `tenant_last_finish`
/// (`None` for its first), with the arbiter at `virtual_time`.
pub fn tag_request(
    virtual_time: i64,
    tenant_last_finish: Option<i64>,
    cost: i64,
    weight: i64,
) -> Tags {
    debug_assert!(
        cost > 0 && weight > 0,
        "costs and weights are validated positive at the API"
    );
    let start = tenant_last_finish.map_or(virtual_time, |finish| finish.max(virtual_time));
    let increment = cost.saturating_mul(TAG_SCALE) / weight.max(1);
    Tags {
        start,
        finish: start.saturating_add(increment.max(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backlogged_tenant_advances_by_cost_over_weight() {
        let first = tag_request(0, None, 1, 1);
        let second = tag_request(0, Some(first.finish), 1, 1);
        assert_eq!((first.start, second.start), (0, TAG_SCALE));
        let heavy_weight = tag_request(0, None, 1, 4);
        assert_eq!(heavy_weight.finish, TAG_SCALE / 4);
    }

    #[test]
    fn an_idle_tenant_starts_at_the_virtual_time() {
        let tags = tag_request(50 * TAG_SCALE, Some(3 * TAG_SCALE), 1, 1);
        assert_eq!(tags.start, 50 * TAG_SCALE);
    }
}
