//! `logplane-sim agents`: a fleet of simulated agents enrolled in one tenant, all in one machine
//! group bound to one collection config, against one server. Measures how long a config change
//! takes to reach every agent while they long-poll, what the waiting costs the server in memory,
//! and what the fleet costs while nothing changes; then the same fleet polling on a fixed
//! interval (iLogtail's default of 10 s) as the baseline.

mod fleet;
mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use futures::StreamExt;
use logplane_client::{Client, Precondition};
use logplane_model::{
    AgentEnrollRequest, AgentType, CollectionConfigSpec, EnrollmentTokenRequest, LogstoreSpec,
    MachineGroupSpec,
};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::cluster::{self, Cluster, Store};
use crate::stats::Latencies;
use fleet::{Agent, Mode, Tally};
pub use report::Findings;

const TENANT: &str = "fleet";
const PROJECT: &str = "hosts";
const CONFIG: &str = "app-logs";
/// Bounds every wait for the fleet: only a broken server takes this long.
const WITHIN: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Args)]
pub struct Options {
    /// Agents in the fleet, all syncing at once.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=50_000))]
    pub agents: u32,
    /// Config changes measured while the fleet long-polls.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub changes: u16,
    /// How long each long poll waits for a change.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1_000..=60_000))]
    pub wait_ms: u64,
    /// Seconds without changes in which round trips and bytes are counted.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub quiet_s: u64,
    /// The baseline's polling interval (0: no baseline).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(0..=120_000))]
    pub baseline_interval_ms: u64,
    /// Config changes measured while the fleet polls.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub baseline_changes: u16,
    /// How long an agent takes to apply a new bundle (restart its collector) before its next
    /// call reports the result; 0 reports at once, the heaviest case for the server.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub apply_ms: u64,
    /// Enrollments (and token exchanges) in flight at once while the fleet is set up.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub enroll_concurrency: u16,
    #[arg(long, value_enum, default_value_t = Store::Sqlite)]
    pub store: Store,
    /// The server's `RUST_LOG`; `info` logs every request, as a production server does.
    #[arg(long, default_value = "info")]
    pub server_log: String,
    /// The `logplane` binary; by default the one next to this simulator.
    #[arg(long)]
    pub logplane_bin: Option<PathBuf>,
    /// Write the figures into `docs/benchmarks.md`.
    #[arg(long)]
    pub report: bool,
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let load_before = logplane_bench_report::load_average();
    let binary = cluster::locate_binary(options.logplane_bin.clone())?;
    eprintln!("starting a server on {}", options.store.name());
    let cluster = Cluster::start(binary, options.store, 1, &[], &options.server_log).await?;
    let admin = cluster.admins().await?.remove(0);
    let pid = cluster.pid(0).context("the server is running")?;
    let token_secret = prepare(&admin).await?;
    let mut findings = Findings::new(&options);

    let fleet_size = options.agents as usize;
    eprintln!("enrolling {fleet_size} agents");
    let enroll_started = Instant::now();
    let agents = enroll(&cluster.base_urls()[0], &token_secret, &options).await?;
    findings.enroll_time = enroll_started.elapsed();

    let tally = Arc::new(Tally::default());
    let (mode, mode_watch) = watch::channel(Mode::Idle);
    let mut tasks = tokio::task::JoinSet::new();
    for agent in agents {
        let (mode_watch, tally) = (mode_watch.clone(), tally.clone());
        tasks.spawn(async move { fleet::run(agent, mode_watch, &tally).await });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    findings.rss_before_kib = resident_kib(pid)?;

    // Every agent fetches its first bundle, then long-polls.
    eprintln!("first sync, then long polls");
    let long_poll = Mode::LongPoll {
        wait: Duration::from_millis(options.wait_ms),
    };
    mode.send_replace(long_poll);
    wait_for_receipts(&tally, 0, fleet_size, WITHIN).await?;
    wait_for_waiting(&admin, fleet_size).await?;
    findings.rss_waiting_kib = resident_kib(pid)?;

    for round in 1..=usize::from(options.changes) {
        eprintln!("change {round} (long poll)");
        let (latencies, from_release) =
            change_and_measure(&admin, &tally, round, fleet_size, WITHIN).await?;
        eprintln!(
            "  received by the first agent after {:.0} ms, p10 {:.0}, p50 {:.0}, p90 {:.0}, all {:.0}",
            latencies.quantile_ms(0.0),
            latencies.quantile_ms(0.1),
            latencies.quantile_ms(0.5),
            latencies.quantile_ms(0.9),
            latencies.max_ms()
        );
        findings.long_poll.push(latencies);
        findings.long_poll_from_release.merge(&from_release);
        wait_for_waiting(&admin, fleet_size).await?;
        findings.rss_after_changes_kib = findings.rss_after_changes_kib.max(resident_kib(pid)?);
    }
    eprintln!("{} s without changes", options.quiet_s);
    findings.long_poll_quiet = quiet(&tally, options.quiet_s).await;

    if options.baseline_interval_ms > 0 {
        let interval = Duration::from_millis(options.baseline_interval_ms);
        eprintln!("baseline: polling every {interval:?}");
        mode.send_replace(Mode::Poll { interval });
        // One full interval, so every agent is on its schedule before the first change.
        tokio::time::sleep(interval).await;
        findings.baseline_quiet = Some(quiet(&tally, options.baseline_interval_ms / 1000).await);
        let first = usize::from(options.changes) + 1;
        for round in first..first + usize::from(options.baseline_changes) {
            eprintln!("change {round} (polling)");
            let (latencies, _) =
                change_and_measure(&admin, &tally, round, fleet_size, interval + WITHIN).await?;
            findings.baseline.push(latencies);
        }
    }
    mode.send_replace(Mode::Stop);
    while tasks.join_next().await.is_some() {}
    findings.errors = tally.errors.load(Ordering::Relaxed);

    println!("{}", findings.text());
    if options.report {
        findings.write_report(&load_before)?;
        eprintln!("wrote the simulator-agents section of docs/benchmarks.md");
    }
    Ok(())
}

fn config_spec(round: usize) -> anyhow::Result<CollectionConfigSpec> {
    Ok(serde_json::from_value(json!({
        "sources": [{ "file": { "include": ["/var/log/app/*.log"] } }],
        "parser": { "json": {} },
        "processors": [{ "add_fields": { "fields": { "config_round": round.to_string() } } }],
        "destination": { "logstore": "app" }
    }))?)
}

/// The tenant, its logstore, one machine group of every enrolled agent and one config bound to
/// it; returns the secret of an enrollment token that puts agents in the group.
async fn prepare(admin: &Client) -> anyhow::Result<String> {
    cluster::create_project(admin, TENANT, PROJECT).await?;
    admin
        .put_logstore(
            TENANT,
            PROJECT,
            "app",
            &LogstoreSpec::default(),
            Precondition::Unconditional,
        )
        .await?;
    let group: MachineGroupSpec =
        serde_json::from_value(json!({ "selector": { "match_labels": { "fleet": "sim" } } }))?;
    admin
        .put_machine_group(TENANT, PROJECT, "all", &group, Precondition::Unconditional)
        .await?;
    admin
        .put_collection_config(
            TENANT,
            PROJECT,
            CONFIG,
            &config_spec(0)?,
            Precondition::Unconditional,
        )
        .await?;
    admin
        .put_collection_config_rollout(TENANT, PROJECT, CONFIG, 100)
        .await?;
    admin.put_binding(TENANT, PROJECT, "all", CONFIG).await?;
    let token = admin
        .create_enrollment_token(
            TENANT,
            &EnrollmentTokenRequest {
                expires_in_s: 3_600,
                labels: [("fleet".to_string(), "sim".to_string())]
                    .into_iter()
                    .collect(),
            },
        )
        .await?;
    Ok(token.secret)
}

async fn enroll(base_url: &str, secret: &str, options: &Options) -> anyhow::Result<Vec<Agent>> {
    let fleet_size = options.agents as usize;
    let anonymous = Client::builder(base_url)
        .timeout(Duration::from_secs(30))
        .build()?;
    // One connection pool for the whole fleet, as many sockets as agents waiting at once.
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let enrolled: Vec<anyhow::Result<Agent>> = futures::stream::iter(0..fleet_size)
        .map(|index| {
            let (anonymous, http) = (anonymous.clone(), http.clone());
            async move {
                let agent_type = AgentType::ALL[index % AgentType::ALL.len()];
                let enrolled = anonymous
                    .enroll_agent(&AgentEnrollRequest {
                        token: secret.to_string(),
                        agent_type,
                        attributes: serde_json::from_value(json!({
                            "hostname": format!("host-{index:05}"),
                            "os": "linux"
                        }))?,
                    })
                    .await?;
                let token = anonymous.exchange_token(&enrolled.api_key).await?;
                Ok(Agent {
                    http,
                    sync_url: format!("{base_url}/v1/agents/{}/sync", enrolled.agent_id),
                    authorization: format!("Bearer {}", token.access_token),
                    index,
                    fleet_size,
                    apply: Duration::from_millis(options.apply_ms),
                })
            }
        })
        .buffer_unordered(usize::from(options.enroll_concurrency))
        .collect()
        .await;
    enrolled.into_iter().collect()
}

/// Changes the config (a new revision, rolled out to 100 %) and waits until every agent received
/// it; the latencies run from just before the change was sent, and from just before the rollout
/// released it.
async fn change_and_measure(
    admin: &Client,
    tally: &Tally,
    round: usize,
    fleet_size: usize,
    within: Duration,
) -> anyhow::Result<(Latencies, Latencies)> {
    tally.round.store(round, Ordering::Release);
    let started = Instant::now();
    admin
        .put_collection_config(
            TENANT,
            PROJECT,
            CONFIG,
            &config_spec(round)?,
            Precondition::Unconditional,
        )
        .await?;
    let released = Instant::now();
    admin
        .put_collection_config_rollout(TENANT, PROJECT, CONFIG, 100)
        .await?;
    wait_for_receipts(tally, round, fleet_size, within).await?;
    let (mut latencies, mut from_release) = (Latencies::default(), Latencies::default());
    for received in tally.receipts_of(round) {
        latencies.record(received.saturating_duration_since(started));
        from_release.record(received.saturating_duration_since(released));
    }
    Ok((latencies, from_release))
}

async fn wait_for_receipts(
    tally: &Tally,
    round: usize,
    fleet_size: usize,
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let received = tally.receipts_of(round).len();
        if received >= fleet_size {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "only {received} of {fleet_size} agents received change {round} within {within:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the server holds `fleet_size` waiting sync calls (its own gauge).
async fn wait_for_waiting(admin: &Client, fleet_size: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + WITHIN;
    loop {
        let metrics = admin.metrics().await?;
        let waiting = metrics
            .lines()
            .find_map(|line| line.strip_prefix("logplane_agent_syncs_waiting "))
            .and_then(|value| value.trim().parse::<f64>().ok())
            .unwrap_or(0.0) as usize;
        if waiting >= fleet_size {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("only {waiting} of {fleet_size} sync calls waiting after {WITHIN:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Answers counted over `seconds` without changes.
async fn quiet(tally: &Tally, seconds: u64) -> report::Quiet {
    tally.reset_counters();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    report::Quiet {
        seconds,
        unchanged: tally.unchanged.load(Ordering::Relaxed),
        changed: tally.changed.load(Ordering::Relaxed),
        changed_bytes: tally.changed_bytes.load(Ordering::Relaxed),
        errors: tally.errors.load(Ordering::Relaxed),
    }
}

/// The server's resident memory, from `/proc`.
fn resident_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/<pid>/status")
}
