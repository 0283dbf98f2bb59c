//! Acquire+release pairs per second through the arbiter's decisions, in process: `tag_request`
//! and `dispatch` on acquire, `settle_cost` and `dispatch` on release, on an in-memory state of
//! 1,000 tenants and 64 slots, the way the store calls them (minus the database). Compared in the
//! same run with bare counters (a capacity and per-tenant cap check, no fairness), the least any
//! admission can do. Writes the `arbiter-throughput` section of docs/benchmarks.md.
//! `cargo bench -p logplane-quota --bench arbiter`.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::Criterion;
use logplane_quota::arbiter::{
    Caps, DEFAULT_QUANTILE, Headroom, HeadroomRule, Holdings, RecentDemand, TenantLoad, Waiting,
    dispatch, settle_cost, tag_request,
};
use logplane_quota::sim::{DEMAND_TIME_CONSTANT_US, DISPATCH_WINDOW, Random};

const TENANTS: usize = 1_000;
const CAPACITY: i64 = 64;
/// The default `max_concurrent_queries`.
const TENANT_CAP: i64 = 15;
const PROJECT: &str = "default";
/// The virtual time between two operations, for the tenants' recent demand.
const STEP_US: i64 = 100;
/// Every slot is held 10 ms on the virtual clock: the settled cost.
const HELD_MS: i64 = 10;

const GROUP: &str = "arbiter_acquire_release_1000_tenants_64_slots";
const BASELINE: &str = "bare_counters_baseline";
const PLAIN_SATURATED: &str = "plain_fair_queuing_saturated";
const HEADROOM_SATURATED: &str = "headroom_saturated";
const HEADROOM_UNCONTENDED: &str = "headroom_uncontended";

fn tenant_names() -> Vec<String> {
    (0..TENANTS).map(|i| format!("tenant-{i:04}")).collect()
}

fn caps(_tenant: &str, _project: &str) -> Caps {
    Caps {
        tenant: TENANT_CAP,
        project: TENANT_CAP,
    }
}

/// What the store keeps in its tables, in memory: holdings, waiting requests, and per tenant its
/// last finish tag and recent demand.
struct InMemoryArbiter {
    names: Vec<String>,
    now_us: i64,
    virtual_time: i64,
    holdings: Holdings,
    /// The tenant of each slot held, and the cost its request was tagged with.
    running: Vec<(usize, i64)>,
    waiting: Vec<Waiting>,
    waiting_tenants: Vec<usize>,
    last_finish: Vec<Option<i64>>,
    outstanding: Vec<i64>,
    demand: Vec<RecentDemand>,
    /// The store would load these rows per transaction; here they are kept up to date.
    headroom: Headroom,
}

impl InMemoryArbiter {
    fn new(rule: HeadroomRule) -> Self {
        let names = tenant_names();
        // Every tenant starts active with the demand the load below gives it: 64 slots spread
        // over 1,000 tenants.
        let tenants = names
            .iter()
            .map(|name| {
                (
                    name.clone(),
                    TenantLoad {
                        weight: 1,
                        max_concurrent: TENANT_CAP,
                        recent_demand: CAPACITY as f64 / TENANTS as f64,
                    },
                )
            })
            .collect();
        Self {
            now_us: 0,
            virtual_time: 0,
            holdings: Holdings::default(),
            running: Vec::new(),
            waiting: Vec::new(),
            waiting_tenants: Vec::new(),
            last_finish: vec![None; TENANTS],
            outstanding: vec![0; TENANTS],
            demand: vec![RecentDemand::default(); TENANTS],
            headroom: Headroom { rule, tenants },
            names,
        }
    }

    fn note_outstanding(&mut self, tenant: usize, change: i64) {
        self.now_us += STEP_US;
        self.demand[tenant] = self.demand[tenant].at(
            self.now_us,
            self.outstanding[tenant],
            DEMAND_TIME_CONSTANT_US,
        );
        self.outstanding[tenant] += change;
        if self.headroom.rule == HeadroomRule::WorkConserving {
            return;
        }
        if let Some(load) = self.headroom.tenants.get_mut(&self.names[tenant]) {
            load.recent_demand = self.demand[tenant].average;
        }
    }

    fn acquire(&mut self, tenant: usize) {
        self.note_outstanding(tenant, 1);
        let tags = tag_request(self.virtual_time, self.last_finish[tenant], 1, 1);
        self.last_finish[tenant] = Some(tags.finish);
        self.waiting.push(Waiting {
            tenant: self.names[tenant].clone(),
            project: PROJECT.to_string(),
            start_tag: tags.start,
        });
        self.waiting_tenants.push(tenant);
        self.dispatch();
    }

    fn release(&mut self, running_index: usize) {
        let (tenant, tagged_cost) = self.running.swap_remove(running_index);
        self.note_outstanding(tenant, -1);
        self.holdings.remove(&self.names[tenant], PROJECT);
        if let Some(finish) = self.last_finish[tenant] {
            self.last_finish[tenant] = Some(settle_cost(finish, tagged_cost, HELD_MS, 1));
        }
        self.dispatch();
    }

    fn dispatch(&mut self) {
        debug_assert!(
            self.waiting.len() <= DISPATCH_WINDOW,
            "the store passes at most its window"
        );
        let decided = dispatch(
            CAPACITY,
            self.virtual_time,
            &mut self.holdings,
            &self.waiting,
            caps,
            &self.headroom,
        );
        self.virtual_time = decided.virtual_time;
        if decided.granted.is_empty() {
            return;
        }
        let mut granted = decided.granted;
        // Remove from the back so the indexes still to remove stay valid.
        granted.sort_unstable_by(|a, b| b.cmp(a));
        for index in granted {
            self.waiting.swap_remove(index);
            let tenant = self.waiting_tenants.swap_remove(index);
            self.running.push((tenant, 1));
        }
    }
}

/// The least an admission can do: count slots per tenant and in all, no order, no fairness.
struct BareCounters {
    names: Vec<String>,
    total: i64,
    by_tenant: HashMap<String, i64>,
}

impl BareCounters {
    fn try_acquire(&mut self, tenant: usize) -> bool {
        let held = self
            .by_tenant
            .entry(self.names[tenant].clone())
            .or_default();
        if self.total >= CAPACITY || *held >= TENANT_CAP {
            return false;
        }
        *held += 1;
        self.total += 1;
        true
    }

    fn release(&mut self, tenant: usize) {
        if let Some(held) = self.by_tenant.get_mut(&self.names[tenant]) {
            *held -= 1;
            self.total -= 1;
        }
    }
}

/// Fills every slot and the store's window of waiting requests.
fn saturated(rule: HeadroomRule, random: &mut Random) -> InMemoryArbiter {
    let mut arbiter = InMemoryArbiter::new(rule);
    while arbiter.running.len() < CAPACITY as usize || arbiter.waiting.len() < DISPATCH_WINDOW {
        let tenant = random.next_u64() as usize % TENANTS;
        arbiter.acquire(tenant);
    }
    arbiter
}

fn acquire_release_pairs(c: &mut Criterion) {
    let mut group = c.benchmark_group(GROUP);
    let mut random = Random::new(2026);

    let mut counters = BareCounters {
        names: tenant_names(),
        total: 0,
        by_tenant: HashMap::new(),
    };
    group.bench_function(BASELINE, |b| {
        b.iter(|| {
            let tenant = random.next_u64() as usize % TENANTS;
            if counters.try_acquire(tenant) {
                counters.release(tenant);
            }
            black_box(counters.total)
        })
    });

    for (name, rule) in [
        (PLAIN_SATURATED, HeadroomRule::WorkConserving),
        (
            HEADROOM_SATURATED,
            HeadroomRule::Reserve {
                quantile: DEFAULT_QUANTILE,
            },
        ),
    ] {
        let mut arbiter = saturated(rule, &mut random);
        group.bench_function(name, |b| {
            b.iter(|| {
                // A slot frees and goes to a waiting request; a new request arrives and waits.
                let running_index = random.next_u64() as usize % arbiter.running.len().max(1);
                if !arbiter.running.is_empty() {
                    arbiter.release(running_index);
                }
                arbiter.acquire(random.next_u64() as usize % TENANTS);
                black_box(arbiter.holdings.total)
            })
        });
    }

    let mut idle = InMemoryArbiter::new(HeadroomRule::Reserve {
        quantile: DEFAULT_QUANTILE,
    });
    group.bench_function(HEADROOM_UNCONTENDED, |b| {
        b.iter(|| {
            // Slots are free: the request is granted at once, then released.
            idle.acquire(random.next_u64() as usize % TENANTS);
            let last = idle.running.len() - 1;
            idle.release(last);
            black_box(idle.holdings.total)
        })
    });
    group.finish();
}

fn main() {
    let load_before = logplane_bench_report::load_average();
    let mut criterion = Criterion::default()
        .output_directory(&logplane_bench_report::criterion_directory())
        .configure_from_args();
    acquire_release_pairs(&mut criterion);
    criterion.final_summary();
    // `cargo test --benches` runs each function once without `--bench`, measuring nothing: the
    // estimates on disk would be an earlier run's, so the report is left alone.
    if std::env::args().any(|argument| argument == "--bench") {
        write_report(&load_before);
    }
}

fn write_report(load_before: &str) {
    let measured: Option<Vec<f64>> = [
        BASELINE,
        PLAIN_SATURATED,
        HEADROOM_SATURATED,
        HEADROOM_UNCONTENDED,
    ]
    .iter()
    .map(|function| logplane_bench_report::criterion_mean_ns(GROUP, function))
    .collect();
    let Some(measured) = measured else {
        eprintln!(
            "no criterion estimates found (a filtered or test run?); the report is unchanged"
        );
        return;
    };
    let [baseline, plain, headroom, uncontended] = measured[..] else {
        return;
    };
    let row = |label: &str, ns: f64| {
        format!(
            "| {label} | {ns:.0} | {:.0} | {:.1} |\n",
            1e9 / ns,
            ns / baseline
        )
    };
    let body = format!(
        "## Query-slot arbiter: acquire+release pairs per second\n\n{}\n\
         | path | ns per pair (mean) | pairs per second | time ÷ baseline |\n|---|---:|---:|---:|\n\
         {}{}{}{}\
         | over HTTP, through the API and the store | – | see the HTTP throughput section | – |\n\n\
         In process: the arbiter's decisions on an in-memory state of 1,000 tenants (weight 1, \
         `max_concurrent_queries` 15) and 64 slots, one pair per iteration. Saturated: all 64 \
         slots held and 1,000 requests waiting (the window the store hands `dispatch`); a \
         release settles the request's cost and dispatches, which heaps the 1,000 waiting by \
         start tag and pops them until one may be granted; the acquire tags a new request and \
         dispatches, which returns at once (no slot free). With headroom all 1,000 tenants are \
         active, so dispatch also works out the room kept for the 900-odd holding no slot \
         (below their share of 0.064) and passes over the requests of tenants already holding \
         one. Uncontended: slots are \
         free, each acquire is granted at once. Bare counters (the baseline) check the capacity \
         and the tenant's cap with no order and no fairness. The store runs these \
         decisions in transactions on its arbiter row, under load many steps and one dispatch \
         to a transaction: these figures are the arbiter's share of the work.\n\n\
         Run it with `cargo bench -p logplane-quota --bench arbiter`; it rewrites this section.\n",
        logplane_bench_report::conditions_table(
            load_before,
            &[("tool", "criterion, mean of 100 samples".into())]
        ),
        row("bare counters, no fairness (baseline)", baseline),
        row(
            "arbiter, plain fair queuing, saturated (1,000 waiting)",
            plain
        ),
        row(
            &format!("arbiter with headroom ({DEFAULT_QUANTILE}), saturated (1,000 waiting)"),
            headroom
        ),
        row(
            &format!("arbiter with headroom ({DEFAULT_QUANTILE}), uncontended"),
            uncontended
        ),
    );
    match logplane_bench_report::write_section("arbiter-throughput", &body) {
        Ok(()) => println!("wrote {}", logplane_bench_report::report_path().display()),
        Err(error) => eprintln!("cannot write the report: {error}"),
    }
}
