//! What the scheduler's leader reads (one snapshot of the pool, the catalog and the stored
//! placements) and writes (placements and published assignments, in one transaction fenced by
//! its lease epoch), and the status platform admins read.

use std::collections::HashMap;

use logplane_model::authz::Access;
use logplane_model::{
    AssignedShard, AutoSplit, KeyRange, LogstoreSpec, QuotaSpec, SchedulerLeader, SchedulerStatus,
    ShardRef, ShardStatus, TenantLimitShare, Timestamp, UnplacedShard,
};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::heartbeats::StoredReports;
use super::workers::{flag, parse_worker_spec};
use super::{Conn, Leadership, SqlStore, commit, dynamic, retrying};
use crate::context::Ctx;
use crate::error::{StoreError, StoreResult};
use crate::worker_pool::{
    CatalogShard, HandoverPhaseName, PlacementRow, PoolSnapshot, Published, PublishedView,
    SCHEDULER_LEASE, SchedulerWrite, SnapshotWorker, StoredHandover, ViewUpdate,
};

/// Unplaced shards kept in the status; the total is kept beside them.
const MAX_UNPLACED_LISTED: usize = 1000;

fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(StoreError::internal)
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::internal(format!("stored {what} does not parse: {e}")))
}

impl SqlStore {
    pub(crate) async fn snapshot(&self) -> StoreResult<PoolSnapshot> {
        let mut conn = self.reader().await?;
        let workers = self.snapshot_workers(&mut conn).await?;
        let shards = snapshot_shards(&mut conn).await?;
        let placements = snapshot_placements(&mut conn).await?;
        let views = snapshot_views(&mut conn).await?;
        let defaults = self.quota_defaults;
        let rows = sqlx::query("SELECT tenant, spec FROM tenant_quotas")
            .fetch_all(&mut *conn)
            .await?;
        let mut tenant_limits = HashMap::new();
        for row in &rows {
            let spec: QuotaSpec = from_json(&row.try_get::<String, _>("spec")?, "quota")?;
            let quota = spec.over(&defaults);
            tenant_limits.insert(
                row.try_get::<String, _>("tenant")?,
                (quota.ingest_bytes_per_sec, quota.ingest_events_per_sec),
            );
        }
        Ok(PoolSnapshot {
            workers,
            shards,
            placements,
            views,
            tenant_limits,
            default_limits: (
                defaults.ingest_bytes_per_sec,
                defaults.ingest_events_per_sec,
            ),
        })
    }

    async fn snapshot_workers(&self, conn: &mut Conn) -> StoreResult<Vec<SnapshotWorker>> {
        let now = self.backend.now_micros_sql();
        let sql = format!(
            "SELECT id, spec, state, CAST(CASE WHEN lease_expires_at >= {now} THEN 1 ELSE 0 END AS BIGINT) AS live, \
             shard_load, reports FROM workers ORDER BY id"
        );
        let rows = sqlx::query(dynamic(sql)).fetch_all(&mut *conn).await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                let spec = parse_worker_spec(&id, &row.try_get::<String, _>("spec")?)?;
                let state: String = row.try_get("state")?;
                let reports: StoredReports =
                    from_json(&row.try_get::<String, _>("reports")?, "worker reports")?;
                Ok(SnapshotWorker {
                    spec,
                    state: logplane_model::WorkerState::parse(&state).ok_or_else(|| {
                        StoreError::internal(format!("unknown worker state {state:?}"))
                    })?,
                    live: flag(row, "live")?,
                    shard_load: from_json(&row.try_get::<String, _>("shard_load")?, "shard load")?,
                    ready: reports.ready,
                    released: reports.released,
                    id,
                })
            })
            .collect()
    }

    pub(crate) async fn publish(
        &self,
        leadership: &Leadership,
        write: &SchedulerWrite,
    ) -> StoreResult<Published> {
        let rendered = RenderedWrite::new(write)?;
        let published = retrying(|| self.publish_once(leadership, write, &rendered)).await?;
        if matches!(published, Published::Written { .. })
            && write.views.iter().any(|view| view.assignment_changed)
        {
            self.assignments_published.notify_waiters();
        }
        Ok(published)
    }

    async fn publish_once(
        &self,
        leadership: &Leadership,
        write: &SchedulerWrite,
        rendered: &RenderedWrite,
    ) -> StoreResult<Published> {
        let mut tx = self.begin_write().await?;
        // First: a former leader, however long it was paused, writes nothing.
        self.check_leadership(&mut tx, leadership).await?;
        if self.revived_since(&mut tx, &write.dead_workers).await? {
            // Dropping the transaction rolls it back.
            return Ok(Published::Stale);
        }
        let changed = write.views.iter().any(|view| view.assignment_changed);
        // The epoch condition repeats the lease check in the row every write touches, so even a
        // bug in the lease logic could not let an older epoch overwrite a newer one's state.
        let generation: Option<i64> = sqlx::query_scalar(
            "UPDATE scheduler_state SET generation = generation + $1, written_epoch = $2, \
             reconciled_at = $3, unplaced = $4, unplaced_total = $5 \
             WHERE id = 1 AND written_epoch <= $2 RETURNING generation",
        )
        .bind(i64::from(changed))
        .bind(leadership.epoch)
        .bind(Timestamp::now().unix_micros())
        .bind(rendered.unplaced.clone())
        .bind(write.unplaced_total)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(generation) = generation else {
            return Err(StoreError::Fenced(format!(
                "a leader with an epoch above {} already wrote the schedule",
                leadership.epoch
            )));
        };
        for (row, replicas) in write.placements.iter().zip(&rendered.replicas) {
            upsert_placement(&mut tx, row, replicas, leadership.epoch).await?;
        }
        for (view, (assignment, limits)) in write.views.iter().zip(&rendered.views) {
            write_view(
                &mut tx,
                view,
                assignment,
                limits,
                generation,
                leadership.epoch,
            )
            .await?;
        }
        commit(tx).await?;
        Ok(Published::Written { generation })
    }

    /// Whether any of `dead` renewed its lease since the snapshot: it may be writing again, so
    /// decisions that counted it as gone must not be written. Locks their rows, so a renewal
    /// cannot slip in before this transaction commits.
    async fn revived_since(&self, conn: &mut Conn, dead: &[String]) -> StoreResult<bool> {
        let now = self.backend.now_micros_sql();
        for chunk in dead.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT CAST(CASE WHEN lease_expires_at >= {now} THEN 1 ELSE 0 END AS BIGINT) AS live \
                 FROM workers WHERE id IN ({}) ORDER BY id{}",
                placeholders.join(", "),
                self.backend.for_update()
            );
            let mut query = sqlx::query(dynamic(sql));
            for id in chunk {
                query = query.bind(id.clone());
            }
            for row in query.fetch_all(&mut *conn).await? {
                if flag(&row, "live")? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    pub(crate) async fn status(&self, ctx: &Ctx) -> StoreResult<SchedulerStatus> {
        self.authorize(ctx, None, Access::Platform, "scheduler.get", "scheduler")
            .await?;
        let leader = self
            .lease_state(SCHEDULER_LEASE)
            .await?
            .map(|lease| SchedulerLeader {
                holder: lease.holder,
                epoch: lease.epoch,
                expires_at: Timestamp::from_unix_micros(lease.expires_at),
                expired: lease.expired,
            });
        let mut conn = self.reader().await?;
        let row = sqlx::query(
            "SELECT generation, written_epoch, reconciled_at, unplaced, unplaced_total \
             FROM scheduler_state WHERE id = 1",
        )
        .fetch_one(&mut *conn)
        .await?;
        let now = self.backend.now_micros_sql();
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(CASE WHEN lease_expires_at >= {now} THEN 1 ELSE 0 END), 0) AS BIGINT) AS live, \
             COUNT(*) AS total FROM workers"
        );
        let counts = sqlx::query(dynamic(sql)).fetch_one(&mut *conn).await?;
        let live: i64 = counts.try_get("live")?;
        let total: i64 = counts.try_get("total")?;
        Ok(SchedulerStatus {
            leader,
            generation: row.try_get("generation")?,
            written_by_epoch: row.try_get("written_epoch")?,
            reconciled_at: row
                .try_get::<Option<i64>, _>("reconciled_at")?
                .map(Timestamp::from_unix_micros),
            live_workers: live,
            dead_workers: total - live,
            unplaced: from_json(&row.try_get::<String, _>("unplaced")?, "unplaced shards")?,
            unplaced_total: row.try_get("unplaced_total")?,
        })
    }
}

/// The JSON texts of a write, rendered once rather than in every retry.
struct RenderedWrite {
    unplaced: String,
    replicas: Vec<String>,
    views: Vec<(String, String)>,
}

impl RenderedWrite {
    fn new(write: &SchedulerWrite) -> StoreResult<Self> {
        let listed: Vec<&UnplacedShard> = write.unplaced.iter().take(MAX_UNPLACED_LISTED).collect();
        Ok(Self {
            unplaced: to_json(&listed)?,
            replicas: write
                .placements
                .iter()
                .map(|row| to_json(&row.query_replicas))
                .collect::<StoreResult<_>>()?,
            views: write
                .views
                .iter()
                .map(|view| Ok((to_json(&view.assignment)?, to_json(&view.tenant_limits)?)))
                .collect::<StoreResult<_>>()?,
        })
    }
}

async fn upsert_placement(
    conn: &mut Conn,
    row: &PlacementRow,
    replicas: &str,
    epoch: i64,
) -> StoreResult<()> {
    let handover = row.handover.as_ref();
    // Only for a shard that still exists: a logstore deleted since the snapshot takes its
    // shards' placements with it, and must not fail the whole write.
    sqlx::query(
        "INSERT INTO shard_placements (tenant, project, logstore, shard_id, owner, owner_lost, epoch, \
         last_handover, handover_number, handover_to, handover_phase, next_target, retired, query_replicas, written_epoch) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 \
         WHERE EXISTS (SELECT 1 FROM shards WHERE tenant = $1 AND project = $2 AND logstore = $3 AND shard_id = $4) \
         ON CONFLICT (tenant, project, logstore, shard_id) DO UPDATE SET owner = excluded.owner, \
         owner_lost = excluded.owner_lost, epoch = excluded.epoch, last_handover = excluded.last_handover, \
         handover_number = excluded.handover_number, handover_to = excluded.handover_to, \
         handover_phase = excluded.handover_phase, next_target = excluded.next_target, \
         retired = excluded.retired, query_replicas = excluded.query_replicas, written_epoch = excluded.written_epoch",
    )
    .bind(row.shard.tenant.clone())
    .bind(row.shard.project.clone())
    .bind(row.shard.logstore.clone())
    .bind(row.shard.shard_id)
    .bind(row.owner.clone())
    .bind(i64::from(row.owner_lost))
    .bind(row.epoch)
    .bind(row.last_handover)
    .bind(handover.map(|h| h.number))
    .bind(handover.map(|h| h.to.clone()))
    .bind(handover.map(|h| h.phase.as_str()))
    .bind(row.next_target.clone())
    .bind(i64::from(row.retired))
    .bind(replicas.to_string())
    .bind(epoch)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn write_view(
    conn: &mut Conn,
    view: &ViewUpdate,
    assignment: &str,
    limits: &str,
    generation: i64,
    epoch: i64,
) -> StoreResult<()> {
    if !view.assignment_changed {
        sqlx::query(
            "UPDATE worker_assignments SET tenant_limits = $1, written_epoch = $2 WHERE worker = $3",
        )
        .bind(limits.to_string())
        .bind(epoch)
        .bind(view.worker.clone())
        .execute(&mut *conn)
        .await?;
        return Ok(());
    }
    let count = |role: logplane_model::WorkerRole| {
        view.assignment
            .iter()
            .filter(|entry| entry.role == role)
            .count() as i64
    };
    // Only for a worker that is still registered: one forgotten since the snapshot is skipped.
    sqlx::query(
        "INSERT INTO worker_assignments (worker, version, written_epoch, assignment, ingest_shards, query_shards, tenant_limits) \
         SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM workers WHERE id = $1) \
         ON CONFLICT (worker) DO UPDATE SET version = excluded.version, written_epoch = excluded.written_epoch, \
         assignment = excluded.assignment, ingest_shards = excluded.ingest_shards, \
         query_shards = excluded.query_shards, tenant_limits = excluded.tenant_limits",
    )
    .bind(view.worker.clone())
    .bind(generation)
    .bind(epoch)
    .bind(assignment.to_string())
    .bind(count(logplane_model::WorkerRole::Ingest))
    .bind(count(logplane_model::WorkerRole::Query))
    .bind(limits.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn snapshot_shards(conn: &mut Conn) -> StoreResult<Vec<CatalogShard>> {
    let rows = sqlx::query(
        "SELECT s.tenant, s.project, s.logstore, s.shard_id, s.inclusive_begin_key, s.exclusive_end_key, \
         s.status, l.spec FROM shards s JOIN logstores l ON l.tenant = s.tenant AND l.project = s.project \
         AND l.name = s.logstore ORDER BY s.tenant, s.project, s.logstore, s.shard_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    // Every shard row repeats its logstore's spec; parse each logstore once.
    let mut logstores: HashMap<(String, String, String), (i64, AutoSplit)> = HashMap::new();
    let mut shards = Vec::with_capacity(rows.len());
    for row in &rows {
        let shard = ShardRef {
            tenant: row.try_get("tenant")?,
            project: row.try_get("project")?,
            logstore: row.try_get("logstore")?,
            shard_id: row.try_get("shard_id")?,
        };
        let key = (
            shard.tenant.clone(),
            shard.project.clone(),
            shard.logstore.clone(),
        );
        let (query_replicas, auto_split) = match logstores.get(&key) {
            Some(settings) => *settings,
            None => {
                let spec: LogstoreSpec =
                    from_json(&row.try_get::<String, _>("spec")?, "logstore spec")?;
                let settings = (spec.query_replicas, spec.auto_split);
                logstores.insert(key, settings);
                settings
            }
        };
        let begin: String = row.try_get("inclusive_begin_key")?;
        let end: String = row.try_get("exclusive_end_key")?;
        let status: String = row.try_get("status")?;
        shards.push(CatalogShard {
            range: KeyRange::from_hex(&begin, &end).ok_or_else(|| {
                StoreError::internal(format!("shard {shard:?} has a malformed key range"))
            })?,
            status: ShardStatus::parse(&status)
                .ok_or_else(|| StoreError::internal(format!("unknown shard status {status:?}")))?,
            query_replicas,
            auto_split,
            shard,
        });
    }
    Ok(shards)
}

fn placement_from_row(row: &AnyRow) -> StoreResult<PlacementRow> {
    let handover = match (
        row.try_get::<Option<i64>, _>("handover_number")?,
        row.try_get::<Option<String>, _>("handover_phase")?,
    ) {
        (Some(number), Some(phase)) => Some(StoredHandover {
            number,
            to: row
                .try_get::<Option<String>, _>("handover_to")?
                .unwrap_or_default(),
            phase: HandoverPhaseName::parse(&phase)
                .ok_or_else(|| StoreError::internal(format!("unknown handover phase {phase:?}")))?,
        }),
        _ => None,
    };
    Ok(PlacementRow {
        shard: ShardRef {
            tenant: row.try_get("tenant")?,
            project: row.try_get("project")?,
            logstore: row.try_get("logstore")?,
            shard_id: row.try_get("shard_id")?,
        },
        owner: row.try_get("owner")?,
        owner_lost: row.try_get::<i64, _>("owner_lost")? != 0,
        epoch: row.try_get("epoch")?,
        last_handover: row.try_get("last_handover")?,
        handover,
        next_target: row.try_get("next_target")?,
        retired: row.try_get::<i64, _>("retired")? != 0,
        query_replicas: from_json(
            &row.try_get::<String, _>("query_replicas")?,
            "query replicas",
        )?,
    })
}

async fn snapshot_placements(conn: &mut Conn) -> StoreResult<Vec<PlacementRow>> {
    let rows = sqlx::query(
        "SELECT tenant, project, logstore, shard_id, owner, owner_lost, epoch, last_handover, \
         handover_number, handover_to, handover_phase, next_target, retired, query_replicas \
         FROM shard_placements",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(placement_from_row).collect()
}

async fn snapshot_views(conn: &mut Conn) -> StoreResult<Vec<PublishedView>> {
    let rows =
        sqlx::query("SELECT worker, version, assignment, tenant_limits FROM worker_assignments")
            .fetch_all(&mut *conn)
            .await?;
    rows.iter()
        .map(|row| {
            let assignment: Vec<AssignedShard> =
                from_json(&row.try_get::<String, _>("assignment")?, "assignment")?;
            let tenant_limits: Vec<TenantLimitShare> =
                from_json(&row.try_get::<String, _>("tenant_limits")?, "tenant limits")?;
            Ok(PublishedView {
                worker: row.try_get("worker")?,
                version: row.try_get("version")?,
                assignment,
                tenant_limits,
            })
        })
        .collect()
}
