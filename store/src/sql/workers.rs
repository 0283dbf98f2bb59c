//! Workers: registration by the workers themselves (role `worker`), and what platform admins do
//! with them (read, cordon, drain, uncordon, forget). Liveness is the database's clock against
//! `lease_expires_at`.

use logplane_model::audit::NewAuditEvent;
use logplane_model::authz::{Access, Role};
use logplane_model::names::WORKER_ID;
use logplane_model::page::PageRequest;
use logplane_model::{
    AuditResult, Timestamp, ValidationErrors, Worker, WorkerRole, WorkerSpec, WorkerState,
};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::resource::{new_etag, paginate};
use super::{Conn, SqlStore, audit, commit, dynamic, retrying};
use crate::context::{Ctx, Listed, Precondition, PutOutcome};
use crate::error::{StoreError, StoreResult};

pub(crate) fn micros(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// Reads a 0/1 column computed in SQL (`CAST(CASE … END AS BIGINT)`), the same on both backends.
pub(crate) fn flag(row: &AnyRow, column: &str) -> StoreResult<bool> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

pub(crate) fn parse_worker_spec(id: &str, text: &str) -> StoreResult<WorkerSpec> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::internal(format!(
            "stored registration of worker {id} does not parse: {e}"
        ))
    })
}

fn parse_state(text: &str) -> StoreResult<WorkerState> {
    WorkerState::parse(text)
        .ok_or_else(|| StoreError::internal(format!("unknown worker state {text:?}")))
}

/// The query slots a registration adds to the cluster's: only query workers run queries.
fn declared_query_slots(spec: &WorkerSpec) -> i64 {
    if spec.has_role(WorkerRole::Query) {
        spec.capacity.query_slots
    } else {
        0
    }
}

impl SqlStore {
    /// `SELECT` of a worker with its liveness and published assignment, as [`Worker`] needs it.
    fn worker_select(&self) -> String {
        let now = self.backend.now_micros_sql();
        format!(
            "SELECT w.id, w.spec, w.etag, w.state, w.lease_expires_at, \
             CAST(CASE WHEN w.lease_expires_at >= {now} THEN 1 ELSE 0 END AS BIGINT) AS live, \
             w.last_heartbeat_at, w.applied_assignment_version, w.created_at, w.updated_at, \
             COALESCE(a.version, 0) AS assignment_version, \
             COALESCE(a.ingest_shards, 0) AS ingest_shards, \
             COALESCE(a.query_shards, 0) AS query_shards \
             FROM workers w LEFT JOIN worker_assignments a ON a.worker = w.id"
        )
    }

    async fn read_worker(&self, conn: &mut Conn, id: &str) -> StoreResult<Option<Worker>> {
        let sql = format!("{} WHERE w.id = $1", self.worker_select());
        let row = sqlx::query(dynamic(sql))
            .bind(id.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        row.as_ref().map(worker_from_row).transpose()
    }

    /// The worker protocol is for workers' credentials only; platform admins use the admin
    /// endpoints. A refusal is audited like every other.
    pub(crate) async fn authorize_worker_protocol(
        &self,
        ctx: &Ctx,
        action: &str,
        resource: &str,
    ) -> StoreResult<()> {
        if ctx.caller.role == Role::Worker {
            return Ok(());
        }
        let event = NewAuditEvent {
            tenant: ctx.caller.tenant.clone(),
            actor: ctx.caller.actor(),
            action: action.to_string(),
            resource: resource.to_string(),
            result: AuditResult::Denied,
            reason: Some("only worker credentials speak the worker protocol".into()),
            request_id: ctx.request_id.clone(),
            client_address: ctx.client_address.clone(),
        };
        if let Err(error) = self.insert_audit_event(&event).await {
            tracing::warn!(%error, action, "could not record a denied request");
        }
        Err(StoreError::Forbidden(format!(
            "role {} may not {action} {resource}",
            ctx.caller.role.as_str()
        )))
    }

    pub(crate) fn wake_scheduler(&self) {
        // One stored permit: a wake-up while the leader is busy is not lost, and many collapse
        // into one reconciliation.
        self.scheduler_wakeups.notify_one();
    }

    pub(crate) async fn register(
        &self,
        ctx: &Ctx,
        id: &str,
        spec: WorkerSpec,
        precondition: Precondition,
    ) -> StoreResult<PutOutcome<Worker>> {
        let path = format!("workers/{id}");
        self.authorize_worker_protocol(ctx, "worker.register", &path)
            .await?;
        WORKER_ID
            .check(id)
            .map_err(|message| ValidationErrors::single("worker", message))?;
        spec.validate()?;
        let rendered = serde_json::to_string(&spec).map_err(StoreError::internal)?;
        let (outcome, wake) =
            retrying(|| self.register_once(ctx, id, &spec, &rendered, &precondition, &path))
                .await?;
        if wake {
            self.wake_scheduler();
        }
        Ok(outcome)
    }

    async fn register_once(
        &self,
        ctx: &Ctx,
        id: &str,
        spec: &WorkerSpec,
        rendered: &str,
        precondition: &Precondition,
        path: &str,
    ) -> StoreResult<(PutOutcome<Worker>, bool)> {
        let now_sql = self.backend.now_micros_sql();
        let ttl = micros(self.worker_settings.lease_ttl);
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "SELECT spec, etag, CAST(CASE WHEN lease_expires_at < {now_sql} THEN 1 ELSE 0 END AS BIGINT) AS expired \
             FROM workers WHERE id = $1{}",
            self.backend.for_update()
        );
        let existing = sqlx::query(dynamic(sql))
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let now = Timestamp::now().unix_micros();
        let (created, changed, wake) = match existing {
            None => {
                if matches!(
                    precondition,
                    Precondition::IfMatch(_) | Precondition::Contradictory
                ) {
                    return Err(StoreError::PreconditionFailed(format!(
                        "{path} does not exist"
                    )));
                }
                // Registering counts as a heartbeat: the worker is schedulable at once.
                let sql = format!(
                    "INSERT INTO workers (id, spec, etag, state, query_slots, lease_expires_at, registered_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, 'active', $4, {now_sql} + $5, $6, $7, $7)"
                );
                sqlx::query(dynamic(sql))
                    .bind(id.to_string())
                    .bind(rendered.to_string())
                    .bind(new_etag())
                    .bind(declared_query_slots(spec))
                    .bind(ttl)
                    .bind(ctx.caller.key_id.clone())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                (true, true, true)
            }
            Some(row) => {
                let etag: String = row.try_get("etag")?;
                check_precondition(precondition, &etag, path)?;
                let revived = flag(&row, "expired")?;
                let stored = parse_worker_spec(id, &row.try_get::<String, _>("spec")?)?;
                if stored == *spec {
                    let sql = format!(
                        "UPDATE workers SET lease_expires_at = {now_sql} + $1 WHERE id = $2"
                    );
                    sqlx::query(dynamic(sql))
                        .bind(ttl)
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await?;
                    (false, false, revived)
                } else {
                    let sql = format!(
                        "UPDATE workers SET spec = $1, etag = $2, query_slots = $3, updated_at = $4, \
                         lease_expires_at = {now_sql} + $5 WHERE id = $6"
                    );
                    sqlx::query(dynamic(sql))
                        .bind(rendered.to_string())
                        .bind(new_etag())
                        .bind(declared_query_slots(spec))
                        .bind(now)
                        .bind(ttl)
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await?;
                    (false, true, true)
                }
            }
        };
        if changed {
            let action = if created {
                "worker.create"
            } else {
                "worker.update"
            };
            self.audit_success(&mut tx, ctx, None, action, path).await?;
        }
        let worker = self
            .read_worker(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::internal("a worker just written is missing"))?;
        commit(tx).await?;
        let outcome = match (created, changed) {
            (true, _) => PutOutcome::Created(worker),
            (false, true) => PutOutcome::Replaced(worker),
            (false, false) => PutOutcome::Unchanged(worker),
        };
        Ok((outcome, wake))
    }

    pub(crate) async fn worker(&self, ctx: &Ctx, id: &str) -> StoreResult<Worker> {
        let path = format!("workers/{id}");
        self.authorize(ctx, None, Access::Platform, "worker.get", &path)
            .await?;
        let mut conn = self.reader().await?;
        self.read_worker(&mut conn, id)
            .await?
            .ok_or(StoreError::NotFound(path))
    }

    pub(crate) async fn workers(
        &self,
        ctx: &Ctx,
        page: &PageRequest,
    ) -> StoreResult<Listed<Worker>> {
        self.authorize(ctx, None, Access::Platform, "worker.list", "workers")
            .await?;
        let sql = format!(
            "{} WHERE w.id > $1 ORDER BY w.id LIMIT $2",
            self.worker_select()
        );
        let mut conn = self.reader().await?;
        let rows = sqlx::query(dynamic(sql))
            .bind(page.after.clone().unwrap_or_default())
            .bind(i64::from(page.size) + 1)
            .fetch_all(&mut *conn)
            .await?;
        let workers = rows
            .iter()
            .map(worker_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        paginate(workers, page.size, |worker| worker.id.clone())
    }

    pub(crate) async fn forget_worker(
        &self,
        ctx: &Ctx,
        id: &str,
        precondition: Precondition,
    ) -> StoreResult<()> {
        let path = format!("workers/{id}");
        self.authorize(ctx, None, Access::Platform, "worker.delete", &path)
            .await?;
        retrying(|| async {
            let now_sql = self.backend.now_micros_sql();
            let mut tx = self.begin_write().await?;
            let sql = format!(
                "SELECT etag, CAST(CASE WHEN lease_expires_at >= {now_sql} THEN 1 ELSE 0 END AS BIGINT) AS live \
                 FROM workers WHERE id = $1{}",
                self.backend.for_update()
            );
            let Some(row) = sqlx::query(dynamic(sql))
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Err(StoreError::NotFound(path.clone()));
            };
            check_precondition(&precondition, &row.try_get::<String, _>("etag")?, &path)?;
            // A live worker may be accepting writes for its shards; forgetting it would let the
            // scheduler hand them to another worker before its lease ran out.
            if flag(&row, "live")? && self.involved_in_ingest(&mut tx, id).await? {
                return Err(StoreError::Conflict(format!(
                    "{path} is live and owns or is taking over ingest shards; drain it first, \
                     or delete it once its lease has expired"
                )));
            }
            sqlx::query("DELETE FROM workers WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            self.audit_success(&mut tx, ctx, None, "worker.delete", &path)
                .await?;
            commit(tx).await
        })
        .await?;
        self.wake_scheduler();
        Ok(())
    }

    async fn involved_in_ingest(&self, conn: &mut Conn, id: &str) -> StoreResult<bool> {
        let named = sqlx::query(
            "SELECT 1 FROM shard_placements WHERE (owner = $1 AND owner_lost = 0 AND retired = 0) \
             OR handover_to = $1 OR next_target = $1 LIMIT 1",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
        if named.is_some() {
            return Ok(true);
        }
        let published: Option<i64> =
            sqlx::query_scalar("SELECT ingest_shards FROM worker_assignments WHERE worker = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *conn)
                .await?;
        Ok(published.unwrap_or(0) > 0)
    }

    pub(crate) async fn change_worker_state(
        &self,
        ctx: &Ctx,
        id: &str,
        state: WorkerState,
    ) -> StoreResult<Worker> {
        let path = format!("workers/{id}");
        let action = match state {
            WorkerState::Active => "worker.uncordon",
            WorkerState::Cordoned => "worker.cordon",
            WorkerState::Draining => "worker.drain",
        };
        self.authorize(ctx, None, Access::Platform, action, &path)
            .await?;
        let worker = retrying(|| async {
            let mut tx = self.begin_write().await?;
            let sql = format!(
                "SELECT state FROM workers WHERE id = $1{}",
                self.backend.for_update()
            );
            let Some(current) = sqlx::query_scalar::<_, String>(dynamic(sql))
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Err(StoreError::NotFound(path.clone()));
            };
            if parse_state(&current)? != state {
                sqlx::query(
                    "UPDATE workers SET state = $1, etag = $2, updated_at = $3 WHERE id = $4",
                )
                .bind(state.as_str())
                .bind(new_etag())
                .bind(Timestamp::now().unix_micros())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
                self.audit_success(&mut tx, ctx, None, action, &path)
                    .await?;
            }
            let worker = self
                .read_worker(&mut tx, id)
                .await?
                .ok_or_else(|| StoreError::internal("a worker just written is missing"))?;
            commit(tx).await?;
            Ok(worker)
        })
        .await?;
        self.wake_scheduler();
        Ok(worker)
    }
}

fn worker_from_row(row: &AnyRow) -> StoreResult<Worker> {
    let id: String = row.try_get("id")?;
    let spec = parse_worker_spec(&id, &row.try_get::<String, _>("spec")?)?;
    Ok(Worker {
        address: spec.address,
        zone: spec.zone,
        roles: spec.roles,
        capacity: spec.capacity,
        state: parse_state(&row.try_get::<String, _>("state")?)?,
        live: flag(row, "live")?,
        lease_expires_at: Timestamp::from_unix_micros(row.try_get("lease_expires_at")?),
        last_heartbeat_at: row
            .try_get::<Option<i64>, _>("last_heartbeat_at")?
            .map(Timestamp::from_unix_micros),
        assignment_version: row.try_get("assignment_version")?,
        applied_assignment_version: row.try_get("applied_assignment_version")?,
        ingest_shards: row.try_get("ingest_shards")?,
        query_shards: row.try_get("query_shards")?,
        created_at: Timestamp::from_unix_micros(row.try_get("created_at")?),
        updated_at: Timestamp::from_unix_micros(row.try_get("updated_at")?),
        etag: row.try_get("etag")?,
        id,
    })
}

fn check_precondition(precondition: &Precondition, etag: &str, path: &str) -> StoreResult<()> {
    match precondition {
        Precondition::Contradictory => Err(StoreError::PreconditionFailed(
            "If-Match and If-None-Match: * cannot both hold".to_string(),
        )),
        Precondition::IfAbsent => Err(StoreError::PreconditionFailed(format!(
            "{path} already exists"
        ))),
        Precondition::IfMatch(Some(expected)) if expected != etag => {
            Err(StoreError::PreconditionFailed(format!(
                "{path} has changed: its ETag is no longer {expected:?}"
            )))
        }
        _ => Ok(()),
    }
}

/// Writes an audit event on the caller's connection; used by the scheduler's own changes.
pub(crate) async fn audit_as(
    conn: &mut Conn,
    actor: &str,
    tenant: Option<&str>,
    action: &str,
    resource: &str,
) -> StoreResult<()> {
    audit::insert(
        conn,
        &NewAuditEvent {
            tenant: tenant.map(str::to_string),
            actor: actor.to_string(),
            action: action.to_string(),
            resource: resource.to_string(),
            result: AuditResult::Success,
            reason: None,
            request_id: None,
            client_address: None,
        },
    )
    .await
}
