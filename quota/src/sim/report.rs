//! What a simulation measured, per tenant and for the cluster.

/// The figures of one run, over its measured window.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub capacity: i64,
    /// The length of the measured window, in seconds.
    pub measured_seconds: f64,
    pub tenants: Vec<TenantReport>,
    /// The most slots held at once, at any moment of the run (warm-up included).
    pub peak_held: i64,
    /// Jain's index over the tenants' slot-seconds divided by their fair shares (tenants with a
    /// fair share only).
    pub jain_index: f64,
    /// Slot-seconds used over slot-seconds available.
    pub utilization: f64,
    /// Slot-seconds left free while some request waited: what headroom (or a cap) cost.
    pub idle_slot_seconds_while_waiting: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TenantReport {
    pub name: String,
    /// Requests that arrived in the measured window.
    pub arrived: u64,
    /// Of those, the ones granted before the run ended (their waits are below).
    pub granted: u64,
    /// Of those, the ones that found no slot they could take at once.
    pub waited: u64,
    pub wait_p50_us: u64,
    pub wait_p99_us: u64,
    pub wait_max_us: u64,
    /// Slot-seconds held in the measured window.
    pub slot_seconds: f64,
    /// The tenant's demand in slots (see [`super::TenantSpec::demand_slots`]).
    pub demand_slots: f64,
    /// Its weighted max-min fair share of the capacity given every tenant's demand, in slots.
    pub fair_share_slots: f64,
    /// The most slots it held at once, at any moment of the run.
    pub peak_held: i64,
    /// The same per project, in the order of its `project_caps`.
    pub peak_held_by_project: Vec<i64>,
}

impl TenantReport {
    /// The slots it held on average over the measured window.
    pub fn mean_slots(&self, measured_seconds: f64) -> f64 {
        if measured_seconds <= 0.0 {
            return 0.0;
        }
        self.slot_seconds / measured_seconds
    }

    /// What it received over its fair share (1 is exactly its share); `None` without a share.
    pub fn share_of_fair(&self, measured_seconds: f64) -> Option<f64> {
        (self.fair_share_slots > 0.0)
            .then(|| self.mean_slots(measured_seconds) / self.fair_share_slots)
    }
}

impl Report {
    pub fn tenant(&self, name: &str) -> Option<&TenantReport> {
        self.tenants.iter().find(|tenant| tenant.name == name)
    }
}

/// The nearest-rank percentile (`fraction` of 1) of sorted values; 0 for none.
pub fn percentile(sorted: &[u64], fraction: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    debug_assert!(sorted.windows(2).all(|pair| pair[0] <= pair[1]), "sorted");
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 0.5), 50);
        assert_eq!(percentile(&values, 0.99), 99);
        assert_eq!(percentile(&values, 1.0), 100);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.99), 0);
    }
}
