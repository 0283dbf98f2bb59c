//! Three `logplane serve` replicas on one PostgreSQL database, with simulated workers moving
//! between them. The scheduler's leader is killed (SIGKILL), then its successor is paused
//! (SIGSTOP) past its lease: a third replica takes over under a higher epoch, the paused one,
//! resumed (SIGCONT), writes nothing (checked against the epochs and versions in the database),
//! and throughout — seen from the workers, which trust only their own leases — no key is ever
//! writable by two workers at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use logplane_client::{Client, Precondition};
use logplane_e2e::{
    LogplaneServer, OwnershipLedger, ServerConfig, SimWorker, SimWorkerConfig, scheduler_leader,
};
use logplane_model::{ApiKeyRequest, LogstoreSpec, ProjectSpec, Role, TenantSpec};
use logplane_store::Backend;
use logplane_store::testing::TestDatabase;
use nix::sys::signal::Signal;

use crate::support::location;

const WORKER_LEASE_MS: u64 = 3_000;
const LEADER_LEASE_MS: u64 = 2_000;
/// Heartbeats wait this long for a new assignment; a call to a paused replica times out a little
/// later, well inside the worker's lease, and the worker moves to the next replica.
const WAIT_MS: u32 = 500;
const CALL_TIMEOUT: Duration = Duration::from_millis(1_500);
/// Bounds every wait below: only a broken scheduler takes this long.
const WITHIN: Duration = Duration::from_secs(60);
const SHARDS: usize = 8;

async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WITHIN;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The replica holding an unexpired scheduler lease, with its epoch, as `admin` sees it.
async fn current_leader(
    admin: &Client,
    servers: &[Option<LogplaneServer>],
) -> Option<(usize, i64)> {
    let status = admin.get_scheduler_status().await.ok()?;
    let ports = servers
        .iter()
        .map(|server| server.as_ref().map(LogplaneServer::port));
    scheduler_leader(&status, ports)
}

/// Rows written by the scheduler under `epoch`: (assignment rows, their highest version,
/// placement rows).
async fn written_under(pool: &sqlx::PgPool, epoch: i64) -> (i64, i64, i64) {
    let (views, version): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(MAX(version), 0) FROM worker_assignments WHERE written_epoch = $1",
    )
    .bind(epoch)
    .fetch_one(pool)
    .await
    .unwrap();
    let placements: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM shard_placements WHERE written_epoch = $1")
            .bind(epoch)
            .fetch_one(pool)
            .await
            .unwrap();
    (views, version, placements)
}

async fn state_epoch(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT written_epoch FROM scheduler_state WHERE id = 1")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_and_a_paused_leader_never_give_a_shard_two_writers() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let config = ServerConfig::new(location(&database))
        .arg("worker-lease-ms", WORKER_LEASE_MS)
        .arg("worker-poll-ms", 50)
        .arg("leader-lease-ms", LEADER_LEASE_MS)
        .arg("reconcile-interval-ms", 200)
        .arg("idle-transaction-timeout-ms", 2_000)
        .arg("max-connections", 8);
    let mut servers: Vec<Option<LogplaneServer>> = Vec::new();
    for _ in 0..3 {
        servers.push(Some(LogplaneServer::start(&config).await));
    }
    let admins: Vec<Client> = {
        let mut admins = Vec::new();
        for server in servers.iter().flatten() {
            admins.push(server.admin_client().await);
        }
        admins
    };
    let admin = &admins[0];
    admin
        .put_tenant("acme", &TenantSpec::default(), Precondition::IfAbsent)
        .await
        .unwrap();
    admin
        .put_project(
            "acme",
            "web",
            &ProjectSpec::default(),
            Precondition::IfAbsent,
        )
        .await
        .unwrap();
    let logstore = LogstoreSpec {
        shard_count: SHARDS as i64,
        query_replicas: 2,
        ..Default::default()
    };
    admin
        .put_logstore("acme", "web", "nginx", &logstore, Precondition::IfAbsent)
        .await
        .unwrap();
    let key = admin
        .create_platform_api_key(&ApiKeyRequest {
            name: "sim-workers".into(),
            role: Role::Worker,
        })
        .await
        .unwrap();
    let token = admin
        .exchange_token(&key.secret)
        .await
        .unwrap()
        .access_token;
    let worker_clients: Vec<Client> = servers
        .iter()
        .flatten()
        .map(|server| {
            Client::builder(&server.base_url())
                .timeout(CALL_TIMEOUT)
                .bearer_token(&token)
                .build()
                .unwrap()
        })
        .collect();

    let ledger = Arc::new(OwnershipLedger::default());
    let mut workers: Vec<SimWorker> = (0..4)
        .map(|i| {
            SimWorker::start(
                SimWorkerConfig {
                    id: format!("w-{}", i + 1),
                    zone: if i % 2 == 0 { "zone-a" } else { "zone-b" }.into(),
                    shards: 100,
                    wait_ms: WAIT_MS,
                    first_replica: i,
                    loads: None,
                },
                worker_clients.clone(),
                ledger.clone(),
            )
        })
        .collect();
    eventually("every shard taking writes", || async {
        (ledger.writers().len() == SHARDS).then_some(())
    })
    .await;

    // 1. The leader crashes.
    let (first, first_epoch) = eventually("a leader", || current_leader(admin, &servers)).await;
    let mut killed = servers[first].take().unwrap();
    killed.send_signal(Signal::SIGKILL);
    killed.wait_for_exit(Duration::from_secs(10)).await;
    let survivor_admin = |except: usize| {
        admins
            .iter()
            .enumerate()
            .find(|(at, _)| *at != first && *at != except)
            .map(|(_, c)| c)
            .unwrap()
    };
    let (second, second_epoch) = eventually("a new leader after the crash", || async {
        current_leader(survivor_admin(first), &servers)
            .await
            .filter(|(_, epoch)| *epoch > first_epoch)
    })
    .await;
    assert_ne!(second, first);
    let pool = sqlx::PgPool::connect(&database.location).await.unwrap();
    eventually("the new leader publishing", || async {
        (state_epoch(&pool).await == second_epoch).then_some(())
    })
    .await;

    // 2. The new leader pauses past its lease, and a worker disappears meanwhile, so there is
    // scheduling to do.
    let paused = servers[second].as_ref().unwrap();
    paused.send_signal(Signal::SIGSTOP);
    let third_admin = survivor_admin(second);
    workers.remove(0).stop().await;
    let (third, third_epoch) = eventually("a takeover from the paused leader", || async {
        current_leader(third_admin, &servers)
            .await
            .filter(|(_, epoch)| *epoch > second_epoch)
    })
    .await;
    assert!(third != first && third != second);
    eventually("the third leader publishing", || async {
        (state_epoch(&pool).await == third_epoch).then_some(())
    })
    .await;
    eventually("w-1's shards taken over", || async {
        let writers = ledger.writers();
        (writers.len() == SHARDS && writers.values().all(|w| w != "w-1")).then_some(())
    })
    .await;

    // 3. The paused leader wakes up; it must write nothing.
    let before = written_under(&pool, second_epoch).await;
    let paused = servers[second].as_ref().unwrap();
    paused.send_signal(Signal::SIGCONT);
    paused.wait_for_log("stepping down", WITHIN).await;
    // Give it every chance to write: several of its reconcile intervals.
    let reconciled = admin_status_time(third_admin).await;
    eventually("the leader reconciling again", || async {
        (admin_status_time(third_admin).await > reconciled).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let after = written_under(&pool, second_epoch).await;
    assert!(
        after.0 <= before.0 && after.1 <= before.1 && after.2 <= before.2,
        "the paused leader wrote after waking: before {before:?}, after {after:?}"
    );
    assert_eq!(state_epoch(&pool).await, third_epoch);
    let (leader, epoch) = current_leader(third_admin, &servers).await.unwrap();
    assert_eq!((leader, epoch), (third, third_epoch), "the takeover stands");
    assert!(first_epoch < second_epoch && second_epoch < third_epoch);

    // 4. Every shard still has its one writer, and none ever had two.
    eventually("every shard taking writes at the end", || async {
        (ledger.writers().len() == SHARDS).then_some(())
    })
    .await;
    for worker in workers {
        worker.stop().await;
    }
    let violations = ledger.violations();
    assert!(
        violations.is_empty(),
        "two writers at once: {violations:#?}"
    );
    pool.close().await;
}

async fn admin_status_time(admin: &Client) -> i64 {
    admin
        .get_scheduler_status()
        .await
        .ok()
        .and_then(|status| status.reconciled_at)
        .map_or(0, |at| at.unix_micros())
}
