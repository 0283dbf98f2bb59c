//! Reconciliation rules on hand-made snapshots: what the leader would write, without a store.

use std::time::Instant;

use logplane_model::{
    AssignedState, AutoSplit, HandoverReport, KeyRange, ShardRef, ShardStatus, WorkerCapacity,
    WorkerRole, WorkerSpec, WorkerState,
};
use logplane_store::{
    CatalogShard, HandoverPhaseName, PlacementRow, PoolSnapshot, SnapshotWorker, StoredHandover,
};

use super::reconcile::{ReconcileSettings, Reconciler};

fn worker(id: &str, live: bool) -> SnapshotWorker {
    SnapshotWorker {
        id: id.into(),
        spec: WorkerSpec {
            address: format!("{id}:7000"),
            zone: "zone-a".into(),
            roles: vec![WorkerRole::Ingest, WorkerRole::Query],
            capacity: WorkerCapacity {
                shards: 100,
                ingest_bytes_per_sec: 0,
                query_slots: 1,
            },
        },
        state: WorkerState::Active,
        live,
        shard_load: Vec::new(),
        ready: Vec::new(),
        released: Vec::new(),
    }
}

fn shard_ref(id: i64) -> ShardRef {
    ShardRef {
        tenant: "acme".into(),
        project: "web".into(),
        logstore: "nginx".into(),
        shard_id: id,
    }
}

fn shard(id: i64, range: KeyRange, status: ShardStatus) -> CatalogShard {
    CatalogShard {
        shard: shard_ref(id),
        range,
        status,
        query_replicas: 1,
        auto_split: AutoSplit::default(),
    }
}

fn owned(id: i64, owner: &str, epoch: i64) -> PlacementRow {
    let mut row = PlacementRow::empty(shard_ref(id));
    row.owner = Some(owner.into());
    row.epoch = epoch;
    row.query_replicas = vec![owner.into()];
    row
}

fn report(id: i64, handover: i64) -> HandoverReport {
    HandoverReport {
        tenant: "acme".into(),
        project: "web".into(),
        logstore: "nginx".into(),
        shard_id: id,
        handover,
    }
}

fn snapshot(
    workers: Vec<SnapshotWorker>,
    shards: Vec<CatalogShard>,
    placements: Vec<PlacementRow>,
) -> PoolSnapshot {
    PoolSnapshot {
        workers,
        shards,
        placements,
        default_limits: (1000, 100),
        ..PoolSnapshot::default()
    }
}

fn plan(snapshot: &PoolSnapshot) -> super::reconcile::Plan {
    Reconciler::new(ReconcileSettings::default())
        .plan(snapshot, Instant::now())
        .unwrap()
}

/// Stores what a plan wrote, as the store would: changed rows replace stored ones.
fn store(snapshot: &mut PoolSnapshot, plan: &super::reconcile::Plan) {
    for row in &plan.write.placements {
        snapshot
            .placements
            .retain(|stored| stored.shard != row.shard);
        snapshot.placements.push(row.clone());
    }
}

fn state_of(plan: &super::reconcile::Plan, worker: &str, id: i64) -> Option<AssignedState> {
    plan.write
        .views
        .iter()
        .find(|v| v.worker == worker)?
        .assignment
        .iter()
        .find(|e| e.shard_id == id && e.role == WorkerRole::Ingest)
        .map(|e| e.state)
}

#[test]
fn new_shards_are_offered_pending_and_taken_when_ready() {
    let full = KeyRange::FULL;
    let mut snap = snapshot(
        vec![worker("w-1", true)],
        vec![shard(0, full, ShardStatus::Readwrite)],
        Vec::new(),
    );
    let first = plan(&snap);
    assert_eq!(state_of(&first, "w-1", 0), Some(AssignedState::Pending));
    assert!(first.write.dead_workers.is_empty());
    store(&mut snap, &first);
    snap.workers[0].ready = vec![report(0, 1)];
    let second = plan(&snap);
    assert_eq!(state_of(&second, "w-1", 0), Some(AssignedState::Active));
    assert_eq!(second.write.placements[0].owner.as_deref(), Some("w-1"));
    assert_eq!(second.write.placements[0].epoch, 1);
}

#[test]
fn a_dead_owner_is_lost_only_with_its_expiry_rechecked_at_the_write() {
    let mut snap = snapshot(
        vec![worker("w-1", false), worker("w-2", true)],
        vec![shard(0, KeyRange::FULL, ShardStatus::Readwrite)],
        vec![owned(0, "w-1", 3)],
    );
    let step = plan(&snap);
    assert_eq!(
        step.write.dead_workers,
        ["w-1"],
        "the write rechecks w-1's expiry"
    );
    let row = &step.write.placements[0];
    assert!(row.owner_lost);
    assert_eq!(row.handover.as_ref().unwrap().to, "w-2");
    assert_eq!(
        state_of(&step, "w-1", 0),
        None,
        "a lost owner is told nothing"
    );
    assert_eq!(state_of(&step, "w-2", 0), Some(AssignedState::Pending));
    // w-2 is ready: it takes over at once, its predecessor's lease having expired.
    store(&mut snap, &step);
    snap.workers[1].ready = vec![report(0, 1)];
    let next = plan(&snap);
    assert_eq!(state_of(&next, "w-2", 0), Some(AssignedState::Active));
    assert_eq!(next.write.placements[0].epoch, 4);
}

#[test]
fn a_live_owner_releases_before_its_successor_writes() {
    let mut drained = worker("w-1", true);
    drained.state = WorkerState::Draining;
    let mut snap = snapshot(
        vec![drained, worker("w-2", true)],
        vec![shard(0, KeyRange::FULL, ShardStatus::Readwrite)],
        vec![owned(0, "w-1", 1)],
    );
    let step = plan(&snap);
    assert!(step.write.dead_workers.is_empty());
    assert_eq!(state_of(&step, "w-1", 0), Some(AssignedState::Active));
    assert_eq!(state_of(&step, "w-2", 0), Some(AssignedState::Pending));
    store(&mut snap, &step);
    snap.workers[1].ready = vec![report(0, 1)];
    let step = plan(&snap);
    assert_eq!(state_of(&step, "w-1", 0), Some(AssignedState::Releasing));
    assert_eq!(state_of(&step, "w-2", 0), Some(AssignedState::Pending));
    store(&mut snap, &step);
    snap.workers[0].released = vec![report(0, 1)];
    let step = plan(&snap);
    assert_eq!(state_of(&step, "w-1", 0), None);
    assert_eq!(state_of(&step, "w-2", 0), Some(AssignedState::Active));
}

#[test]
fn children_wait_for_their_parent_to_retire() {
    let (left, right) = KeyRange::FULL.split_at(1 << 127).unwrap();
    let mut snap = snapshot(
        vec![worker("w-1", true)],
        vec![
            shard(0, KeyRange::FULL, ShardStatus::Readonly),
            shard(1, left, ShardStatus::Readwrite),
            shard(2, right, ShardStatus::Readwrite),
        ],
        vec![owned(0, "w-1", 2)],
    );
    let step = plan(&snap);
    assert_eq!(state_of(&step, "w-1", 0), Some(AssignedState::Releasing));
    assert_eq!(state_of(&step, "w-1", 1), Some(AssignedState::Pending));
    let retiring = step.write.placements[0].handover.clone().unwrap();
    assert_eq!(retiring.phase, HandoverPhaseName::Retiring);
    // Ready for the children, but the parent has not released: they keep waiting.
    store(&mut snap, &step);
    snap.workers[0].ready = vec![report(1, 1), report(2, 1)];
    let step = plan(&snap);
    assert_eq!(state_of(&step, "w-1", 1), Some(AssignedState::Pending));
    assert_eq!(state_of(&step, "w-1", 0), Some(AssignedState::Releasing));
    // The parent is released: it retires and the children take writes in the same step.
    store(&mut snap, &step);
    snap.workers[0].released = vec![report(0, retiring.number)];
    let step = plan(&snap);
    assert_eq!(state_of(&step, "w-1", 0), None);
    assert_eq!(state_of(&step, "w-1", 1), Some(AssignedState::Active));
    assert_eq!(state_of(&step, "w-1", 2), Some(AssignedState::Active));
    let parent = step
        .write
        .placements
        .iter()
        .find(|row| row.shard.shard_id == 0)
        .unwrap();
    assert!(parent.retired);
}

#[test]
fn a_cordoned_worker_keeps_its_shards_and_takes_no_new_ones() {
    let (left, right) = KeyRange::FULL.split_at(1 << 127).unwrap();
    let mut cordoned = worker("w-1", true);
    cordoned.state = WorkerState::Cordoned;
    let snap = snapshot(
        vec![cordoned, worker("w-2", true)],
        vec![
            shard(0, left, ShardStatus::Readwrite),
            shard(1, right, ShardStatus::Readwrite),
        ],
        vec![owned(0, "w-1", 1), owned(1, "w-1", 1)],
    );
    let step = plan(&snap);
    assert_eq!(state_of(&step, "w-1", 0), Some(AssignedState::Active));
    assert_eq!(state_of(&step, "w-1", 1), Some(AssignedState::Active));
    assert_eq!(
        state_of(&step, "w-2", 0),
        None,
        "nothing moves off a cordoned worker"
    );
    let fresh = snapshot(
        vec![
            {
                let mut w = worker("w-1", true);
                w.state = WorkerState::Cordoned;
                w
            },
            worker("w-2", true),
        ],
        vec![shard(0, KeyRange::FULL, ShardStatus::Readwrite)],
        Vec::new(),
    );
    let step = plan(&fresh);
    assert_eq!(
        state_of(&step, "w-1", 0),
        None,
        "and nothing new goes to it"
    );
    assert_eq!(state_of(&step, "w-2", 0), Some(AssignedState::Pending));
}

#[test]
fn an_unchanged_pool_writes_nothing_but_the_status() {
    let mut snap = snapshot(
        vec![worker("w-1", true)],
        vec![shard(0, KeyRange::FULL, ShardStatus::Readwrite)],
        vec![owned(0, "w-1", 1)],
    );
    let first = plan(&snap);
    snap.views = first
        .write
        .views
        .iter()
        .map(|view| logplane_store::PublishedView {
            worker: view.worker.clone(),
            version: 1,
            assignment: view.assignment.clone(),
            tenant_limits: view.tenant_limits.clone(),
        })
        .collect();
    let again = plan(&snap);
    assert!(again.write.placements.is_empty());
    assert!(again.write.views.is_empty());
    assert_eq!(
        first.write.views[0].tenant_limits[0].ingest_bytes_per_sec, 1000,
        "the only owner gets the whole limit"
    );
}

#[test]
fn a_stored_releasing_handover_round_trips_unchanged() {
    let mut row = owned(0, "w-1", 1);
    row.last_handover = 4;
    row.handover = Some(StoredHandover {
        number: 4,
        to: "w-2".into(),
        phase: HandoverPhaseName::Releasing,
    });
    let mut drained = worker("w-1", true);
    drained.state = WorkerState::Draining;
    let snap = snapshot(
        vec![drained, worker("w-2", true)],
        vec![shard(0, KeyRange::FULL, ShardStatus::Readwrite)],
        vec![row],
    );
    let step = plan(&snap);
    assert_eq!(state_of(&step, "w-1", 0), Some(AssignedState::Releasing));
    assert_eq!(state_of(&step, "w-2", 0), Some(AssignedState::Pending));
    let written = step
        .write
        .placements
        .iter()
        .find(|r| r.shard.shard_id == 0)
        .and_then(|r| r.handover.clone());
    assert!(
        written.is_none_or(|h| h.number == 4 && h.phase == HandoverPhaseName::Releasing),
        "a new leader continues the handover where it was"
    );
}

#[test]
fn a_shard_nobody_reports_keeps_its_load_for_the_hold_then_counts_as_idle() {
    use std::time::Duration;

    use logplane_model::ShardLoad;

    use super::catalog::Catalog;
    use super::loads::LoadTracker;

    let mut owner = worker("w-1", true);
    owner.shard_load = vec![ShardLoad {
        tenant: "acme".into(),
        project: "web".into(),
        logstore: "nginx".into(),
        shard_id: 0,
        ingest_bytes_per_sec: 1_000_000,
        ingest_events_per_sec: 4_000,
    }];
    let everything = KeyRange {
        begin: 0,
        end: None,
    };
    let mut pool = snapshot(
        vec![owner],
        vec![shard(0, everything, ShardStatus::Readwrite)],
        vec![owned(0, "w-1", 1)],
    );
    let catalog = Catalog::new(&pool);
    let (smoothing, hold) = (Duration::from_secs(1), Duration::from_secs(10));
    let mut tracker = LoadTracker::default();
    let start = Instant::now();
    let reported = tracker.observe(&pool, &catalog, smoothing, hold, start);
    assert_eq!(reported.bytes, vec![1_000_000]);

    // The shard changes hands: its old owner no longer reports it, its new one not yet.
    pool.workers[0].shard_load.clear();
    let handing_over = tracker.observe(&pool, &catalog, smoothing, hold, start + hold / 2);
    assert_eq!(handing_over.bytes, vec![1_000_000], "held, not decayed");
    assert_eq!(handing_over.events, vec![4_000]);

    // Unreported past the hold: the traffic is gone.
    let gone = tracker.observe(&pool, &catalog, smoothing, hold, start + hold * 2);
    assert!(gone.bytes[0] < 1_000, "decayed to idle: {:?}", gone.bytes);
}
