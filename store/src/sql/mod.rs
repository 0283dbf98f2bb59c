//! The SQL implementation of [`Store`](crate::Store), written once against sqlx's `Any` driver.
//! PostgreSQL and SQLite differ in a handful of places (how a write transaction starts, row
//! locks, connection settings, migrations); [`Backend`] names each of them.

mod agent_expiry;
mod agent_sync;
mod agents;
mod api_keys;
mod audit;
mod batching;
mod bindings;
mod collection_configs;
mod credentials;
mod enrollment_tokens;
mod generations;
mod leases;
pub use leases::{Leadership, LeaseBid, LeaseState};
mod logstores;
mod machine_groups;
mod projects;
mod query_slot_cache;
mod query_slot_steps;
mod query_slots;
mod quotas;
mod resource;
mod rollouts;
mod sent_bundles;
mod snapshot;
mod store_impl;
mod tenants;

// The worker pool and the shard scheduler's state.
mod heartbeats;
mod reported_usage;
mod resharding;
mod scheduling;
mod shard_listing;
mod worker_pool_impl;
mod workers;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use logplane_model::Quota;
use logplane_quota::arbiter::{DEFAULT_QUANTILE, HeadroomRule};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, AnyPool, Executor, Transaction};

use crate::error::{StoreError, StoreResult};
use batching::BatchQueue;

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");

/// How many times a transaction that lost a race is run again before the caller gets 503.
const MAX_ATTEMPTS: u32 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Postgres => &POSTGRES_MIGRATIONS,
            Backend::Sqlite => &SQLITE_MIGRATIONS,
        }
    }

    /// SQLite has one writer at a time; taking the write lock at `BEGIN` rather than at the
    /// first write makes two writers queue (busy_timeout) instead of one failing with
    /// SQLITE_BUSY halfway through. PostgreSQL runs READ COMMITTED and locks rows explicitly.
    fn begin_write_statement(self) -> &'static str {
        match self {
            Backend::Postgres => "BEGIN",
            Backend::Sqlite => "BEGIN IMMEDIATE",
        }
    }

    /// An SQL expression for the database's clock, in microseconds since the Unix epoch. Leases
    /// are judged by this one clock, so replicas whose clocks disagree still agree on who leads.
    pub(crate) fn now_micros_sql(self) -> &'static str {
        match self {
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)",
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
        }
    }

    /// The row-lock clause for a read that a write in the same transaction depends on. SQLite
    /// needs none: the whole database is locked from `BEGIN IMMEDIATE`.
    pub(crate) fn for_update(self) -> &'static str {
        match self {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }
}

#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    /// How long a request waits for a connection before it is answered 503.
    pub acquire_timeout: Duration,
    /// The quota of every tenant, where a platform admin did not set its own.
    pub quota_defaults: Quota,
    pub query_slots: QuerySlotSettings,
    pub workers: crate::WorkerSettings,
    /// PostgreSQL ends a session whose transaction stays idle this long (its client paused,
    /// hung or cut off), releasing its row locks. Without it a replica paused mid-transaction
    /// would hold the scheduler's lease row, and no other replica could take over until it woke.
    pub idle_transaction_timeout: Duration,
    pub agents: AgentSettings,
}

/// How the agent protocol judges agents and rollouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentSettings {
    /// An agent not heard from for longer is shown offline. Longer than the longest sync wait
    /// (60 s), so an agent parked in a long poll is not taken for gone.
    pub offline_after: Duration,
    /// A rollout pauses itself when more than this share of the agents that received its
    /// revision report failure.
    pub auto_pause_failed_percent: u8,
    /// An agent not heard from for longer is removed (`agent_expiry.rs`); `None`: never.
    pub expire_after: Option<Duration>,
}

/// How long an agent may stay silent before it is removed, unless configured.
pub const DEFAULT_AGENT_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            offline_after: Duration::from_secs(180),
            expire_after: Some(DEFAULT_AGENT_EXPIRY),
            auto_pause_failed_percent: logplane_collect::rollout::DEFAULT_AUTO_PAUSE_FAILED_PERCENT,
        }
    }
}

/// The query-slot arbiter's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuerySlotSettings {
    /// Slots in the whole cluster.
    pub capacity: i64,
    /// How long a granted slot lasts without a renewal.
    pub lease_ttl: Duration,
    /// How often a waiting request looks for a grant made by another replica (grants made by
    /// this replica wake it at once).
    pub poll_interval: Duration,
    /// The room kept free for tenants below their share (see `quota/README.md`).
    pub headroom: HeadroomRule,
    /// The time constant of each tenant's recent-demand average.
    pub demand_time_constant: Duration,
}

impl Default for QuerySlotSettings {
    fn default() -> Self {
        Self {
            capacity: 64,
            lease_ttl: Duration::from_secs(30),
            poll_interval: Duration::from_millis(100),
            headroom: HeadroomRule::Reserve {
                quantile: DEFAULT_QUANTILE,
            },
            demand_time_constant: Duration::from_secs(5),
        }
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
            quota_defaults: Quota::default(),
            query_slots: QuerySlotSettings::default(),
            agents: AgentSettings::default(),
            workers: crate::WorkerSettings::default(),
            idle_transaction_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    max_connections: u32,
    quota_defaults: Quota,
    slot_settings: QuerySlotSettings,
    /// Woken whenever this replica grants query slots, so its waiters look at once.
    slot_grants: Arc<tokio::sync::Notify>,
    agent_settings: AgentSettings,
    /// Tenants' distribution generations, published to this replica's waiting agents.
    generations: Arc<generations::GenerationWatch>,
    /// Woken when an agent reports a failed bundle, so rollouts are judged at once.
    failure_reports: Arc<tokio::sync::Notify>,
    worker_settings: crate::WorkerSettings,
    /// Woken (one permit) when something the scheduler reconciles changed on this replica: a
    /// worker joined or reported, a logstore or its shards changed.
    scheduler_wakeups: Arc<tokio::sync::Notify>,
    /// Woken when this replica published new worker assignments, so its waiting heartbeats look
    /// at once.
    assignments_published: Arc<tokio::sync::Notify>,
    /// SQLite only: writers take turns here, first come first served. Without it they contend
    /// for SQLite's write lock through its busy handler, which sleeps and retries with growing
    /// pauses, so under load some writes wait hundreds of milliseconds while others pass.
    write_turn: Option<Arc<tokio::sync::Mutex<()>>>,
    /// Agents' sync reports and records of the bundles they were sent, each kind written many
    /// to a transaction when they come together (a change wakes the whole fleet at once).
    sync_reports: Arc<BatchQueue<agent_sync::QueuedReport, agent_sync::Recorded>>,
    sent_bundles: Arc<BatchQueue<sent_bundles::QueuedSentBundle, ()>>,
    /// Key lookups of authenticated requests, answered many to a query.
    key_lookups: Arc<BatchQueue<credentials::KeyLookup, Option<crate::context::KeyIdentity>>>,
    /// The query-slot arbiter's decisions, many to a transaction when they come together (each
    /// holds the one arbiter row, so one at a time they would queue on its lock).
    arbiter_steps: Arc<BatchQueue<query_slot_steps::ArbiterStep, query_slot_steps::StepOutcome>>,
}

/// The most writes in one transaction, or lookups in one query: enough that a fleet woken at once
/// needs few, few enough that one holds SQLite's write lock for milliseconds, not seconds (and
/// that a statement's parameters stay far below either database's limit).
const MAX_BATCH: usize = 256;

/// A write transaction, holding the writer's turn (SQLite) until it commits or is dropped.
struct WriteTx {
    tx: Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl SqlStore {
    /// Connects to PostgreSQL (`postgres://…`) without touching its schema.
    pub async fn connect_postgres(url: &str, options: &StoreOptions) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let connect_options: AnyConnectOptions = url.parse().map_err(StoreError::internal)?;
        let idle_ms = options.idle_transaction_timeout.as_millis().max(1);
        let pool = pool_options(options)
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    let sql = format!("SET idle_in_transaction_session_timeout = {idle_ms}");
                    connection.execute(sqlx::AssertSqlSafe(sql)).await?;
                    Ok(())
                })
            })
            .connect_with(connect_options)
            .await
            .map_err(StoreError::from)?;
        Ok(Self {
            pool,
            backend: Backend::Postgres,
            max_connections: options.max_connections,
            quota_defaults: options.quota_defaults,
            slot_settings: options.query_slots,
            slot_grants: Arc::new(tokio::sync::Notify::new()),
            agent_settings: options.agents,
            generations: Arc::default(),
            failure_reports: Arc::new(tokio::sync::Notify::new()),
            worker_settings: options.workers,
            scheduler_wakeups: Arc::new(tokio::sync::Notify::new()),
            assignments_published: Arc::new(tokio::sync::Notify::new()),
            write_turn: None,
            sync_reports: Arc::new(BatchQueue::new(MAX_BATCH)),
            sent_bundles: Arc::new(BatchQueue::new(MAX_BATCH)),
            key_lookups: Arc::new(BatchQueue::new(MAX_BATCH)),
            arbiter_steps: Arc::new(BatchQueue::new(query_slot_steps::MAX_ARBITER_BATCH)),
        })
    }

    /// Opens (creating if needed) the SQLite database `logplane.db` in `data_dir`.
    pub async fn open_sqlite(data_dir: &Path, options: &StoreOptions) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::internal(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let file = data_dir.join("logplane.db");
        let write_turn = Arc::new(tokio::sync::Mutex::new(()));
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let connect_options: AnyConnectOptions = url.parse().map_err(StoreError::internal)?;
        let pool = pool_options(options)
            .after_connect(|connection, _| {
                Box::pin(async move {
                    // WAL lets readers run beside the writer. Writers of this process take turns
                    // (`write_turn`); the busy timeout covers another process on the same file.
                    connection
                        .execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                        )
                        .await?;
                    Ok(())
                })
            })
            .connect_with(connect_options)
            .await
            .map_err(StoreError::from)?;
        Ok(Self {
            pool,
            backend: Backend::Sqlite,
            max_connections: options.max_connections,
            quota_defaults: options.quota_defaults,
            slot_settings: options.query_slots,
            slot_grants: Arc::new(tokio::sync::Notify::new()),
            agent_settings: options.agents,
            generations: Arc::default(),
            failure_reports: Arc::new(tokio::sync::Notify::new()),
            worker_settings: options.workers,
            scheduler_wakeups: Arc::new(tokio::sync::Notify::new()),
            assignments_published: Arc::new(tokio::sync::Notify::new()),
            write_turn: Some(write_turn.clone()),
            sync_reports: Arc::new(BatchQueue::sharing_turn(MAX_BATCH, write_turn.clone())),
            sent_bundles: Arc::new(BatchQueue::sharing_turn(MAX_BATCH, write_turn.clone())),
            key_lookups: Arc::new(BatchQueue::new(MAX_BATCH)),
            arbiter_steps: Arc::new(BatchQueue::sharing_turn(
                query_slot_steps::MAX_ARBITER_BATCH,
                write_turn,
            )),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies every migration this build carries. Safe to run from several replicas at once:
    /// sqlx takes an advisory lock on PostgreSQL while it migrates.
    pub async fn migrate(&self) -> StoreResult<()> {
        self.backend
            .migrator()
            .run(&self.pool)
            .await
            .map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(inner) => StoreError::from(inner),
                other => StoreError::internal(other),
            })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin_write(&self) -> StoreResult<WriteTx> {
        let turn = self.take_write_turn().await;
        let statement = self.backend.begin_write_statement();
        let tx = self.pool.begin_with(statement).await?;
        Ok(WriteTx { tx, _turn: turn })
    }

    /// Waits for this process's turn to write (SQLite); `None` where writers need no turns.
    /// A write outside a transaction takes it too: without it, SQLite's busy handler would make
    /// it retry on a timer against a line of batches, each taking the lock as it frees.
    async fn take_write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.write_turn {
            Some(turn) => Some(turn.clone().lock_owned().await),
            None => None,
        }
    }

    /// Begins a write transaction for a caller that already holds the write turn: a batch of
    /// SQLite writes, whose queue takes the store's turn before it takes the batch.
    async fn begin_write_in_turn(&self) -> StoreResult<WriteTx> {
        debug_assert!(
            self.write_turn
                .as_ref()
                .is_none_or(|turn| turn.try_lock().is_err()),
            "a write in turn is begun while the write turn is held"
        );
        let statement = self.backend.begin_write_statement();
        let tx = self.pool.begin_with(statement).await?;
        Ok(WriteTx { tx, _turn: None })
    }

    async fn reader(&self) -> StoreResult<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.pool.acquire().await?)
    }

    async fn latest_applied_migration(&self) -> StoreResult<Option<i64>> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(&self.pool)
                .await?;
        Ok(version)
    }
}

fn pool_options(options: &StoreOptions) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(options.max_connections)
        .min_connections(0)
        .acquire_timeout(options.acquire_timeout)
        // A connection broken by a database restart is found at checkout, not by a request.
        .test_before_acquire(true)
}

async fn commit(write: WriteTx) -> StoreResult<()> {
    write.tx.commit().await.map_err(StoreError::from_commit)
}

/// Runs `attempt` until it does not lose a race with a concurrent transaction. Each attempt runs
/// in its own transaction, so a retried attempt starts from the committed state and sees what
/// the winner did (the row now exists, the parent is gone).
async fn retrying<T, Fut>(mut attempt: impl FnMut() -> Fut) -> StoreResult<T>
where
    Fut: Future<Output = StoreResult<T>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Err(StoreError::Transient(reason)) if tries < MAX_ATTEMPTS => {
                tracing::debug!(%reason, tries, "retrying transaction after a conflict");
                let jitter = rand::random_range(0..=(5u64 << tries.min(5)));
                tokio::time::sleep(Duration::from_millis(jitter)).await;
            }
            Err(StoreError::Transient(reason)) => {
                return Err(StoreError::Unavailable {
                    reason: format!("gave up after {tries} conflicting attempts: {reason}"),
                    may_have_committed: false,
                });
            }
            other => return other,
        }
    }
}

/// The columns every connection-level helper takes.
type Conn = AnyConnection;

/// `$first, $first+1, …`: the placeholders of `count` values bound one after the other.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|at| format!("${at}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Marks SQL text assembled at run time as safe. Only table and column names from this crate's
/// constants are ever formatted into statements; every value is bound as a parameter.
fn dynamic(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn placeholders_number_the_values_from_the_first() {
        assert_eq!(placeholders(1, 3), "$1, $2, $3");
        assert_eq!(placeholders(5, 2), "$5, $6");
        assert_eq!(placeholders(3, 1), "$3");
    }
}
