//! Placement scenarios: the rules of issue 4, one by one, on small readable pools.

mod support;

use std::collections::HashSet;

use logplane_model::ShardStatus;
use logplane_scheduler::{
    Assignment, MoveReason, Role, Roles, ShardCatalog, ShardSpec, Worker, WorkerId,
};
use support::{Expectations, catalog, check, held, relocations, run, worker};

const CHECK_ALL: Expectations = Expectations {
    query_balance: true,
};

fn pool(count: usize, zones: usize, shards: u32) -> Vec<Worker> {
    (0..count)
        .map(|i| {
            worker(
                &format!("w{i:02}"),
                &format!("zone-{}", i % zones),
                shards,
                Roles::BOTH,
            )
        })
        .collect()
}

#[test]
fn a_first_assignment_balances_counts_and_spreads_replicas_across_zones() {
    let workers = pool(9, 3, 1000);
    let shards = catalog(10, 100, 3);
    let placement = run(&workers, &shards, &[], &Assignment::empty());
    check(&workers, &shards, &placement, &CHECK_ALL).unwrap();
    let report = &placement.report;
    assert!(report.ingest.max_per_worker - report.ingest.min_per_worker <= 1);
    assert!(report.query.max_per_worker - report.query.min_per_worker <= 1);
    assert_eq!(report.query.spread_violations, 0);
    assert!(placement.unplaced.is_empty());
    assert!(
        placement
            .moves
            .iter()
            .all(|m| m.reason == MoveReason::Placed)
    );
}

#[test]
fn recomputing_on_unchanged_input_moves_nothing() {
    let workers = pool(7, 2, 1000);
    let shards = catalog(5, 33, 2);
    let loads: Vec<u64> = (0..shards.len() as u64)
        .map(|i| (i * 7919) % 1000)
        .collect();
    let first = run(&workers, &shards, &loads, &Assignment::empty());
    let second = run(&workers, &shards, &loads, &first.assignment);
    assert_eq!(second.moves, []);
}

#[test]
fn a_joining_worker_takes_exactly_its_share_and_nothing_else_moves() {
    let mut workers = pool(10, 2, 1000);
    let shards = catalog(10, 100, 2);
    let before = run(&workers, &shards, &[], &Assignment::empty());
    workers.push(worker("w99", "zone-0", 1000, Roles::BOTH));
    let after = run(&workers, &shards, &[], &before.assignment);
    check(&workers, &shards, &after, &CHECK_ALL).unwrap();
    let newcomer = WorkerId::new("w99");
    let ingest = held(&after.assignment, Role::Ingest)[&newcomer];
    let query = held(&after.assignment, Role::Query)[&newcomer];
    assert_eq!(ingest, 1000 / 11);
    // The theoretical minimum: every slot the newcomer holds had to move to it, no more.
    assert_eq!(relocations(&after, Role::Ingest), ingest);
    assert_eq!(relocations(&after, Role::Query), query);
    assert!(after.moves.iter().all(|m| m.to.as_ref() == Some(&newcomer)));
}

#[test]
fn a_leaving_worker_moves_only_its_own_shards() {
    let mut workers = pool(10, 2, 1000);
    let shards = catalog(10, 100, 2);
    let before = run(&workers, &shards, &[], &Assignment::empty());
    let leaving = WorkerId::new("w03");
    let had = held(&before.assignment, Role::Ingest)[&leaving]
        + held(&before.assignment, Role::Query)[&leaving];
    workers[3].schedulable = false; // draining
    let after = run(&workers, &shards, &[], &before.assignment);
    check(&workers, &shards, &after, &CHECK_ALL).unwrap();
    assert_eq!(after.moves.len(), had);
    assert!(after.moves.iter().all(|m| m.from.as_ref() == Some(&leaving)
        && m.reason == MoveReason::WorkerUnavailable));
}

#[test]
fn a_worker_back_with_its_shards_still_recorded_keeps_them() {
    let workers = pool(6, 3, 1000);
    let shards = catalog(4, 50, 2);
    let first = run(&workers, &shards, &[], &Assignment::empty());
    // The worker restarted: it registered again (listed last, new address) before its lease
    // ended, and the recorded assignment still names it.
    let mut again = workers.clone();
    let restarted = again.remove(2);
    again.push(restarted);
    let after = run(&again, &shards, &[], &first.assignment);
    assert_eq!(after.moves, []);
}

#[test]
fn short_capacity_leaves_shards_unplaced_and_reported_never_piled_up() {
    let workers = vec![
        worker("a", "z", 3, Roles::BOTH),
        worker("b", "z", 2, Roles::BOTH),
    ];
    let shards = catalog(1, 8, 1);
    let placement = run(&workers, &shards, &[], &Assignment::empty());
    check(&workers, &shards, &placement, &CHECK_ALL).unwrap();
    let ingest_unplaced = placement
        .unplaced
        .iter()
        .filter(|u| u.role == Role::Ingest)
        .count();
    assert_eq!(ingest_unplaced, 3);
    assert_eq!(
        held(&placement.assignment, Role::Ingest)[&WorkerId::new("a")],
        3
    );
    // Stable: the same shards stay unplaced on the next round.
    let again = run(&workers, &shards, &[], &placement.assignment);
    assert_eq!(again.moves, []);
    assert_eq!(again.unplaced, placement.unplaced);
}

#[test]
fn capacity_proportional_counts() {
    let workers = vec![
        worker("a", "z", 100, Roles::BOTH),
        worker("b", "z", 300, Roles::BOTH),
    ];
    let shards = catalog(1, 100, 1);
    let placement = run(&workers, &shards, &[], &Assignment::empty());
    let counts = held(&placement.assignment, Role::Ingest);
    assert_eq!(counts[&WorkerId::new("a")], 25);
    assert_eq!(counts[&WorkerId::new("b")], 75);
}

#[test]
fn a_shard_turned_readonly_releases_its_ingest_owner_and_keeps_its_replicas() {
    let workers = pool(4, 2, 100);
    let shards = catalog(1, 4, 2);
    let first = run(&workers, &shards, &[], &Assignment::empty());
    let mut specs: Vec<ShardSpec> = shards.shards().to_vec();
    specs[0].status = ShardStatus::Readonly;
    let split = ShardCatalog::new(specs).unwrap();
    let after = run(&workers, &split, &[], &first.assignment);
    check(&workers, &split, &after, &CHECK_ALL).unwrap();
    assert_eq!(after.assignment.ingest_owner_at(0), None);
    let replicas_before: Vec<_> = first.assignment.query_replicas_at(0).collect();
    let replicas_after: Vec<_> = after.assignment.query_replicas_at(0).collect();
    assert_eq!(replicas_before, replicas_after);
    let released: Vec<_> = after
        .moves
        .iter()
        .filter(|m| m.role == Role::Ingest)
        .collect();
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].reason, MoveReason::Released);
}

#[test]
fn new_shards_are_placed_and_the_others_stay_when_the_catalog_changes() {
    let workers = pool(5, 1, 100);
    let shards = catalog(2, 10, 1);
    let first = run(&workers, &shards, &[], &Assignment::empty());
    let bigger = catalog(3, 10, 1);
    let after = run(&workers, &bigger, &[], &first.assignment);
    check(&workers, &bigger, &after, &CHECK_ALL).unwrap();
    assert!(after.moves.iter().all(|m| m.reason == MoveReason::Placed));
    assert_eq!(after.moves.len(), 20);
}

#[test]
fn load_balance_spreads_skewed_loads_within_the_bound() {
    let workers = pool(8, 1, 1000);
    let shards = catalog(4, 100, 1);
    // A few hot shards among many cold ones, first placed without loads.
    let loads: Vec<u64> = (0..shards.len())
        .map(|i| {
            if i % 37 == 0 {
                20_000
            } else {
                1_000 + (i as u64 * 31) % 900
            }
        })
        .collect();
    let blind = run(&workers, &shards, &[], &Assignment::empty());
    let balanced = run(&workers, &shards, &loads, &blind.assignment);
    check(&workers, &shards, &balanced, &CHECK_ALL).unwrap();
    assert!(
        balanced.report.ingest.within_load_bound,
        "{:?}",
        balanced.report.ingest
    );
    assert!(balanced.report.ingest.max_load_ratio <= 1.10);
    assert!(
        balanced
            .moves
            .iter()
            .all(|m| m.reason == MoveReason::LoadBalanced)
    );
    let again = run(&workers, &shards, &loads, &balanced.assignment);
    assert_eq!(again.moves, []);
}

#[test]
fn the_order_workers_are_listed_in_does_not_matter() {
    let workers = pool(6, 3, 100);
    let shards = catalog(3, 40, 2);
    let forward = run(&workers, &shards, &[], &Assignment::empty());
    let mut reversed = workers.clone();
    reversed.reverse();
    let backward = run(&reversed, &shards, &[], &Assignment::empty());
    let records = |a: &Assignment| -> Vec<String> {
        a.records()
            .map(|(k, r, w)| format!("{k} {r:?} {w}"))
            .collect()
    };
    assert_eq!(records(&forward.assignment), records(&backward.assignment));
}

#[test]
fn an_assignment_rebuilt_from_records_is_the_same_assignment() {
    let workers = pool(6, 2, 100);
    let shards = catalog(3, 40, 2);
    let first = run(&workers, &shards, &[], &Assignment::empty());
    let records: Vec<_> = first
        .assignment
        .records()
        .map(|(k, r, w)| (k.clone(), r, w.clone()))
        .collect();
    let rebuilt = Assignment::from_records(&shards, records);
    let after = run(&workers, &shards, &[], &rebuilt);
    assert_eq!(after.moves, []);
    // Every worker's view adds up to the whole assignment.
    let by_worker = first.assignment.shards_by_worker();
    let listed: usize = by_worker.values().map(Vec::len).sum();
    assert_eq!(listed, first.assignment.records().count());
}

#[test]
fn a_zone_with_few_workers_still_gets_one_replica_of_every_shard() {
    // Three replicas over three zones, one of them small: spread wins over an even count, up to
    // capacity.
    let mut workers = pool(4, 2, 1000);
    workers.push(worker("small", "zone-small", 1000, Roles::BOTH));
    let shards = catalog(2, 50, 3);
    let placement = run(&workers, &shards, &[], &Assignment::empty());
    check(&workers, &shards, &placement, &CHECK_ALL).unwrap();
    assert_eq!(placement.report.query.spread_violations, 0);
    assert_eq!(
        held(&placement.assignment, Role::Query)[&WorkerId::new("small")],
        100
    );
    let zones_per_shard: HashSet<usize> = (0..shards.len())
        .map(|at| placement.assignment.query_replicas_at(at).count())
        .collect();
    assert_eq!(zones_per_shard, HashSet::from([3]));
}

#[test]
fn the_count_band_holds_even_when_it_keeps_load_above_the_bound() {
    // 400 shards on 8 workers: exactly 50 each. Eleven hot shards (50 000) mean three workers
    // carry two; even with the 48 coldest shards beside them they stay ~12 % above the mean,
    // over the 10 % bound. Counts win (see the README): the report says so.
    let workers = pool(8, 1, 1000);
    let shards = catalog(4, 100, 1);
    let loads: Vec<u64> = (0..shards.len())
        .map(|i| {
            if i % 37 == 0 {
                50_000
            } else {
                1_000 + (i as u64 * 31) % 900
            }
        })
        .collect();
    let placement = run(&workers, &shards, &loads, &Assignment::empty());
    check(&workers, &shards, &placement, &CHECK_ALL).unwrap();
    let report = &placement.report.ingest;
    assert_eq!((report.min_per_worker, report.max_per_worker), (50, 50));
    assert!(!report.within_load_bound);
    assert!(report.max_load_ratio < 1.15, "{report:?}");
    let again = run(&workers, &shards, &loads, &placement.assignment);
    assert_eq!(again.moves, []);
}

#[test]
fn a_shard_too_hot_for_the_band_is_held_alone_and_the_others_keep_the_band() {
    // The simulator's Zipf case: 120 shards on 12 workers, loads Zipf (s = 1.1) over shard
    // ranks. The hottest is 2.78 × the mean worker load; beside the 9 lightest others it would be
    // 2.89 ×, over the bound of 2.83, so it is held alone and the other 119 shards share 11
    // workers within one of each other.
    let workers = pool(12, 3, 1000);
    let shards = catalog(5, 24, 1);
    let loads: Vec<u64> = (0..shards.len())
        .map(|i| {
            let rank = (i * 37) % shards.len() + 1;
            (1_000_000.0 / (rank as f64).powf(1.1)) as u64
        })
        .collect();
    let hottest = (0..shards.len()).max_by_key(|&i| loads[i]).unwrap();
    let start = run(&workers, &shards, &[], &Assignment::empty());
    let placement = run(&workers, &shards, &loads, &start.assignment);
    check(&workers, &shards, &placement, &CHECK_ALL).unwrap();
    let report = &placement.report.ingest;
    assert_eq!(report.isolated_shards, 1);
    assert!(report.within_load_bound, "{report:?}");
    assert_eq!((report.min_per_worker, report.max_per_worker), (10, 11));
    let host = placement
        .assignment
        .ingest_owner_at(hottest)
        .unwrap()
        .clone();
    assert_eq!(held(&placement.assignment, Role::Ingest)[&host], 1);
    // The hottest shard stayed where it was; only its worker's other shards moved.
    assert_eq!(start.assignment.ingest_owner_at(hottest), Some(&host));
    assert_eq!(relocations(&placement, Role::Ingest), 9);
    let again = run(&workers, &shards, &loads, &placement.assignment);
    assert_eq!(again.moves, []);

    // Once the shard cools, its worker rejoins the band.
    let cooled = vec![1000u64; shards.len()];
    let after = run(&workers, &shards, &cooled, &placement.assignment);
    check(&workers, &shards, &after, &CHECK_ALL).unwrap();
    assert_eq!(after.report.ingest.isolated_shards, 0);
    assert_eq!(
        (
            after.report.ingest.min_per_worker,
            after.report.ingest.max_per_worker
        ),
        (10, 10)
    );
    assert_eq!(relocations(&after, Role::Ingest), 9);
}

#[test]
fn a_shard_held_alone_stays_alone_while_its_load_hovers_at_the_threshold() {
    // 120 shards on 12 workers: 119 of load 1000 and one hot shard, given as a multiple of the
    // mean worker load it makes.
    let workers = pool(12, 3, 1000);
    let shards = catalog(5, 24, 1);
    let with_hot = |times_mean: f64| -> Vec<u64> {
        let others = 1000.0 * (shards.len() - 1) as f64;
        let hot = times_mean * others / (12.0 - times_mean);
        (0..shards.len())
            .map(|i| if i == 7 { hot as u64 } else { 1000 })
            .collect()
    };
    let start = run(&workers, &shards, &[], &Assignment::empty());
    let isolated = run(&workers, &shards, &with_hot(1.5), &start.assignment);
    assert_eq!(isolated.report.ingest.isolated_shards, 1);
    let host = isolated.assignment.ingest_owner_at(7).unwrap().clone();

    // At 0.97 × the mean it would not be isolated from scratch, but one held alone stays so
    // (within the 5 % slack) and nothing moves.
    let hovering = with_hot(0.97);
    let fresh = run(&workers, &shards, &hovering, &start.assignment);
    assert_eq!(fresh.report.ingest.isolated_shards, 0);
    let kept = run(&workers, &shards, &hovering, &isolated.assignment);
    check(&workers, &shards, &kept, &CHECK_ALL).unwrap();
    assert_eq!(kept.report.ingest.isolated_shards, 1);
    assert_eq!(kept.assignment.ingest_owner_at(7), Some(&host));
    assert_eq!(kept.moves, []);

    // Clearly below (0.8 × the mean), its worker rejoins the band.
    let cooled = run(&workers, &shards, &with_hot(0.8), &kept.assignment);
    check(&workers, &shards, &cooled, &CHECK_ALL).unwrap();
    assert_eq!(cooled.report.ingest.isolated_shards, 0);
    assert_eq!(held(&cooled.assignment, Role::Ingest)[&host], 10);
}

#[test]
fn a_worker_listed_twice_or_loads_of_the_wrong_length_are_refused() {
    use logplane_scheduler::{InputError, PlacementConfig, PlacementInput, place};
    let shards = catalog(1, 4, 1);
    let twice = vec![
        worker("a", "z", 10, Roles::BOTH),
        worker("a", "z", 10, Roles::BOTH),
    ];
    let input = PlacementInput {
        workers: &twice,
        catalog: &shards,
        ingest_load: &[],
        config: PlacementConfig::default(),
    };
    assert_eq!(
        place(&input, &Assignment::empty()).unwrap_err(),
        InputError::DuplicateWorker(WorkerId::new("a"))
    );
    let one = &twice[..1];
    let input = PlacementInput {
        workers: one,
        catalog: &shards,
        ingest_load: &[1, 2],
        config: PlacementConfig::default(),
    };
    assert_eq!(
        place(&input, &Assignment::empty()).unwrap_err(),
        InputError::LoadLength {
            shards: 4,
            loads: 2
        }
    );
}

#[test]
fn a_worker_shrunk_below_what_it_holds_sheds_to_its_new_capacity() {
    let mut workers = pool(3, 1, 100);
    let shards = catalog(1, 30, 1);
    let first = run(&workers, &shards, &[], &Assignment::empty());
    workers[0].capacity.shards = 4;
    let after = run(&workers, &shards, &[], &first.assignment);
    check(&workers, &shards, &after, &CHECK_ALL).unwrap();
    // Its share follows its new capacity: 30 × 4 / 204 ≈ 0.6, so 0 or 1 (the check above), and
    // only what it gave up moved.
    let kept = held(&after.assignment, Role::Ingest)
        .get(&WorkerId::new("w00"))
        .copied()
        .unwrap_or(0);
    assert!(kept <= 1);
    assert_eq!(relocations(&after, Role::Ingest), 10 - kept);
}
