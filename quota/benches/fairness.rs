//! The quota issue's fairness benchmark, on the simulator (a simulation, not a timing): 8 slots,
//! a light tenant sending 80 queries a second of 10 ms and a heavy tenant keeping 64 queries of
//! 200 ms outstanding. Goals: the light tenant's p99 wait at most 1.25 × its p99 when alone on
//! the same slots; the heavy tenant keeps at least 80% of its fair share; Jain's index over
//! worker-seconds at least 0.95. Baseline in the same run: plain FIFO admission. Also the
//! trade-off headroom makes, the least waiting any admission rule can reach at each heavy share,
//! and how the figures move with the seed.
//!
//! The first goal cannot be met together with the second (the report shows why); the goal we
//! hold instead is the light tenant's p99 wait at most 1.25 × its own query time.
//! Writes the `arbiter-fairness` section of docs/benchmarks.md.
//! `cargo bench -p logplane-quota --bench fairness`.

use logplane_quota::arbiter::{DEFAULT_QUANTILE, HeadroomRule, slots_wanted};
use logplane_quota::sim::flood::{self, FLOOD_CAPACITY, HEAVY, LIGHT};
use logplane_quota::sim::{ArbiterSettings, Charging, Policy, Report, SECOND_US, run};

/// Long enough for about 48,000 light queries, so the p99 rests on some 480 of them.
const SECONDS: u64 = 600;
/// When run as a test (`cargo test --benches`): enough to exercise the code, not to report.
const TEST_SECONDS: u64 = 20;
const SEED: u64 = 42;
const OTHER_SEEDS: [u64; 4] = [1, 2, 3, 4];
const SWEPT_QUANTILES: [f64; 6] = [0.5, 0.7, 0.9, 0.95, 0.99, 0.999];

const LIGHT_P99_RATIO_GOAL: f64 = 1.25;
/// The light tenant's query time, the scale of the goal held instead of the ratio to its p99
/// alone (which is 0).
const LIGHT_QUERY_US: u64 = 10_000;
const HEAVY_SHARE_GOAL: f64 = 0.8;
const JAIN_GOAL: f64 = 0.95;

/// The light tenant's mean demand in slots: 80 per second × 10 ms.
const LIGHT_DEMAND: f64 = 0.8;

struct Outcome {
    label: String,
    report: Report,
}

impl Outcome {
    fn light_p99_us(&self) -> u64 {
        self.report
            .tenant(LIGHT)
            .map_or(0, |light| light.wait_p99_us)
    }

    fn heavy_share(&self) -> f64 {
        self.report
            .tenant(HEAVY)
            .and_then(|heavy| heavy.share_of_fair(self.report.measured_seconds))
            .unwrap_or(0.0)
    }

    fn heavy_slots(&self) -> f64 {
        self.report
            .tenant(HEAVY)
            .map_or(0.0, |heavy| heavy.mean_slots(self.report.measured_seconds))
    }

    fn light_waited(&self) -> f64 {
        let light = self
            .report
            .tenant(LIGHT)
            .expect("every run has the light tenant");
        light.waited as f64 / light.granted.max(1) as f64
    }

    fn goals(&self, alone_p99_us: u64) -> Goals {
        Goals {
            light_wait: self.light_p99_us() as f64 <= LIGHT_P99_RATIO_GOAL * alone_p99_us as f64,
            light_own_query: self.light_p99_us() as f64
                <= LIGHT_P99_RATIO_GOAL * LIGHT_QUERY_US as f64,
            heavy_share: self.heavy_share() >= HEAVY_SHARE_GOAL,
            jain: self.report.jain_index >= JAIN_GOAL,
        }
    }
}

struct Goals {
    light_wait: bool,
    light_own_query: bool,
    heavy_share: bool,
    jain: bool,
}

impl Goals {
    fn summary(&self) -> String {
        let mark = |met: bool| if met { "met" } else { "**missed**" };
        format!(
            "{} / {} / {} / {}",
            mark(self.light_wait),
            mark(self.light_own_query),
            mark(self.heavy_share),
            mark(self.jain)
        )
    }
}

const GOAL_COLUMNS: &str =
    "goals: light p99 ÷ alone / light p99 ÷ its query time / heavy share / Jain";

fn arbiter_with_quantile(quantile: f64) -> Policy {
    Policy::Arbiter(ArbiterSettings::with_headroom(HeadroomRule::Reserve {
        quantile,
    }))
}

fn simulate(label: &str, policy: Policy, seconds: u64, seed: u64) -> Outcome {
    Outcome {
        label: label.to_string(),
        report: run(&flood::flood(policy, seconds, seed)),
    }
}

fn milliseconds(us: u64) -> String {
    format!("{:.1}", us as f64 / 1000.0)
}

fn main() {
    let benchmarking = std::env::args().any(|argument| argument == "--bench");
    let seconds = if benchmarking { SECONDS } else { TEST_SECONDS };
    let load_before = logplane_bench_report::load_average();

    let alone = Outcome {
        label: "light tenant alone".into(),
        report: run(&flood::light_alone(
            Policy::Arbiter(ArbiterSettings::default()),
            seconds,
            SEED,
        )),
    };
    let policies = [
        simulate("FIFO admission (baseline)", Policy::Fifo, seconds, SEED),
        simulate(
            "arbiter, plain start-time fair queuing",
            Policy::Arbiter(ArbiterSettings::work_conserving()),
            seconds,
            SEED,
        ),
        simulate(
            &format!("arbiter with headroom at quantile {DEFAULT_QUANTILE} (the default)"),
            Policy::Arbiter(ArbiterSettings::default()),
            seconds,
            SEED,
        ),
    ];
    let hint_only = simulate(
        "plain fair queuing charged 1 ms per query, not the slot time used",
        Policy::Arbiter(ArbiterSettings {
            charging: Charging::Hint,
            ..ArbiterSettings::work_conserving()
        }),
        seconds,
        SEED,
    );
    let sweep: Vec<Outcome> = SWEPT_QUANTILES
        .iter()
        .map(|&quantile| {
            simulate(
                &format!("{quantile}"),
                arbiter_with_quantile(quantile),
                seconds,
                SEED,
            )
        })
        .collect();
    let seeds: Vec<Outcome> = OTHER_SEEDS
        .iter()
        .map(|&seed| {
            simulate(
                &format!("{seed}"),
                Policy::Arbiter(ArbiterSettings::default()),
                seconds,
                seed,
            )
        })
        .collect();

    for outcome in policies.iter().chain([&hint_only]) {
        println!(
            "{}: light p99 {} ms, heavy {:.3} of fair share, Jain {:.4}",
            outcome.label,
            milliseconds(outcome.light_p99_us()),
            outcome.heavy_share(),
            outcome.report.jain_index
        );
    }
    if !benchmarking {
        println!("a test run ({seconds} simulated seconds); the report is unchanged");
        return;
    }
    write_report(&load_before, &alone, &policies, &hint_only, &sweep, &seeds);
}

fn results_row(outcome: &Outcome) -> String {
    let report = &outcome.report;
    let light = report
        .tenant(LIGHT)
        .expect("every run has the light tenant");
    let heavy = report.tenant(HEAVY);
    format!(
        "| {} | {} | {} | {} | {:.1}% | {:.2} | {} | {} | {:.4} | {:.3} |\n",
        outcome.label,
        milliseconds(light.wait_p50_us),
        milliseconds(light.wait_p99_us),
        milliseconds(light.wait_max_us),
        100.0 * outcome.light_waited(),
        light.mean_slots(report.measured_seconds),
        heavy.map_or("–".into(), |_| format!("{:.2}", outcome.heavy_slots())),
        heavy.map_or("–".into(), |_| format!("{:.3}", outcome.heavy_share())),
        report.jain_index,
        report.utilization,
    )
}

const RESULTS_HEADER: &str = "| run | light p50 wait ms | light p99 wait ms | light max wait ms | light queries that waited | light slots (fair share 0.80) | heavy slots (fair share 7.20) | heavy ÷ fair share | Jain's index | slots used |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";

fn write_report(
    load_before: &str,
    alone: &Outcome,
    policies: &[Outcome],
    hint_only: &Outcome,
    sweep: &[Outcome],
    seeds: &[Outcome],
) {
    let alone_p99 = alone.light_p99_us();
    let light_limit_us = LIGHT_P99_RATIO_GOAL * alone_p99 as f64;

    let mut results = String::from(RESULTS_HEADER);
    results.push_str(&results_row(alone));
    for outcome in policies {
        results.push_str(&results_row(outcome));
    }
    results.push_str(&results_row(hint_only));

    let mut goals = format!(
        "| policy | light p99 wait ÷ alone | light p99 wait ÷ its query time | heavy ÷ fair share | Jain's index | {GOAL_COLUMNS} |\n|---|---:|---:|---:|---:|---|\n",
    );
    for outcome in policies {
        let ratio = if alone_p99 == 0 {
            if outcome.light_p99_us() == 0 {
                "0 ÷ 0".to_string()
            } else {
                "∞ (alone: 0)".to_string()
            }
        } else {
            format!("{:.2}", outcome.light_p99_us() as f64 / alone_p99 as f64)
        };
        goals.push_str(&format!(
            "| {} | {ratio} | {:.2} | {:.3} | {:.4} | {} |\n",
            outcome.label,
            outcome.light_p99_us() as f64 / LIGHT_QUERY_US as f64,
            outcome.heavy_share(),
            outcome.report.jain_index,
            outcome.goals(alone_p99).summary()
        ));
    }

    let mut trade_off = format!(
        "| headroom quantile | room kept for the light tenant (slots, at most its share of 4) | light p99 wait ms | light queries that waited | least any rule lets wait at this heavy share (estimate) | heavy slots | heavy ÷ fair share | Jain's index | {GOAL_COLUMNS} |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for outcome in sweep {
        let quantile: f64 = outcome.label.parse().unwrap_or(0.0);
        trade_off.push_str(&format!(
            "| {}{} | {} | {} | {:.1}% | {:.1}% | {:.2} | {:.3} | {:.4} | {} |\n",
            outcome.label,
            if quantile == DEFAULT_QUANTILE {
                " (default)"
            } else {
                ""
            },
            room_for_light(quantile),
            milliseconds(outcome.light_p99_us()),
            100.0 * outcome.light_waited(),
            100.0 * least_light_waiting(outcome.heavy_slots()),
            outcome.heavy_slots(),
            outcome.heavy_share(),
            outcome.report.jain_index,
            outcome.goals(alone_p99).summary()
        ));
    }

    let default = &policies[2];
    let range = |values: Vec<f64>| {
        let low = values.iter().copied().fold(f64::INFINITY, f64::min);
        let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (low, high)
    };
    let all_seeds: Vec<&Outcome> = std::iter::once(default).chain(seeds).collect();
    let (p99_low, p99_high) = range(
        all_seeds
            .iter()
            .map(|outcome| outcome.light_p99_us() as f64 / 1000.0)
            .collect(),
    );
    let (share_low, share_high) = range(
        all_seeds
            .iter()
            .map(|outcome| outcome.heavy_share())
            .collect(),
    );
    let (jain_low, jain_high) = range(
        all_seeds
            .iter()
            .map(|outcome| outcome.report.jain_index)
            .collect(),
    );
    let seed_list: Vec<String> = std::iter::once(SEED)
        .chain(OTHER_SEEDS)
        .map(|seed| seed.to_string())
        .collect();
    let seed_list = seed_list.join(", ");
    let alone_ms = milliseconds(alone_p99);
    let limit_ms = milliseconds(light_limit_us as u64);
    let default_room = room_for_light(DEFAULT_QUANTILE);
    let immediate_percent = 100.0 * poisson_cdf(LIGHT_DEMAND, default_room - 1);
    let conditions = logplane_bench_report::conditions_table(
        load_before,
        &[
            (
                "tool",
                "the arbiter simulator (`quota/src/sim`): virtual clock in microseconds, the \
                 arbiter's own `tag_request`, `dispatch` and `settle_cost`"
                    .into(),
            ),
            (
                "simulated",
                format!(
                    "{SECONDS} s per run, the first {} s excluded as warm-up; seed {SEED}",
                    flood::FLOOD_WARMUP_US / SECOND_US
                ),
            ),
            (
                "load",
                "8 slots; light: Poisson, 80 queries/s, 10 ms each; heavy: closed loop of 64 \
                 outstanding, 200 ms each; weights 1, no caps, no cost hints"
                    .into(),
            ),
        ],
    );
    let sweep_at = |quantile: f64| {
        sweep
            .iter()
            .find(|outcome| outcome.label.parse::<f64>().ok() == Some(quantile))
            .expect("a swept quantile")
    };
    let most_room = sweep_at(0.999);
    let most_room_p99_ms = milliseconds(most_room.light_p99_us());
    let most_room_heavy_slots = most_room.heavy_slots();
    let most_room_heavy_percent = 100.0 * most_room.heavy_share();
    let heavy_fair_slots = FLOOD_CAPACITY as f64 - LIGHT_DEMAND;
    let allowed_heavy_slots = most_heavy_slots(0.01);
    let allowed_heavy_percent = 100.0 * allowed_heavy_slots / heavy_fair_slots;
    let default_heavy_percent = 100.0 * default.heavy_share();
    let default_jain = default.report.jain_index;
    let default_waited_percent = 100.0 * default.light_waited();
    let default_least_percent = 100.0 * least_light_waiting(default.heavy_slots());
    let own_query_limit_ms = milliseconds((LIGHT_P99_RATIO_GOAL * LIGHT_QUERY_US as f64) as u64);
    let reading = format!(
        "- **No admission rule meets the first goal together with the second.** Alone, the \
         light tenant's queries (0.8 slots of load on 8) practically never find all 8 slots \
         busy (probability about 2 × 10⁻⁶), so its p99 wait alone is {alone_ms} ms and the goal \
         asks for a p99 of {limit_ms} ms under the flood: at most 1 in 100 light queries may \
         wait at all. Slots are not preemptive, and a heavy query holds its slot 20 times as \
         long as a light one runs, so the heavy tenant's slots cannot follow the light tenant's \
         load from moment to moment. With h heavy queries running, a light query waits when the \
         light tenant's own queries in progress (Poisson with mean 0.8) fill the other 8 − h; \
         that probability grows ever faster with h, so for a given mean the least waiting comes \
         from keeping h between the two whole numbers around it. The column *least any rule \
         lets wait* is that estimate. For at most 1% to wait, the heavy tenant may hold at most \
         {allowed_heavy_slots:.2} slots on average, {allowed_heavy_percent:.0}% of its fair \
         {heavy_fair_slots:.1}, where the second goal asks for 80%. The arbiter at quantile \
         0.999 reaches that point: light p99 {most_room_p99_ms} ms, heavy \
         {most_room_heavy_slots:.2} slots ({most_room_heavy_percent:.0}%), and it misses the \
         third goal too.\n\
         - **The goal we hold instead: the light tenant's p99 wait at most \
         {LIGHT_P99_RATIO_GOAL} × its own query time** ({own_query_limit_ms} ms). It keeps the \
         issue's intent, that a light tenant's wait barely changes while a heavy tenant floods, \
         on the scale a light query's latency lives on: a light query may wait for one of its \
         own tenant's queries to end, not for the heavy tenant's. The default meets it together \
         with the second and third goals, and lets {default_waited_percent:.1}% of light queries \
         wait where the estimate says no rule could let fewer than \
         {default_least_percent:.1}% wait at the heavy share it keeps. An operator who wants \
         light tenants never to wait sets `--query-headroom-quantile` higher and pays in heavy \
         throughput as the trade-off table shows.\n\
         - **Plain start-time fair queuing** orders the light tenant first whenever a slot \
         frees, but a slot frees only when a 200 ms heavy query ends, and the heavy queries, \
         all the same length, end in bunches: the light p99 is most of one heavy query.\n\
         - **Headroom at the default quantile {DEFAULT_QUANTILE}** keeps room for the light \
         tenant to run {default_room} queries at once (the {DEFAULT_QUANTILE} quantile of its \
         concurrency, estimated from its recent demand), so by the Poisson estimate \
         {immediate_percent:.1}% of its queries find a slot free at once; most of the others \
         wait for one of the light tenant's own 10 ms queries to end, so its p99 is about one \
         light query, while the heavy tenant keeps {default_heavy_percent:.1}% of its fair share \
         and Jain's index is {default_jain:.4}. The room costs the heavy tenant the idle \
         capacity the last column of the results shows; with one tenant active no room is \
         kept.\n\
         - **FIFO** serves the light tenant behind the heavy tenant's 56 waiting queries.\n\
         - **Charging the slot time used** (`settle_cost` at release) is what lets fair queuing \
         tell a light tenant from a heavy one when frontends send no cost hints: charged 1 ms \
         per query, the light tenant's 80 queries a second count for more than the heavy \
         tenant's 36, and it starves (the last row of the results).\n"
    );
    let body = format!(
        "## Query-slot arbiter: fairness under a flood (simulated)\n\n{conditions}\n\
         ### Results\n\n{results}\n\
         ### Goals\n\n\
         The issue's goals: the light tenant's p99 wait at most {LIGHT_P99_RATIO_GOAL} × its \
         p99 alone ({alone_ms} ms × {LIGHT_P99_RATIO_GOAL} = {limit_ms} ms); the heavy tenant \
         at least {HEAVY_SHARE_GOAL} of its fair share; Jain's index over worker-seconds \
         divided by fair shares at least {JAIN_GOAL}. No rule meets the first with the second \
         (*Reading it* shows why); the goal held in its place is the light tenant's p99 wait at \
         most {LIGHT_P99_RATIO_GOAL} × its own query time ({own_query_limit_ms} ms).\n\n\
         {goals}\n\
         ### The trade-off headroom makes\n\n\
         The arbiter with headroom at other quantiles, on the same arrivals:\n\n{trade_off}\n\
         Across seeds {seed_list} the default's light p99 wait ranges \
         {p99_low:.1}–{p99_high:.1} ms, the heavy tenant's share of its fair share \
         {share_low:.3}–{share_high:.3} and Jain's index {jain_low:.4}–{jain_high:.4}.\n\n\
         ### Reading it\n\n{reading}\n\
         Run it with `cargo bench -p logplane-quota --bench fairness`; it rewrites this \
         section. The figures depend on the code and the seed only; the machine rows say where \
         it ran, not what they depend on.\n"
    );
    match logplane_bench_report::write_section("arbiter-fairness", &body) {
        Ok(()) => println!("wrote {}", logplane_bench_report::report_path().display()),
        Err(error) => eprintln!("cannot write the report: {error}"),
    }
}

/// The room headroom keeps for the light tenant at `quantile`: its concurrency quantile, at most
/// its share of the slots (half of them, with two tenants of weight 1), as dispatch caps it.
fn room_for_light(quantile: f64) -> i64 {
    slots_wanted(LIGHT_DEMAND, quantile).min(flood::FLOOD_CAPACITY / 2)
}

/// P(N ≤ k) for N Poisson with the given mean.
fn poisson_cdf(mean: f64, k: i64) -> f64 {
    let mut probability = (-mean).exp();
    let mut cumulative = probability;
    for n in 1..=k.max(0) {
        probability *= mean / n as f64;
        cumulative += probability;
    }
    if k < 0 { 0.0 } else { cumulative }
}

/// P(N ≥ 8 − held) for the light tenant's queries in progress N: the chance that a light query
/// finds no slot free while the heavy tenant holds `held`.
fn light_finds_slots_full(held: i64) -> f64 {
    1.0 - poisson_cdf(LIGHT_DEMAND, FLOOD_CAPACITY - held - 1)
}

/// The fewest light queries that must wait, as a fraction, when the heavy tenant holds
/// `heavy_slots` on average, under any rule whose heavy grants do not follow the light tenant's
/// load from moment to moment. [`light_finds_slots_full`] is convex in the heavy slots held, so
/// the least average for a given mean comes from holding the two whole numbers around it.
fn least_light_waiting(heavy_slots: f64) -> f64 {
    let clamped = heavy_slots.clamp(0.0, FLOOD_CAPACITY as f64);
    let below = (clamped.floor() as i64).min(FLOOD_CAPACITY - 1);
    let fraction = clamped - below as f64;
    let (low, high) = (
        light_finds_slots_full(below),
        light_finds_slots_full(below + 1),
    );
    low + fraction * (high - low)
}

/// The inverse of [`least_light_waiting`]: the most heavy slots on average that leave no more
/// than `waiting` of the light queries waiting.
fn most_heavy_slots(waiting: f64) -> f64 {
    for below in 0..FLOOD_CAPACITY {
        let (low, high) = (
            light_finds_slots_full(below),
            light_finds_slots_full(below + 1),
        );
        if high > waiting {
            return below as f64 + ((waiting - low) / (high - low)).max(0.0);
        }
    }
    FLOOD_CAPACITY as f64
}
