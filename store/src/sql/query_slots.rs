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

use super::quotas::count;
use super::{Conn, SqlStore, commit, dynamic, retrying};
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
enum Enqueued {
    Granted(String),
    Waiting(String),
    Refused(SlotAdmission),
}

/// Tenants' quotas, read once per arbiter step: a step consults the same few tenants' quotas
/// for caps, weights and headroom.
#[derive(Default)]
struct QuotaCache(HashMap<String, Quota>);

impl QuotaCache {
    async fn get(&mut self, store: &SqlStore, conn: &mut Conn, tenant: &str) -> StoreResult<Quota> {
        if let Some(quota) = self.0.get(tenant) {
            return Ok(*quota);
        }
        let quota = store.quota_in_tx(conn, tenant).await?;
        self.0.insert(tenant.to_string(), quota);
        Ok(quota)
    }
}

impl SqlStore {
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
        let enqueued =
            retrying(|| self.enqueue_slot(ctx, tenant, project, &request, max_wait)).await?;
        let id = match enqueued {
            Enqueued::Granted(id) => return Ok(self.granted(id)),
            Enqueued::Refused(refusal) => return Ok(refusal),
            Enqueued::Waiting(id) => id,
        };
        let mut abandon = AbandonOnDrop {
            store: Some(self.clone()),
            id: id.clone(),
        };
        let outcome = self.wait_for_grant(&id, deadline).await;
        abandon.store = None;
        outcome
    }

    /// Tags the request, queues it, and dispatches; with no wait allowed, a request that was not
    /// granted at once leaves no trace (the transaction is rolled back).
    async fn enqueue_slot(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: &str,
        request: &QuerySlotRequest,
        max_wait: Duration,
    ) -> StoreResult<Enqueued> {
        let mut tx = self.begin_write().await?;
        let virtual_time = self.lock_arbiter(&mut tx).await?;
        let exists = sqlx::query("SELECT 1 FROM projects WHERE tenant = $1 AND name = $2")
            .bind(tenant.to_string())
            .bind(project.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!(
                "tenants/{tenant}/projects/{project}"
            )));
        }
        let now = Timestamp::now().unix_micros();
        let mut quotas = QuotaCache::default();
        self.expire_slots(&mut tx, now, &mut quotas).await?;
        let quota = quotas.get(self, &mut tx, tenant).await?;
        let queued = count(
            &mut tx,
            "query_slots",
            "tenant = $1 AND state = 'queued'",
            &[tenant],
        )
        .await?;
        if queued >= quota.max_queued_queries {
            return Ok(Enqueued::Refused(SlotAdmission::QueueFull {
                queued,
                limit: quota.max_queued_queries,
            }));
        }
        let last_finish = last_finish(&mut tx, tenant).await?;
        let tags = tag_request(
            virtual_time,
            last_finish,
            request.cost_hint,
            quota.query_weight,
        );
        self.bring_demand_forward(&mut tx, tenant, now).await?;
        sqlx::query(
            "INSERT INTO query_tenant_tags (tenant, last_finish, demand_at, idle_from) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (tenant) DO UPDATE SET last_finish = excluded.last_finish",
        )
        .bind(tenant.to_string())
        .bind(tags.finish)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let id = slot_id();
        sqlx::query(
            "INSERT INTO query_slots (id, tenant, project, holder, state, start_tag, enqueued_at, expires_at, tagged_cost) \
             VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8)",
        )
        .bind(id.clone())
        .bind(tenant.to_string())
        .bind(project.to_string())
        .bind(ctx.caller.key_id.clone())
        .bind(tags.start)
        .bind(now)
        .bind(now + micros(max_wait + QUEUED_ROW_GRACE))
        .bind(request.cost_hint)
        .execute(&mut *tx)
        .await?;
        let granted = self
            .dispatch_in_tx(&mut tx, virtual_time, now, &mut quotas)
            .await?;
        if granted.contains(&id) {
            commit(tx).await?;
            self.slot_grants.notify_waiters();
            return Ok(Enqueued::Granted(id));
        }
        if max_wait.is_zero() {
            // Dropping the transaction rolls it back: no row, no tag advanced, no grant made.
            return Ok(Enqueued::Refused(SlotAdmission::TimedOut));
        }
        commit(tx).await?;
        if !granted.is_empty() {
            self.slot_grants.notify_waiters();
        }
        Ok(Enqueued::Waiting(id))
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
        retrying(|| async {
            let mut tx = self.begin_write().await?;
            self.lock_arbiter(&mut tx).await?;
            let state: Option<String> =
                sqlx::query_scalar("SELECT state FROM query_slots WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
            if state.as_deref() == Some("granted") {
                return Ok(self.granted(id.to_string()));
            }
            self.remove_slots(
                &mut tx,
                "id = $1",
                &[id],
                Timestamp::now().unix_micros(),
                &mut QuotaCache::default(),
            )
            .await?;
            commit(tx).await?;
            Ok(SlotAdmission::TimedOut)
        })
        .await
    }

    /// Removes a request or slot whose waiter is gone, and grants what that frees.
    async fn discard_slot(&self, id: &str) -> StoreResult<()> {
        self.remove_and_dispatch(Some((id, None))).await.map(|_| ())
    }

    /// One arbiter step outside an acquire: removes the slot `(id, holder)` if given (answering
    /// whether it existed), expires what lapsed, grants what the freed capacity allows, and wakes
    /// this replica's waiters when something was granted.
    async fn remove_and_dispatch(
        &self,
        slot: Option<(&str, Option<&str>)>,
    ) -> StoreResult<(bool, usize)> {
        let (removed, granted) = retrying(|| async {
            let mut tx = self.begin_write().await?;
            let virtual_time = self.lock_arbiter(&mut tx).await?;
            let removed = match slot {
                Some((id, holder)) => self.delete_slot(&mut tx, id, holder).await?,
                None => false,
            };
            let granted = self
                .dispatch_in_tx(
                    &mut tx,
                    virtual_time,
                    Timestamp::now().unix_micros(),
                    &mut QuotaCache::default(),
                )
                .await?;
            commit(tx).await?;
            Ok((removed, granted))
        })
        .await?;
        if !granted.is_empty() {
            self.slot_grants.notify_waiters();
        }
        Ok((removed, granted.len()))
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
        let holder = holder_of(ctx);
        let (removed, _) = self
            .remove_and_dispatch(Some((id, holder.as_deref())))
            .await?;
        if !removed {
            return Err(StoreError::NotFound(path));
        }
        Ok(())
    }

    /// Expires lapsed leases and abandoned requests and grants what the freed capacity allows.
    /// Every replica runs it now and then; the arbiter lock makes that safe.
    pub(crate) async fn reconcile_slots(&self) -> StoreResult<usize> {
        self.remove_and_dispatch(None)
            .await
            .map(|(_, granted)| granted)
    }

    /// Deletes a slot or queued request, of `holder` only when one is given.
    async fn delete_slot(
        &self,
        conn: &mut Conn,
        id: &str,
        holder: Option<&str>,
    ) -> StoreResult<bool> {
        let now = Timestamp::now().unix_micros();
        let removed = match holder {
            Some(holder) => {
                self.remove_slots(
                    conn,
                    "id = $1 AND holder = $2",
                    &[id, holder],
                    now,
                    &mut QuotaCache::default(),
                )
                .await?
            }
            None => {
                self.remove_slots(conn, "id = $1", &[id], now, &mut QuotaCache::default())
                    .await?
            }
        };
        Ok(removed > 0)
    }

    async fn expire_slots(
        &self,
        conn: &mut Conn,
        now: i64,
        quotas: &mut QuotaCache,
    ) -> StoreResult<()> {
        let rows =
            sqlx::query_scalar::<_, String>("SELECT id FROM query_slots WHERE expires_at < $1")
                .bind(now)
                .fetch_all(&mut *conn)
                .await?;
        for id in rows {
            self.remove_slots(conn, "id = $1", &[&id], now, quotas)
                .await?;
        }
        Ok(())
    }

    /// Removes the slots and queued requests matching `condition` (placeholders bound to
    /// `values`), settling each one's cost into its tenant's finish tag first: a slot is charged
    /// the time it was held (until `now`, or its lease's end if that came first), a request that
    /// was never granted nothing, so its tenant gets back what it was tagged with.
    async fn remove_slots(
        &self,
        conn: &mut Conn,
        condition: &str,
        values: &[&str],
        now: i64,
        quotas: &mut QuotaCache,
    ) -> StoreResult<u64> {
        let select = format!(
            "SELECT id, tenant, tagged_cost, granted_at, expires_at FROM query_slots WHERE {condition}"
        );
        let mut query = sqlx::query(dynamic(select));
        for value in values {
            query = query.bind(value.to_string());
        }
        let rows = query.fetch_all(&mut *conn).await?;
        for row in &rows {
            let (id, tenant): (String, String) = (row.try_get("id")?, row.try_get("tenant")?);
            let tagged_cost: i64 = row.try_get("tagged_cost")?;
            let granted_at: Option<i64> = row.try_get("granted_at")?;
            let held_until = now.min(row.try_get::<i64, _>("expires_at")?);
            let actual_cost = granted_at.map_or(0, |granted| (held_until - granted).max(0) / 1000);
            let weight = quotas.get(self, conn, &tenant).await?.query_weight;
            let settled = settle_cost(
                last_finish(conn, &tenant).await?.unwrap_or(0),
                tagged_cost,
                actual_cost,
                weight,
            );
            self.bring_demand_forward(conn, &tenant, now).await?;
            sqlx::query("UPDATE query_tenant_tags SET last_finish = $1 WHERE tenant = $2")
                .bind(settled)
                .bind(tenant)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM query_slots WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
        Ok(rows.len() as u64)
    }

    /// Brings the tenant's recent demand up to `now`, before its count of outstanding queries
    /// (held and waiting) changes: between two such changes the count was constant, which is
    /// what makes the moving average exact.
    async fn bring_demand_forward(
        &self,
        conn: &mut Conn,
        tenant: &str,
        now: i64,
    ) -> StoreResult<()> {
        let row = sqlx::query(
            "SELECT demand_average, demand_at FROM query_tenant_tags WHERE tenant = $1",
        )
        .bind(tenant.to_string())
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { return Ok(()) };
        let outstanding = count(conn, "query_slots", "tenant = $1", &[tenant]).await?;
        let time_constant = micros(self.slot_settings.demand_time_constant);
        let demand = RecentDemand {
            average: row.try_get("demand_average")?,
            at_us: row.try_get("demand_at")?,
        }
        .at(now, outstanding, time_constant);
        sqlx::query("UPDATE query_tenant_tags SET demand_average = $1, demand_at = $2, idle_from = $3 WHERE tenant = $4")
            .bind(demand.average)
            .bind(demand.at_us)
            .bind(demand.idle_from_us(time_constant))
            .bind(tenant.to_string())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// The tenants active now — holding or waiting, or recently so — with their weights, caps
    /// and recent demand, for the headroom rule.
    async fn headroom(
        &self,
        conn: &mut Conn,
        now: i64,
        quotas: &mut QuotaCache,
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
        let time_constant = micros(self.slot_settings.demand_time_constant);
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
            let quota = quotas.get(self, conn, &tenant).await?;
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

    async fn lock_arbiter(&self, conn: &mut Conn) -> StoreResult<i64> {
        let sql = format!(
            "SELECT virtual_time FROM query_arbiter WHERE id = 1{}",
            self.backend.for_update()
        );
        Ok(sqlx::query_scalar(dynamic(sql))
            .fetch_one(&mut *conn)
            .await?)
    }

    /// Grants, in one transaction holding the arbiter lock, what the capacity and caps allow.
    /// Returns the ids granted.
    async fn dispatch_in_tx(
        &self,
        conn: &mut Conn,
        virtual_time: i64,
        now: i64,
        quotas: &mut QuotaCache,
    ) -> StoreResult<BTreeSet<String>> {
        self.expire_slots(conn, now, quotas).await?;
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
        let caps = self.load_caps(conn, &waiting, quotas).await?;
        let headroom = self.headroom(conn, now, quotas).await?;
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
        let mut granted = BTreeSet::new();
        for index in decided.granted {
            sqlx::query("UPDATE query_slots SET state = 'granted', expires_at = $1, granted_at = $2 WHERE id = $3")
                .bind(lease_end)
                .bind(now)
                .bind(ids[index].clone())
                .execute(&mut *conn)
                .await?;
            granted.insert(ids[index].clone());
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
        quotas: &mut QuotaCache,
    ) -> StoreResult<HashMap<(String, String), Caps>> {
        let mut caps = HashMap::new();
        for request in waiting {
            let key = (request.tenant.clone(), request.project.clone());
            if caps.contains_key(&key) {
                continue;
            }
            let tenant_cap = quotas
                .get(self, conn, &request.tenant)
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

async fn last_finish(conn: &mut Conn, tenant: &str) -> StoreResult<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT last_finish FROM query_tenant_tags WHERE tenant = $1")
            .bind(tenant.to_string())
            .fetch_optional(&mut *conn)
            .await?,
    )
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
                if let Err(error) = store.discard_slot(&id).await {
                    tracing::warn!(%error, slot = %id, "could not discard an abandoned query slot; it will expire");
                }
            });
        }
    }
}
