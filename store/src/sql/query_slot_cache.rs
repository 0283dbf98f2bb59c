//! What one batch of arbiter steps reads once and keeps: tenants' quotas, the projects known to
//! exist, and tenants' fair-queuing state. A batch's steps are usually about a few tenants, so
//! reading each tenant's tags once and writing them back once, instead of per step, leaves
//! about one statement per step (its own insert or delete) under the arbiter lock.
//!
//! Every step of a batch happens at the batch's one instant `now`. That is what lets a tenant's
//! recent demand be brought forward once, when its state is first read: it changes only with
//! elapsed time, and none elapses between the steps of a batch.

use std::collections::{HashMap, HashSet};

use logplane_model::Quota;
use logplane_quota::arbiter::RecentDemand;
use sqlx::Row;

use super::{Conn, SqlStore};
use crate::error::StoreResult;

/// A tenant's fair-queuing state as the batch has changed it.
pub(super) struct TenantState {
    /// Its last finish tag; `None` before its first request.
    pub(super) last_finish: Option<i64>,
    /// Its recent demand, brought up to the batch's `now` before the batch changed anything.
    pub(super) demand: RecentDemand,
    /// Its requests waiting.
    pub(super) queued: i64,
    /// Its row exists in `query_tenant_tags`.
    stored: bool,
    /// An enqueue showed the tenant exists, so a missing row may be created. A removal never
    /// creates one: the tenant of an expiring slot may be gone.
    may_create: bool,
    changed: bool,
}

impl TenantState {
    /// Records that a request of the tenant was queued, with its finish tag.
    pub(super) fn queued_one(&mut self, finish: i64) {
        self.last_finish = Some(finish);
        self.queued += 1;
        self.may_create = true;
        self.changed = true;
    }

    /// Records that a slot or request of the tenant was removed, with its settled finish tag.
    pub(super) fn removed_one(&mut self, finish: i64, was_queued: bool) {
        self.last_finish = Some(finish);
        if was_queued {
            self.queued -= 1;
        }
        self.changed = true;
    }
}

/// Read once per batch of arbiter steps, kept for its steps and its dispatch.
#[derive(Default)]
pub(super) struct BatchCache {
    quotas: HashMap<String, Quota>,
    projects: HashSet<(String, String)>,
    tenants: HashMap<String, TenantState>,
}

impl BatchCache {
    pub(super) async fn quota(
        &mut self,
        store: &SqlStore,
        conn: &mut Conn,
        tenant: &str,
    ) -> StoreResult<Quota> {
        if let Some(quota) = self.quotas.get(tenant) {
            return Ok(*quota);
        }
        let quota = store.quota_in_tx(conn, tenant).await?;
        self.quotas.insert(tenant.to_string(), quota);
        Ok(quota)
    }

    /// Whether the project exists, read once per batch for the requests that name it.
    pub(super) async fn project_exists(
        &mut self,
        conn: &mut Conn,
        tenant: &str,
        project: &str,
    ) -> StoreResult<bool> {
        let key = (tenant.to_string(), project.to_string());
        if self.projects.contains(&key) {
            return Ok(true);
        }
        let exists = sqlx::query("SELECT 1 FROM projects WHERE tenant = $1 AND name = $2")
            .bind(tenant.to_string())
            .bind(project.to_string())
            .fetch_optional(&mut *conn)
            .await?
            .is_some();
        if exists {
            self.projects.insert(key);
        }
        Ok(exists)
    }

    /// The tenant's state, read on first use in the batch. The first use must come before the
    /// batch changes the tenant's outstanding queries: the moving average is brought forward
    /// with the count that held since it was last written.
    pub(super) async fn tenant(
        &mut self,
        store: &SqlStore,
        conn: &mut Conn,
        tenant: &str,
        now: i64,
    ) -> StoreResult<&mut TenantState> {
        if !self.tenants.contains_key(tenant) {
            let state = read_tenant(store, conn, tenant, now).await?;
            self.tenants.insert(tenant.to_string(), state);
        }
        Ok(self
            .tenants
            .get_mut(tenant)
            .expect("the tenant's state was just read"))
    }

    /// Writes back the tenants the batch changed. Before the dispatch, which reads their demand
    /// for headroom, and before the commit.
    pub(super) async fn write_tenants(
        &mut self,
        store: &SqlStore,
        conn: &mut Conn,
    ) -> StoreResult<()> {
        let time_constant = store.demand_time_constant_us();
        for (tenant, state) in &mut self.tenants {
            if !state.changed || !(state.stored || state.may_create) {
                continue;
            }
            let Some(last_finish) = state.last_finish else {
                continue;
            };
            let sql = if state.stored {
                "UPDATE query_tenant_tags SET last_finish = $1, demand_average = $2, \
                 demand_at = $3, idle_from = $4 WHERE tenant = $5"
            } else {
                "INSERT INTO query_tenant_tags \
                 (last_finish, demand_average, demand_at, idle_from, tenant) \
                 VALUES ($1, $2, $3, $4, $5)"
            };
            sqlx::query(sql)
                .bind(last_finish)
                .bind(state.demand.average)
                .bind(state.demand.at_us)
                .bind(state.demand.idle_from_us(time_constant))
                .bind(tenant.clone())
                .execute(&mut *conn)
                .await?;
            state.stored = true;
            state.changed = false;
        }
        Ok(())
    }
}

async fn read_tenant(
    store: &SqlStore,
    conn: &mut Conn,
    tenant: &str,
    now: i64,
) -> StoreResult<TenantState> {
    let tags = sqlx::query(
        "SELECT last_finish, demand_average, demand_at FROM query_tenant_tags WHERE tenant = $1",
    )
    .bind(tenant.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    let counts = sqlx::query(
        "SELECT COUNT(*) AS outstanding, \
         CAST(COALESCE(SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END), 0) AS BIGINT) AS queued \
         FROM query_slots WHERE tenant = $1",
    )
    .bind(tenant.to_string())
    .fetch_one(&mut *conn)
    .await?;
    let stored = tags.is_some();
    let (last_finish, demand) = match tags {
        Some(row) => (
            Some(row.try_get("last_finish")?),
            RecentDemand {
                average: row.try_get("demand_average")?,
                at_us: row.try_get("demand_at")?,
            },
        ),
        // Its first request: no demand before now.
        None => (
            None,
            RecentDemand {
                average: 0.0,
                at_us: now,
            },
        ),
    };
    let outstanding: i64 = counts.try_get("outstanding")?;
    Ok(TenantState {
        last_finish,
        demand: demand.at(now, outstanding, store.demand_time_constant_us()),
        queued: counts.try_get("queued")?,
        stored,
        may_create: false,
        changed: false,
    })
}
