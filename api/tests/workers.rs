//! The worker pool through the router, with this replica running the scheduler: simulated
//! workers register and heartbeat, hand shards over make-before-break, drain, die and come back;
//! platform admins cordon, drain and forget them; tenants split, merge and reshard. At every step
//! no two workers accept writes for one shard, nor for overlapping key ranges.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use common::TestApp;
use logplane_api::scheduling::{AutoSplitPolicy, SchedulerSettings};
use logplane_model::{
    AssignedShard, AssignedState, HandoverReport, HeartbeatAnswer, KeyRange, ShardLoad,
    WorkerHeartbeat, WorkerRole,
};
use logplane_store::{Backend, WorkerSettings};
use serde_json::{Value, json};

const NGINX: &str = "/v1/tenants/acme/projects/web/logstores/nginx";

fn scheduler() -> SchedulerSettings {
    let mut settings = SchedulerSettings::new("test-replica");
    settings.leader_lease = Duration::from_secs(5);
    settings.reconcile_interval = Duration::from_millis(25);
    settings.reconcile.load_smoothing = Duration::ZERO;
    settings.reconcile.auto_split = AutoSplitPolicy {
        shard_bytes_per_sec: 1000,
        window: Duration::ZERO,
    };
    settings
}

async fn pool_app(backend: Backend, lease: Duration) -> TestApp {
    TestApp::start_scheduling(
        backend,
        WorkerSettings {
            lease_ttl: lease,
            poll_interval: Duration::from_millis(10),
        },
        scheduler(),
    )
    .await
}

/// A worker as a test drives it: it reports `ready` for what it is told `pending` and
/// `released` for what it is told `releasing` (having stopped at once), and accepts writes for
/// its `active` ingest shards only while its own lease — counted from when it sent the last
/// answered heartbeat — is valid.
struct SimWorker {
    id: String,
    token: String,
    applied: i64,
    assignment: Vec<AssignedShard>,
    lease_until: Option<Instant>,
    /// The ingest bytes/s of each shard id of acme/web/nginx; the worker writing a shard
    /// reports its rate.
    traffic: BTreeMap<i64, i64>,
    last: Option<HeartbeatAnswer>,
}

impl SimWorker {
    async fn register(app: &TestApp, token: &str, id: &str, zone: &str, shards: i64) -> SimWorker {
        let response = app
            .call(
                Method::PUT,
                &format!("/v1/workers/{id}"),
                Some(token),
                Some(&json!({
                    "address": format!("{id}.{zone}.internal:7000"),
                    "zone": zone,
                    "roles": ["ingest", "query"],
                    "capacity": { "shards": shards, "query_slots": 4 },
                })),
            )
            .await;
        assert!(
            response.status == StatusCode::CREATED || response.status == StatusCode::OK,
            "register {id}: {}",
            response.text()
        );
        SimWorker {
            id: id.to_string(),
            token: token.to_string(),
            applied: 0,
            assignment: Vec::new(),
            lease_until: None,
            traffic: BTreeMap::new(),
            last: None,
        }
    }

    fn reports(&self, state: AssignedState) -> Vec<HandoverReport> {
        self.assignment
            .iter()
            .filter(|e| e.role == WorkerRole::Ingest && e.state == state)
            .map(|e| HandoverReport {
                tenant: e.tenant.clone(),
                project: e.project.clone(),
                logstore: e.logstore.clone(),
                shard_id: e.shard_id,
                handover: e.handover.expect("pending and releasing carry a handover"),
            })
            .collect()
    }

    async fn beat(&mut self, app: &TestApp) {
        // The protocol: once its own lease lapsed, a worker drops its ingest shards and asks for
        // its whole assignment again.
        if self
            .lease_until
            .is_some_and(|until| Instant::now() >= until)
        {
            self.assignment.clear();
            self.applied = 0;
        }
        let shard_load = self
            .writing()
            .iter()
            .filter_map(|entry| {
                let bytes = *self.traffic.get(&entry.shard_id)?;
                Some(ShardLoad {
                    tenant: entry.tenant.clone(),
                    project: entry.project.clone(),
                    logstore: entry.logstore.clone(),
                    shard_id: entry.shard_id,
                    ingest_bytes_per_sec: bytes,
                    ingest_events_per_sec: bytes / 100,
                })
            })
            .collect();
        let body = WorkerHeartbeat {
            applied_assignment_version: self.applied,
            shard_load,
            storage_bytes_by_tenant: BTreeMap::new(),
            ready: self.reports(AssignedState::Pending),
            released: self.reports(AssignedState::Releasing),
        };
        let sent = Instant::now();
        let response = app
            .call(
                Method::POST,
                &format!("/v1/workers/{}/heartbeat", self.id),
                Some(&self.token),
                Some(&serde_json::to_value(&body).unwrap()),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        let answer: HeartbeatAnswer = serde_json::from_slice(&response.body).unwrap();
        self.lease_until = Some(sent + Duration::from_millis(answer.lease_ttl_ms as u64));
        if let Some(assignment) = &answer.assignment {
            self.assignment = assignment.clone();
            self.applied = answer.assignment_version;
        }
        self.last = Some(answer);
    }

    /// The ingest shards it accepts writes for right now.
    fn writing(&self) -> Vec<&AssignedShard> {
        if self.lease_until.is_none_or(|until| Instant::now() >= until) {
            return Vec::new();
        }
        self.assignment
            .iter()
            .filter(|e| e.role == WorkerRole::Ingest && e.state == AssignedState::Active)
            .collect()
    }

    fn writing_ids(&self) -> Vec<i64> {
        self.writing().iter().map(|e| e.shard_id).collect()
    }

    fn serving(&self, role: WorkerRole) -> usize {
        self.assignment.iter().filter(|e| e.role == role).count()
    }
}

/// No key is writable on two shards or by two workers at once.
fn assert_single_writers(workers: &[SimWorker]) {
    let mut writing: Vec<(&str, &AssignedShard)> = Vec::new();
    for worker in workers {
        for entry in worker.writing() {
            writing.push((&worker.id, entry));
        }
    }
    for (i, (a_worker, a)) in writing.iter().enumerate() {
        for (b_worker, b) in &writing[i + 1..] {
            let same_logstore =
                a.tenant == b.tenant && a.project == b.project && a.logstore == b.logstore;
            let a_range = KeyRange::from_hex(&a.inclusive_begin_key, &a.exclusive_end_key).unwrap();
            let b_range = KeyRange::from_hex(&b.inclusive_begin_key, &b.exclusive_end_key).unwrap();
            let overlap = a_range.begin < b_range.end.unwrap_or(u128::MAX)
                && b_range.begin < a_range.end.unwrap_or(u128::MAX);
            assert!(
                !(same_logstore && overlap),
                "{a_worker} writes shard {} and {b_worker} writes shard {} over the same keys",
                a.shard_id,
                b.shard_id
            );
        }
    }
}

/// Heartbeats every worker in `driven` (indexes into `workers`) until `done` holds, checking
/// single writers after every heartbeat.
async fn drive_until(
    app: &TestApp,
    workers: &mut [SimWorker],
    driven: &[usize],
    what: &str,
    done: impl Fn(&[SimWorker]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for &at in driven {
            workers[at].beat(app).await;
            assert_single_writers(workers);
        }
        if done(workers) {
            return;
        }
        assert!(Instant::now() < deadline, "{what} did not happen");
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
}

async fn worker_token(app: &TestApp) -> String {
    app.key_and_token("/v1/api-keys", "pool-workers", "worker")
        .await
        .1
}

async fn seed(app: &TestApp, logstore: Value) {
    app.create_tenant("acme").await;
    app.create_project("acme", "web", json!({})).await;
    let response = app.put(NGINX, &app.admin, logstore).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
}

fn owners(app_shards: &Value) -> Vec<Option<String>> {
    app_shards["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "readwrite")
        .map(|s| s["ingest_owner"]["worker"].as_str().map(str::to_string))
        .collect()
}

async fn two_balanced_workers(app: &TestApp) -> Vec<SimWorker> {
    let token = worker_token(app).await;
    let mut workers = vec![
        SimWorker::register(app, &token, "w-1", "zone-a", 100).await,
        SimWorker::register(app, &token, "w-2", "zone-b", 100).await,
    ];
    drive_until(
        app,
        &mut workers,
        &[0, 1],
        "two workers sharing four shards",
        |w| w[0].writing().len() == 2 && w[1].writing().len() == 2,
    )
    .await;
    workers
}

async fn workers_share_shards_and_tenants_see_them(backend: Backend) {
    let app = pool_app(backend, Duration::from_secs(5)).await;
    seed(&app, json!({ "shard_count": 4, "query_replicas": 2 })).await;
    let mut workers = two_balanced_workers(&app).await;
    assert_eq!(
        workers[0].serving(WorkerRole::Query),
        4,
        "two replicas over two workers"
    );
    let listed = app.get(&format!("{NGINX}/shards"), &app.admin).await.json();
    for shard in listed["items"].as_array().unwrap() {
        let owner = shard["ingest_owner"]["worker"].as_str().unwrap();
        let address = shard["ingest_owner"]["address"].as_str().unwrap();
        assert!(address.starts_with(owner), "{address}");
        assert_eq!(shard["query_replicas"].as_array().unwrap().len(), 2);
    }
    // Each hosted tenant's limit is split among its owners and sums to its quota.
    let quota = app.get("/v1/tenants/acme/quota", &app.admin).await.json();
    let limit = quota["effective"]["ingest_bytes_per_sec"].as_i64().unwrap();
    // Each worker's answer is as of its own heartbeat, so look until both are current.
    drive_until(
        &app,
        &mut workers,
        &[0, 1],
        "limit shares summing to the quota",
        |w| {
            let shares: i64 = w
                .iter()
                .filter_map(|w| w.last.as_ref()?.tenant_limits.first())
                .map(|share| share.ingest_bytes_per_sec)
                .sum();
            shares == limit
        },
    )
    .await;
    let worker = app.get("/v1/workers/w-1", &app.admin).await.json();
    assert_eq!(
        (worker["ingest_shards"].as_i64(), worker["live"].as_bool()),
        (Some(2), Some(true))
    );
    assert!(worker["applied_assignment_version"].as_i64() <= worker["assignment_version"].as_i64());
    let status = app.get("/v1/scheduler", &app.admin).await.json();
    assert!(
        status["leader"]["holder"]
            .as_str()
            .unwrap()
            .starts_with("test-replica-")
    );
    assert!(status["generation"].as_i64().unwrap() > 0);
    assert_eq!(status["written_by_epoch"], status["leader"]["epoch"]);
    let metrics = app.get("/metrics", &app.admin).await.text();
    assert!(metrics.contains("logplane_scheduler_leader 1"), "{metrics}");
}

async fn draining_hands_every_shard_over_make_before_break(backend: Backend) {
    let app = pool_app(backend, Duration::from_secs(5)).await;
    seed(&app, json!({ "shard_count": 4 })).await;
    let mut workers = two_balanced_workers(&app).await;
    let drained = app
        .call(
            Method::POST,
            "/v1/workers/w-1/drain",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(drained.status, StatusCode::OK);
    assert_eq!(drained.json()["state"], "draining");
    let mut saw_releasing = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    // The drained worker keeps writing each shard until it is told to release it.
    while !(workers[0].assignment.is_empty() && workers[1].writing().len() == 4) {
        for at in [0, 1] {
            workers[at].beat(&app).await;
            assert_single_writers(&workers);
            let releasing = workers[0].reports(AssignedState::Releasing);
            saw_releasing |= !releasing.is_empty();
            // Make-before-break: the successor holds a shard before its owner lets go of it.
            for report in &releasing {
                assert!(
                    workers[1]
                        .assignment
                        .iter()
                        .any(|e| e.role == WorkerRole::Ingest
                            && e.shard_id == report.shard_id
                            && e.state != AssignedState::Releasing),
                    "shard {} released before its successor was ready",
                    report.shard_id
                );
            }
        }
        assert!(Instant::now() < deadline, "the drain did not finish");
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    assert!(saw_releasing, "the old owner was told to release");
    let worker = app.get("/v1/workers/w-1", &app.admin).await.json();
    assert_eq!(
        (
            worker["ingest_shards"].as_i64(),
            worker["query_shards"].as_i64()
        ),
        (Some(0), Some(0))
    );
    let uncordoned = app
        .call(
            Method::POST,
            "/v1/workers/w-1/uncordon",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(uncordoned.json()["state"], "active");
    drive_until(
        &app,
        &mut workers,
        &[0, 1],
        "rebalancing after uncordon",
        |w| w[0].writing().len() == 2 && w[1].writing().len() == 2,
    )
    .await;
    // A cordoned worker keeps what it holds.
    let cordoned = app
        .call(
            Method::POST,
            "/v1/workers/w-2/cordon",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(cordoned.json()["state"], "cordoned");
    for _ in 0..10 {
        for at in [0, 1] {
            workers[at].beat(&app).await;
            assert_single_writers(&workers);
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(workers[1].writing().len(), 2);
}

async fn a_dead_workers_ingest_moves_only_after_its_lease_expired(backend: Backend) {
    let lease = Duration::from_millis(800);
    let app = pool_app(backend, lease).await;
    seed(&app, json!({ "shard_count": 4 })).await;
    let mut workers = two_balanced_workers(&app).await;
    let orphaned = workers[0].writing_ids();
    // w-1 stops heartbeating (crashed or partitioned); w-2 carries on.
    let w1_lease_until = workers[0].lease_until.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while workers[1].writing().len() < 4 {
        workers[1].beat(&app).await;
        if workers[1]
            .writing_ids()
            .iter()
            .any(|id| orphaned.contains(id))
        {
            assert!(
                Instant::now() >= w1_lease_until,
                "w-2 took a shard while w-1's own lease could still be valid"
            );
        }
        assert_single_writers(&workers);
        assert!(
            Instant::now() < deadline,
            "the orphaned shards were not taken over"
        );
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let worker = app.get("/v1/workers/w-1", &app.admin).await.json();
    assert_eq!(worker["live"], false);
    // w-1 comes back: it is not told to write what w-2 owns now, and gets its share back
    // through handovers.
    drive_until(&app, &mut workers, &[0, 1], "w-1 rejoining", |w| {
        w[0].writing().len() == 2 && w[1].writing().len() == 2
    })
    .await;
}

async fn children_take_writes_only_after_their_parent_released(backend: Backend) {
    let app = pool_app(backend, Duration::from_secs(5)).await;
    seed(&app, json!({ "shard_count": 1 })).await;
    let token = worker_token(&app).await;
    let mut workers = vec![
        SimWorker::register(&app, &token, "w-1", "zone-a", 100).await,
        SimWorker::register(&app, &token, "w-2", "zone-b", 100).await,
    ];
    drive_until(&app, &mut workers, &[0, 1], "shard 0 owned", |w| {
        w[0].writing().len() + w[1].writing().len() == 1
    })
    .await;
    let split = app
        .call(
            Method::POST,
            &format!("{NGINX}/shards/0/split"),
            Some(&app.admin),
            Some(&json!({})),
        )
        .await;
    assert_eq!(split.status, StatusCode::OK, "{}", split.text());
    let ids: Vec<i64> = split.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [0, 1, 2]);
    drive_until(
        &app,
        &mut workers,
        &[0, 1],
        "the children taking writes",
        |w| {
            let mut writing: Vec<i64> = w.iter().flat_map(SimWorker::writing_ids).collect();
            writing.sort();
            writing == [1, 2]
        },
    )
    .await;
    let listed = app.get(&format!("{NGINX}/shards"), &app.admin).await.json();
    assert_eq!(listed["items"][0]["status"], "readonly");
    assert!(listed["items"][0]["ingest_owner"].is_null());
    assert!(owners(&listed).iter().all(Option::is_some));

    let merged = app
        .call(
            Method::POST,
            &format!("{NGINX}/shards/1/merge"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.text());
    drive_until(
        &app,
        &mut workers,
        &[0, 1],
        "the merged shard taking writes",
        |w| {
            w.iter()
                .flat_map(SimWorker::writing_ids)
                .collect::<Vec<_>>()
                == [3]
        },
    )
    .await;
    let resharded = app
        .put(NGINX, &app.admin, json!({ "shard_count": 4 }))
        .await;
    assert_eq!(resharded.status, StatusCode::OK, "{}", resharded.text());
    assert_eq!(resharded.json()["shard_count"], 4);
    drive_until(
        &app,
        &mut workers,
        &[0, 1],
        "four shards taking writes",
        |w| w.iter().map(|w| w.writing().len()).sum::<usize>() == 4,
    )
    .await;
}

async fn limit_shares_follow_each_workers_traffic(backend: Backend) {
    let app = pool_app(backend, Duration::from_secs(5)).await;
    seed(&app, json!({ "shard_count": 4 })).await;
    let quota = app
        .put(
            "/v1/tenants/acme/quota",
            &app.admin,
            json!({ "ingest_bytes_per_sec": 1_000_000 }),
        )
        .await;
    assert_eq!(quota.status, StatusCode::OK);
    let mut workers = two_balanced_workers(&app).await;
    // One hot shard: whoever holds it carries most of the tenant's traffic. (No balancing move
    // helps: each worker holds two shards either way.)
    let traffic = BTreeMap::from([(0, 700_000), (1, 100_000), (2, 50_000), (3, 50_000)]);
    for worker in &mut workers {
        worker.traffic = traffic.clone();
    }
    let share = |w: &SimWorker| {
        w.last
            .as_ref()
            .and_then(|a| a.tenant_limits.first())
            .map_or(0, |s| s.ingest_bytes_per_sec)
    };
    drive_until(
        &app,
        &mut workers,
        &[0, 1],
        "shares following traffic",
        |w| {
            let (hot, cold) = if w[0].writing_ids().contains(&0) {
                (&w[0], &w[1])
            } else {
                (&w[1], &w[0])
            };
            share(hot) > 4 * share(cold) && share(hot) + share(cold) == 1_000_000
        },
    )
    .await;
    let usage = app.get("/v1/tenants/acme/usage", &app.admin).await.json();
    let reported = usage["reported"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["quota"] == "ingest_bytes_per_sec")
        .unwrap()
        .clone();
    assert_eq!(reported["reported"], 900_000);
    assert!(reported["reported_at"].is_string());
}

async fn a_hot_shard_of_an_auto_splitting_logstore_is_split(backend: Backend) {
    let app = pool_app(backend, Duration::from_secs(5)).await;
    seed(
        &app,
        json!({ "shard_count": 1, "auto_split": { "enabled": true, "max_shards": 2 } }),
    )
    .await;
    let token = worker_token(&app).await;
    let mut workers = vec![SimWorker::register(&app, &token, "w-1", "zone-a", 100).await];
    drive_until(&app, &mut workers, &[0], "shard 0 owned", |w| {
        w[0].writing().len() == 1
    })
    .await;
    workers[0].traffic = BTreeMap::from([(0, 50_000)]);
    drive_until(
        &app,
        &mut workers,
        &[0],
        "the hot shard split and its children owned",
        |w| {
            let mut ids = w[0].writing_ids();
            ids.sort();
            ids == [1, 2]
        },
    )
    .await;
    let logstore = app.get(NGINX, &app.admin).await.json();
    assert_eq!(logstore["shard_count"], 2, "stops at auto_split.max_shards");
}

async fn unplaced_shards_are_reported(backend: Backend) {
    let app = pool_app(backend, Duration::from_secs(5)).await;
    seed(&app, json!({ "shard_count": 3 })).await;
    let token = worker_token(&app).await;
    let mut workers = vec![SimWorker::register(&app, &token, "w-1", "zone-a", 1).await];
    drive_until(&app, &mut workers, &[0], "one shard owned", |w| {
        w[0].writing().len() == 1
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = app.get("/v1/scheduler", &app.admin).await.json();
        if status["unplaced_total"] == 4 {
            let roles: Vec<&str> = status["unplaced"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["role"].as_str().unwrap())
                .collect();
            assert_eq!(roles.iter().filter(|r| **r == "ingest").count(), 2);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "unplaced shards were not reported: {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let metrics = app.get("/metrics", &app.admin).await.text();
    assert!(
        metrics.contains(r#"logplane_scheduler_unplaced_shards{role="ingest"} 2"#),
        "{metrics}"
    );
    let listed = app.get(&format!("{NGINX}/shards"), &app.admin).await.json();
    assert_eq!(owners(&listed).iter().filter(|o| o.is_none()).count(), 2);
}

async fn the_protocol_and_administration_validate_and_refuse(backend: Backend) {
    let app = pool_app(backend, Duration::from_secs(5)).await;
    seed(&app, json!({ "shard_count": 1 })).await;
    let token = worker_token(&app).await;
    let body = json!({ "address": "10.0.0.1:7000", "zone": "a", "roles": ["ingest"], "capacity": { "shards": 10 } });
    let created = app
        .call(Method::PUT, "/v1/workers/w-1", Some(&token), Some(&body))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert_eq!(created.header("location"), Some("/v1/workers/w-1"));
    let etag = created.etag();
    let again = app
        .call(Method::PUT, "/v1/workers/w-1", Some(&token), Some(&body))
        .await;
    assert_eq!((again.status, again.etag()), (StatusCode::OK, etag));
    let echoed = again.json();
    assert_eq!(
        echoed["capacity"],
        json!({ "shards": 10, "ingest_bytes_per_sec": 0, "query_slots": 0 })
    );

    let wrong_audience = app
        .call(
            Method::PUT,
            "/v1/workers/w-1",
            Some(&app.admin),
            Some(&body),
        )
        .await;
    assert_eq!(wrong_audience.status, StatusCode::UNAUTHORIZED);
    let read_only = app
        .call(
            Method::PUT,
            "/v1/workers/w-1",
            Some(&token),
            Some(&json!({ "live": true })),
        )
        .await;
    assert_eq!(read_only.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(read_only.problem().errors[0].field, "live");
    let bad_roles = app
        .call(
            Method::PUT,
            "/v1/workers/w-1",
            Some(&token),
            Some(
                &json!({ "address": "x", "zone": "a", "roles": [], "capacity": { "shards": -1 } }),
            ),
        )
        .await;
    let fields: Vec<String> = bad_roles
        .problem()
        .errors
        .into_iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(fields, ["roles", "capacity.shards"]);
    let bad_id = app
        .call(Method::PUT, "/v1/workers/-w", Some(&token), Some(&body))
        .await;
    assert_eq!(bad_id.problem().errors[0].field, "worker");

    for query in ["wait_ms=abc", "wait_ms=30001", "wait_ms=-1"] {
        let response = app
            .call(
                Method::POST,
                &format!("/v1/workers/w-1/heartbeat?{query}"),
                Some(&token),
                Some(&json!({})),
            )
            .await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(response.problem().errors[0].field, "wait_ms");
    }
    let bad_load = app
        .call(
            Method::POST,
            "/v1/workers/w-1/heartbeat",
            Some(&token),
            Some(&json!({ "shard_load": [{ "tenant": "A", "project": "web", "logstore": "nginx", "shard_id": 0, "ingest_bytes_per_sec": 1, "ingest_events_per_sec": 1 }] })),
        )
        .await;
    assert_eq!(bad_load.problem().errors[0].field, "shard_load[0].tenant");
    let unregistered = app
        .call(
            Method::POST,
            "/v1/workers/w-9/heartbeat",
            Some(&token),
            Some(&json!({})),
        )
        .await;
    assert_eq!(unregistered.status, StatusCode::NOT_FOUND);

    // The long poll answers once an assignment is published, well within its wait.
    let answer = app
        .call(
            Method::POST,
            "/v1/workers/w-1/heartbeat?wait_ms=30000",
            Some(&token),
            Some(&json!({ "applied_assignment_version": 0 })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = answer.json();
    assert!(
        answer["assignment_version"].as_i64().unwrap() > 0,
        "{answer}"
    );
    assert_eq!(answer["assignment"][0]["state"], "pending");
    assert_eq!(answer["lease_ttl_ms"], 5000);

    let (_, tenant_admin) = app
        .key_and_token("/v1/tenants/acme/api-keys", "acme-admin", "admin")
        .await;
    assert_eq!(
        app.get("/v1/workers", &tenant_admin).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/v1/scheduler", &tenant_admin).await.status,
        StatusCode::FORBIDDEN
    );
    let listed = app.get("/v1/workers?page_size=1", &app.admin).await.json();
    assert_eq!(listed["items"][0]["id"], "w-1");
    assert_eq!(
        app.get("/v1/workers/w-9", &app.admin).await.status,
        StatusCode::NOT_FOUND
    );

    // w-1 is live and taking over shard 0: it may be writing soon, so it cannot be forgotten.
    let refused = app.delete("/v1/workers/w-1", &app.admin).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text());
    let mut workers = vec![
        SimWorker::register(&app, &token, "w-1", "zone-a", 10).await,
        SimWorker::register(&app, &token, "w-2", "zone-b", 10).await,
    ];
    let drain = app
        .call(
            Method::POST,
            "/v1/workers/w-1/drain",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(drain.status, StatusCode::OK);
    drive_until(&app, &mut workers, &[0, 1], "the drain emptying w-1", |w| {
        w[0].assignment.is_empty() && w[1].writing().len() == 1
    })
    .await;
    assert_eq!(
        app.delete("/v1/workers/w-1", &app.admin).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete("/v1/workers/w-1", &app.admin).await.status,
        StatusCode::NOT_FOUND
    );
}

with_each_backend!(
    workers_share_shards_and_tenants_see_them,
    draining_hands_every_shard_over_make_before_break,
    a_dead_workers_ingest_moves_only_after_its_lease_expired,
    children_take_writes_only_after_their_parent_released,
    limit_shares_follow_each_workers_traffic,
    a_hot_shard_of_an_auto_splitting_logstore_is_split,
    unplaced_shards_are_reported,
    the_protocol_and_administration_validate_and_refuse,
);
