//! Nanoseconds per API rate-limit check with 10,000 tenants, against governor's bare keyed
//! limiter in the same run (goal: a ratio of at most 2 — our check consults two budgets, the
//! tenant's and the key's). Writes the `rate-limiter` section of docs/benchmarks.md.
//! `cargo bench -p logplane-quota --bench limiter`.

use std::hint::black_box;
use std::num::NonZeroU32;

use criterion::Criterion;
use governor::{Quota, RateLimiter};
use logplane_model::quota::ApiRate;
use logplane_quota::ApiRateLimiter;

const TENANTS: usize = 10_000;
/// Strides through the tenants in an order that defeats the CPU's prefetching of neighbours.
const STRIDE: usize = 7919;
/// High enough that no check is refused: the bench measures the admit path, which is the
/// common one.
const RATE: ApiRate = ApiRate {
    per_sec: 1_000_000_000,
    burst: 1_000_000_000,
};
const GROUP: &str = "api_rate_limit_check_10k_tenants";
const BASELINE: &str = "governor_keyed_baseline";
const OURS: &str = "logplane_tenant_and_key";

fn names(prefix: &str) -> Vec<String> {
    (0..TENANTS).map(|i| format!("{prefix}-{i:05}")).collect()
}

fn limiter_checks(c: &mut Criterion) {
    let tenants = names("tenant");
    let keys = names("key");
    let mut group = c.benchmark_group(GROUP);

    let bare = RateLimiter::keyed(Quota::per_second(NonZeroU32::new(1_000_000_000).unwrap()));
    let mut i = 0usize;
    group.bench_function(BASELINE, |b| {
        b.iter(|| {
            i = (i + STRIDE) % TENANTS;
            black_box(bare.check_key(&keys[i]).is_ok())
        })
    });

    let ours = ApiRateLimiter::new(RATE, RATE);
    let mut j = 0usize;
    group.bench_function(OURS, |b| {
        b.iter(|| {
            j = (j + STRIDE) % TENANTS;
            black_box(ours.check(Some((&tenants[j], RATE)), &keys[j]).is_ok())
        })
    });
    group.finish();
}

fn main() {
    let load_before = logplane_bench_report::load_average();
    let mut criterion = Criterion::default()
        .output_directory(&logplane_bench_report::criterion_directory())
        .configure_from_args();
    limiter_checks(&mut criterion);
    criterion.final_summary();
    // `cargo test --benches` runs each function once without `--bench`, measuring nothing: the
    // estimates on disk would be an earlier run's, so the report is left alone.
    if std::env::args().any(|argument| argument == "--bench") {
        write_report(&load_before);
    }
}

fn write_report(load_before: &str) {
    let (Some(baseline), Some(ours)) = (
        logplane_bench_report::criterion_mean_ns(GROUP, BASELINE),
        logplane_bench_report::criterion_mean_ns(GROUP, OURS),
    ) else {
        eprintln!(
            "no criterion estimates found (a filtered or test run?); the report is unchanged"
        );
        return;
    };
    let ratio = ours / baseline;
    let verdict = if ratio <= 2.0 {
        "meets the goal (≤ 2)"
    } else {
        "**misses the goal (≤ 2)**"
    };
    let body = format!(
        "## API rate limiter: nanoseconds per check, 10,000 tenants\n\n{}\n\
         | limiter | ns per check (mean) | ratio to baseline |\n|---|---:|---:|\n\
         | governor keyed limiter, one bucket per key (baseline) | {baseline:.1} | 1.00 |\n\
         | logplane: tenant bucket and key bucket | {ours:.1} | {ratio:.2} |\n\n\
         The ratio {ratio:.2} {verdict}. Tenants are at the server's default rate, as most are. Every check admits (the rates are set out of reach): refusals \
         are the rare path. Each check looks up 2 of 20,000 buckets (10,000 tenants, 10,000 keys) \
         in an order that strides through them, against one lookup of 10,000 for the baseline. \
         Run it with `cargo bench -p logplane-quota --bench limiter`; it rewrites this section.\n",
        logplane_bench_report::conditions_table(
            load_before,
            &[("tool", "criterion, mean of 100 samples".into())]
        ),
    );
    match logplane_bench_report::write_section("rate-limiter", &body) {
        Ok(()) => println!("wrote {}", logplane_bench_report::report_path().display()),
        Err(error) => eprintln!("cannot write the report: {error}"),
    }
}
