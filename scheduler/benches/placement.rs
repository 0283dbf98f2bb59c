//! Placement benchmarks against two baselines in the same run (rendezvous hashing and a
//! 256-vnode consistent-hash ring): time, balance and moves after a join and a leave.
//!
//! `cargo bench -p logplane-scheduler --bench placement` runs them all, then rewrites the
//! `placement` section of docs/benchmarks.md from criterion's estimates and from balance and move
//! figures computed here. Filtered runs (`-- full`) and `cargo test --benches` write nothing.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use logplane_model::ShardStatus;
use logplane_scheduler::baseline::{HashRing, hash_str, mix, rendezvous, shard_hash};
use logplane_scheduler::{
    Assignment, Capacity, LogstoreRef, Placement, PlacementConfig, PlacementInput, Role, Roles,
    ShardCatalog, ShardKey, ShardSpec, Worker, WorkerId, ZoneId, place,
};

const WORKERS: usize = 1000;
const ZONES: usize = 3;
const SHARDS_PER_LOGSTORE: usize = 50;
const QUERY_REPLICAS: u8 = 2;
const VNODES: u32 = 256;

struct Scenario {
    name: &'static str,
    workers: Vec<Worker>,
    catalog: Arc<ShardCatalog>,
    loads: Vec<u64>,
    /// The converged placement on `workers`, the previous assignment of the incremental runs.
    settled: Assignment,
    joined: Vec<Worker>,
    left: Vec<Worker>,
    shard_hashes: Vec<u64>,
}

fn workers() -> Vec<Worker> {
    (0..WORKERS)
        .map(|i| Worker {
            id: WorkerId::new(format!("worker-{i:04}")),
            zone: ZoneId::new(format!("zone-{}", i % ZONES)),
            roles: Roles::BOTH,
            capacity: Capacity {
                shards: 4000,
                ingest_bytes_per_sec: 200 << 20,
                query_slots: 32,
            },
            schedulable: true,
        })
        .collect()
}

fn catalog(shards: usize) -> Arc<ShardCatalog> {
    let logstores = shards / SHARDS_PER_LOGSTORE;
    let mut specs = Vec::with_capacity(shards);
    for store in 0..logstores {
        let logstore = LogstoreRef::new(
            format!("tenant-{:03}", store % 200),
            format!("project-{}", store % 7),
            format!("logstore-{store:05}"),
        );
        for shard in 0..SHARDS_PER_LOGSTORE {
            specs.push(ShardSpec {
                key: ShardKey::new(&logstore, shard as i64),
                status: ShardStatus::Readwrite,
                query_replicas: QUERY_REPLICAS,
            });
        }
    }
    ShardCatalog::new(specs).expect("unique keys")
}

/// Log-normal ingest rates (median 100 KiB/s, σ = 1): a few shards are tens of times the median.
fn loads(shards: usize) -> Vec<u64> {
    (0..shards as u64)
        .map(|i| {
            let u1 = (mix(i, 11) >> 11) as f64 / (1u64 << 53) as f64;
            let u2 = (mix(i, 12) >> 11) as f64 / (1u64 << 53) as f64;
            let normal =
                (-2.0 * (u1.max(1e-12)).ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            (102_400.0 * normal.exp()) as u64
        })
        .collect()
}

fn run(
    workers: &[Worker],
    catalog: &Arc<ShardCatalog>,
    loads: &[u64],
    previous: &Assignment,
) -> Placement {
    place(
        &PlacementInput {
            workers,
            catalog,
            ingest_load: loads,
            config: PlacementConfig::default(),
        },
        previous,
    )
    .expect("valid input")
}

fn scenario(name: &'static str, shards: usize) -> Scenario {
    let workers = workers();
    let catalog = catalog(shards);
    let loads = loads(shards);
    let settled = run(&workers, &catalog, &loads, &Assignment::empty()).assignment;
    let mut joined = workers.clone();
    joined.push(Worker {
        id: WorkerId::new("worker-new"),
        zone: ZoneId::new("zone-0"),
        ..workers[0].clone()
    });
    let mut left = workers.clone();
    left[WORKERS / 2].schedulable = false;
    let shard_hashes = catalog
        .shards()
        .iter()
        .map(|s| shard_hash(&s.key))
        .collect();
    Scenario {
        name,
        workers,
        catalog,
        loads,
        settled,
        joined,
        left,
        shard_hashes,
    }
}

fn worker_hashes(workers: &[Worker]) -> Vec<u64> {
    workers
        .iter()
        .filter(|w| w.schedulable)
        .map(|w| hash_str(w.id.as_str()))
        .collect()
}

fn bench(c: &mut Criterion, scenarios: &[Scenario]) {
    for s in scenarios {
        let mut group = c.benchmark_group(s.name);
        let large = s.catalog.len() >= 1_000_000;
        if large {
            group.sample_size(10);
            group.warm_up_time(Duration::from_secs(1));
            group.measurement_time(Duration::from_secs(10));
        }
        group.bench_function("full", |b| {
            b.iter(|| {
                run(
                    &s.workers,
                    &s.catalog,
                    &s.loads,
                    black_box(&Assignment::empty()),
                )
            })
        });
        group.bench_function("join", |b| {
            b.iter(|| run(&s.joined, &s.catalog, &s.loads, black_box(&s.settled)))
        });
        group.bench_function("leave", |b| {
            b.iter(|| run(&s.left, &s.catalog, &s.loads, black_box(&s.settled)))
        });
        let hashes = worker_hashes(&s.workers);
        group.bench_function("rendezvous", |b| {
            b.iter(|| rendezvous(black_box(&s.shard_hashes), &hashes))
        });
        group.bench_function("ring256", |b| {
            b.iter(|| HashRing::new(black_box(&hashes), VNODES).assign(&s.shard_hashes))
        });
        group.finish();
    }
}

/// Balance and moves of one algorithm (ingest owners only, which is all the baselines do).
struct Quality {
    count_max_over_mean: f64,
    load_max_over_mean: f64,
    join_moves: usize,
    join_minimum: usize,
    leave_moves: usize,
    leave_minimum: usize,
}

fn owners_by_id(owners: &[u32], workers: &[Worker]) -> Vec<WorkerId> {
    let live: Vec<&Worker> = workers.iter().filter(|w| w.schedulable).collect();
    owners
        .iter()
        .map(|&o| live[o as usize].id.clone())
        .collect()
}

fn balance(owners: &[WorkerId], loads: &[u64], workers: usize) -> (f64, f64) {
    let mut count: HashMap<&WorkerId, u64> = HashMap::new();
    let mut load: HashMap<&WorkerId, u64> = HashMap::new();
    for (owner, &l) in owners.iter().zip(loads) {
        *count.entry(owner).or_default() += 1;
        *load.entry(owner).or_default() += l;
    }
    let mean_count = owners.len() as f64 / workers as f64;
    let mean_load = loads.iter().sum::<u64>() as f64 / workers as f64;
    (
        *count.values().max().unwrap() as f64 / mean_count,
        *load.values().max().unwrap() as f64 / mean_load,
    )
}

fn changed(before: &[WorkerId], after: &[WorkerId]) -> usize {
    before.iter().zip(after).filter(|(b, a)| b != a).count()
}

fn held_by(owners: &[WorkerId], worker: &WorkerId) -> usize {
    owners.iter().filter(|o| *o == worker).count()
}

fn baseline_quality(s: &Scenario, assign: impl Fn(&[Worker]) -> Vec<u32>) -> Quality {
    let before = owners_by_id(&assign(&s.workers), &s.workers);
    let joined = owners_by_id(&assign(&s.joined), &s.joined);
    let left = owners_by_id(&assign(&s.left), &s.left);
    let (count_max_over_mean, load_max_over_mean) = balance(&before, &s.loads, WORKERS);
    let leaver = &s.workers[WORKERS / 2].id;
    Quality {
        count_max_over_mean,
        load_max_over_mean,
        join_moves: changed(&before, &joined),
        join_minimum: s.catalog.len() / (WORKERS + 1),
        leave_moves: changed(&before, &left),
        leave_minimum: held_by(&before, leaver),
    }
}

fn ingest_owners(assignment: &Assignment) -> Vec<WorkerId> {
    (0..assignment.len())
        .map(|at| assignment.ingest_owner_at(at).expect("placed").clone())
        .collect()
}

fn logplane_quality(s: &Scenario) -> (Quality, String) {
    let before = ingest_owners(&s.settled);
    let joined = run(&s.joined, &s.catalog, &s.loads, &s.settled);
    let left = run(&s.left, &s.catalog, &s.loads, &s.settled);
    let (count_max_over_mean, load_max_over_mean) = balance(&before, &s.loads, WORKERS);
    let leaver = &s.workers[WORKERS / 2].id;
    let newcomer = WorkerId::new("worker-new");
    let query_held =
        |a: &Assignment, w: &WorkerId| a.counts(Role::Query).get(w).copied().unwrap_or(0);
    let query_moves = |p: &Placement| {
        p.moves
            .iter()
            .filter(|m| m.role == Role::Query && m.is_relocation())
            .count()
    };
    let notes = format!(
        "query replicas ({QUERY_REPLICAS} per shard, {ZONES} zones): join moved {} of a minimum {}, leave moved {} of a minimum {}; spread violations {}",
        query_moves(&joined),
        query_held(&joined.assignment, &newcomer),
        query_moves(&left),
        query_held(&s.settled, leaver),
        joined.report.query.spread_violations + left.report.query.spread_violations,
    );
    let quality = Quality {
        count_max_over_mean,
        load_max_over_mean,
        join_moves: changed(&before, &ingest_owners(&joined.assignment)),
        join_minimum: s.catalog.len() / (WORKERS + 1),
        leave_moves: changed(&before, &ingest_owners(&left.assignment)),
        leave_minimum: held_by(&before, leaver),
    };
    (quality, notes)
}

/// Criterion's mean estimate of a benchmark, in milliseconds.
fn mean_ms(group: &str, function: &str) -> Option<f64> {
    logplane_bench_report::criterion_mean_ns(group, function).map(|ns| ns / 1e6)
}

fn report(scenarios: &[Scenario], load_before: &str) -> Option<String> {
    let mut out = String::new();
    out.push_str("## Shard placement: logplane-scheduler against rendezvous hashing and a consistent-hash ring\n\n");
    let pool = format!(
        "{WORKERS} workers with both roles in {ZONES} zones, equal capacity; shards in logstores of \
         {SHARDS_PER_LOGSTORE}, {QUERY_REPLICAS} query replicas each; log-normal ingest loads (median \
         100 KiB/s, σ = 1)"
    );
    let conditions = logplane_bench_report::conditions_table(
        load_before,
        &[
            (
                "load average after the run",
                logplane_bench_report::load_average(),
            ),
            ("pool", pool),
        ],
    );
    out.push_str(&conditions);
    out.push('\n');

    out.push_str("Time (criterion mean). *full*: from nothing; *join* / *leave*: one worker added / drained, from the settled assignment. Ours places ingest owners **and** query replicas with loads; the baselines place ingest owners only, from precomputed 64-bit shard hashes, and have no incremental mode (a join or leave is a full recomputation).\n\n");
    out.push_str("| shards | ours full | ours join | ours leave | goal (full / incremental) | rendezvous | ring (256 vnodes) |\n|---:|---:|---:|---:|---|---:|---:|\n");
    for s in scenarios {
        let cell = |f: &str| mean_ms(s.name, f).map(|ms| format!("{ms:.1} ms"));
        let goal = if s.catalog.len() >= 1_000_000 {
            "≤ 1 s / —"
        } else {
            "≤ 50 ms / ≤ 5 ms"
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {goal} | {} | {} |\n",
            s.catalog.len(),
            cell("full")?,
            cell("join")?,
            cell("leave")?,
            cell("rendezvous")?,
            cell("ring256")?,
        ));
    }

    out.push_str("\nBalance and moves of ingest owners. max/mean of shard counts and of load per worker (1.00 is perfect). Moves: shards whose owner changed; the minimum for a join is the newcomer's fair share ⌊shards / workers⌋, for a leave the shards the leaver held.\n\n");
    out.push_str("| shards | algorithm | count max/mean | load max/mean | join moves (minimum) | leave moves (minimum) |\n|---:|---|---:|---:|---:|---:|\n");
    let mut notes = Vec::new();
    for s in scenarios {
        let hashes = |w: &[Worker]| worker_hashes(w);
        let (ours, note) = logplane_quality(s);
        notes.push(format!("- {} shards, {note}.", s.catalog.len()));
        let rows = [
            ("logplane-scheduler", ours),
            (
                "rendezvous",
                baseline_quality(s, |w| rendezvous(&s.shard_hashes, &hashes(w))),
            ),
            (
                "ring, 256 vnodes",
                baseline_quality(s, |w| {
                    HashRing::new(&hashes(w), VNODES).assign(&s.shard_hashes)
                }),
            ),
        ];
        for (name, q) in rows {
            out.push_str(&format!(
                "| {} | {name} | {:.3} | {:.3} | {} ({}) | {} ({}) |\n",
                s.catalog.len(),
                q.count_max_over_mean,
                q.load_max_over_mean,
                q.join_moves,
                q.join_minimum,
                q.leave_moves,
                q.leave_minimum,
            ));
        }
    }
    out.push_str("\nQuery replicas, ours only (the baselines place none):\n\n");
    out.push_str(&notes.join("\n"));
    out.push_str("\n\nRun it with `cargo bench -p logplane-scheduler --bench placement`; it rewrites this section.\n\n");
    out.push_str("How to read it: the baselines are stateless and move only what they must, but balance only statistically (a worker gets whatever its hashes land on: with 100 shards per worker, the fullest holds 30–40 % more than the mean, and its load more still), and know nothing of capacity, zones or load. Ours keeps counts within one shard of each other and load within the bound, for the price of keeping the previous assignment; its moves after a join or leave equal the minimum unless the load bound asks for a few more.\n");
    Some(out)
}

fn main() {
    let filtered = std::env::args().skip(1).any(|a| !a.starts_with('-'));
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let load_before = logplane_bench_report::load_average();
    let scenarios = [
        scenario("placement_100k", 100_000),
        scenario("placement_1m", 1_000_000),
    ];
    let mut criterion = Criterion::default()
        .output_directory(&logplane_bench_report::criterion_directory())
        .configure_from_args();
    bench(&mut criterion, &scenarios);
    criterion.final_summary();
    if benchmarking && !filtered {
        match report(&scenarios, &load_before) {
            Some(section) => match logplane_bench_report::write_section("placement", &section) {
                Ok(()) => println!(
                    "wrote the placement section of {}",
                    logplane_bench_report::report_path().display()
                ),
                Err(error) => eprintln!("cannot write docs/benchmarks.md: {error}"),
            },
            None => eprintln!("some estimates are missing; docs/benchmarks.md left as it was"),
        }
    }
}
