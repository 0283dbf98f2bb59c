//! `logplane-sim workers`: a pool of simulated workers (the e2e harness's, which follow
//! `docs/worker-protocol.md` and trust only their own leases) against one or more replicas, put
//! through the events a real pool sees — join, drain, rolling restart, crashes, the scheduler
//! leader's death, skewed loads — while an ownership ledger checks, from the workers' side, that
//! no key is ever writable on two workers at once.

mod observe;
mod report;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use logplane_client::{Client, Precondition};
use logplane_e2e::{OwnershipLedger, ShardLoads, SimWorker, SimWorkerConfig};
use logplane_model::{AutoSplit, LogstoreSpec, Role as KeyRole, ShardRef};
use tokio::time::Instant;

use crate::cluster::{self, Cluster, Store};
use crate::loads::LoadDistribution;
use crate::stats::Latencies;
use observe::{Placement, Role, settle};
pub use report::Findings;

const TENANT: &str = "sim";
const PROJECT: &str = "pool";
/// Bounds every wait for the scheduler: only a broken one takes this long.
const SETTLE_WITHIN: Duration = Duration::from_secs(90);
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Args)]
pub struct Options {
    /// Workers at the start (each has both roles; one more joins during the run).
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u16).range(3..=500))]
    pub workers: u16,
    /// Zones the workers are spread over, round robin.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub zones: u16,
    /// Logstores, each with `--shards-per-logstore` shards (at most 400 shards in all: the
    /// project's default quota).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub logstores: u16,
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(i64).range(1..=256))]
    pub shards_per_logstore: i64,
    /// Query replicas of every shard.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(i64).range(1..=3))]
    pub query_replicas: i64,
    /// Load distributions to balance, one after the other, at the end of the run.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [LoadDistribution::Uniform, LoadDistribution::Zipf, LoadDistribution::Lognormal])]
    pub distributions: Vec<LoadDistribution>,
    /// Worker crashes, one at a time (each worker comes back once its shards have moved).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(0..=1000))]
    pub crashes: u16,
    /// SIGKILLs of the scheduler's leader replica (PostgreSQL with 2 or more replicas only).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(0..=100))]
    pub leader_kills: u16,
    /// `logplane serve` replicas sharing the database.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=9))]
    pub replicas: u16,
    #[arg(long, value_enum, default_value_t = Store::Postgres)]
    pub store: Store,
    /// The servers' `--worker-lease-ms`.
    #[arg(long, default_value_t = 4_000, value_parser = clap::value_parser!(u64).range(500..=60_000))]
    pub worker_lease_ms: u64,
    /// The servers' `--leader-lease-ms` (their default).
    #[arg(long, default_value_t = 4_000, value_parser = clap::value_parser!(u64).range(500..=60_000))]
    pub leader_lease_ms: u64,
    /// The servers' `--load-smoothing-ms`: short, so load phases settle quickly.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub load_smoothing_ms: u64,
    /// How long each heartbeat waits for a new assignment (at most half the lease).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(0..=30_000))]
    pub wait_ms: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The `logplane` binary; by default the one next to this simulator.
    #[arg(long)]
    pub logplane_bin: Option<PathBuf>,
    /// Write the figures into `docs/benchmarks.md`.
    #[arg(long)]
    pub report: bool,
}

impl Options {
    fn shards(&self) -> usize {
        usize::from(self.logstores) * self.shards_per_logstore as usize
    }

    fn leader_kills_possible(&self) -> bool {
        self.store == Store::Postgres && self.replicas >= 2
    }
}

/// The simulated pool and what it runs against.
struct Pool {
    options: Options,
    cluster: Cluster,
    admins: Vec<Client>,
    worker_clients: Vec<Client>,
    ledger: Arc<OwnershipLedger>,
    loads: ShardLoads,
    running: BTreeMap<String, SimWorker>,
}

impl Pool {
    fn config(&self, id: &str, index: usize) -> SimWorkerConfig {
        SimWorkerConfig {
            id: id.to_string(),
            zone: format!("zone-{}", index % usize::from(self.options.zones)),
            shards: 1_000,
            wait_ms: self.options.wait_ms,
            first_replica: index % self.worker_clients.len(),
            loads: Some(self.loads.clone()),
        }
    }

    fn start_worker(&mut self, id: &str) {
        let index: usize = id
            .trim_start_matches("w-")
            .parse()
            .expect("worker ids are w-<number>");
        let worker = SimWorker::start(
            self.config(id, index),
            self.worker_clients.clone(),
            self.ledger.clone(),
        );
        self.running.insert(id.to_string(), worker);
    }

    /// Stops heartbeating at once, as a crash or a network partition does.
    async fn crash(&mut self, id: &str) {
        if let Some(worker) = self.running.remove(id) {
            worker.stop().await;
        }
    }

    fn live(&self) -> BTreeSet<String> {
        self.running.keys().cloned().collect()
    }

    fn observe(&self) -> Placement {
        Placement::observe(&self.ledger, &self.live())
    }

    async fn settle(&self, phase: &str) -> anyhow::Result<Placement> {
        settle(
            &self.ledger,
            &self.live(),
            self.options.shards(),
            self.options.query_replicas as usize,
            SETTLE_WITHIN,
        )
        .await
        .with_context(|| format!("the pool did not settle within {SETTLE_WITHIN:?} ({phase})"))
    }

    /// Any admin client whose replica answers.
    async fn status(&self) -> Option<logplane_model::SchedulerStatus> {
        for admin in &self.admins {
            if let Ok(status) = admin.get_scheduler_status().await {
                return Some(status);
            }
        }
        None
    }
}

fn worker_id(index: usize) -> String {
    format!("w-{index:02}")
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    if options.shards() > 400 {
        bail!("at most 400 shards (the project's default quota)");
    }
    if u64::from(options.wait_ms) * 2 > options.worker_lease_ms {
        bail!("--wait-ms must be at most half of --worker-lease-ms");
    }
    let load_before = logplane_bench_report::load_average();
    let binary = cluster::locate_binary(options.logplane_bin.clone())?;
    let replicas = if options.store == Store::Sqlite {
        1
    } else {
        usize::from(options.replicas)
    };
    let flags = [
        ("worker-lease-ms", options.worker_lease_ms.to_string()),
        ("leader-lease-ms", options.leader_lease_ms.to_string()),
        ("load-smoothing-ms", options.load_smoothing_ms.to_string()),
        ("worker-poll-ms", "50".to_string()),
        ("reconcile-interval-ms", "500".to_string()),
    ];
    eprintln!("starting {replicas} replica(s) on {}", options.store.name());
    let cluster = Cluster::start(binary, options.store, replicas, &flags, "warn").await?;
    let admins = cluster.admins().await?;
    cluster::create_project(&admins[0], TENANT, PROJECT).await?;
    let shard_refs = create_logstores(&admins[0], &options).await?;
    let token = cluster::platform_token(&admins[0], "sim-workers", KeyRole::Worker).await?;
    let call_timeout = Duration::from_millis(u64::from(options.wait_ms) + 2_000);
    let worker_clients = cluster
        .base_urls()
        .iter()
        .map(|url| {
            Client::builder(url)
                .timeout(call_timeout)
                .bearer_token(&token)
                .build()
                .map_err(anyhow::Error::from)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut pool = Pool {
        options: options.clone(),
        cluster,
        admins,
        worker_clients,
        ledger: Arc::new(OwnershipLedger::default()),
        loads: ShardLoads::default(),
        running: BTreeMap::new(),
    };
    let mut findings = Findings::new(&options, replicas);

    start_pool(&mut pool, &mut findings).await?;
    join_one(&mut pool, &mut findings).await?;
    drain_one(&mut pool, &mut findings).await?;
    rolling_restart(&mut pool, &mut findings).await?;
    crashes(&mut pool, &mut findings).await?;
    if options.leader_kills_possible() {
        leader_kills(&mut pool, &mut findings).await?;
    }
    for (at, distribution) in options.distributions.iter().enumerate() {
        balance_load(
            &mut pool,
            &mut findings,
            &shard_refs,
            *distribution,
            options.seed + at as u64,
        )
        .await?;
    }
    findings.violations = pool.ledger.violations();
    for (_, worker) in std::mem::take(&mut pool.running) {
        worker.stop().await;
    }

    println!("{}", findings.text());
    if options.report {
        findings.write_report(&load_before)?;
        eprintln!("wrote the simulator-workers section of docs/benchmarks.md");
    }
    if !findings.violations.is_empty() {
        bail!(
            "two workers could write the same keys: {:#?}",
            findings.violations
        );
    }
    Ok(())
}

async fn create_logstores(admin: &Client, options: &Options) -> anyhow::Result<Vec<ShardRef>> {
    let mut shards = Vec::new();
    for at in 0..options.logstores {
        let name = format!("logs-{at:03}");
        let spec = LogstoreSpec {
            shard_count: options.shards_per_logstore,
            query_replicas: options.query_replicas,
            // Skewed loads would split the hottest shards; the simulation keeps shards fixed.
            auto_split: AutoSplit {
                enabled: false,
                ..LogstoreSpec::default().auto_split
            },
            ..LogstoreSpec::default()
        };
        admin
            .put_logstore(TENANT, PROJECT, &name, &spec, Precondition::Unconditional)
            .await?;
        shards.extend((0..options.shards_per_logstore).map(|id| ShardRef {
            tenant: TENANT.to_string(),
            project: PROJECT.to_string(),
            logstore: name.clone(),
            shard_id: id,
        }));
    }
    Ok(shards)
}

async fn start_pool(pool: &mut Pool, findings: &mut Findings) -> anyhow::Result<()> {
    eprintln!("starting {} workers", pool.options.workers);
    let started = Instant::now();
    for index in 1..=usize::from(pool.options.workers) {
        pool.start_worker(&worker_id(index));
    }
    let placement = pool.settle("start").await?;
    findings.initial_settle = started.elapsed();
    let live = pool.live();
    findings.initial_spread = (
        placement.spread(Role::Ingest, &live),
        placement.spread(Role::Query, &live),
    );
    Ok(())
}

async fn join_one(pool: &mut Pool, findings: &mut Findings) -> anyhow::Result<()> {
    let before = pool.settle("before the join").await?;
    let id = worker_id(usize::from(pool.options.workers) + 1);
    eprintln!("{id} joins");
    pool.start_worker(&id);
    let after = pool.settle("join").await?;
    let live = pool.live();
    for role in [Role::Ingest, Role::Query] {
        findings.events.push(report::EventMoves {
            event: format!("{id} joins"),
            role,
            moves: after.moves_since(&before, role),
            minimum: after.total(role) / live.len(),
            spread: after.spread(role, &live),
        });
    }
    Ok(())
}

/// What a drain or restart did to ingest, sampled every [`SAMPLE_EVERY`].
pub struct Continuity {
    /// The fewest shards that had an ingest owner (in any handover state) in some assignment.
    pub fewest_owned: usize,
    /// Each stretch in which a shard had no active writer: the switch from the old owner to
    /// the new, during which writes wait.
    pub write_pauses: Latencies,
}

/// Samples ownership and writers of the `live` workers until `done` is set.
fn sample_continuity(
    ledger: Arc<OwnershipLedger>,
    live: BTreeSet<String>,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Continuity> {
    tokio::spawn(async move {
        let mut fewest_owned = usize::MAX;
        let mut write_pauses = Latencies::default();
        let mut paused_since: HashMap<ShardRef, Instant> = HashMap::new();
        let mut known: BTreeSet<ShardRef> = BTreeSet::new();
        while !done.load(AtomicOrdering::Relaxed) {
            let placement = Placement::observe(&ledger, &live);
            let owned: BTreeSet<ShardRef> = placement
                .holders
                .iter()
                .filter(|((_, role), holders)| *role == Role::Ingest && !holders.is_empty())
                .map(|((shard, _), _)| shard.clone())
                .collect();
            fewest_owned = fewest_owned.min(owned.len());
            known.extend(owned);
            let writers = ledger.writers();
            let now = Instant::now();
            for shard in &known {
                if writers.contains_key(shard) {
                    if let Some(since) = paused_since.remove(shard) {
                        write_pauses.record(now - since);
                    }
                } else {
                    paused_since.entry(shard.clone()).or_insert(now);
                }
            }
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
        let now = Instant::now();
        for since in paused_since.into_values() {
            write_pauses.record(now - since);
        }
        Continuity {
            fewest_owned,
            write_pauses,
        }
    })
}

async fn drain_one(pool: &mut Pool, findings: &mut Findings) -> anyhow::Result<()> {
    let before = pool.settle("before the drain").await?;
    let id = worker_id(1);
    eprintln!("{id} is drained, then leaves");
    let done = Arc::new(AtomicBool::new(false));
    let sampler = sample_continuity(pool.ledger.clone(), pool.live(), done.clone());
    pool.admins[0].drain_worker(&id).await?;
    // Settled with the drained worker still running: it holds nothing once the handovers end.
    let after = pool.settle("drain").await?;
    done.store(true, AtomicOrdering::Relaxed);
    findings.drain = Some(sampler.await?);
    let live = pool.live();
    let mut remaining = live.clone();
    remaining.remove(&id);
    for role in [Role::Ingest, Role::Query] {
        findings.events.push(report::EventMoves {
            event: format!("{id} drained"),
            role,
            moves: after.moves_since(&before, role),
            minimum: before.held_by(&id, role).len(),
            spread: after.spread(role, &remaining),
        });
    }
    findings.drained_left_holding = after.held_by(&id, Role::Ingest).len();
    pool.crash(&id).await;
    Ok(())
}

async fn rolling_restart(pool: &mut Pool, findings: &mut Findings) -> anyhow::Result<()> {
    let before = pool.settle("before the rolling restart").await?;
    eprintln!("rolling restart of {} workers", pool.running.len());
    let done = Arc::new(AtomicBool::new(false));
    let sampler = sample_continuity(pool.ledger.clone(), pool.live(), done.clone());
    for id in pool.live() {
        pool.crash(&id).await;
        // Back within its lease, as a process restart or a rolling upgrade is.
        tokio::time::sleep(Duration::from_millis(200)).await;
        pool.start_worker(&id);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let after = pool.settle("rolling restart").await?;
    done.store(true, AtomicOrdering::Relaxed);
    findings.restart = Some(sampler.await?);
    let live = pool.live();
    for role in [Role::Ingest, Role::Query] {
        findings.events.push(report::EventMoves {
            event: format!("rolling restart of {} workers", live.len()),
            role,
            moves: after.moves_since(&before, role),
            minimum: 0,
            spread: after.spread(role, &live),
        });
    }
    Ok(())
}

async fn crashes(pool: &mut Pool, findings: &mut Findings) -> anyhow::Result<()> {
    for round in 0..usize::from(pool.options.crashes) {
        let before = pool.settle("before a crash").await?;
        let live: Vec<String> = pool.live().into_iter().collect();
        let victim = live[round % live.len()].clone();
        let orphaned = before.held_by(&victim, Role::Ingest);
        eprintln!(
            "crash {}/{}: {victim} ({} ingest shards)",
            round + 1,
            pool.options.crashes,
            orphaned.len()
        );
        pool.crash(&victim).await;
        let crashed_at = Instant::now();
        let deadline = crashed_at + SETTLE_WITHIN;
        let mut published: HashMap<ShardRef, Duration> = HashMap::new();
        let mut writable: HashMap<ShardRef, Duration> = HashMap::new();
        while (published.len() < orphaned.len() || writable.len() < orphaned.len())
            && Instant::now() < deadline
        {
            let now = pool.observe();
            let writers = pool.ledger.writers();
            for shard in &orphaned {
                let elsewhere = now
                    .holders
                    .get(&(shard.clone(), Role::Ingest))
                    .is_some_and(|holders| !holders.is_empty());
                if elsewhere {
                    published
                        .entry(shard.clone())
                        .or_insert_with(|| crashed_at.elapsed());
                }
                if writers.get(shard).is_some_and(|writer| *writer != victim) {
                    writable
                        .entry(shard.clone())
                        .or_insert_with(|| crashed_at.elapsed());
                }
            }
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
        if published.len() < orphaned.len() {
            bail!("{victim}'s shards were not reassigned within {SETTLE_WITHIN:?}");
        }
        for latency in published.values() {
            findings.crash_published_per_shard.record(*latency);
        }
        for latency in writable.values() {
            findings.crash_writable_per_shard.record(*latency);
        }
        if let Some(slowest) = published.values().max() {
            findings.crash_published.record(*slowest);
        }
        // The worker comes back, as a replacement would, and the pool rebalances.
        pool.start_worker(&victim);
    }
    pool.settle("after the crashes").await?;
    Ok(())
}

async fn leader_kills(pool: &mut Pool, findings: &mut Findings) -> anyhow::Result<()> {
    for round in 0..usize::from(pool.options.leader_kills) {
        pool.settle("before a leader kill").await?;
        let deadline = Instant::now() + SETTLE_WITHIN;
        let (leader, epoch) = loop {
            if let Some(found) = pool
                .status()
                .await
                .and_then(|status| pool.cluster.leader_of(&status))
            {
                break found;
            }
            if Instant::now() >= deadline {
                bail!("no scheduler leader within {SETTLE_WITHIN:?}");
            }
            tokio::time::sleep(SAMPLE_EVERY).await;
        };
        eprintln!(
            "leader kill {}/{}: replica {leader} (epoch {epoch})",
            round + 1,
            pool.options.leader_kills
        );
        pool.cluster.kill(leader).await;
        let killed_at = Instant::now();
        loop {
            let successor = pool
                .status()
                .await
                .and_then(|status| pool.cluster.leader_of(&status))
                .filter(|(at, new_epoch)| *at != leader && *new_epoch > epoch);
            if successor.is_some() {
                findings.leader_takeover.record(killed_at.elapsed());
                break;
            }
            if Instant::now() >= deadline + SETTLE_WITHIN {
                bail!("no new leader within {SETTLE_WITHIN:?} of the kill");
            }
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
        pool.cluster.restart(leader).await;
    }
    pool.settle("after the leader kills").await?;
    Ok(())
}

/// The lowest max/mean worker load any placement can reach while every worker holds at least
/// ⌊shards / workers⌋ shards: the worker with the largest shard also holds the smallest others.
/// When one shard dominates, this exceeds the load bound, and the two goals cannot both hold.
fn least_peak_with_counts_balanced(loads: &HashMap<ShardRef, i64>, workers: usize) -> f64 {
    let mut sorted: Vec<i64> = loads.values().copied().collect();
    sorted.sort_unstable();
    let Some(&largest) = sorted.last() else {
        return 0.0;
    };
    let others = (sorted.len() / workers.max(1)).saturating_sub(1);
    let least_others: i64 = sorted.iter().take(others).sum();
    let mean = sorted.iter().sum::<i64>() as f64 / workers.max(1) as f64;
    if mean == 0.0 {
        return 0.0;
    }
    (largest + least_others) as f64 / mean
}

async fn balance_load(
    pool: &mut Pool,
    findings: &mut Findings,
    shards: &[ShardRef],
    distribution: LoadDistribution,
    seed: u64,
) -> anyhow::Result<()> {
    let before = pool.settle("before a load change").await?;
    eprintln!("loads: {}", distribution.describe());
    let loads: HashMap<ShardRef, i64> = shards
        .iter()
        .cloned()
        .zip(distribution.draw(shards.len(), seed))
        .collect();
    *pool
        .loads
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = loads.clone();
    // Let the leader's moving average take the new loads in before judging the balance.
    tokio::time::sleep(Duration::from_millis(pool.options.load_smoothing_ms * 4)).await;
    let after = pool.settle("load balance").await?;
    let live = pool.live();
    let (ratio, bound) = after.load_balance(&loads, &live);
    let alone = after.hot_shards_alone(&loads, &live);
    let in_band: BTreeSet<String> = live.difference(&alone).cloned().collect();
    findings.loads.push(report::LoadBalance {
        distribution,
        ratio,
        bound,
        least_with_counts_balanced: least_peak_with_counts_balanced(&loads, live.len()),
        hot_shards_alone: alone.len(),
        largest_over_mean: {
            let mean = loads.values().sum::<i64>() as f64 / live.len() as f64;
            loads.values().copied().max().unwrap_or(0) as f64 / mean
        },
        moves: after.moves_since(&before, Role::Ingest),
        count_spread: after.spread(Role::Ingest, &in_band),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: i64) -> ShardRef {
        ShardRef {
            tenant: TENANT.into(),
            project: PROJECT.into(),
            logstore: "logs-000".into(),
            shard_id: id,
        }
    }

    #[test]
    fn the_hot_worker_holds_the_coldest_others_at_best() {
        // 6 shards on 2 workers, 3 each: the worker with the 100 also holds the two coldest.
        let loads: HashMap<ShardRef, i64> = [100, 1, 2, 3, 4, 10]
            .into_iter()
            .enumerate()
            .map(|(id, load)| (shard(id as i64), load))
            .collect();
        let mean = 120.0 / 2.0;
        let least = least_peak_with_counts_balanced(&loads, 2);
        assert!((least - 103.0 / mean).abs() < 1e-9, "{least}");
        assert_eq!(least_peak_with_counts_balanced(&HashMap::new(), 2), 0.0);
    }
}
