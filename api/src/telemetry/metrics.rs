//! Prometheus metrics. A registry per server instance (no global recorder), so tests can run
//! many servers in one process and each reports only its own traffic.

use std::sync::Mutex;
use std::time::Duration;

use logplane_store::PoolStats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabels {
    role: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The scheduler's metrics. Set by the replica while it leads; a follower reports
/// `scheduler_leader 0` and the figures of its last term, so alert on the leader's.
struct SchedulerMetrics {
    leader: Gauge,
    epoch: Gauge,
    unplaced: Family<RoleLabels, Gauge>,
    reconciliations: Family<OutcomeLabels, Counter>,
}

impl SchedulerMetrics {
    fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            leader: Gauge::default(),
            epoch: Gauge::default(),
            unplaced: Family::default(),
            reconciliations: Family::default(),
        };
        registry.register(
            "scheduler_leader",
            "1 while this replica holds the scheduler lease",
            metrics.leader.clone(),
        );
        registry.register(
            "scheduler_epoch",
            "The scheduler lease epoch this replica last led under",
            metrics.epoch.clone(),
        );
        registry.register(
            "scheduler_unplaced_shards",
            "Shard roles the last reconciliation could not place (capacity short), by role",
            metrics.unplaced.clone(),
        );
        registry.register(
            "scheduler_reconciliations",
            "Reconciliations by outcome (written, stale, fenced, failed)",
            metrics.reconciliations.clone(),
        );
        metrics
    }
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to ~16 s, doubling.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<OperationLabels, Histogram, fn() -> Histogram>,
    pool_connections: Family<PoolLabels, Gauge>,
    pool_max: Gauge,
    agent_syncs_waiting: Gauge,
    scheduler: SchedulerMetrics,
    /// Encoding reads the registry; a lock keeps two scrapes from interleaving their gauges.
    render_lock: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("logplane");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by operation id and status",
            requests.clone(),
        );
        let latency: Family<OperationLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by operation id",
            latency.clone(),
        );
        let pool_connections = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "store_pool_connections",
            "Store connections by state (idle, in_use)",
            pool_connections.clone(),
        );
        let pool_max = Gauge::default();
        registry.register(
            "store_pool_max_connections",
            "The store connection pool's limit",
            pool_max.clone(),
        );
        let agent_syncs_waiting = Gauge::default();
        registry.register(
            "agent_syncs_waiting",
            "Agent sync calls waiting for a change on this replica",
            agent_syncs_waiting.clone(),
        );
        let scheduler = SchedulerMetrics::register(&mut registry);
        Self {
            registry,
            scheduler,
            requests,
            latency,
            pool_connections,
            pool_max,
            agent_syncs_waiting,
            render_lock: Mutex::new(()),
        }
    }

    pub fn observe_request(&self, operation: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                operation: operation.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&OperationLabels {
                operation: operation.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// This replica took the scheduler lease under `epoch`, or (`None`) stopped leading.
    pub fn scheduler_leading(&self, epoch: Option<i64>) {
        self.scheduler.leader.set(i64::from(epoch.is_some()));
        if let Some(epoch) = epoch {
            self.scheduler.epoch.set(epoch);
        }
    }

    pub fn scheduler_reconciled(&self, done: &crate::scheduling::Reconciled) {
        let outcome = match done.published {
            logplane_store::Published::Written { .. } => "written",
            logplane_store::Published::Stale => "stale",
        };
        self.scheduler
            .reconciliations
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        for (role, count) in [
            ("ingest", done.unplaced_ingest),
            ("query", done.unplaced_query),
        ] {
            self.scheduler
                .unplaced
                .get_or_create(&RoleLabels { role })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    pub fn scheduler_fenced(&self) {
        self.scheduler
            .reconciliations
            .get_or_create(&OutcomeLabels { outcome: "fenced" })
            .inc();
    }

    pub fn scheduler_failed(&self) {
        self.scheduler
            .reconciliations
            .get_or_create(&OutcomeLabels { outcome: "failed" })
            .inc();
    }

    pub fn render(&self, pool: PoolStats, waiting_agent_syncs: usize) -> String {
        let _guard = self
            .render_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.pool_connections
            .get_or_create(&PoolLabels { state: "idle" })
            .set(i64::from(pool.idle));
        self.pool_connections
            .get_or_create(&PoolLabels { state: "in_use" })
            .set(i64::from(pool.size.saturating_sub(pool.idle)));
        self.pool_max.set(i64::from(pool.max));
        self.agent_syncs_waiting
            .set(i64::try_from(waiting_agent_syncs).unwrap_or(i64::MAX));
        let mut text = String::new();
        if let Err(error) = encode(&mut text, &self.registry) {
            tracing::error!(%error, "could not encode metrics");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_requests_latency_and_pool_usage() {
        let metrics = Metrics::new();
        metrics.observe_request("project_get", 200, Duration::from_millis(3));
        metrics.observe_request("project_get", 404, Duration::from_millis(1));
        let text = metrics.render(
            PoolStats {
                size: 5,
                idle: 3,
                max: 16,
            },
            7,
        );
        assert!(
            text.contains(
                r#"logplane_http_requests_total{operation="project_get",status="200"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"logplane_http_requests_total{operation="project_get",status="404"} 1"#
            )
        );
        assert!(text.contains(
            r#"logplane_http_request_duration_seconds_count{operation="project_get"} 2"#
        ));
        assert!(text.contains(r#"logplane_store_pool_connections{state="in_use"} 2"#));
        assert!(text.contains("logplane_store_pool_max_connections 16"));
        assert!(text.contains("logplane_agent_syncs_waiting 7"), "{text}");
    }
}
