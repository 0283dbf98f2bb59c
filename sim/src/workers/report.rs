//! What `logplane-sim workers` found, held against the scheduler issue's goals, as text and as
//! the `simulator-workers` section of `docs/benchmarks.md`.

use std::time::Duration;

use super::observe::Role;
use super::{Continuity, Options};
use crate::loads::LoadDistribution;
use crate::stats::{Latencies, verdict};

pub struct EventMoves {
    pub event: String,
    pub role: Role,
    pub moves: usize,
    pub minimum: usize,
    pub spread: usize,
}

pub struct LoadBalance {
    pub distribution: LoadDistribution,
    pub ratio: f64,
    pub bound: f64,
    /// The least max/mean possible with every worker at its count floor.
    pub least_with_counts_balanced: f64,
    /// Workers holding one hot shard alone, outside the count band.
    pub hot_shards_alone: usize,
    pub largest_over_mean: f64,
    pub moves: usize,
    pub count_spread: usize,
}

pub struct Findings {
    options: Options,
    replicas: usize,
    pub initial_settle: Duration,
    /// max − min placements per worker, ingest and query, once the pool first settled.
    pub initial_spread: (usize, usize),
    pub events: Vec<EventMoves>,
    /// Ownership and write pauses through the drain, and through the rolling restart.
    pub drain: Option<Continuity>,
    pub restart: Option<Continuity>,
    pub drained_left_holding: usize,
    /// Per crash: from the crash to the last of its shards in another worker's assignment.
    pub crash_published: Latencies,
    pub crash_published_per_shard: Latencies,
    pub crash_writable_per_shard: Latencies,
    pub leader_takeover: Latencies,
    pub loads: Vec<LoadBalance>,
    pub violations: Vec<String>,
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Ingest => "ingest owners",
        Role::Query => "query replicas",
    }
}

impl Findings {
    pub fn new(options: &Options, replicas: usize) -> Findings {
        Findings {
            options: options.clone(),
            replicas,
            initial_settle: Duration::ZERO,
            initial_spread: (0, 0),
            events: Vec::new(),
            drain: None,
            restart: None,
            drained_left_holding: 0,
            crash_published: Latencies::default(),
            crash_published_per_shard: Latencies::default(),
            crash_writable_per_shard: Latencies::default(),
            leader_takeover: Latencies::default(),
            loads: Vec::new(),
            violations: Vec::new(),
        }
    }

    fn shards(&self) -> usize {
        self.options.shards()
    }

    fn crash_goal_ms(&self) -> f64 {
        self.options.worker_lease_ms as f64 + 3_000.0
    }

    /// The figures as markdown, goals first.
    pub fn text(&self) -> String {
        let shards = self.shards();
        let mut out = String::new();
        out.push_str("| goal | measured | |\n|---|---|---|\n");
        let (ingest_spread, query_spread) = self.initial_spread;
        out.push_str(&format!(
            "| balance by count: max − min ≤ 1 shard per worker | ingest {ingest_spread}, query {query_spread} at start; ≤ {} after every event | {} |\n",
            self.events.iter().map(|e| e.spread).max().unwrap_or(0),
            verdict(ingest_spread <= 1 && query_spread <= 1 && self.events.iter().all(|e| e.spread <= 1))
        ));
        let moves_met = self
            .events
            .iter()
            .all(|e| e.moves as f64 <= (e.minimum as f64 * 1.05).ceil());
        out.push_str(&format!(
            "| a join or leave moves ≤ 1.05 × the minimum; a restart within the lease moves nothing | see the table below | {} |\n",
            verdict(moves_met)
        ));
        if self.crash_published.count() > 0 {
            let p99 = self.crash_published.quantile_ms(0.99);
            out.push_str(&format!(
                "| crash → every shard of the crashed worker in another worker's assignment ≤ lease ({} ms) + 3 s, p99 over crashes | p99 {p99:.0} ms (p50 {:.0}, max {:.0}; {} crashes) | {} |\n",
                self.options.worker_lease_ms,
                self.crash_published.quantile_ms(0.5),
                self.crash_published.max_ms(),
                self.crash_published.count(),
                verdict(p99 <= self.crash_goal_ms())
            ));
        }
        if self.leader_takeover.count() > 0 {
            let p99 = self.leader_takeover.quantile_ms(0.99);
            out.push_str(&format!(
                "| leader SIGKILL → a new leader ≤ 5 s | p99 {p99:.0} ms (p50 {:.0}, max {:.0}; {} kills, leader lease {} ms) | {} |\n",
                self.leader_takeover.quantile_ms(0.5),
                self.leader_takeover.max_ms(),
                self.leader_takeover.count(),
                self.options.leader_lease_ms,
                verdict(self.leader_takeover.max_ms() <= 5_000.0)
            ));
        }
        let owned = |c: &Option<Continuity>| c.as_ref().map_or(0, |c| c.fewest_owned);
        out.push_str(&format!(
            "| ingest never loses its owner in a drain or a rolling restart | fewest shards with an ingest owner: {} of {shards} (drain), {} of {shards} (restart) | {} |\n",
            owned(&self.drain),
            owned(&self.restart),
            verdict(owned(&self.drain) == shards && owned(&self.restart) == shards)
        ));
        let loads_met = self.loads.iter().all(|l| l.ratio <= l.bound + 1e-9);
        if !self.loads.is_empty() {
            out.push_str(&format!(
                "| balance by load: max/mean ≤ max(1.10, largest shard/mean + 0.05); counts within one among the workers not holding a hot shard alone | see the load table | {} |\n",
                verdict(loads_met && self.loads.iter().all(|l| l.count_spread <= 1)),
            ));
        }
        out.push_str(&format!(
            "| moments two workers could write the same keys: 0 | {} | {} |\n",
            self.violations.len(),
            verdict(self.violations.is_empty())
        ));

        out.push_str("\nMoves per event, counted from what the workers received: placements a worker gained. The minimum for a join is the newcomer's fair share, for a drain what the drained worker held, for a restart within the lease nothing.\n\n");
        out.push_str(
            "| event | role | moves | minimum | max − min after |\n|---|---|---:|---:|---:|\n",
        );
        for event in &self.events {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                event.event,
                role_name(event.role),
                event.moves,
                event.minimum,
                event.spread
            ));
        }
        for (what, continuity) in [("drain", &self.drain), ("rolling restart", &self.restart)] {
            if let Some(continuity) = continuity {
                let pauses = &continuity.write_pauses;
                out.push_str(&format!(
                    "\nWrite pauses in the {what}: {} stretches in which a shard had no active writer (the old owner has released it, the new one is not yet told it is active), p50 / p99 / max {} ms (sampled every 10 ms).\n",
                    pauses.count(),
                    if pauses.count() > 0 { pauses.summary() } else { "—".to_string() }
                ));
            }
        }
        if self.crash_published_per_shard.count() > 0 {
            out.push_str(&format!(
                "\nPer shard of a crashed worker, p50 / p99 / max in ms: in another worker's assignment {}; writable there (its new owner active) {}. The old owner's lease must run out first; it counts from the old owner's last answered heartbeat, sent up to one wait before the crash, so both can end a little before a full lease.\n",
                self.crash_published_per_shard.summary(),
                self.crash_writable_per_shard.summary()
            ));
        }
        if !self.loads.is_empty() {
            out.push_str("\nBalance by load, ingest owners, after the loads were reported and the scheduler settled:\n\n");
            out.push_str("| loads | largest shard / mean worker load | max/mean worker load | bound | least possible if every worker held its count share | hot shards held alone | moves to rebalance | count max − min, the others |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
            for load in &self.loads {
                out.push_str(&format!(
                    "| {} | {:.2} | {:.3} | {:.3} | {:.3} | {} | {} | {} |\n",
                    load.distribution.describe(),
                    load.largest_over_mean,
                    load.ratio,
                    load.bound,
                    load.least_with_counts_balanced,
                    load.hot_shards_alone,
                    load.moves,
                    load.count_spread
                ));
            }
            out.push_str("\nA shard is held alone when it outweighs a worker's fair load and the count band would keep its worker over the bound (with the band's share of even the lightest other shards); the band then applies to the other workers (`scheduler/README.md`).\n");
        }
        if !self.violations.is_empty() {
            out.push_str("\nViolations:\n\n");
            for violation in &self.violations {
                out.push_str(&format!("- {violation}\n"));
            }
        }
        out
    }

    pub fn write_report(&self, load_before: &str) -> std::io::Result<()> {
        let options = &self.options;
        let conditions = logplane_bench_report::conditions_table(
            load_before,
            &[
                (
                    "servers",
                    format!(
                        "{} `logplane serve` replica(s) on {}; worker lease {} ms, leader lease {} ms, load smoothing {} ms, reconcile every 500 ms",
                        self.replicas,
                        options.store.name(),
                        options.worker_lease_ms,
                        options.leader_lease_ms,
                        options.load_smoothing_ms
                    ),
                ),
                (
                    "pool",
                    format!(
                        "{} simulated workers with both roles in {} zones (one more joins); {} logstores × {} shards = {} shards, {} query replicas each; heartbeats wait {} ms",
                        options.workers,
                        options.zones,
                        options.logstores,
                        options.shards_per_logstore,
                        options.shards(),
                        options.query_replicas,
                        options.wait_ms
                    ),
                ),
                (
                    "time to first settle",
                    format!("{:.1} s", self.initial_settle.as_secs_f64()),
                ),
            ],
        );
        let body = format!(
            "## Worker pool simulator: a live server under joins, drains, restarts, crashes and leader kills\n\n{conditions}\n{}\nRun it with `cargo build --release -p logplane-api -p logplane-sim && target/release/logplane-sim workers --report` (PostgreSQL on 127.0.0.1:5432); it rewrites this section. The workers are the end-to-end harness's simulated workers: each trusts only its own lease, counted from when it sent its last answered heartbeat, and an ownership ledger checks every change of what any of them believes it may write.\n",
            self.text()
        );
        logplane_bench_report::write_section("simulator-workers", &body)
    }
}
