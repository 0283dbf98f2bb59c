//! Agents silent for longer than `AgentSettings::expire_after` are removed, as a tenant admin's
//! `DELETE` would: their credential stops working and their sent-bundle records go with them. On
//! hosts that come and go (autoscaled Kubernetes nodes, spot instances) every new host enrolls a
//! new agent; without expiry the gone ones would pile up until the tenant's `max_agents` refused
//! the next enrollment. A host that comes back after expiry is answered 401 and enrolls again.
//!
//! Every replica sweeps now and then (the delete returns what it removed, so two sweeps never
//! audit one agent twice), and an enrollment that finds its tenant at `max_agents` first expires
//! the tenant's silent agents itself, so the quota never waits for the next sweep.

use logplane_model::audit::NewAuditEvent;
use logplane_model::{AuditResult, Timestamp};
use sqlx::Row;

use super::{Conn, SqlStore, audit, commit, retrying};
use crate::error::StoreResult;

/// Agents removed per statement: bounds one transaction's work and how long it holds locks.
pub(crate) const EXPIRY_BATCH: i64 = 1000;

/// Who expiry's audit events name as the actor.
const EXPIRY_ACTOR: &str = "system:agent-expiry";

impl SqlStore {
    /// The last-seen time before which an agent is expired now; `None` when agents never expire.
    pub(crate) fn agent_expiry_cutoff(&self) -> Option<Timestamp> {
        let expire_after = self.agent_settings.expire_after?;
        let micros = i64::try_from(expire_after.as_micros()).unwrap_or(i64::MAX);
        Some(Timestamp::from_unix_micros(
            Timestamp::now().unix_micros().saturating_sub(micros),
        ))
    }

    /// Removes every agent silent since before the cutoff, in batches; returns how many.
    pub(crate) async fn expire_agents(&self) -> StoreResult<u64> {
        let Some(cutoff) = self.agent_expiry_cutoff() else {
            return Ok(0);
        };
        let mut removed = 0;
        loop {
            let batch = retrying(|| async {
                let mut tx = self.begin_write().await?;
                let expired = expire_silent(&mut tx, cutoff, None).await?;
                commit(tx).await?;
                Ok(expired)
            })
            .await?;
            removed += batch;
            if batch < EXPIRY_BATCH as u64 {
                return Ok(removed);
            }
        }
    }
}

/// Removes up to [`EXPIRY_BATCH`] agents (of `tenant`, or of any) last seen before `cutoff`,
/// oldest first, auditing each; returns how many.
pub(crate) async fn expire_silent(
    conn: &mut Conn,
    cutoff: Timestamp,
    tenant: Option<&str>,
) -> StoreResult<u64> {
    // `RETURNING` names only the rows this statement removed: a concurrent sweep on another
    // replica that got there first leaves nothing here to audit.
    let rows = sqlx::query(
        "DELETE FROM agents WHERE id IN (\
           SELECT id FROM agents WHERE last_seen_at < $1 AND ($2 IS NULL OR tenant = $2) \
           ORDER BY last_seen_at LIMIT $3) \
         RETURNING id, tenant, last_seen_at",
    )
    .bind(cutoff.unix_micros())
    .bind(tenant.map(str::to_string))
    .bind(EXPIRY_BATCH)
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        let id: String = row.try_get("id")?;
        let tenant: String = row.try_get("tenant")?;
        let last_seen = Timestamp::from_unix_micros(row.try_get("last_seen_at")?);
        let event = NewAuditEvent {
            tenant: Some(tenant.clone()),
            actor: EXPIRY_ACTOR.to_string(),
            action: "agent.expire".to_string(),
            resource: format!("tenants/{tenant}/agents/{id}"),
            result: AuditResult::Success,
            reason: Some(format!("silent since {}", last_seen.to_rfc3339())),
            request_id: None,
            client_address: None,
        };
        audit::insert(conn, &event).await?;
    }
    Ok(rows.len() as u64)
}
