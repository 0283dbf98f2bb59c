//! The worker pool and the scheduler's state on both backends: registration, liveness by the
//! database's clock, heartbeats and their long poll, the leader's fenced writes, handover state
//! kept across leaders, resharding that keeps the key space covered exactly once, and what
//! workers report reaching usage and the query-slot arbiter.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use logplane_model::page::PageRequest;
use logplane_model::{
    AssignedShard, AssignedState, AutoSplit, Caller, HandoverReport, KeyRange, LogstoreSpec,
    ProjectSpec, QuerySlotRequest, QuotaSpec, Role, Shard, ShardLoad, ShardRef, ShardSplitRequest,
    ShardStatus, TenantLimitShare, TenantSpec, UnplacedShard, WorkerCapacity, WorkerHeartbeat,
    WorkerRole, WorkerSpec, WorkerState,
};
use logplane_store::testing::TestDatabase;
use logplane_store::{
    AutoSplitOutcome, Ctx, HandoverPhaseName, PlacementRow, Precondition, Published,
    QuerySlotSettings, SCHEDULER_LEASE, SchedulerWrite, SlotAdmission, SqlStore, Store, StoreError,
    StoreOptions, StoredHandover, ViewUpdate, WorkerPool, WorkerSettings,
};

macro_rules! on_both_backends {
    ($($behaviour:ident),* $(,)?) => {
        $(
            mod $behaviour {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::run(logplane_store::Backend::Postgres, super::$behaviour).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::run(logplane_store::Backend::Sqlite, super::$behaviour).await;
                }
            }
        )*
    };
}

on_both_backends!(
    workers_register_and_only_workers_speak_the_protocol,
    liveness_follows_the_lease_by_the_database_clock,
    admins_cordon_drain_uncordon_and_forget_workers,
    a_live_worker_involved_in_ingest_cannot_be_forgotten,
    published_assignments_reach_heartbeats_and_wake_long_polls,
    reports_and_loads_reach_the_snapshot_and_usage,
    a_former_leaders_write_is_fenced_and_writes_nothing,
    a_write_that_counted_a_revived_worker_dead_is_stale,
    handover_state_survives_a_change_of_leader,
    shard_lists_show_owners_and_replicas_with_addresses,
    splits_and_merges_keep_the_key_space_covered_once,
    resharding_refusals_name_the_problem,
    a_new_shard_count_reshards_within_the_quota,
    concurrent_splits_of_one_logstore_stay_consistent,
    auto_split_follows_the_logstore_and_the_fence,
    query_slots_follow_the_live_query_workers,
);

/// Short enough for tests to see leases expire; nothing asserts a duration.
const LEASE: Duration = Duration::from_millis(400);

async fn run<F, Fut>(backend: logplane_store::Backend, behaviour: F)
where
    F: FnOnce(Arc<SqlStore>, TestDatabase) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let database = TestDatabase::create(backend).await;
    let store = Arc::new(
        database
            .open_with(&StoreOptions {
                workers: WorkerSettings {
                    lease_ttl: LEASE,
                    poll_interval: Duration::from_millis(20),
                },
                ..StoreOptions::default()
            })
            .await,
    );
    behaviour(store, database).await;
}

fn admin() -> Ctx {
    Ctx::new(
        Caller {
            key_id: "root".into(),
            role: Role::PlatformAdmin,
            tenant: None,
        },
        Some("req-admin".into()),
    )
}

fn worker_ctx() -> Ctx {
    Ctx::new(
        Caller {
            key_id: "worker-key".into(),
            role: Role::Worker,
            tenant: None,
        },
        None,
    )
}

fn tenant_ctx(tenant: &str, role: Role) -> Ctx {
    Ctx::new(
        Caller {
            key_id: format!("{tenant}-{}", role.as_str()),
            role,
            tenant: Some(tenant.into()),
        },
        None,
    )
}

fn spec(zone: &str, roles: &[WorkerRole], query_slots: i64) -> WorkerSpec {
    WorkerSpec {
        address: format!("{zone}.example:7000"),
        zone: zone.into(),
        roles: roles.to_vec(),
        capacity: WorkerCapacity {
            shards: 100,
            ingest_bytes_per_sec: 0,
            query_slots,
        },
    }
}

async fn register(store: &SqlStore, id: &str) {
    store
        .register_worker(
            &worker_ctx(),
            id,
            spec("zone-a", &[WorkerRole::Ingest, WorkerRole::Query], 4),
            Precondition::None,
        )
        .await
        .unwrap();
}

async fn heartbeat(
    store: &SqlStore,
    id: &str,
    body: WorkerHeartbeat,
) -> logplane_model::HeartbeatAnswer {
    store
        .heartbeat_worker(&worker_ctx(), id, body, Duration::ZERO)
        .await
        .unwrap()
}

async fn seed_logstore(store: &SqlStore, tenant: &str, shard_count: i64) {
    let _ = store
        .put_tenant(&admin(), tenant, TenantSpec::default(), Precondition::None)
        .await
        .unwrap();
    store
        .put_project(
            &admin(),
            tenant,
            "web",
            ProjectSpec::default(),
            Precondition::None,
        )
        .await
        .unwrap();
    store
        .put_logstore(
            &admin(),
            tenant,
            "web",
            "nginx",
            LogstoreSpec {
                shard_count,
                ..Default::default()
            },
            Precondition::None,
        )
        .await
        .unwrap();
}

fn shard(tenant: &str, id: i64) -> ShardRef {
    ShardRef {
        tenant: tenant.into(),
        project: "web".into(),
        logstore: "nginx".into(),
        shard_id: id,
    }
}

/// Waits (bounded) until `check` holds; the bound only keeps a broken test from hanging.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "{what} did not happen");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn lead(store: &SqlStore, holder: &str, ttl: Duration) -> logplane_store::Leadership {
    store
        .acquire_leadership(SCHEDULER_LEASE, holder, ttl)
        .await
        .unwrap()
        .won()
        .expect("the lease is free")
}

fn view(worker: &str, assignment: Vec<AssignedShard>) -> ViewUpdate {
    ViewUpdate {
        worker: worker.into(),
        assignment,
        assignment_changed: true,
        tenant_limits: Vec::new(),
    }
}

fn active_ingest(tenant: &str, id: i64, epoch: i64) -> AssignedShard {
    AssignedShard {
        tenant: tenant.into(),
        project: "web".into(),
        logstore: "nginx".into(),
        shard_id: id,
        inclusive_begin_key: "0".repeat(32),
        exclusive_end_key: "f".repeat(32),
        role: WorkerRole::Ingest,
        state: AssignedState::Active,
        handover: None,
        epoch: Some(epoch),
    }
}

async fn generation(store: &SqlStore) -> (i64, i64) {
    let status = store.get_scheduler_status(&admin()).await.unwrap();
    (status.generation, status.written_by_epoch)
}

/// The readwrite shards, sorted by key, chain from the start to the end of the key space.
fn assert_covered_once(shards: &[Shard]) {
    let mut ranges: Vec<KeyRange> = shards
        .iter()
        .filter(|s| s.status == ShardStatus::Readwrite)
        .map(|s| KeyRange::from_hex(&s.inclusive_begin_key, &s.exclusive_end_key).unwrap())
        .collect();
    ranges.sort();
    assert!(!ranges.is_empty());
    assert_eq!(ranges[0].begin, 0, "the key space starts covered");
    for pair in ranges.windows(2) {
        assert_eq!(
            pair[0].end,
            Some(pair[1].begin),
            "no gap, no overlap: {ranges:?}"
        );
    }
    assert_eq!(
        ranges.last().unwrap().end,
        None,
        "the key space ends covered"
    );
}

async fn shards(store: &SqlStore, tenant: &str) -> Vec<Shard> {
    store
        .list_shards(&admin(), tenant, "web", "nginx")
        .await
        .unwrap()
}

async fn workers_register_and_only_workers_speak_the_protocol(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    let ctx = worker_ctx();
    let first = store
        .register_worker(
            &ctx,
            "w-1",
            spec("zone-a", &[WorkerRole::Ingest], 0),
            Precondition::IfAbsent,
        )
        .await
        .unwrap();
    assert!(first.is_created());
    let again = store
        .register_worker(
            &ctx,
            "w-1",
            spec("zone-a", &[WorkerRole::Ingest], 0),
            Precondition::None,
        )
        .await
        .unwrap();
    assert!(matches!(again, logplane_store::PutOutcome::Unchanged(_)));
    assert_eq!(again.resource().etag, first.resource().etag);
    let changed = store
        .register_worker(
            &ctx,
            "w-1",
            spec("zone-b", &[WorkerRole::Ingest, WorkerRole::Query], 8),
            Precondition::IfMatch(Some(first.resource().etag.clone())),
        )
        .await
        .unwrap();
    assert!(matches!(changed, logplane_store::PutOutcome::Replaced(_)));
    assert_eq!(changed.resource().zone, "zone-b");
    assert!(matches!(
        store
            .register_worker(
                &ctx,
                "w-1",
                spec("zone-c", &[WorkerRole::Query], 1),
                Precondition::IfMatch(Some(first.resource().etag.clone()))
            )
            .await,
        Err(StoreError::PreconditionFailed(_))
    ));
    assert!(matches!(
        store
            .register_worker(&ctx, "Bad_Id!", spec("zone-a", &[WorkerRole::Query], 1), Precondition::None)
            .await,
        Err(StoreError::Invalid(errors)) if errors.errors[0].field == "worker"
    ));
    for id in ["w-2", "w-3"] {
        register(&store, id).await;
    }
    let worker = store.get_worker(&admin(), "w-1").await.unwrap();
    assert!(worker.live, "registering renews the lease");
    assert_eq!(worker.state, WorkerState::Active);
    assert_eq!(worker.roles, [WorkerRole::Ingest, WorkerRole::Query]);
    let page = store
        .list_workers(&admin(), PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
        ["w-1", "w-2"]
    );
    let rest = store
        .list_workers(
            &admin(),
            PageRequest {
                size: 2,
                after: page.next_cursor.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.next_cursor, None);

    // The protocol is for workers; administration for platform admins.
    assert!(matches!(
        store
            .register_worker(
                &admin(),
                "w-9",
                spec("zone-a", &[WorkerRole::Query], 1),
                Precondition::None
            )
            .await,
        Err(StoreError::Forbidden(_))
    ));
    assert!(matches!(
        store
            .heartbeat_worker(
                &tenant_ctx("acme", Role::Admin),
                "w-1",
                WorkerHeartbeat::default(),
                Duration::ZERO
            )
            .await,
        Err(StoreError::Forbidden(_))
    ));
    assert!(matches!(
        store.get_worker(&ctx, "w-1").await,
        Err(StoreError::Forbidden(_))
    ));
    assert!(matches!(
        store
            .list_workers(&tenant_ctx("acme", Role::Admin), PageRequest::first(10))
            .await,
        Err(StoreError::Forbidden(_))
    ));
    assert!(matches!(
        store
            .heartbeat_worker(&ctx, "w-404", WorkerHeartbeat::default(), Duration::ZERO)
            .await,
        Err(StoreError::NotFound(_))
    ));
    let bad = WorkerHeartbeat {
        applied_assignment_version: -1,
        ..Default::default()
    };
    assert!(matches!(
        store.heartbeat_worker(&ctx, "w-1", bad, Duration::ZERO).await,
        Err(StoreError::Invalid(errors)) if errors.errors[0].field == "applied_assignment_version"
    ));
}

async fn liveness_follows_the_lease_by_the_database_clock(store: Arc<SqlStore>, _db: TestDatabase) {
    register(&store, "w-1").await;
    assert!(store.get_worker(&admin(), "w-1").await.unwrap().live);
    let answer = heartbeat(&store, "w-1", WorkerHeartbeat::default()).await;
    assert_eq!(answer.lease_ttl_ms, LEASE.as_millis() as i64);
    assert!(answer.assignment.is_none(), "nothing published for it yet");
    eventually("the lease expires without heartbeats", || async {
        !store.get_worker(&admin(), "w-1").await.unwrap().live
    })
    .await;
    let snapshot = store.pool_snapshot().await.unwrap();
    assert!(!snapshot.workers[0].live, "the leader sees it dead too");
    let status = store.get_scheduler_status(&admin()).await.unwrap();
    assert_eq!((status.live_workers, status.dead_workers), (0, 1));
    heartbeat(&store, "w-1", WorkerHeartbeat::default()).await;
    let worker = store.get_worker(&admin(), "w-1").await.unwrap();
    assert!(worker.live, "a heartbeat brings it back");
    assert!(worker.last_heartbeat_at.is_some());
}

async fn admins_cordon_drain_uncordon_and_forget_workers(store: Arc<SqlStore>, _db: TestDatabase) {
    register(&store, "w-1").await;
    let before = store.get_worker(&admin(), "w-1").await.unwrap();
    let cordoned = store
        .set_worker_state(&admin(), "w-1", WorkerState::Cordoned)
        .await
        .unwrap();
    assert_eq!(cordoned.state, WorkerState::Cordoned);
    assert_ne!(cordoned.etag, before.etag);
    let drained = store
        .set_worker_state(&admin(), "w-1", WorkerState::Draining)
        .await
        .unwrap();
    assert_eq!(drained.state, WorkerState::Draining);
    assert_eq!(
        heartbeat(&store, "w-1", WorkerHeartbeat::default())
            .await
            .state,
        WorkerState::Draining,
        "the worker learns it is being drained"
    );
    let active = store
        .set_worker_state(&admin(), "w-1", WorkerState::Active)
        .await
        .unwrap();
    assert_eq!(active.state, WorkerState::Active);
    assert!(matches!(
        store
            .set_worker_state(&worker_ctx(), "w-1", WorkerState::Draining)
            .await,
        Err(StoreError::Forbidden(_))
    ));
    assert!(matches!(
        store
            .set_worker_state(&admin(), "w-404", WorkerState::Draining)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .delete_worker(&admin(), "w-1", Precondition::IfMatch(Some("stale".into())))
            .await,
        Err(StoreError::PreconditionFailed(_))
    ));
    store
        .delete_worker(&admin(), "w-1", Precondition::None)
        .await
        .unwrap();
    assert!(matches!(
        store.get_worker(&admin(), "w-1").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .delete_worker(&admin(), "w-1", Precondition::None)
            .await,
        Err(StoreError::NotFound(_))
    ));
}

async fn a_live_worker_involved_in_ingest_cannot_be_forgotten(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    seed_logstore(&store, "acme", 1).await;
    register(&store, "w-1").await;
    let leader = lead(&store, "replica-a", Duration::from_secs(30)).await;
    let mut row = PlacementRow::empty(shard("acme", 0));
    row.owner = Some("w-1".into());
    row.epoch = 1;
    let written = store
        .publish_schedule(
            &leader,
            SchedulerWrite {
                placements: vec![row],
                views: vec![view("w-1", vec![active_ingest("acme", 0, 1)])],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(matches!(written, Published::Written { .. }));
    assert!(
        matches!(
            store
                .delete_worker(&admin(), "w-1", Precondition::None)
                .await,
            Err(StoreError::Conflict(_))
        ),
        "it may be accepting writes"
    );
    eventually("its lease expires", || async {
        !store.get_worker(&admin(), "w-1").await.unwrap().live
    })
    .await;
    store
        .delete_worker(&admin(), "w-1", Precondition::None)
        .await
        .unwrap();
}

async fn published_assignments_reach_heartbeats_and_wake_long_polls(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    seed_logstore(&store, "acme", 2).await;
    register(&store, "w-1").await;
    let leader = lead(&store, "replica-a", Duration::from_secs(30)).await;
    let Published::Written { generation: first } = store
        .publish_schedule(
            &leader,
            SchedulerWrite {
                views: vec![view("w-1", vec![active_ingest("acme", 0, 1)])],
                ..Default::default()
            },
        )
        .await
        .unwrap()
    else {
        panic!("written");
    };
    let answer = heartbeat(&store, "w-1", WorkerHeartbeat::default()).await;
    assert_eq!(answer.assignment_version, first);
    assert_eq!(answer.assignment.unwrap(), [active_ingest("acme", 0, 1)]);
    let applied = WorkerHeartbeat {
        applied_assignment_version: first,
        ..Default::default()
    };
    assert!(
        heartbeat(&store, "w-1", applied.clone())
            .await
            .assignment
            .is_none(),
        "sent only when it differs"
    );

    // A long poll returns when the next version is published, well before its wait ends.
    let waiting = {
        let store = store.clone();
        let applied = applied.clone();
        tokio::spawn(async move {
            store
                .heartbeat_worker(&worker_ctx(), "w-1", applied, Duration::from_secs(60))
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let limits = vec![TenantLimitShare {
        tenant: "acme".into(),
        ingest_bytes_per_sec: 1000,
        ingest_events_per_sec: 10,
    }];
    let Published::Written { generation: second } = store
        .publish_schedule(
            &leader,
            SchedulerWrite {
                views: vec![ViewUpdate {
                    tenant_limits: limits.clone(),
                    ..view(
                        "w-1",
                        vec![active_ingest("acme", 0, 1), active_ingest("acme", 1, 1)],
                    )
                }],
                ..Default::default()
            },
        )
        .await
        .unwrap()
    else {
        panic!("written");
    };
    assert!(second > first, "versions only grow");
    let answer = waiting.await.unwrap();
    assert_eq!(answer.assignment_version, second);
    assert_eq!(answer.assignment.unwrap().len(), 2);
    assert_eq!(answer.tenant_limits, limits);

    // Limits alone change without a new version.
    let Published::Written { generation: third } = store
        .publish_schedule(
            &leader,
            SchedulerWrite {
                views: vec![ViewUpdate {
                    assignment_changed: false,
                    tenant_limits: Vec::new(),
                    ..view("w-1", Vec::new())
                }],
                ..Default::default()
            },
        )
        .await
        .unwrap()
    else {
        panic!("written");
    };
    assert_eq!(third, second);
    let answer = heartbeat(
        &store,
        "w-1",
        WorkerHeartbeat {
            applied_assignment_version: second,
            ..Default::default()
        },
    )
    .await;
    assert!(answer.assignment.is_none());
    assert!(answer.tenant_limits.is_empty());
    let worker = store.get_worker(&admin(), "w-1").await.unwrap();
    assert_eq!(
        (
            worker.assignment_version,
            worker.applied_assignment_version,
            worker.ingest_shards
        ),
        (second, second, 2)
    );
}

async fn reports_and_loads_reach_the_snapshot_and_usage(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_logstore(&store, "acme", 2).await;
    register(&store, "w-1").await;
    let usage = store.get_usage(&admin(), "acme").await.unwrap();
    assert!(
        usage.reported.iter().all(|r| r.reported.is_none()),
        "nothing reported yet"
    );
    let report = HandoverReport {
        tenant: "acme".into(),
        project: "web".into(),
        logstore: "nginx".into(),
        shard_id: 1,
        handover: 3,
    };
    let load = |id: i64, bytes: i64| ShardLoad {
        tenant: "acme".into(),
        project: "web".into(),
        logstore: "nginx".into(),
        shard_id: id,
        ingest_bytes_per_sec: bytes,
        ingest_events_per_sec: bytes / 100,
    };
    heartbeat(
        &store,
        "w-1",
        WorkerHeartbeat {
            shard_load: vec![load(0, 1000), load(1, 3000)],
            storage_bytes_by_tenant: BTreeMap::from([("acme".to_string(), 5_000_000)]),
            ready: vec![report.clone()],
            released: Vec::new(),
            applied_assignment_version: 0,
        },
    )
    .await;
    let snapshot = store.pool_snapshot().await.unwrap();
    let worker = &snapshot.workers[0];
    assert_eq!(worker.ready, [report]);
    assert_eq!(worker.shard_load.len(), 2);
    assert_eq!(snapshot.shards.len(), 2);
    assert_eq!(
        snapshot.tenant_limits.get("acme"),
        None,
        "no quota row: the defaults apply"
    );
    let usage = store
        .get_usage(&tenant_ctx("acme", Role::Viewer), "acme")
        .await
        .unwrap();
    let reported = |name: &str| {
        usage
            .reported
            .iter()
            .find(|r| r.quota == name)
            .and_then(|r| r.reported)
    };
    assert_eq!(reported("ingest_bytes_per_sec"), Some(4000));
    assert_eq!(reported("ingest_events_per_sec"), Some(40));
    assert_eq!(reported("storage_bytes"), Some(5_000_000));
    assert_eq!(
        reported("query_requests_per_sec"),
        None,
        "workers do not report it"
    );
    // Each heartbeat replaces the last one's reports.
    heartbeat(&store, "w-1", WorkerHeartbeat::default()).await;
    assert!(
        store.pool_snapshot().await.unwrap().workers[0]
            .ready
            .is_empty()
    );
    heartbeat(
        &store,
        "w-1",
        WorkerHeartbeat {
            shard_load: vec![load(0, 1000)],
            ..Default::default()
        },
    )
    .await;
    eventually("a dead worker's reports stop counting", || async {
        let usage = store.get_usage(&admin(), "acme").await.unwrap();
        usage.reported.iter().all(|r| r.reported.is_none())
    })
    .await;
}

async fn a_former_leaders_write_is_fenced_and_writes_nothing(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    seed_logstore(&store, "acme", 2).await;
    register(&store, "w-1").await;
    let short = Duration::from_millis(300);
    let old = lead(&store, "replica-a", short).await;
    let Published::Written { generation } = store
        .publish_schedule(
            &old,
            SchedulerWrite {
                views: vec![view("w-1", vec![active_ingest("acme", 0, 1)])],
                ..Default::default()
            },
        )
        .await
        .unwrap()
    else {
        panic!("written");
    };
    assert_eq!(generation_of(&store).await, (generation, old.epoch));
    // replica-a pauses past its lease; replica-b takes over.
    tokio::time::sleep(short + Duration::from_millis(100)).await;
    let new = lead(&store, "replica-b", Duration::from_secs(30)).await;
    assert_eq!(new.epoch, old.epoch + 1);
    let mut stolen = PlacementRow::empty(shard("acme", 1));
    stolen.owner = Some("w-1".into());
    let refused = store
        .publish_schedule(
            &old,
            SchedulerWrite {
                placements: vec![stolen],
                views: vec![view("w-1", vec![active_ingest("acme", 1, 9)])],
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(refused, Err(StoreError::Fenced(_))), "{refused:?}");
    assert!(matches!(
        store.auto_split_shard(&old, &shard("acme", 0)).await,
        Err(StoreError::Fenced(_))
    ));
    assert_eq!(
        generation_of(&store).await,
        (generation, old.epoch),
        "nothing was written"
    );
    assert!(store.pool_snapshot().await.unwrap().placements.is_empty());
    let answer = heartbeat(&store, "w-1", WorkerHeartbeat::default()).await;
    assert_eq!(answer.assignment.unwrap(), [active_ingest("acme", 0, 1)]);
    // The new leader writes, under its epoch.
    let Published::Written { generation: next } = store
        .publish_schedule(
            &new,
            SchedulerWrite {
                views: vec![view("w-1", Vec::new())],
                ..Default::default()
            },
        )
        .await
        .unwrap()
    else {
        panic!("written");
    };
    assert_eq!(generation_of(&store).await, (next, new.epoch));
}

async fn generation_of(store: &SqlStore) -> (i64, i64) {
    generation(store).await
}

async fn a_write_that_counted_a_revived_worker_dead_is_stale(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    seed_logstore(&store, "acme", 1).await;
    register(&store, "w-1").await;
    register(&store, "w-2").await;
    let leader = lead(&store, "replica-a", Duration::from_secs(30)).await;
    eventually("w-1's lease expires", || async {
        !store.get_worker(&admin(), "w-1").await.unwrap().live
    })
    .await;
    // The leader's snapshot saw w-1 dead; w-1 heartbeats before the write commits.
    heartbeat(&store, "w-1", WorkerHeartbeat::default()).await;
    let before = generation(&store).await;
    let mut taken = PlacementRow::empty(shard("acme", 0));
    taken.owner = Some("w-1".into());
    taken.owner_lost = true;
    let outcome = store
        .publish_schedule(
            &leader,
            SchedulerWrite {
                placements: vec![taken],
                views: vec![view("w-1", Vec::new())],
                dead_workers: vec!["w-1".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(outcome, Published::Stale);
    assert_eq!(generation(&store).await, before, "nothing was written");
    assert!(store.pool_snapshot().await.unwrap().placements.is_empty());
    // Still dead (or forgotten) at commit: written.
    eventually("w-2's lease expires", || async {
        !store.get_worker(&admin(), "w-2").await.unwrap().live
    })
    .await;
    let outcome = store
        .publish_schedule(
            &leader,
            SchedulerWrite {
                dead_workers: vec!["w-2".into(), "w-gone".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(matches!(outcome, Published::Written { .. }));
}

async fn handover_state_survives_a_change_of_leader(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_logstore(&store, "acme", 3).await;
    let leader = lead(&store, "replica-a", Duration::from_millis(300)).await;
    let mut preparing = PlacementRow::empty(shard("acme", 0));
    preparing.owner = Some("w-1".into());
    preparing.epoch = 4;
    preparing.last_handover = 2;
    preparing.handover = Some(StoredHandover {
        number: 2,
        to: "w-2".into(),
        phase: HandoverPhaseName::Preparing,
    });
    preparing.query_replicas = vec!["w-2".into(), "w-3".into()];
    let mut releasing = PlacementRow::empty(shard("acme", 1));
    releasing.owner = Some("w-2".into());
    releasing.owner_lost = true;
    releasing.epoch = 1;
    releasing.last_handover = 5;
    releasing.handover = Some(StoredHandover {
        number: 5,
        to: "w-3".into(),
        phase: HandoverPhaseName::Releasing,
    });
    releasing.next_target = Some("w-1".into());
    let mut retiring = PlacementRow::empty(shard("acme", 2));
    retiring.owner = Some("w-3".into());
    retiring.retired = true;
    retiring.handover = Some(StoredHandover {
        number: 1,
        to: String::new(),
        phase: HandoverPhaseName::Retiring,
    });
    let rows = vec![preparing, releasing, retiring];
    store
        .publish_schedule(
            &leader,
            SchedulerWrite {
                placements: rows.clone(),
                unplaced: vec![UnplacedShard {
                    tenant: "acme".into(),
                    project: "web".into(),
                    logstore: "nginx".into(),
                    shard_id: 2,
                    role: WorkerRole::Query,
                    missing: 1,
                }],
                unplaced_total: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let next = lead(&store, "replica-b", Duration::from_secs(30)).await;
    let mut read = store.pool_snapshot().await.unwrap().placements;
    read.sort_by_key(|row| row.shard.shard_id);
    assert_eq!(
        read, rows,
        "a new leader reads the handovers exactly as written"
    );
    let status = store.get_scheduler_status(&admin()).await.unwrap();
    assert_eq!(status.unplaced_total, 1);
    assert_eq!(status.unplaced[0].shard_id, 2);
    let holder = status.leader.unwrap();
    assert_eq!(
        (holder.holder.as_str(), holder.epoch),
        ("replica-b", next.epoch)
    );
    // A placement of a shard deleted meanwhile is skipped, not an error.
    store
        .delete_logstore(&admin(), "acme", "web", "nginx", Precondition::None)
        .await
        .unwrap();
    let outcome = store
        .publish_schedule(
            &next,
            SchedulerWrite {
                placements: rows,
                views: vec![view("w-gone", Vec::new())],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(matches!(outcome, Published::Written { .. }));
    assert!(store.pool_snapshot().await.unwrap().placements.is_empty());
}

async fn shard_lists_show_owners_and_replicas_with_addresses(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    seed_logstore(&store, "acme", 2).await;
    register(&store, "w-1").await;
    register(&store, "w-2").await;
    let leader = lead(&store, "replica-a", Duration::from_secs(30)).await;
    let mut owned = PlacementRow::empty(shard("acme", 0));
    owned.owner = Some("w-1".into());
    owned.query_replicas = vec!["w-2".into(), "w-1".into()];
    let mut lost = PlacementRow::empty(shard("acme", 1));
    lost.owner = Some("w-2".into());
    lost.owner_lost = true;
    store
        .publish_schedule(
            &leader,
            SchedulerWrite {
                placements: vec![owned, lost],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let listed = store
        .list_shards(&tenant_ctx("acme", Role::Viewer), "acme", "web", "nginx")
        .await
        .unwrap();
    let owner = listed[0].ingest_owner.as_ref().unwrap();
    assert_eq!(
        (owner.worker.as_str(), owner.address.as_str()),
        ("w-1", "zone-a.example:7000")
    );
    assert_eq!(
        listed[0]
            .query_replicas
            .iter()
            .map(|r| r.worker.as_str())
            .collect::<Vec<_>>(),
        ["w-2", "w-1"]
    );
    assert_eq!(listed[1].ingest_owner, None, "a lost owner takes no writes");
    assert!(listed[1].query_replicas.is_empty());
}

async fn splits_and_merges_keep_the_key_space_covered_once(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    seed_logstore(&store, "acme", 2).await;
    let editor = tenant_ctx("acme", Role::Editor);
    let before = store
        .get_logstore(&admin(), "acme", "web", "nginx")
        .await
        .unwrap();
    let split = store
        .split_shard(
            &editor,
            "acme",
            "web",
            "nginx",
            0,
            ShardSplitRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(split.iter().map(|s| s.id).collect::<Vec<_>>(), [0, 2, 3]);
    assert_eq!(split[0].status, ShardStatus::Readonly);
    assert_eq!(split[1].inclusive_begin_key, "0".repeat(32));
    assert_eq!(
        split[1].exclusive_end_key,
        format!("4{}", "0".repeat(31)),
        "the midpoint"
    );
    assert_eq!(split[2].exclusive_end_key, format!("8{}", "0".repeat(31)));
    let after = store
        .get_logstore(&admin(), "acme", "web", "nginx")
        .await
        .unwrap();
    assert_eq!(
        after.shard_count, 3,
        "shard_count follows the readwrite shards"
    );
    assert_ne!(after.etag, before.etag);
    assert_covered_once(&shards(&store, "acme").await);

    let at_key = store
        .split_shard(
            &editor,
            "acme",
            "web",
            "nginx",
            1,
            ShardSplitRequest {
                split_key: Some(format!("9{}", "0".repeat(31))),
            },
        )
        .await
        .unwrap();
    assert_eq!(at_key[1].exclusive_end_key, format!("9{}", "0".repeat(31)));
    assert_covered_once(&shards(&store, "acme").await);

    // Merge 3 ([40, 80)) with its right neighbour 4 ([80, 90)).
    let merged = store
        .merge_shard(&editor, "acme", "web", "nginx", 3)
        .await
        .unwrap();
    assert_eq!(merged.iter().map(|s| s.id).collect::<Vec<_>>(), [3, 4, 6]);
    assert_eq!(
        merged[2].inclusive_begin_key,
        format!("4{}", "0".repeat(31))
    );
    assert_eq!(merged[2].exclusive_end_key, format!("9{}", "0".repeat(31)));
    let listed = shards(&store, "acme").await;
    assert_covered_once(&listed);
    assert_eq!(listed.len(), 7);
    assert_eq!(
        store
            .get_logstore(&admin(), "acme", "web", "nginx")
            .await
            .unwrap()
            .shard_count,
        3
    );
    let events = store
        .list_audit_events(&admin(), Some("acme"), PageRequest::first(10))
        .await
        .unwrap();
    assert!(events.items.iter().any(|e| e.action == "shard.merge"));
    assert!(events.items.iter().any(|e| e.action == "shard.split"));
}

async fn resharding_refusals_name_the_problem(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_logstore(&store, "acme", 2).await;
    let editor = tenant_ctx("acme", Role::Editor);
    store
        .split_shard(
            &editor,
            "acme",
            "web",
            "nginx",
            0,
            ShardSplitRequest::default(),
        )
        .await
        .unwrap();
    let split = |id: i64, key: Option<String>| {
        let store = store.clone();
        let editor = editor.clone();
        async move {
            store
                .split_shard(
                    &editor,
                    "acme",
                    "web",
                    "nginx",
                    id,
                    ShardSplitRequest { split_key: key },
                )
                .await
        }
    };
    assert!(
        matches!(split(0, None).await, Err(StoreError::Conflict(_))),
        "readonly"
    );
    assert!(matches!(
        split(99, None).await,
        Err(StoreError::NotFound(_))
    ));
    for bad in [
        "zz".to_string(),
        "0".repeat(32),
        format!("c{}", "0".repeat(31)),
    ] {
        assert!(
            matches!(split(2, Some(bad.clone())).await, Err(StoreError::Invalid(errors)) if errors.errors[0].field == "split_key"),
            "{bad}"
        );
    }
    assert!(
        matches!(
            store.merge_shard(&editor, "acme", "web", "nginx", 1).await,
            Err(StoreError::Conflict(_))
        ),
        "the last shard has no right neighbour"
    );
    assert!(matches!(
        store
            .split_shard(
                &tenant_ctx("acme", Role::Viewer),
                "acme",
                "web",
                "nginx",
                2,
                ShardSplitRequest::default()
            )
            .await,
        Err(StoreError::Forbidden(_))
    ));
    assert!(matches!(
        store
            .merge_shard(&tenant_ctx("other", Role::Admin), "acme", "web", "nginx", 2)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .split_shard(
                &editor,
                "acme",
                "web",
                "absent",
                0,
                ShardSplitRequest::default()
            )
            .await,
        Err(StoreError::NotFound(_))
    ));
    store
        .put_quota(
            &admin(),
            "acme",
            QuotaSpec {
                max_shards_per_project: Some(3),
                ..Default::default()
            },
            Precondition::None,
        )
        .await
        .unwrap();
    assert!(
        matches!(split(2, None).await, Err(StoreError::QuotaExceeded(q)) if q.quota == "max_shards_per_project")
    );
    assert_covered_once(&shards(&store, "acme").await);
}

async fn a_new_shard_count_reshards_within_the_quota(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_logstore(&store, "acme", 2).await;
    let put = |count: i64| {
        let store = store.clone();
        async move {
            store
                .put_logstore(
                    &admin(),
                    "acme",
                    "web",
                    "nginx",
                    LogstoreSpec {
                        shard_count: count,
                        ..Default::default()
                    },
                    Precondition::None,
                )
                .await
        }
    };
    put(5).await.unwrap();
    let listed = shards(&store, "acme").await;
    assert_covered_once(&listed);
    assert_eq!(
        listed
            .iter()
            .filter(|s| s.status == ShardStatus::Readwrite)
            .count(),
        5
    );
    put(3).await.unwrap();
    let listed = shards(&store, "acme").await;
    assert_covered_once(&listed);
    assert_eq!(
        listed
            .iter()
            .filter(|s| s.status == ShardStatus::Readwrite)
            .count(),
        3
    );
    let ids: std::collections::BTreeSet<i64> = listed.iter().map(|s| s.id).collect();
    assert_eq!(ids.len(), listed.len(), "ids are never reused");
    store
        .put_quota(
            &admin(),
            "acme",
            QuotaSpec {
                max_shards_per_project: Some(4),
                ..Default::default()
            },
            Precondition::None,
        )
        .await
        .unwrap();
    assert!(
        matches!(put(6).await, Err(StoreError::QuotaExceeded(q)) if q.quota == "max_shards_per_project")
    );
    assert_eq!(
        store
            .get_logstore(&admin(), "acme", "web", "nginx")
            .await
            .unwrap()
            .shard_count,
        3,
        "a refused reshard changes nothing"
    );
    assert_eq!(shards(&store, "acme").await, listed);
}

async fn concurrent_splits_of_one_logstore_stay_consistent(
    store: Arc<SqlStore>,
    _db: TestDatabase,
) {
    seed_logstore(&store, "acme", 8).await;
    let editor = tenant_ctx("acme", Role::Editor);
    let splits = (0..8).map(|id| {
        let store = store.clone();
        let editor = editor.clone();
        async move {
            store
                .split_shard(
                    &editor,
                    "acme",
                    "web",
                    "nginx",
                    id,
                    ShardSplitRequest::default(),
                )
                .await
        }
    });
    let results = futures::future::join_all(splits).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let listed = shards(&store, "acme").await;
    assert_covered_once(&listed);
    assert_eq!(listed.len(), 24);
    assert_eq!(
        store
            .get_logstore(&admin(), "acme", "web", "nginx")
            .await
            .unwrap()
            .shard_count,
        16
    );
}

async fn auto_split_follows_the_logstore_and_the_fence(store: Arc<SqlStore>, _db: TestDatabase) {
    seed_logstore(&store, "acme", 1).await;
    let leader = lead(&store, "replica-a", Duration::from_secs(30)).await;
    assert!(
        matches!(
            store
                .auto_split_shard(&leader, &shard("acme", 0))
                .await
                .unwrap(),
            AutoSplitOutcome::Skipped(_)
        ),
        "auto-split is off by default"
    );
    store
        .put_logstore(
            &admin(),
            "acme",
            "web",
            "nginx",
            LogstoreSpec {
                shard_count: 1,
                auto_split: AutoSplit {
                    enabled: true,
                    max_shards: 2,
                },
                ..Default::default()
            },
            Precondition::None,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .auto_split_shard(&leader, &shard("acme", 0))
            .await
            .unwrap(),
        AutoSplitOutcome::Split {
            children: vec![1, 2]
        }
    );
    assert_covered_once(&shards(&store, "acme").await);
    assert!(
        matches!(
            store
                .auto_split_shard(&leader, &shard("acme", 1))
                .await
                .unwrap(),
            AutoSplitOutcome::Skipped(_)
        ),
        "at auto_split.max_shards"
    );
    let events = store
        .list_audit_events(&admin(), Some("acme"), PageRequest::first(5))
        .await
        .unwrap();
    assert!(
        events
            .items
            .iter()
            .any(|e| e.action == "shard.auto_split" && e.actor.starts_with("scheduler:"))
    );
}

async fn query_slots_follow_the_live_query_workers(_store: Arc<SqlStore>, db: TestDatabase) {
    let store = db
        .open_with(&StoreOptions {
            query_slots: QuerySlotSettings {
                capacity: 50,
                lease_ttl: Duration::from_secs(30),
                poll_interval: Duration::from_millis(20),
                ..QuerySlotSettings::default()
            },
            workers: WorkerSettings {
                lease_ttl: LEASE,
                poll_interval: Duration::from_millis(20),
            },
            ..StoreOptions::default()
        })
        .await;
    seed_logstore(&store, "acme", 1).await;
    let frontend = Ctx::new(
        Caller {
            key_id: "frontend".into(),
            role: Role::QueryFrontend,
            tenant: None,
        },
        None,
    );
    let acquire = || {
        store.acquire_query_slot(
            &frontend,
            "acme",
            "web",
            QuerySlotRequest {
                cost_hint: 1,
                max_wait_ms: 0,
            },
        )
    };
    // An ingest-only worker adds no query slots: the configured capacity still holds.
    store
        .register_worker(
            &worker_ctx(),
            "ingest-1",
            spec("zone-a", &[WorkerRole::Ingest], 9),
            Precondition::None,
        )
        .await
        .unwrap();
    assert!(matches!(
        acquire().await.unwrap(),
        SlotAdmission::Granted(_)
    ));
    // One query worker with one slot: the cluster has one slot, and it is taken.
    store
        .register_worker(
            &worker_ctx(),
            "query-1",
            spec("zone-a", &[WorkerRole::Query], 1),
            Precondition::None,
        )
        .await
        .unwrap();
    assert!(matches!(acquire().await.unwrap(), SlotAdmission::TimedOut));
    store
        .register_worker(
            &worker_ctx(),
            "query-2",
            spec("zone-b", &[WorkerRole::Query], 2),
            Precondition::None,
        )
        .await
        .unwrap();
    assert!(matches!(
        acquire().await.unwrap(),
        SlotAdmission::Granted(_)
    ));
    assert!(matches!(
        acquire().await.unwrap(),
        SlotAdmission::Granted(_)
    ));
    assert!(matches!(acquire().await.unwrap(), SlotAdmission::TimedOut));
}
