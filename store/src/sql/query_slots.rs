//! The query-slot arbiter on the store. Its state is rows (`query_slots`, `query_tenant_tags`,
//! `query_arbiter`), and every decision — enqueue, grant, release, expire, give up — runs in a
//! transaction that first locks the one `query_arbiter` row. So any number of replicas act as one
//! arbiter, a grant can never exceed the capacity or a cap, and a replica's failure loses
//! nothing. The decisions themselves are logplane-quota's pure functions.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use logplane_model::authz::{Access, Role};
use logplane_model::{ProjectSpec, QuerySlot, QuerySlotRequest, QuerySlotUsage, Quota, Timestamp};
use logplane_quota::arbiter::{
    ACTIVE_DEMAND, Caps, Headroom, HeadroomRule, Holdings, RecentDemand, TenantLoad, Waiting,
    dispatch, settle_cost, tag_request,
};
use sqlx::Row;

use super::query_slot_cache::BatchCache;
use super::query_slot_steps::{ArbiterStep, SlotRequest, StepOutcome, unexpected};
use super::resource::bind_key;
use super::{Conn, SqlStore, dynamic, placeholders};
use crate::context::{Ctx, SlotAdmission};
use crate::error::{StoreError, StoreResult};

/// Waiting requests one dispatch considers, in start-tag order; bounds its work however long
/// the queues are.
const DISPATCH_WINDOW: i64 = 1000;
/// A queued row outlives its waiter's deadline by this much, so the waiter, not expiry, is what
/// normally ends a wait (and can still see a last-moment grant).
const QUEUED_ROW_GRACE: Duration = Duration::from_secs(5);

fn slot_id() -> String {
    format!("qs-{}", uuid::Uuid::new_v4().simple())
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// What an enqueue did.
pub(super) enum Enqueued {
    Granted(String),
    Waiting(String),
    Refused(SlotAdmission),
}

impl SqlStore {
    pub(super) fn demand_time_constant_us(&self) -> i64 {
        micros(self.slot_settings.demand_time_constant)
    }

    fn lease_ttl_ms(&self) -> i64 {
        i64::try_from(self.slot_settings.lease_ttl.as_millis()).unwrap_or(i64::MAX)
    }

    fn granted(&self, id: String) -> SlotAdmission {
        SlotAdmission::Granted(QuerySlot {
            slot_id: id,
            lease_ttl_ms: self.lease_ttl_ms(),
        })
    }

    pub(crate) async fn acquire_slot(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        request: QuerySlotRequest,
    ) -> StoreResult<SlotAdmission> {
        let path = format!("tenants/{tenant}/projects/{project}/query-slots");
        self.authorize(
            ctx,
            Some(tenant),
            Access::QuerySlots,
            "query_slot.acquire",
            &path,
        )
        .await?;
        request.validate()?;
        let max_wait = Duration::from_millis(request.max_wait_ms.max(0) as u64);
        let deadline = tokio::time::Instant::now() + max_wait;
        let step = ArbiterStep::Enqueue(SlotRequest {
            holder: ctx.caller.key_id.clone(),
            tenant: tenant.to_string(),
            project: project.to_string(),
            request,
            max_wait,
        });
        let id = match self.arbiter_step(step).await? {
            StepOutcome::Enqueued(Enqueued::Granted(id)) => return Ok(self.granted(id)),
            StepOutcome::Enqueued(Enqueued::Refused(refusal)) => return Ok(refusal),
            StepOutcome::Enqueued(Enqueued::Waiting(id)) => id,
            other => return Err(unexpected(&other)),
        };
        let mut abandon = AbandonOnDrop {
            store: Some(self.clone()),
            id: id.clone(),
        };
        let outcome = self.wait_for_grant(&id, deadline).await;
        abandon.store = None;
        outcome
    }

    /// Tags the request and queues it, in a batch's transaction holding the arbiter lock; the
    /// batch's dispatch then grants it if it can. A refusal or a missing project writes nothing.
    pub(super) async fn enqueue_in_tx(
        &self,
        conn: &mut Conn,
        virtual_time: i64,
        now: i64,
        cache: &mut BatchCache,
        slot: &SlotRequest,
    ) -> StoreResult<StoreResult<Enqueued>> {
        let (tenant, project) = (slot.tenant.as_str(), slot.project.as_str());
        if !cache.project_exists(conn, tenant, project).await? {
            return Ok(Err(StoreError::NotFound(format!(
                "tenants/{tenant}/projects/{project}"
            ))));
        }
        let quota = cache.quota(self, conn, tenant).await?;
        let state = cache.tenant(self, conn, tenant, now).await?;
        if state.queued >= quota.max_queued_queries {
            return Ok(Ok(Enqueued::Refused(SlotAdmission::QueueFull {
                queued: state.queued,
                limit: quota.max_queued_queries,
            })));
        }
        let tags = tag_request(
            virtual_time,
            state.last_finish,
            slot.request.cost_hint,
            quota.query_weight,
        );
        state.queued_one(tags.finish);
        let id = slot_id();
        sqlx::query(
            "INSERT INTO query_slots (id, tenant, project, holder, state, start_tag, enqueued_at, expires_at, tagged_cost) \
             VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8)",
        )
        .bind(id.clone())
        .bind(tenant.to_string())
        .bind(project.to_string())
        .bind(slot.holder.clone())
        .bind(tags.start)
        .bind(now)
        .bind(now + micros(slot.max_wait + QUEUED_ROW_GRACE))
        .bind(slot.request.cost_hint)
        .execute(&mut *conn)
        .await?;
        Ok(Ok(Enqueued::Waiting(id)))
    }

    /// Waits until the request is granted or its deadline passes. Grants by this replica wake
    /// it at once; grants by another replica are seen at the next poll.
    async fn wait_for_grant(
        &self,
        id: &str,
        deadline: tokio::time::Instant,
    ) -> StoreResult<SlotAdmission> {
        loop {
            // Registered before the state is read, so a grant in between is not missed.
            let woken = self.slot_grants.notified();
            match self.slot_state(id).await?.as_deref() {
                Some("granted") => return Ok(self.granted(id.to_string())),
                None => return Ok(SlotAdmission::TimedOut),
                _ => {}
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return self.give_up(id).await;
            }
            let pause = self.slot_settings.poll_interval.min(deadline - now);
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn slot_state(&self, id: &str) -> StoreResult<Option<String>> {
        let mut conn = self.reader().await?;
        Ok(
            sqlx::query_scalar("SELECT state FROM query_slots WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *conn)
                .await?,
        )
    }

    /// Ends a wait: removes the request if it is still queued, or keeps a grant that came in
    /// the meantime.
    async fn give_up(&self, id: &str) -> StoreResult<SlotAdmission> {
        match self
            .arbiter_step(ArbiterStep::GiveUp { id: id.to_string() })
            .await?
        {
            StepOutcome::GaveUp(admission) => Ok(admission),
            other => Err(unexpected(&other)),
        }
    }

    pub(super) async fn give_up_in_tx(
        &self,
        conn: &mut Conn,
        id: &str,
        now: i64,
        cache: &mut BatchCache,
    ) -> StoreResult<SlotAdmission> {
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM query_slots WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *conn)
                .await?;
        if state.as_deref() == Some("granted") {
            return Ok(self.granted(id.to_string()));
        }
        self.remove_slots(conn, "id = $1", &[id], now, cache)
            .await?;
        Ok(SlotAdmission::TimedOut)
    }

    /// Removes the slot or queued request `id` (of `holder` only, when given), answering
    /// whether it existed, and grants what that frees.
    async fn remove_slot(&self, id: &str, holder: Option<String>) -> StoreResult<bool> {
        let step = ArbiterStep::Remove {
            id: id.to_string(),
            holder,
        };
        match self.arbiter_step(step).await? {
            StepOutcome::Removed(removed) => Ok(removed),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) async fn renew_slot(&self, ctx: &Ctx, id: &str) -> StoreResult<QuerySlot> {
        let path = format!("query-slots/{id}");
        self.authorize(ctx, None, Access::QuerySlots, "query_slot.renew", &path)
            .await?;
        let now = Timestamp::now().unix_micros();
        let holder = holder_of(ctx);
        let sql = format!(
            "UPDATE query_slots SET expires_at = $1 WHERE id = $2 AND state = 'granted' AND expires_at >= $3{}",
            if holder.is_some() {
                " AND holder = $4"
            } else {
                ""
            }
        );
        let mut query = sqlx::query(dynamic(sql))
            .bind(now + micros(self.slot_settings.lease_ttl))
            .bind(id.to_string())
            .bind(now);
        if let Some(holder) = holder {
            query = query.bind(holder);
        }
        let mut conn = self.reader().await?;
        let updated = query.execute(&mut *conn).await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound(path));
        }
        Ok(QuerySlot {
            slot_id: id.to_string(),
            lease_ttl_ms: self.lease_ttl_ms(),
        })
    }

    pub(crate) async fn release_slot(&self, ctx: &Ctx, id: &str) -> StoreResult<()> {
        let path = format!("query-slots/{id}");
        self.authorize(ctx, None, Access::QuerySlots, "query_slot.release", &path)
            .await?;
        if !self.remove_slot(id, holder_of(ctx)).await? {
            return Err(StoreError::NotFound(path));
        }
        Ok(())
    }

    /// Expires lapsed leases and abandoned requests and grants what the freed capacity allows.
    /// Every replica runs it now and then; the arbiter lock makes that safe.
    pub(crate) async fn reconcile_slots(&self) -> StoreResult<usize> {
        match self.arbiter_step(ArbiterStep::Dispatch).await? {
            StepOutcome::Dispatched(granted) => Ok(granted),
            other => Err(unexpected(&other)),
        }
    }

    /// Deletes a slot or queued request, of `holder` only when one is given.
    pub(super) async fn delete_slot(
        &self,
        conn: &mut Conn,
        id: &str,
        holder: Option<&str>,
        now: i64,
        cache: &mut BatchCache,
    ) -> StoreResult<bool> {
        let (condition, values) = match holder {
            Some(holder) => ("id = $1 AND holder = $2", vec![id, holder]),
            None => ("id = $1", vec![id]),
        };
        Ok(self
            .remove_slots(conn, condition, &values, now, cache)
            .await?
            > 0)
    }

    pub(super) async fn expire_slots(
        &self,
        conn: &mut Conn,
        now: i64,
        cache: &mut BatchCache,
    ) -> StoreResult<()> {
        let rows =
            sqlx::query_scalar::<_, String>("SELECT id FROM query_slots WHERE expires_at < $1")
                .bind(now)
                .fetch_all(&mut *conn)
                .await?;
        for id in rows {
            self.remove_slots(conn, "id = $1", &[&id], now, cache)
                .await?;
        }
        Ok(())
    }

    /// Removes the slots and queued requests matching `condition` (placeholders bound to
    /// `values`), settling each one's cost into its tenant's finish tag first: a slot is charged
    /// the time it was held (until `now`, or its lease's end if that came first), a request that
    /// was never granted nothing, so its tenant gets back what it was tagged with.
    pub(super) async fn remove_slots(
        &self,
        conn: &mut Conn,
        condition: &str,
        values: &[&str],
        now: i64,
        cache: &mut BatchCache,
    ) -> StoreResult<u64> {
        let select = format!(
            "SELECT tenant, state, tagged_cost, granted_at, expires_at FROM query_slots WHERE {condition}"
        );
        let rows = bind_key(sqlx::query(dynamic(select)), values)
            .fetch_all(&mut *conn)
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        for row in &rows {
            let tenant: String = row.try_get("tenant")?;
            let was_queued = row.try_get::<String, _>("state")? == "queued";
            let tagged_cost: i64 = row.try_get("tagged_cost")?;
            let granted_at: Option<i64> = row.try_get("granted_at")?;
            let held_until = now.min(row.try_get::<i64, _>("expires_at")?);
            let actual_cost = granted_at.map_or(0, |granted| (held_until - granted).max(0) / 1000);
            let weight = cache.quota(self, conn, &tenant).await?.query_weight;
            let state = cache.tenant(self, conn, &tenant, now).await?;
            let settled = settle_cost(
                state.last_finish.unwrap_or(0),
                tagged_cost,
                actual_cost,
                weight,
            );
            state.removed_one(settled, was_queued);
        }
        // The arbiter lock is held: the condition matches the rows just read, and only them.
        let delete = format!("DELETE FROM query_slots WHERE {condition}");
        bind_key(sqlx::query(dynamic(delete)), values)
            .execute(&mut *conn)
            .await?;
        Ok(rows.len() as u64)
    }

    /// The tenants active now — holding or waiting, or recently so — with their weights, caps
    /// and recent demand, for the headroom rule.
    async fn headroom(
        &self,
        conn: &mut Conn,
        now: i64,
        cache: &mut BatchCache,
    ) -> StoreResult<Headroom> {
        if self.slot_settings.headroom == HeadroomRule::WorkConserving {
            return Ok(Headroom::work_conserving());
        }
        let outstanding_rows =
            sqlx::query("SELECT tenant, COUNT(*) AS outstanding FROM query_slots GROUP BY tenant")
                .fetch_all(&mut *conn)
                .await?;
        let mut outstanding: HashMap<String, i64> = HashMap::new();
        for row in &outstanding_rows {
            outstanding.insert(row.try_get("tenant")?, row.try_get("outstanding")?);
        }
        let rows = sqlx::query("SELECT tenant, demand_average, demand_at, idle_from FROM query_tenant_tags WHERE idle_from > $1")
            .bind(now)
            .fetch_all(&mut *conn)
            .await?;
        let time_constant = self.demand_time_constant_us();
        let mut demands: HashMap<String, f64> = HashMap::new();
        for row in &rows {
            let tenant: String = row.try_get("tenant")?;
            let held_or_waiting = outstanding.get(&tenant).copied().unwrap_or(0);
            let demand = RecentDemand {
                average: row.try_get("demand_average")?,
                at_us: row.try_get("demand_at")?,
            }
            .at(now, held_or_waiting, time_constant);
            demands.insert(tenant, demand.average);
        }
        let mut tenants = HashMap::new();
        let active = outstanding
            .keys()
            .chain(demands.keys())
            .cloned()
            .collect::<BTreeSet<String>>();
        for tenant in active {
            let recent_demand = demands.get(&tenant).copied().unwrap_or(0.0);
            let busy = outstanding.get(&tenant).copied().unwrap_or(0) > 0;
            if !busy && recent_demand < ACTIVE_DEMAND {
                continue;
            }
            let quota = cache.quota(self, conn, &tenant).await?;
            tenants.insert(
                tenant,
                TenantLoad {
                    weight: quota.query_weight,
                    max_concurrent: quota.max_concurrent_queries,
                    recent_demand,
                },
            );
        }
        Ok(Headroom {
            rule: self.slot_settings.headroom,
            tenants,
        })
    }

    pub(super) async fn lock_arbiter(&self, conn: &mut Conn) -> StoreResult<i64> {
        let sql = format!(
            "SELECT virtual_time FROM query_arbiter WHERE id = 1{}",
            self.backend.for_update()
        );
        Ok(sqlx::query_scalar(dynamic(sql))
            .fetch_one(&mut *conn)
            .await?)
    }

    /// Grants, in one transaction holding the arbiter lock, what the capacity and caps allow;
    /// the caller has expired what lapsed by `now`. Returns the ids granted.
    pub(super) async fn dispatch_in_tx(
        &self,
        conn: &mut Conn,
        virtual_time: i64,
        now: i64,
        cache: &mut BatchCache,
    ) -> StoreResult<BTreeSet<String>> {
        // Nothing waiting, the common case of a release: no need to count what is held.
        let anything_waiting =
            sqlx::query("SELECT 1 FROM query_slots WHERE state = 'queued' LIMIT 1")
                .fetch_optional(&mut *conn)
                .await?;
        if anything_waiting.is_none() {
            return Ok(BTreeSet::new());
        }
        let mut holdings = Holdings::default();
        let held = sqlx::query(
            "SELECT tenant, project, COUNT(*) AS held FROM query_slots WHERE state = 'granted' GROUP BY tenant, project",
        )
        .fetch_all(&mut *conn)
        .await?;
        for row in &held {
            let (tenant, project): (String, String) =
                (row.try_get("tenant")?, row.try_get("project")?);
            let count: i64 = row.try_get("held")?;
            for _ in 0..count {
                holdings.add(&tenant, &project);
            }
        }
        let capacity = self.slot_capacity(conn).await?;
        if holdings.total >= capacity {
            return Ok(BTreeSet::new());
        }
        let rows = sqlx::query(
            "SELECT id, tenant, project, start_tag FROM query_slots WHERE state = 'queued' ORDER BY start_tag LIMIT $1",
        )
        .bind(DISPATCH_WINDOW)
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() {
            return Ok(BTreeSet::new());
        }
        let mut ids = Vec::with_capacity(rows.len());
        let mut waiting = Vec::with_capacity(rows.len());
        for row in &rows {
            ids.push(row.try_get::<String, _>("id")?);
            waiting.push(Waiting {
                tenant: row.try_get("tenant")?,
                project: row.try_get("project")?,
                start_tag: row.try_get("start_tag")?,
            });
        }
        let caps = self.load_caps(conn, &waiting, cache).await?;
        let headroom = self.headroom(conn, now, cache).await?;
        let decided = dispatch(
            capacity,
            virtual_time,
            &mut holdings,
            &waiting,
            |tenant, project| {
                caps.get(&(tenant.to_string(), project.to_string()))
                    .copied()
                    .unwrap_or(Caps {
                        tenant: 0,
                        project: 0,
                    })
            },
            &headroom,
        );
        let lease_end = now + micros(self.slot_settings.lease_ttl);
        let granted: BTreeSet<String> = decided
            .granted
            .iter()
            .map(|&index| ids[index].clone())
            .collect();
        if !granted.is_empty() {
            // At most the dispatch window's 1,000: far below either database's limit on a
            // statement's parameters.
            let sql = format!(
                "UPDATE query_slots SET state = 'granted', expires_at = $1, granted_at = $2 WHERE id IN ({})",
                placeholders(3, granted.len())
            );
            let mut query = sqlx::query(dynamic(sql)).bind(lease_end).bind(now);
            for id in &granted {
                query = query.bind(id.clone());
            }
            query.execute(&mut *conn).await?;
        }
        sqlx::query("UPDATE query_arbiter SET virtual_time = $1 WHERE id = 1")
            .bind(decided.virtual_time)
            .execute(&mut *conn)
            .await?;
        Ok(granted)
    }

    /// The cluster's query slots: the sum of the live query workers' declared `query_slots`
    /// once any query worker has registered, the configured capacity before. Dead workers run no
    /// queries, so their slots are not counted (none live: no slot is granted).
    async fn slot_capacity(&self, conn: &mut Conn) -> StoreResult<i64> {
        let now = self.backend.now_micros_sql();
        let sql = format!(
            "SELECT COUNT(*) AS registered,              CAST(COALESCE(SUM(CASE WHEN lease_expires_at >= {now} AND state <> 'draining' THEN query_slots ELSE 0 END), 0) AS BIGINT) AS live_slots              FROM workers WHERE query_slots > 0"
        );
        let row = sqlx::query(dynamic(sql)).fetch_one(&mut *conn).await?;
        if row.try_get::<i64, _>("registered")? == 0 {
            return Ok(self.slot_settings.capacity);
        }
        Ok(row.try_get("live_slots")?)
    }

    /// The caps of every tenant and project with a waiting request.
    async fn load_caps(
        &self,
        conn: &mut Conn,
        waiting: &[Waiting],
        cache: &mut BatchCache,
    ) -> StoreResult<HashMap<(String, String), Caps>> {
        let mut caps = HashMap::new();
        for request in waiting {
            let key = (request.tenant.clone(), request.project.clone());
            if caps.contains_key(&key) {
                continue;
            }
            let tenant_cap = cache
                .quota(self, conn, &request.tenant)
                .await?
                .max_concurrent_queries;
            let spec: Option<String> =
                sqlx::query_scalar("SELECT spec FROM projects WHERE tenant = $1 AND name = $2")
                    .bind(request.tenant.clone())
                    .bind(request.project.clone())
                    .fetch_optional(&mut *conn)
                    .await?;
            let project_cap = spec
                .and_then(|text| serde_json::from_str::<ProjectSpec>(&text).ok())
                .and_then(|spec| spec.max_concurrent_queries)
                .unwrap_or(tenant_cap);
            caps.insert(
                key,
                Caps {
                    tenant: tenant_cap,
                    project: project_cap,
                },
            );
        }
        Ok(caps)
    }

    pub(crate) async fn slot_usage(
        &self,
        conn: &mut Conn,
        tenant: &str,
        quota: &Quota,
    ) -> StoreResult<QuerySlotUsage> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS slots FROM query_slots WHERE tenant = $1 AND expires_at >= $2 GROUP BY state",
        )
        .bind(tenant.to_string())
        .bind(Timestamp::now().unix_micros())
        .fetch_all(&mut *conn)
        .await?;
        let mut usage = QuerySlotUsage {
            held: 0,
            max_concurrent_queries: quota.max_concurrent_queries,
            queued: 0,
            max_queued_queries: quota.max_queued_queries,
        };
        for row in &rows {
            let state: String = row.try_get("state")?;
            let slots: i64 = row.try_get("slots")?;
            match state.as_str() {
                "granted" => usage.held = slots,
                _ => usage.queued = slots,
            }
        }
        Ok(usage)
    }
}

/// Only the frontend that acquired a slot may renew or release it (platform admins may always):
/// another frontend's slot answers 404, as another tenant's resource does.
fn holder_of(ctx: &Ctx) -> Option<String> {
    (ctx.caller.role != Role::PlatformAdmin).then(|| ctx.caller.key_id.clone())
}

/// Removes a queued request whose waiter went away (the client disconnected), so it does not
/// take a slot nobody will use.
struct AbandonOnDrop {
    store: Option<SqlStore>,
    id: String,
}

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        let Some(store) = self.store.take() else {
            return;
        };
        let id = std::mem::take(&mut self.id);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = store.remove_slot(&id, None).await {
                    tracing::warn!(%error, slot = %id, "could not discard an abandoned query slot; it will expire");
                }
            });
        }
    }
}
