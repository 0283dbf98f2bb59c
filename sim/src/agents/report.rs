//! What `logplane-sim agents` found, held against the collection issue's goals, as text and as
//! the `simulator-agents` section of `docs/benchmarks.md`.

use std::time::Duration;

use super::Options;
use crate::stats::{Latencies, verdict};

/// Answers the fleet received over a period without changes.
#[derive(Default)]
pub struct Quiet {
    pub seconds: u64,
    pub unchanged: u64,
    pub changed: u64,
    pub changed_bytes: u64,
    pub errors: u64,
}

impl Quiet {
    fn round_trips_per_sec(&self) -> f64 {
        self.unchanged as f64 / self.seconds.max(1) as f64
    }
}

pub struct Findings {
    options: Options,
    pub enroll_time: Duration,
    pub rss_before_kib: u64,
    /// With every agent waiting, before the first change.
    pub rss_waiting_kib: u64,
    /// The most with every agent waiting again after a change: what the allocator kept from
    /// the change's peak stays resident.
    pub rss_after_changes_kib: u64,
    /// One distribution per change.
    pub long_poll: Vec<Latencies>,
    /// Every change's receipts, from the rollout's PUT rather than the config's.
    pub long_poll_from_release: Latencies,
    pub long_poll_quiet: Quiet,
    pub baseline: Vec<Latencies>,
    pub baseline_quiet: Option<Quiet>,
    pub errors: u64,
}

/// All changes' receipts in one distribution.
fn merged(rounds: &[Latencies]) -> Latencies {
    let mut all = Latencies::default();
    for round in rounds {
        all.merge(round);
    }
    all
}

impl Findings {
    pub fn new(options: &Options) -> Findings {
        Findings {
            options: options.clone(),
            enroll_time: Duration::ZERO,
            rss_before_kib: 0,
            rss_waiting_kib: 0,
            rss_after_changes_kib: 0,
            long_poll: Vec::new(),
            long_poll_from_release: Latencies::default(),
            long_poll_quiet: Quiet::default(),
            baseline: Vec::new(),
            baseline_quiet: None,
            errors: 0,
        }
    }

    fn kib_per_agent(&self, rss_kib: u64) -> f64 {
        rss_kib.saturating_sub(self.rss_before_kib) as f64 / f64::from(self.options.agents)
    }

    pub fn text(&self) -> String {
        let agents = self.options.agents;
        let long_poll = merged(&self.long_poll);
        let baseline = merged(&self.baseline);
        let mut out = String::new();
        out.push_str("| goal | measured | |\n|---|---|---|\n");
        let per_agent = self.kib_per_agent(self.rss_waiting_kib);
        out.push_str(&format!(
            "| {agents} concurrent long-polling agents on one server, ≤ 32 KiB of server memory each | {per_agent:.1} KiB per agent (resident {} MiB before the fleet connected, {} MiB with all {agents} waiting) | {} |\n",
            self.rss_before_kib / 1024,
            self.rss_waiting_kib / 1024,
            verdict(per_agent <= 32.0)
        ));
        out.push_str(&format!(
            "| the same, all waiting again after the changes (the most over the changes) | {:.1} KiB per agent ({} MiB resident) | — |\n",
            self.kib_per_agent(self.rss_after_changes_kib),
            self.rss_after_changes_kib / 1024,
        ));
        let (p50, p99) = (long_poll.quantile_ms(0.5), long_poll.quantile_ms(0.99));
        out.push_str(&format!(
            "| config change → receipt by all agents: p50 ≤ 300 ms, p99 ≤ 2 s | p50 {p50:.0} ms, p99 {p99:.0} ms, max {:.0} ms ({} receipts over {} changes) | {} |\n",
            long_poll.max_ms(),
            long_poll.count(),
            self.long_poll.len(),
            verdict(p50 <= 300.0 && p99 <= 2_000.0)
        ));
        let released = &self.long_poll_from_release;
        out.push_str(&format!(
            "| the same, counted from the rollout's PUT (the revision was stored at 0 %, reaching no agent, just before) | p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms | {} |\n",
            released.quantile_ms(0.5),
            released.quantile_ms(0.99),
            released.max_ms(),
            verdict(released.quantile_ms(0.5) <= 300.0 && released.quantile_ms(0.99) <= 2_000.0)
        ));
        let quiet = &self.long_poll_quiet;
        out.push_str(&format!(
            "| 0 config bytes on the wire while unchanged | {} bundles, {} bytes in {} s ({} failed calls) | {} |\n",
            quiet.changed,
            quiet.changed_bytes,
            quiet.seconds,
            quiet.errors,
            verdict(quiet.changed_bytes == 0)
        ));
        out.push_str(&format!(
            "| 304 round trips per second reported | {:.0}/s while long-polling ({} in {} s) | — |\n",
            quiet.round_trips_per_sec(),
            quiet.unchanged,
            quiet.seconds
        ));

        out.push_str("\nChange → receipt, per change, p50 / p99 / max in ms (from just before the config's PUT, through its rollout to 100 %, to each agent's 200):\n\n");
        out.push_str("| change | long poll | baseline polling |\n|---:|---|---|\n");
        let rows = self.long_poll.len().max(self.baseline.len());
        for at in 0..rows {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                at + 1,
                self.long_poll
                    .get(at)
                    .map_or("—".into(), Latencies::summary),
                self.baseline.get(at).map_or("—".into(), Latencies::summary)
            ));
        }
        out.push_str(&format!(
            "| all | {} | {} |\n",
            long_poll.summary(),
            if baseline.count() > 0 {
                baseline.summary()
            } else {
                "—".into()
            }
        ));
        if let Some(baseline_quiet) = &self.baseline_quiet {
            out.push_str(&format!(
                "\nBaseline, polling every {} ms without waiting: {:.0} round trips/s while unchanged ({} bundles, {} bytes), against {:.0}/s long-polling with {} ms waits.\n",
                self.options.baseline_interval_ms,
                baseline_quiet.round_trips_per_sec(),
                baseline_quiet.changed,
                baseline_quiet.changed_bytes,
                quiet.round_trips_per_sec(),
                self.options.wait_ms
            ));
        }
        out.push_str(&format!(
            "\nEnrolling the fleet (enroll + token exchange, {} at a time) took {:.1} s; failed calls over the whole run: {}.\n",
            self.options.enroll_concurrency,
            self.enroll_time.as_secs_f64(),
            self.errors
        ));
        out
    }

    pub fn write_report(&self, load_before: &str) -> std::io::Result<()> {
        let options = &self.options;
        let conditions = logplane_bench_report::conditions_table(
            load_before,
            &[
                (
                    "server",
                    format!(
                        "one `logplane serve` on {}, `RUST_LOG={}`; the simulator runs on the same 2 cores",
                        options.store.name(),
                        options.server_log
                    ),
                ),
                (
                    "fleet",
                    format!(
                        "{} agents (native, Fluent Bit, Vector and OpenTelemetry Collector in turn), one machine group, one bound config; long polls wait {} ms; each agent reports `applied` {} after every bundle",
                        options.agents,
                        options.wait_ms,
                        if options.apply_ms == 0 {
                            "at once (the heaviest case)".to_string()
                        } else {
                            format!("{} ms", options.apply_ms)
                        }
                    ),
                ),
            ],
        );
        let body = format!(
            "## Agent fleet simulator: config propagation to {} long-polling agents\n\n{conditions}\n{}\nRun it with `cargo build --release -p logplane-api -p logplane-sim && target/release/logplane-sim agents --report`; it rewrites this section. Memory is the server's resident set (`VmRSS`) with the fleet enrolled and idle, then with every agent's sync call waiting, before the first change; the difference over the fleet is the cost per agent (connection, request, waiting task). After a change the resident set also holds what the allocator kept from the change's peak (10,000 responses and reports at once), so it is shown beside it.\n",
            options.agents,
            self.text()
        );
        logplane_bench_report::write_section("simulator-agents", &body)
    }
}
