//! Builders and an independent checker of the placement invariants, shared by the tests.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use logplane_model::ShardStatus;
use logplane_scheduler::{
    Assignment, Capacity, LogstoreRef, Placement, PlacementConfig, PlacementInput, Role, Roles,
    ShardCatalog, ShardKey, ShardSpec, Worker, WorkerId, ZoneId, place,
};

pub fn worker(id: &str, zone: &str, shards: u32, roles: Roles) -> Worker {
    Worker {
        id: WorkerId::new(id),
        zone: ZoneId::new(zone),
        roles,
        capacity: Capacity {
            shards,
            ingest_bytes_per_sec: u64::from(shards) * 1_000_000,
            query_slots: 8,
        },
        schedulable: true,
    }
}

/// `logstores` logstores of `shards_each` readwrite shards with `replicas` query replicas.
pub fn catalog(logstores: usize, shards_each: usize, replicas: u8) -> Arc<ShardCatalog> {
    let mut specs = Vec::new();
    for store in 0..logstores {
        let logstore = LogstoreRef::new(
            format!("tenant-{}", store % 7),
            "project",
            format!("store-{store}"),
        );
        for shard in 0..shards_each {
            specs.push(ShardSpec {
                key: ShardKey::new(&logstore, shard as i64),
                status: ShardStatus::Readwrite,
                query_replicas: replicas,
            });
        }
    }
    ShardCatalog::new(specs).unwrap()
}

pub fn run(
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

/// Relocations (one worker to another) of a role.
pub fn relocations(placement: &Placement, role: Role) -> usize {
    placement
        .moves
        .iter()
        .filter(|m| m.role == role && m.is_relocation())
        .count()
}

/// Slots of a role each worker holds.
pub fn held(assignment: &Assignment, role: Role) -> HashMap<WorkerId, usize> {
    assignment
        .counts(role)
        .into_iter()
        .map(|(w, c)| (w.clone(), c))
        .collect()
}

fn eligible(worker: &Worker, role: Role) -> bool {
    worker.schedulable && worker.roles.has(role) && worker.capacity.shards > 0
}

/// Exact capacity-proportional shares of `slots` among `workers` eligible for `role`, with zones
/// capped at `zone_limit` (water-filling), computed in f64 as an oracle independent of the
/// crate's integer arithmetic.
pub fn exact_shares(
    workers: &[Worker],
    role: Role,
    slots: f64,
    zone_limit: f64,
    per_worker_cap: f64,
) -> HashMap<WorkerId, f64> {
    let caps: Vec<(usize, f64)> = workers
        .iter()
        .enumerate()
        .filter(|(_, w)| eligible(w, role))
        .map(|(at, w)| (at, f64::from(w.capacity.shards).min(per_worker_cap)))
        .collect();
    let mut zone_weight: HashMap<&str, f64> = HashMap::new();
    for &(at, cap) in &caps {
        *zone_weight.entry(workers[at].zone.as_str()).or_default() += cap;
    }
    let total: f64 = zone_weight
        .values()
        .map(|&w| w.min(zone_limit))
        .sum::<f64>()
        .min(slots);
    let mut fixed: HashMap<&str, f64> = HashMap::new();
    loop {
        let active: f64 = zone_weight
            .iter()
            .filter(|(z, _)| !fixed.contains_key(*z))
            .map(|(_, w)| w)
            .sum();
        let remaining = total - fixed.values().sum::<f64>();
        let over: Vec<&str> = zone_weight
            .iter()
            .filter(|(z, w)| {
                !fixed.contains_key(*z) && remaining * **w / active > w.min(zone_limit) + 1e-9
            })
            .map(|(z, _)| *z)
            .collect();
        if over.is_empty() {
            let per_weight = if active > 0.0 {
                remaining / active
            } else {
                0.0
            };
            return caps
                .iter()
                .map(|&(at, cap)| {
                    let zone = workers[at].zone.as_str();
                    let share = match fixed.get(zone) {
                        Some(&zone_total) => zone_total * cap / zone_weight[zone],
                        None => per_weight * cap,
                    };
                    (workers[at].id.clone(), share)
                })
                .collect();
        }
        for zone in over {
            fixed.insert(zone, zone_weight[zone].min(zone_limit));
        }
    }
}

pub struct Expectations {
    /// Check count balance of the query role. It is guaranteed when every replica found a worker;
    /// when some did not (capacity short, or a shard asking for as many replicas as there are
    /// workers while one of them is full) the targets were not all reachable.
    pub query_balance: bool,
}

/// Checks every placement invariant against the input, independently of the crate's internals.
pub fn check(
    workers: &[Worker],
    catalog: &ShardCatalog,
    placement: &Placement,
    expect: &Expectations,
) -> Result<(), String> {
    let by_id: HashMap<&WorkerId, &Worker> = workers.iter().map(|w| (&w.id, w)).collect();
    let assignment = &placement.assignment;
    let unplaced: HashSet<(&ShardKey, Role)> = placement
        .unplaced
        .iter()
        .map(|u| (&u.shard, u.role))
        .collect();

    // Capacity, per role.
    for role in [Role::Ingest, Role::Query] {
        for (worker, count) in held(assignment, role) {
            let w = by_id
                .get(&worker)
                .ok_or(format!("{worker} is not in the pool"))?;
            if !eligible(w, role) {
                return Err(format!("{worker} holds {role:?} slots but is not eligible"));
            }
            if count > w.capacity.shards as usize {
                return Err(format!(
                    "{worker} holds {count} {role:?} slots over capacity"
                ));
            }
        }
    }

    // Ingest: exactly one eligible owner per readwrite shard, unless reported unplaced because
    // capacity is short; none for readonly shards.
    let readwrite = catalog
        .shards()
        .iter()
        .filter(|s| s.status == ShardStatus::Readwrite)
        .count();
    let ingest_capacity: usize = workers
        .iter()
        .filter(|w| eligible(w, Role::Ingest))
        .map(|w| w.capacity.shards as usize)
        .sum();
    let mut ingest_unplaced = 0;
    for (at, spec) in catalog.shards().iter().enumerate() {
        let owner = assignment.ingest_owner_at(at);
        match (spec.status, owner) {
            (ShardStatus::Readonly, Some(owner)) => {
                return Err(format!("readonly {} has ingest owner {owner}", spec.key));
            }
            (ShardStatus::Readwrite, None) => {
                if !unplaced.contains(&(&spec.key, Role::Ingest)) {
                    return Err(format!("{} has no owner and is not reported", spec.key));
                }
                ingest_unplaced += 1;
            }
            _ => {}
        }
    }
    let expected_unplaced = readwrite.saturating_sub(ingest_capacity);
    if ingest_unplaced != expected_unplaced {
        return Err(format!(
            "{ingest_unplaced} readwrite shards unplaced, capacity allows {expected_unplaced}"
        ));
    }

    // Query: distinct replicas; as many as asked unless reported.
    let query_workers = workers.iter().filter(|w| eligible(w, Role::Query)).count();
    for (at, spec) in catalog.shards().iter().enumerate() {
        let replicas: Vec<&WorkerId> = assignment.query_replicas_at(at).collect();
        let distinct: HashSet<&&WorkerId> = replicas.iter().collect();
        if distinct.len() != replicas.len() {
            return Err(format!("{} has a worker twice: {replicas:?}", spec.key));
        }
        let asked = usize::from(spec.query_replicas);
        if replicas.len() < asked && !unplaced.contains(&(&spec.key, Role::Query)) {
            return Err(format!(
                "{} has {} of {asked} replicas, not reported",
                spec.key,
                replicas.len()
            ));
        }
        if replicas.len() > asked {
            return Err(format!("{} has too many replicas", spec.key));
        }
        let _ = query_workers;
    }

    // Count balance: each worker holds its exact share rounded down or up; workers holding an
    // isolated hot shard alone are outside the band. Isolation happens only where the band would
    // give every worker two shards or more, so those are exactly the workers holding one.
    let isolated = placement.report.ingest.isolated_shards;
    let alone: Vec<WorkerId> = if isolated > 0 {
        held(assignment, Role::Ingest)
            .into_iter()
            .filter(|&(_, count)| count == 1)
            .map(|(worker, _)| worker)
            .collect()
    } else {
        Vec::new()
    };
    if alone.len() != isolated {
        return Err(format!(
            "{isolated} isolated shards reported, {} workers hold one shard",
            alone.len()
        ));
    }
    let in_band: Vec<Worker> = workers
        .iter()
        .filter(|w| !alone.contains(&w.id))
        .cloned()
        .collect();
    let band_slots = (readwrite - isolated) as f64;
    let ingest_shares = exact_shares(&in_band, Role::Ingest, band_slots, f64::MAX, f64::MAX);
    check_balance(assignment, Role::Ingest, &ingest_shares)?;
    let all_replicas_placed = placement.unplaced.iter().all(|u| u.role != Role::Query);
    if expect.query_balance && all_replicas_placed {
        let zones: HashSet<&str> = workers
            .iter()
            .filter(|w| eligible(w, Role::Query))
            .map(|w| w.zone.as_str())
            .collect();
        let zones = zones.len().max(1);
        let wanted: Vec<usize> = catalog
            .shards()
            .iter()
            .map(|s| usize::from(s.query_replicas).min(query_workers))
            .collect();
        let slots: usize = wanted.iter().sum();
        let zone_limit: usize = wanted.iter().map(|w| w.div_ceil(zones)).sum();
        let shares = exact_shares(
            workers,
            Role::Query,
            slots as f64,
            zone_limit as f64,
            catalog.len() as f64,
        );
        check_balance(assignment, Role::Query, &shares)?;
    }
    Ok(())
}

fn check_balance(
    assignment: &Assignment,
    role: Role,
    shares: &HashMap<WorkerId, f64>,
) -> Result<(), String> {
    let counts = held(assignment, role);
    for (worker, &share) in shares {
        let count = counts.get(worker).copied().unwrap_or(0) as f64;
        if count < (share - 1e-6).floor() || count > (share + 1e-6).ceil() {
            return Err(format!(
                "{worker} holds {count} {role:?} slots, its share is {share:.3}"
            ));
        }
    }
    Ok(())
}
