//! The arbiter's fairness and limits, measured on the simulator's virtual clock: every figure
//! asserted here is a pure function of the scenario and its seed, never of wall time.

use std::collections::HashMap;

use logplane_quota::arbiter::{
    Caps, Headroom, HeadroomRule, Holdings, TenantLoad, Waiting, dispatch,
};
use logplane_quota::sim::flood::{self, HEAVY, LIGHT};
use logplane_quota::sim::{
    ArbiterSettings, Arrivals, Charging, Policy, QueryDuration, Report, SECOND_US, Scenario,
    TenantReport, TenantSpec, run,
};
use proptest::prelude::*;

const SEED: u64 = 7;
/// Long enough for thousands of light queries, short enough for a debug-build test.
const FLOOD_SECONDS: u64 = 120;

fn tenant<'a>(report: &'a Report, name: &str) -> &'a TenantReport {
    report.tenant(name).expect("the tenant is in the scenario")
}

fn share_of_fair(report: &Report, name: &str) -> f64 {
    tenant(report, name)
        .share_of_fair(report.measured_seconds)
        .expect("the tenant has a fair share")
}

#[test]
fn a_light_tenant_is_served_within_its_fair_share_while_a_heavy_tenant_floods() {
    for settings in [
        ArbiterSettings::default(),
        ArbiterSettings::work_conserving(),
    ] {
        let report = run(&flood::flood(
            Policy::Arbiter(settings),
            FLOOD_SECONDS,
            SEED,
        ));
        let light = tenant(&report, LIGHT);
        assert!(
            share_of_fair(&report, LIGHT) > 0.97,
            "{settings:?}: the light tenant gets all it asks for"
        );
        assert!(
            light.granted + 2 >= light.arrived,
            "{settings:?}: {light:?}"
        );
        assert!(
            light.wait_max_us < 200_000,
            "{settings:?}: a light query never waits longer than one heavy query runs: {light:?}"
        );
        assert!(
            share_of_fair(&report, HEAVY) >= 0.8,
            "{settings:?}: the heavy tenant keeps most of what the light one leaves"
        );
        assert!(report.jain_index >= 0.95, "{settings:?}: {report:?}");
    }
}

#[test]
fn headroom_shortens_the_light_tenants_waits_and_fifo_does_not_protect_it() {
    let with_headroom = run(&flood::flood(
        Policy::Arbiter(ArbiterSettings::default()),
        FLOOD_SECONDS,
        SEED,
    ));
    let plain = run(&flood::flood(
        Policy::Arbiter(ArbiterSettings::work_conserving()),
        FLOOD_SECONDS,
        SEED,
    ));
    let fifo = run(&flood::flood(Policy::Fifo, FLOOD_SECONDS, SEED));
    let light_p99 = |report: &Report| tenant(report, LIGHT).wait_p99_us;
    // The goal held in place of the unreachable ratio to the p99 alone (0): at most
    // 1.25 × the light tenant's own query time, so it waits for its own queries, not the heavy's.
    assert!(
        light_p99(&with_headroom) <= 12_500,
        "within 1.25 × one light query's duration: {}",
        light_p99(&with_headroom)
    );
    assert!(light_p99(&with_headroom) * 5 < light_p99(&plain));
    assert!(
        light_p99(&fifo) > SECOND_US,
        "behind the heavy tenant's queue of 56: {}",
        light_p99(&fifo)
    );
}

#[test]
fn charging_only_the_hint_lets_many_short_queries_fall_behind_few_long_ones() {
    // Why the arbiter settles real slot time: with one unit per query the light tenant's 80
    // queries a second count as more than the heavy tenant's 36.
    let settings = ArbiterSettings {
        charging: Charging::Hint,
        ..ArbiterSettings::work_conserving()
    };
    let report = run(&flood::flood(Policy::Arbiter(settings), 60, SEED));
    assert!(tenant(&report, LIGHT).wait_p50_us > SECOND_US);
}

#[test]
fn a_tenant_with_weight_two_gets_twice_the_slot_seconds_when_both_are_backlogged() {
    for settings in [
        ArbiterSettings::default(),
        ArbiterSettings::work_conserving(),
    ] {
        let mut double = TenantSpec::new(
            "double",
            Arrivals::ClosedLoop { outstanding: 40 },
            QueryDuration::Exponential { mean_us: 100_000 },
        );
        double.weight = 2;
        let single = TenantSpec::new(
            "single",
            Arrivals::ClosedLoop { outstanding: 40 },
            QueryDuration::Exponential { mean_us: 100_000 },
        );
        let report = run(&Scenario {
            capacity: 9,
            policy: Policy::Arbiter(settings),
            run_us: 120 * SECOND_US,
            warmup_us: 5 * SECOND_US,
            seed: SEED,
            tenants: vec![double, single],
        });
        let ratio = tenant(&report, "double").slot_seconds / tenant(&report, "single").slot_seconds;
        assert!((1.9..=2.1).contains(&ratio), "{settings:?}: ratio {ratio}");
        assert!(
            report.utilization > 0.999,
            "{settings:?}: both are backlogged"
        );
    }
}

#[test]
fn a_capped_tenant_never_exceeds_its_cap_and_the_others_use_the_rest() {
    let mut capped = flood::heavy_tenant();
    capped.max_concurrent = 3;
    let other = TenantSpec::new(
        "other",
        Arrivals::ClosedLoop { outstanding: 16 },
        QueryDuration::Fixed { us: 50_000 },
    );
    let report = run(&Scenario {
        capacity: 8,
        policy: Policy::Arbiter(ArbiterSettings::default()),
        run_us: 60 * SECOND_US,
        warmup_us: SECOND_US,
        seed: SEED,
        tenants: vec![capped, other],
    });
    assert_eq!(tenant(&report, HEAVY).peak_held, 3);
    assert!(report.utilization > 0.999, "{report:?}");
}

#[test]
fn one_active_tenant_gets_every_slot() {
    // Headroom is kept for other active tenants only: alone, a tenant is never held back.
    let report = run(&Scenario {
        tenants: vec![flood::heavy_tenant()],
        ..flood::flood(Policy::Arbiter(ArbiterSettings::default()), 60, SEED)
    });
    assert_eq!(report.idle_slot_seconds_while_waiting, 0.0);
    assert!(report.utilization > 0.999);
}

fn with_late_closed_loop_tenant(settings: ArbiterSettings) -> Report {
    let mut late = TenantSpec::new(
        "late",
        Arrivals::ClosedLoop { outstanding: 2 },
        QueryDuration::Fixed { us: 20_000 },
    );
    late.active_from_us = 60 * SECOND_US;
    run(&Scenario {
        tenants: vec![flood::heavy_tenant(), late],
        ..flood::flood(Policy::Arbiter(settings), 90, SEED)
    })
}

#[test]
fn a_tenant_arriving_late_is_not_queued_behind_the_backlog() {
    // Start-time fair queuing tags a newcomer at the current virtual time, ahead of the tags
    // the heavy tenant has piled up over a minute: it waits at most for one heavy query.
    let plain = with_late_closed_loop_tenant(ArbiterSettings::work_conserving());
    assert!(tenant(&plain, "late").wait_max_us <= 200_000);
}

#[test]
fn headroom_gives_a_closed_loop_tenant_its_share_where_plain_fair_queuing_cannot() {
    // A tenant that sends its next query when the last one ends has nothing waiting at the
    // moment its slot frees, so without headroom the flooding tenant takes that slot every
    // time, and the late tenant runs once per heavy query.
    let plain = with_late_closed_loop_tenant(ArbiterSettings::work_conserving());
    assert!(share_of_fair(&plain, "late") < 0.2, "{plain:?}");
    let with_headroom = with_late_closed_loop_tenant(ArbiterSettings::default());
    assert!(
        share_of_fair(&with_headroom, "late") > 0.9,
        "{with_headroom:?}"
    );
    assert!(with_headroom.jain_index > 0.99);
}

#[test]
fn a_run_is_a_pure_function_of_its_scenario() {
    let scenario = flood::flood(Policy::Arbiter(ArbiterSettings::default()), 20, SEED);
    assert_eq!(run(&scenario), run(&scenario));
    let other_seed = flood::flood(Policy::Arbiter(ArbiterSettings::default()), 20, SEED + 1);
    assert_ne!(run(&scenario), run(&other_seed));
}

fn duration_strategy() -> impl Strategy<Value = QueryDuration> {
    prop_oneof![
        (1_000u64..300_000).prop_map(|us| QueryDuration::Fixed { us }),
        (1_000u64..100_000, 0u64..200_000).prop_map(|(min_us, spread)| QueryDuration::Uniform {
            min_us,
            max_us: min_us + spread
        }),
        (1_000u64..300_000).prop_map(|mean_us| QueryDuration::Exponential { mean_us }),
    ]
}

fn arrivals_strategy() -> impl Strategy<Value = Arrivals> {
    prop_oneof![
        (0.5f64..300.0).prop_map(|per_second| Arrivals::Poisson { per_second }),
        (1u32..24).prop_map(|outstanding| Arrivals::ClosedLoop { outstanding }),
    ]
}

fn tenant_strategy(index: usize) -> impl Strategy<Value = TenantSpec> {
    (
        arrivals_strategy(),
        duration_strategy(),
        1i64..4,
        1i64..12,
        prop::collection::vec(1i64..12, 1..4),
        1i64..500,
        0u64..4 * SECOND_US,
        SECOND_US..8 * SECOND_US,
    )
        .prop_map(
            move |(arrivals, duration, weight, max_concurrent, project_caps, cost, from, span)| {
                let mut spec = TenantSpec::new(&format!("tenant-{index}"), arrivals, duration);
                spec.weight = weight;
                spec.max_concurrent = max_concurrent;
                spec.project_caps = project_caps;
                spec.cost_hint_ms = cost;
                spec.active_from_us = from;
                spec.active_until_us = from + span;
                spec
            },
        )
}

fn policy_strategy() -> impl Strategy<Value = Policy> {
    prop_oneof![
        Just(Policy::Fifo),
        Just(Policy::Arbiter(ArbiterSettings::work_conserving())),
        (0.3f64..0.999, prop::bool::ANY).prop_map(|(quantile, settle)| {
            Policy::Arbiter(ArbiterSettings {
                charging: if settle {
                    Charging::SlotTime
                } else {
                    Charging::Hint
                },
                ..ArbiterSettings::with_headroom(HeadroomRule::Reserve { quantile })
            })
        }),
    ]
}

fn scenario_strategy() -> impl Strategy<Value = Scenario> {
    (
        1i64..12,
        policy_strategy(),
        (1usize..5).prop_flat_map(|count| (0..count).map(tenant_strategy).collect::<Vec<_>>()),
        any::<u64>(),
    )
        .prop_map(|(capacity, policy, tenants, seed)| Scenario {
            capacity,
            policy,
            run_us: 10 * SECOND_US,
            warmup_us: SECOND_US,
            seed,
            tenants,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn capacity_and_caps_always_hold(scenario in scenario_strategy()) {
        let report = run(&scenario);
        prop_assert!(report.peak_held <= scenario.capacity);
        for (spec, tenant) in scenario.tenants.iter().zip(&report.tenants) {
            prop_assert!(tenant.peak_held <= spec.max_concurrent, "{}", tenant.name);
            for (project, &peak) in tenant.peak_held_by_project.iter().enumerate() {
                let cap = spec.project_caps[project].min(spec.max_concurrent);
                prop_assert!(peak <= cap, "{} project {}", tenant.name, project);
            }
            prop_assert!(tenant.granted <= tenant.arrived);
        }
    }

    #[test]
    fn one_tenant_alone_is_never_held_back(
        spec in tenant_strategy(0),
        capacity in 1i64..12,
        quantile in 0.3f64..0.999,
    ) {
        // With caps out of reach, any free slot left while the tenant waits is headroom
        // wrongly kept.
        let spec = TenantSpec {
            max_concurrent: 1 << 20,
            project_caps: vec![1 << 20],
            ..spec
        };
        let report = run(&Scenario {
            capacity,
            policy: Policy::Arbiter(ArbiterSettings::with_headroom(HeadroomRule::Reserve { quantile })),
            run_us: 10 * SECOND_US,
            warmup_us: 0,
            seed: 1,
            tenants: vec![spec],
        });
        prop_assert_eq!(report.idle_slot_seconds_while_waiting, 0.0);
    }
}

/// A dispatch input: holdings within the capacity and caps, waiting requests, caps per tenant
/// and project, and the tenants' loads.
#[derive(Debug, Clone)]
struct DispatchCase {
    capacity: i64,
    held: Vec<(usize, usize)>,
    waiting: Vec<(usize, usize, i64)>,
    tenant_caps: Vec<i64>,
    project_caps: Vec<i64>,
    loads: Vec<(i64, f64)>,
    quantile: f64,
}

const TENANTS: usize = 4;
const PROJECTS: usize = 2;

fn dispatch_case_strategy() -> impl Strategy<Value = DispatchCase> {
    (
        1i64..16,
        prop::collection::vec((0..TENANTS, 0..PROJECTS), 0..16),
        prop::collection::vec((0..TENANTS, 0..PROJECTS, 0i64..50), 0..40),
        prop::collection::vec(0i64..10, TENANTS),
        prop::collection::vec(0i64..10, TENANTS * PROJECTS),
        prop::collection::vec((1i64..4, 0.0f64..6.0), TENANTS),
        0.3f64..0.999,
    )
        .prop_map(
            |(capacity, held, waiting, tenant_caps, project_caps, loads, quantile)| DispatchCase {
                capacity,
                held,
                waiting,
                tenant_caps,
                project_caps,
                loads,
                quantile,
            },
        )
}

fn tenant_name(tenant: usize) -> String {
    format!("t{tenant}")
}

fn project_name(project: usize) -> String {
    format!("p{project}")
}

impl DispatchCase {
    fn caps(&self, tenant: &str, project: &str) -> Caps {
        let t: usize = tenant[1..].parse().expect("a generated name");
        let p: usize = project[1..].parse().expect("a generated name");
        Caps {
            tenant: self.tenant_caps[t],
            project: self.project_caps[t * PROJECTS + p],
        }
    }

    /// The holdings, keeping only the slots the capacity and caps allow (the store never
    /// holds more).
    fn holdings(&self) -> Holdings {
        let mut holdings = Holdings::default();
        for &(t, p) in &self.held {
            let (tenant, project) = (tenant_name(t), project_name(p));
            let caps = self.caps(&tenant, &project);
            if holdings.total < self.capacity
                && holdings.tenant(&tenant) < caps.tenant
                && holdings.project(&tenant, &project) < caps.project.min(caps.tenant)
            {
                holdings.add(&tenant, &project);
            }
        }
        holdings
    }

    fn waiting(&self) -> Vec<Waiting> {
        self.waiting
            .iter()
            .map(|&(t, p, start_tag)| Waiting {
                tenant: tenant_name(t),
                project: project_name(p),
                start_tag,
            })
            .collect()
    }

    /// Every tenant counts as active.
    fn headroom(&self, only: Option<usize>) -> Headroom {
        let tenants: HashMap<String, TenantLoad> = (0..TENANTS)
            .filter(|&t| only.is_none_or(|only| only == t))
            .map(|t| {
                (
                    tenant_name(t),
                    TenantLoad {
                        weight: self.loads[t].0,
                        max_concurrent: self.tenant_caps[t],
                        recent_demand: self.loads[t].1,
                    },
                )
            })
            .collect();
        Headroom {
            rule: HeadroomRule::Reserve {
                quantile: self.quantile,
            },
            tenants,
        }
    }
}

proptest! {
    #[test]
    fn dispatch_never_grants_past_the_capacity_or_a_cap(case in dispatch_case_strategy()) {
        let mut holdings = case.holdings();
        let waiting = case.waiting();
        let decided = dispatch(
            case.capacity,
            0,
            &mut holdings,
            &waiting,
            |t, p| case.caps(t, p),
            &case.headroom(None),
        );
        prop_assert!(holdings.total <= case.capacity);
        for t in 0..TENANTS {
            let tenant = tenant_name(t);
            prop_assert!(holdings.tenant(&tenant) <= case.tenant_caps[t].max(0));
            for p in 0..PROJECTS {
                let cap = case.caps(&tenant, &project_name(p));
                prop_assert!(holdings.project(&tenant, &project_name(p)) <= cap.project.min(cap.tenant).max(0));
            }
        }
        let mut seen = decided.granted.clone();
        seen.sort_unstable();
        seen.dedup();
        prop_assert_eq!(seen.len(), decided.granted.len(), "each request granted once");
    }

    #[test]
    fn headroom_holds_nobody_back_when_one_tenant_is_active(case in dispatch_case_strategy()) {
        // Only tenant 0 waits and only it is active: headroom must grant what plain start-time
        // fair queuing grants.
        let case = DispatchCase {
            held: case.held.iter().map(|&(_, p)| (0, p)).collect(),
            waiting: case.waiting.iter().map(|&(_, p, tag)| (0, p, tag)).collect(),
            ..case
        };
        let waiting = case.waiting();
        let mut with_headroom = case.holdings();
        let mut plain = case.holdings();
        let a = dispatch(case.capacity, 0, &mut with_headroom, &waiting, |t, p| case.caps(t, p), &case.headroom(Some(0)));
        let b = dispatch(case.capacity, 0, &mut plain, &waiting, |t, p| case.caps(t, p), &Headroom::work_conserving());
        prop_assert_eq!(a, b);
    }
}
