//! Heartbeats: a worker renews its lease (judged by the database's clock), hands in its loads,
//! storage and handover reports, and gets its assignment back, waiting for a new one if asked.
//!
//! The lease renewal and the read of the published assignment happen in one transaction holding
//! the worker's row. The leader's write locks every worker row too, so an assignment a worker is
//! given was published either before its renewal (and was checked against its lease then) or
//! after (and sees the renewal). See `docs/worker-protocol.md` for why that matters.

use std::collections::BTreeMap;
use std::time::Duration;

use logplane_model::{
    AssignedShard, HandoverReport, HeartbeatAnswer, TenantLimitShare, Timestamp, WorkerHeartbeat,
    WorkerState,
};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::workers::{flag, micros};
use super::{Conn, SqlStore, commit, dynamic, retrying};
use crate::context::Ctx;
use crate::error::{StoreError, StoreResult};

/// Rows per `INSERT` of per-tenant usage: 6 parameters each stays under SQLite's 32766.
const USAGE_ROWS_PER_INSERT: usize = 1000;

/// The handover reports of a worker's last heartbeat, as stored in `workers.reports`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct StoredReports {
    pub ready: Vec<HandoverReport>,
    pub released: Vec<HandoverReport>,
}

/// What a heartbeat reports about one tenant.
struct TenantReport {
    ingest_bytes_per_sec: i64,
    ingest_events_per_sec: i64,
    storage_bytes: i64,
}

fn tenant_reports(heartbeat: &WorkerHeartbeat) -> BTreeMap<&str, TenantReport> {
    let mut by_tenant: BTreeMap<&str, TenantReport> = BTreeMap::new();
    let empty = || TenantReport {
        ingest_bytes_per_sec: 0,
        ingest_events_per_sec: 0,
        storage_bytes: 0,
    };
    for load in &heartbeat.shard_load {
        let entry = by_tenant.entry(load.tenant.as_str()).or_insert_with(empty);
        // Each value is at most 2^50 and there are at most 10000: the sums fit.
        entry.ingest_bytes_per_sec += load.ingest_bytes_per_sec;
        entry.ingest_events_per_sec += load.ingest_events_per_sec;
    }
    for (tenant, bytes) in &heartbeat.storage_bytes_by_tenant {
        by_tenant
            .entry(tenant.as_str())
            .or_insert_with(empty)
            .storage_bytes += *bytes;
    }
    by_tenant
}

/// A worker's published assignment as a heartbeat reads it.
struct Published {
    version: i64,
    assignment: String,
    tenant_limits: String,
}

fn parse_assignment(text: &str) -> StoreResult<Vec<AssignedShard>> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::internal(format!("stored assignment does not parse: {e}")))
}

fn parse_limits(text: &str) -> StoreResult<Vec<TenantLimitShare>> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::internal(format!("stored tenant limits do not parse: {e}")))
}

impl SqlStore {
    pub(crate) async fn heartbeat(
        &self,
        ctx: &Ctx,
        id: &str,
        heartbeat: WorkerHeartbeat,
        wait: Duration,
    ) -> StoreResult<HeartbeatAnswer> {
        let path = format!("workers/{id}/heartbeat");
        self.authorize_worker_protocol(ctx, "worker.heartbeat", &path)
            .await?;
        heartbeat.validate()?;
        let load = serde_json::to_string(&heartbeat.shard_load).map_err(StoreError::internal)?;
        let reports = serde_json::to_string(&StoredReports {
            ready: heartbeat.ready.clone(),
            released: heartbeat.released.clone(),
        })
        .map_err(StoreError::internal)?;
        let usage = tenant_reports(&heartbeat);
        let applied = heartbeat.applied_assignment_version;
        let deadline = tokio::time::Instant::now() + wait.min(self.worker_settings.max_wait());
        let (state, revived, published) =
            retrying(|| self.heartbeat_once(id, applied, &load, &reports, &usage, &path)).await?;
        // A worker coming back is a worker joining; reports move handovers along.
        if revived || !heartbeat.ready.is_empty() || !heartbeat.released.is_empty() {
            self.wake_scheduler();
        }
        // A worker the leader has not published for yet is at version 0.
        let current = published.unwrap_or(Published {
            version: 0,
            assignment: "[]".into(),
            tenant_limits: "[]".into(),
        });
        let current = if current.version == applied {
            self.wait_for_assignment(id, applied, deadline)
                .await?
                .unwrap_or(current)
        } else {
            current
        };
        self.answer(state, applied, current)
    }

    fn answer(
        &self,
        state: WorkerState,
        applied: i64,
        published: Published,
    ) -> StoreResult<HeartbeatAnswer> {
        let assignment = if published.version != applied {
            Some(parse_assignment(&published.assignment)?)
        } else {
            None
        };
        Ok(HeartbeatAnswer {
            lease_ttl_ms: i64::try_from(self.worker_settings.lease_ttl.as_millis())
                .unwrap_or(i64::MAX),
            assignment_version: published.version,
            assignment,
            tenant_limits: parse_limits(&published.tenant_limits)?,
            state,
        })
    }

    async fn heartbeat_once(
        &self,
        id: &str,
        applied: i64,
        load: &str,
        reports: &str,
        usage: &BTreeMap<&str, TenantReport>,
        path: &str,
    ) -> StoreResult<(WorkerState, bool, Option<Published>)> {
        let now_sql = self.backend.now_micros_sql();
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "SELECT state, CAST(CASE WHEN lease_expires_at < {now_sql} THEN 1 ELSE 0 END AS BIGINT) AS expired \
             FROM workers WHERE id = $1{}",
            self.backend.for_update()
        );
        let Some(row) = sqlx::query(dynamic(sql))
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Err(StoreError::NotFound(format!(
                "{path}: the worker is not registered (PUT /v1/workers/{id} first)"
            )));
        };
        let state_text: String = row.try_get("state")?;
        let state = WorkerState::parse(&state_text)
            .ok_or_else(|| StoreError::internal(format!("unknown worker state {state_text:?}")))?;
        let revived = flag(&row, "expired")?;
        let sql = format!(
            "UPDATE workers SET lease_expires_at = {now_sql} + $1, last_heartbeat_at = {now_sql}, \
             applied_assignment_version = $2, shard_load = $3, reports = $4 WHERE id = $5"
        );
        sqlx::query(dynamic(sql))
            .bind(micros(self.worker_settings.lease_ttl))
            .bind(applied)
            .bind(load.to_string())
            .bind(reports.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        replace_tenant_usage(&mut tx, id, usage).await?;
        let published = read_published(&mut tx, id).await?;
        commit(tx).await?;
        Ok((state, revived, published))
    }

    /// Waits until the worker's published version differs from `applied`, or the deadline.
    /// Publications by this replica wake it at once; another replica's are seen at the next poll.
    async fn wait_for_assignment(
        &self,
        id: &str,
        applied: i64,
        deadline: tokio::time::Instant,
    ) -> StoreResult<Option<Published>> {
        loop {
            // Registered before the version is read, so a publication in between is not missed.
            let woken = self.assignments_published.notified();
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let pause = self.worker_settings.poll_interval.min(deadline - now);
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(pause) => {}
            }
            let mut conn = self.reader().await?;
            if let Some(published) = read_published(&mut conn, id).await?
                && published.version != applied
            {
                return Ok(Some(published));
            }
        }
    }
}

async fn read_published(conn: &mut Conn, id: &str) -> StoreResult<Option<Published>> {
    let row = sqlx::query(
        "SELECT version, assignment, tenant_limits FROM worker_assignments WHERE worker = $1",
    )
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        Ok(Published {
            version: row.try_get("version")?,
            assignment: row.try_get("assignment")?,
            tenant_limits: row.try_get("tenant_limits")?,
        })
    })
    .transpose()
}

async fn replace_tenant_usage(
    conn: &mut Conn,
    id: &str,
    usage: &BTreeMap<&str, TenantReport>,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM worker_tenant_usage WHERE worker = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    let now = Timestamp::now().unix_micros();
    let entries: Vec<(&&str, &TenantReport)> = usage.iter().collect();
    for chunk in entries.chunks(USAGE_ROWS_PER_INSERT) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let base = i * 6;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${})",
                    base + 1,
                    base + 2,
                    base + 3,
                    base + 4,
                    base + 5,
                    base + 6
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO worker_tenant_usage (worker, tenant, ingest_bytes_per_sec, \
             ingest_events_per_sec, storage_bytes, reported_at) VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(dynamic(sql));
        for (tenant, report) in chunk {
            query = query
                .bind(id.to_string())
                .bind(tenant.to_string())
                .bind(report.ingest_bytes_per_sec)
                .bind(report.ingest_events_per_sec)
                .bind(report.storage_bytes)
                .bind(now);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}
