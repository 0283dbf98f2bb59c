//! Start-time fair queuing (SFQ) tags. Each tenant's requests get start tags that advance by
//! `cost / weight` per request, from the later of the system's virtual time and the tenant's
//! previous finish tag. Granting in start-tag order then gives each backlogged tenant slots in
//! proportion to its weight, and a tenant that was idle starts at the current virtual time, ahead
//! of any backlog a heavy tenant has piled up.

/// Tags are integers: cost × `TAG_SCALE` / weight, so integer arithmetic stays exact enough for
/// weights up to `TAG_SCALE`. Costs are milliseconds of slot time (the frontend's hint, 1 without
/// one, settled to the slot time really held by [`settle_cost`]), so a tenant's tags stay within
/// an `i64` for about 2.5 million slot-hours at weight 1.
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

/// Corrects a tenant's last finish tag once one of its requests has released its slot: the
/// request was tagged with `tagged_cost` (the frontend's hint, or the default) and really held
/// its slot for `actual_cost`, in the same unit (milliseconds of slot time). Charging the
/// difference to the tenant's next tags means a tenant is charged for the slot time it used, not
/// for what its frontend guessed: without it a tenant of many short queries would be charged as
/// much as one of long queries, and would wait behind it.
pub fn settle_cost(
    tenant_last_finish: i64,
    tagged_cost: i64,
    actual_cost: i64,
    weight: i64,
) -> i64 {
    debug_assert!(weight > 0, "weights are validated positive at the API");
    let correction = actual_cost
        .saturating_sub(tagged_cost)
        .saturating_mul(TAG_SCALE)
        / weight.max(1);
    tenant_last_finish.saturating_add(correction)
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

    #[test]
    fn settling_charges_the_slot_time_really_used() {
        let tags = tag_request(0, None, 1, 2);
        let settled = settle_cost(tags.finish, 1, 9, 2);
        assert_eq!(
            settled,
            9 * TAG_SCALE / 2,
            "as if tagged with the real cost"
        );
        assert_eq!(
            settle_cost(settled, 5, 5, 2),
            settled,
            "a right hint changes nothing"
        );
        assert!(
            settle_cost(settled, 5, 1, 1) < settled,
            "an overestimate is given back"
        );
    }
}
