//! The event loop: arrivals and completions on a virtual clock in microseconds, and after each
//! event the admission policy, called exactly as the store calls the arbiter.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::fair_share::{jain_index, max_min_fair_shares};
use super::random::Random;
use super::report::{Report, TenantReport, percentile};
use super::scenario::{Arrivals, Charging, Policy, QueryDuration, SECOND_US, Scenario};
use crate::arbiter::{
    self, ACTIVE_DEMAND, Caps, Headroom, HeadroomRule, Holdings, RecentDemand, TenantLoad, Waiting,
};

/// The store hands `dispatch` the first this many waiting requests by start tag; so does the
/// simulator, so it sees what the store would.
pub const DISPATCH_WINDOW: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum EventKind {
    Arrival {
        tenant: usize,
    },
    Completion {
        tenant: usize,
        project: usize,
        held_us: u64,
        tagged_cost_ms: i64,
    },
}

/// Ordered by time, then by the order scheduled, so equal times replay identically.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Event {
    at_us: u64,
    sequence: u64,
    kind: EventKind,
}

/// A waiting request's details beside its [`Waiting`] entry.
#[derive(Debug, Clone, Copy)]
struct Request {
    tenant: usize,
    project: usize,
    arrived_us: u64,
    duration_us: u64,
    tagged_cost_ms: i64,
}

struct TenantState {
    arrivals: Random,
    durations: Random,
    project_names: Vec<String>,
    project_by_name: HashMap<String, usize>,
    next_project: usize,
    last_finish: Option<i64>,
    held: i64,
    held_by_project: Vec<i64>,
    waiting: i64,
    demand: RecentDemand,
    arrived: u64,
    granted: u64,
    waits_us: Vec<u64>,
    slot_us: u128,
    peak_held: i64,
    peak_held_by_project: Vec<i64>,
}

struct Engine<'a> {
    scenario: &'a Scenario,
    now_us: u64,
    events: BinaryHeap<Reverse<Event>>,
    next_sequence: u64,
    tenants: Vec<TenantState>,
    tenant_by_name: HashMap<String, usize>,
    holdings: Holdings,
    virtual_time: i64,
    /// Arrivals so far: the FIFO baseline's tags.
    arrival_count: i64,
    waiting: Vec<Waiting>,
    requests: Vec<Request>,
    peak_held: i64,
    idle_slot_us_while_waiting: u128,
}

/// Runs `scenario` to its end and reports what it measured.
pub fn run(scenario: &Scenario) -> Report {
    let mut engine = Engine::new(scenario);
    engine.start();
    while let Some(Reverse(event)) = engine.events.pop() {
        if event.at_us >= scenario.run_us {
            break;
        }
        engine.advance_to(event.at_us);
        engine.handle(event.kind);
        engine.admit();
    }
    engine.advance_to(scenario.run_us);
    engine.report()
}

impl<'a> Engine<'a> {
    fn new(scenario: &'a Scenario) -> Self {
        let tenants = scenario
            .tenants
            .iter()
            .map(|spec| {
                let project_names: Vec<String> = (0..spec.project_caps.len().max(1))
                    .map(|i| format!("project-{i}"))
                    .collect();
                let project_by_name = project_names
                    .iter()
                    .enumerate()
                    .map(|(i, name)| (name.clone(), i))
                    .collect();
                TenantState {
                    arrivals: Random::for_stream(scenario.seed, &spec.name, "arrivals"),
                    durations: Random::for_stream(scenario.seed, &spec.name, "durations"),
                    held_by_project: vec![0; project_names.len()],
                    peak_held_by_project: vec![0; project_names.len()],
                    project_names,
                    project_by_name,
                    next_project: 0,
                    last_finish: None,
                    held: 0,
                    waiting: 0,
                    demand: RecentDemand::default(),
                    arrived: 0,
                    granted: 0,
                    waits_us: Vec::new(),
                    slot_us: 0,
                    peak_held: 0,
                }
            })
            .collect();
        let tenant_by_name = scenario
            .tenants
            .iter()
            .enumerate()
            .map(|(i, spec)| (spec.name.clone(), i))
            .collect();
        Self {
            scenario,
            now_us: 0,
            events: BinaryHeap::new(),
            next_sequence: 0,
            tenants,
            tenant_by_name,
            holdings: Holdings::default(),
            virtual_time: 0,
            arrival_count: 0,
            waiting: Vec::new(),
            requests: Vec::new(),
            peak_held: 0,
            idle_slot_us_while_waiting: 0,
        }
    }

    fn schedule(&mut self, at_us: u64, kind: EventKind) {
        self.events.push(Reverse(Event {
            at_us,
            sequence: self.next_sequence,
            kind,
        }));
        self.next_sequence += 1;
    }

    fn start(&mut self) {
        for (tenant, spec) in self.scenario.tenants.iter().enumerate() {
            match spec.arrivals {
                Arrivals::Poisson { per_second } => {
                    if per_second > 0.0 {
                        let gap = self.tenants[tenant]
                            .arrivals
                            .exponential(SECOND_US as f64 / per_second);
                        self.schedule(
                            spec.active_from_us.saturating_add(gap as u64),
                            EventKind::Arrival { tenant },
                        );
                    }
                }
                Arrivals::ClosedLoop { outstanding } => {
                    for _ in 0..outstanding {
                        self.schedule(spec.active_from_us, EventKind::Arrival { tenant });
                    }
                }
            }
        }
    }

    fn in_measured_window(&self, at_us: u64) -> bool {
        (self.scenario.warmup_us..self.scenario.run_us).contains(&at_us)
    }

    /// Moves the clock, adding the slot time held since the last event to the statistics.
    fn advance_to(&mut self, at_us: u64) {
        debug_assert!(at_us >= self.now_us, "events are handled in time order");
        let from = self.now_us.max(self.scenario.warmup_us);
        let until = at_us.min(self.scenario.run_us);
        if until > from {
            let elapsed = u128::from(until - from);
            for tenant in &mut self.tenants {
                tenant.slot_us += tenant.held.max(0) as u128 * elapsed;
            }
            if !self.waiting.is_empty() {
                let free = (self.scenario.capacity - self.holdings.total).max(0) as u128;
                self.idle_slot_us_while_waiting += free * elapsed;
            }
        }
        self.now_us = self.now_us.max(at_us);
    }

    /// Brings a tenant's recent demand up to now, before its outstanding count changes.
    fn bring_demand_forward(&mut self, tenant: usize) {
        let Policy::Arbiter(settings) = self.scenario.policy else {
            return;
        };
        let state = &mut self.tenants[tenant];
        state.demand = state.demand.at(
            self.now_us as i64,
            state.held + state.waiting,
            settings.demand_time_constant_us,
        );
    }

    fn handle(&mut self, kind: EventKind) {
        match kind {
            EventKind::Arrival { tenant } => self.arrive(tenant),
            EventKind::Completion {
                tenant,
                project,
                held_us,
                tagged_cost_ms,
            } => self.complete(tenant, project, held_us, tagged_cost_ms),
        }
    }

    fn arrive(&mut self, tenant: usize) {
        let spec = &self.scenario.tenants[tenant];
        if self.now_us >= spec.active_until_us {
            return;
        }
        if let Arrivals::Poisson { per_second } = spec.arrivals {
            let gap = self.tenants[tenant]
                .arrivals
                .exponential(SECOND_US as f64 / per_second);
            self.schedule(
                self.now_us.saturating_add(gap as u64),
                EventKind::Arrival { tenant },
            );
        }
        self.bring_demand_forward(tenant);
        let state = &mut self.tenants[tenant];
        let duration_us = match spec.duration {
            QueryDuration::Fixed { us } => us,
            QueryDuration::Uniform { min_us, max_us } => state.durations.between(min_us, max_us),
            QueryDuration::Exponential { mean_us } => {
                state.durations.exponential(mean_us as f64) as u64
            }
        };
        let project = state.next_project;
        state.next_project = (project + 1) % state.project_names.len();
        state.waiting += 1;
        let cost = spec.cost_hint_ms.max(1);
        let start_tag = match self.scenario.policy {
            Policy::Fifo => self.arrival_count,
            Policy::Arbiter(_) => {
                let tags = arbiter::tag_request(
                    self.virtual_time,
                    state.last_finish,
                    cost,
                    spec.weight.max(1),
                );
                state.last_finish = Some(tags.finish);
                tags.start
            }
        };
        self.arrival_count += 1;
        if self.in_measured_window(self.now_us) {
            self.tenants[tenant].arrived += 1;
        }
        self.waiting.push(Waiting {
            tenant: spec.name.clone(),
            project: self.tenants[tenant].project_names[project].clone(),
            start_tag,
        });
        self.requests.push(Request {
            tenant,
            project,
            arrived_us: self.now_us,
            duration_us,
            tagged_cost_ms: cost,
        });
    }

    fn complete(&mut self, tenant: usize, project: usize, held_us: u64, tagged_cost_ms: i64) {
        self.bring_demand_forward(tenant);
        let spec = &self.scenario.tenants[tenant];
        let state = &mut self.tenants[tenant];
        self.holdings
            .remove(&spec.name, &state.project_names[project]);
        state.held -= 1;
        state.held_by_project[project] -= 1;
        if let Policy::Arbiter(settings) = self.scenario.policy
            && settings.charging == Charging::SlotTime
            && let Some(last_finish) = state.last_finish
        {
            let actual_cost_ms = (held_us.div_ceil(1000)).max(1) as i64;
            state.last_finish = Some(arbiter::settle_cost(
                last_finish,
                tagged_cost_ms,
                actual_cost_ms,
                spec.weight.max(1),
            ));
        }
        if matches!(spec.arrivals, Arrivals::ClosedLoop { .. }) {
            // The tenant sends its next query at once; it arrives as its own event.
            self.schedule(self.now_us, EventKind::Arrival { tenant });
        }
    }

    fn headroom(&self) -> Headroom {
        let Policy::Arbiter(settings) = self.scenario.policy else {
            return Headroom::work_conserving();
        };
        if settings.headroom == HeadroomRule::WorkConserving {
            return Headroom::work_conserving();
        }
        let mut tenants = HashMap::new();
        for (spec, state) in self.scenario.tenants.iter().zip(&self.tenants) {
            let recent = state
                .demand
                .at(
                    self.now_us as i64,
                    state.held + state.waiting,
                    settings.demand_time_constant_us,
                )
                .average;
            if state.held > 0 || state.waiting > 0 || recent >= ACTIVE_DEMAND {
                tenants.insert(
                    spec.name.clone(),
                    TenantLoad {
                        weight: spec.weight.max(1),
                        max_concurrent: spec.max_concurrent,
                        recent_demand: recent,
                    },
                );
            }
        }
        Headroom {
            rule: settings.headroom,
            tenants,
        }
    }

    fn caps(&self, tenant: &str, project: &str) -> Caps {
        let index = self.tenant_by_name[tenant];
        let spec = &self.scenario.tenants[index];
        let project_index = self.tenants[index].project_by_name[project];
        Caps {
            tenant: spec.max_concurrent,
            project: spec.project_caps.get(project_index).copied().unwrap_or(0),
        }
    }

    /// Offers the free slots to the waiting requests, as the store does after every change.
    fn admit(&mut self) {
        if self.waiting.is_empty() || self.holdings.total >= self.scenario.capacity {
            return;
        }
        // The store loads only the first DISPATCH_WINDOW requests by start tag.
        let window: Vec<usize> = if self.waiting.len() > DISPATCH_WINDOW {
            let mut order: Vec<usize> = (0..self.waiting.len()).collect();
            order.sort_by_key(|&i| self.waiting[i].start_tag);
            order.truncate(DISPATCH_WINDOW);
            order.sort_unstable();
            order
        } else {
            Vec::new()
        };
        let offered: Vec<Waiting>;
        let offered_slice: &[Waiting] = if window.is_empty() {
            &self.waiting
        } else {
            offered = window.iter().map(|&i| self.waiting[i].clone()).collect();
            &offered
        };
        let headroom = self.headroom();
        let mut holdings = std::mem::take(&mut self.holdings);
        let decided = arbiter::dispatch(
            self.scenario.capacity,
            self.virtual_time,
            &mut holdings,
            offered_slice,
            |tenant, project| self.caps(tenant, project),
            &headroom,
        );
        self.holdings = holdings;
        self.virtual_time = decided.virtual_time;
        let mut granted = vec![false; self.waiting.len()];
        for &offered_index in &decided.granted {
            let index = if window.is_empty() {
                offered_index
            } else {
                window[offered_index]
            };
            granted[index] = true;
            self.start_request(self.requests[index]);
        }
        let mut position = 0;
        self.waiting.retain(|_| {
            position += 1;
            !granted[position - 1]
        });
        let mut position = 0;
        self.requests.retain(|_| {
            position += 1;
            !granted[position - 1]
        });
        self.check_limits();
    }

    fn start_request(&mut self, request: Request) {
        let measured = self.in_measured_window(request.arrived_us);
        let state = &mut self.tenants[request.tenant];
        state.waiting -= 1;
        state.held += 1;
        state.held_by_project[request.project] += 1;
        state.peak_held = state.peak_held.max(state.held);
        state.peak_held_by_project[request.project] =
            state.peak_held_by_project[request.project].max(state.held_by_project[request.project]);
        if measured {
            state.granted += 1;
            state.waits_us.push(self.now_us - request.arrived_us);
        }
        self.schedule(
            self.now_us.saturating_add(request.duration_us),
            EventKind::Completion {
                tenant: request.tenant,
                project: request.project,
                held_us: request.duration_us,
                tagged_cost_ms: request.tagged_cost_ms,
            },
        );
    }

    /// Records the peaks the tests check against the limits; in debug builds also stops at once
    /// when a limit is broken, where it happened.
    fn check_limits(&mut self) {
        self.peak_held = self.peak_held.max(self.holdings.total);
        debug_assert!(
            self.holdings.total <= self.scenario.capacity,
            "the arbiter never grants past the capacity"
        );
        debug_assert_eq!(
            self.holdings.total,
            self.tenants.iter().map(|tenant| tenant.held).sum::<i64>(),
            "the simulator's count agrees with the holdings"
        );
    }

    fn report(mut self) -> Report {
        let measured = (self.scenario.warmup_us, self.scenario.run_us);
        let measured_seconds = measured.1.saturating_sub(measured.0) as f64 / SECOND_US as f64;
        let demands: Vec<f64> = self
            .scenario
            .tenants
            .iter()
            .map(|spec| spec.demand_slots(measured))
            .collect();
        let weights: Vec<i64> = self
            .scenario
            .tenants
            .iter()
            .map(|spec| spec.weight)
            .collect();
        let fair_shares = max_min_fair_shares(self.scenario.capacity as f64, &demands, &weights);
        let tenants: Vec<TenantReport> = self
            .scenario
            .tenants
            .iter()
            .zip(&mut self.tenants)
            .enumerate()
            .map(|(i, (spec, state))| {
                state.waits_us.sort_unstable();
                TenantReport {
                    name: spec.name.clone(),
                    arrived: state.arrived,
                    granted: state.granted,
                    waited: state.waits_us.iter().filter(|&&wait| wait > 0).count() as u64,
                    wait_p50_us: percentile(&state.waits_us, 0.50),
                    wait_p99_us: percentile(&state.waits_us, 0.99),
                    wait_max_us: state.waits_us.last().copied().unwrap_or(0),
                    slot_seconds: state.slot_us as f64 / SECOND_US as f64,
                    demand_slots: demands[i],
                    fair_share_slots: fair_shares[i],
                    peak_held: state.peak_held,
                    peak_held_by_project: state.peak_held_by_project.clone(),
                }
            })
            .collect();
        let normalized: Vec<f64> = tenants
            .iter()
            .filter_map(|tenant| tenant.share_of_fair(measured_seconds))
            .collect();
        let used: f64 = tenants.iter().map(|tenant| tenant.slot_seconds).sum();
        let available = self.scenario.capacity.max(0) as f64 * measured_seconds;
        Report {
            capacity: self.scenario.capacity,
            measured_seconds,
            peak_held: self.peak_held,
            jain_index: jain_index(&normalized),
            utilization: if available > 0.0 {
                used / available
            } else {
                0.0
            },
            idle_slot_seconds_while_waiting: self.idle_slot_us_while_waiting as f64
                / SECOND_US as f64,
            tenants,
        }
    }
}
