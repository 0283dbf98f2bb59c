//! Records of what agents were sent: the bundle's hash on the agent's row, and one
//! `agent_configs` row per config with the revision it was sent (or why it was skipped).
//!
//! The API records in the background, many agents at once after a change, and mostly the very
//! same bundle; so a batch is written per distinct bundle, with statements that each cover every
//! agent that received it.

use std::collections::HashMap;

use logplane_model::SyncState;
use sqlx::Row;

use super::agent_sync::{execute_for_agents, forget_idle_config_rows, record_config_reports};
use super::agents::parse_sync_state;
use super::batching::{BatchedWrite, write_batch};
use super::{Conn, SqlStore, WriteTx, dynamic, placeholders};
use crate::context::Ctx;
use crate::distribution::SentBundle;
use crate::error::{StoreError, StoreResult};

/// A record of what an agent was sent, waiting for its batch.
pub(super) struct QueuedSentBundle {
    tenant: String,
    agent_id: String,
    bundle: SentBundle,
}

impl BatchedWrite for QueuedSentBundle {
    type Output = ();

    fn agent(&self) -> &str {
        &self.agent_id
    }

    async fn write_all(
        store: &SqlStore,
        tx: &mut WriteTx,
        items: &[Self],
    ) -> StoreResult<Vec<StoreResult<()>>> {
        let mut results: Vec<StoreResult<()>> = items.iter().map(|_| Ok(())).collect();
        // Agents of one tenant sent one bundle: the usual batch is a single group.
        let mut groups: Vec<(&str, &SentBundle, Vec<usize>)> = Vec::new();
        for (at, item) in items.iter().enumerate() {
            match groups
                .iter_mut()
                .find(|(tenant, bundle, _)| *tenant == item.tenant && **bundle == item.bundle)
            {
                Some((_, _, members)) => members.push(at),
                None => groups.push((&item.tenant, &item.bundle, vec![at])),
            }
        }
        for (tenant, bundle, members) in groups {
            let agents: Vec<&str> = members
                .iter()
                .map(|at| items[*at].agent_id.as_str())
                .collect();
            let found = record_sent(tx, store, tenant, bundle, &agents).await?;
            for at in members {
                let agent = &items[at].agent_id;
                if !found.contains_key(agent.as_str()) {
                    results[at] = Err(StoreError::NotFound(format!("agents/{agent}")));
                }
            }
        }
        Ok(results)
    }
}

/// The status an agent stored, read back when it was sent a bundle.
struct StoredStatus {
    hash: Option<String>,
    state: Option<String>,
    message: Option<String>,
}

impl SqlStore {
    /// Records that `agent_id` was sent `bundle`.
    pub(crate) async fn record_sent_bundle(
        &self,
        ctx: &Ctx,
        agent_id: &str,
        bundle: SentBundle,
    ) -> StoreResult<()> {
        let tenant = self.authorize_agent(ctx, agent_id, "agent.sync").await?;
        let sent = QueuedSentBundle {
            tenant,
            agent_id: agent_id.to_string(),
            bundle,
        };
        self.sent_bundles
            .submit(sent, |batch| write_batch(self.clone(), batch))
            .await
    }
}

/// Records `bundle` as sent to those of `agents` that exist in `tenant`; returns their stored
/// statuses, by agent.
async fn record_sent(
    tx: &mut WriteTx,
    store: &SqlStore,
    tenant: &str,
    bundle: &SentBundle,
    agents: &[&str],
) -> StoreResult<HashMap<String, StoredStatus>> {
    let signature = bundle.signature();
    // Ordered like every batch's locks (PostgreSQL locks the rows as it reads them here).
    let sql = format!(
        "SELECT id, status_hash, status_state, status_message FROM agents \
         WHERE tenant = $1 AND id IN ({}) ORDER BY id{}",
        placeholders(2, agents.len()),
        store.backend.for_update()
    );
    let mut query = sqlx::query(dynamic(sql)).bind(tenant.to_string());
    for agent in agents {
        query = query.bind(agent.to_string());
    }
    let mut found = HashMap::with_capacity(agents.len());
    for row in query.fetch_all(&mut **tx).await? {
        found.insert(
            row.try_get::<String, _>("id")?,
            StoredStatus {
                hash: row.try_get("status_hash")?,
                state: row.try_get("status_state")?,
                message: row.try_get("status_message")?,
            },
        );
    }
    let ids: Vec<&str> = found.keys().map(String::as_str).collect();
    if ids.is_empty() {
        return Ok(found);
    }
    let sql = format!(
        "UPDATE agents SET desired_hash = $1, desired_skipped = $2 WHERE id IN ({})",
        placeholders(3, ids.len())
    );
    let mut query = sqlx::query(dynamic(sql))
        .bind(signature.hash.clone())
        .bind(signature.skipped.clone());
    for id in &ids {
        query = query.bind(id.to_string());
    }
    query.execute(&mut **tx).await?;
    forget_sent_revisions(tx, &ids).await?;
    for config in &bundle.configs {
        // One row per agent, inserted only while the config exists: one deleted since the
        // snapshot was read is simply not recorded (its rows went with it).
        let sql = format!(
            "INSERT INTO agent_configs (agent_id, tenant, project, collection_config, \
             desired_revision, skipped_reason) \
             SELECT agents.id, agents.tenant, $1, $2, $3, $4 FROM agents \
             WHERE agents.id IN ({}) AND EXISTS (SELECT 1 FROM collection_configs \
             WHERE tenant = agents.tenant AND project = $1 AND name = $2) \
             ON CONFLICT (agent_id, project, collection_config) DO UPDATE SET \
             desired_revision = excluded.desired_revision, \
             skipped_reason = excluded.skipped_reason",
            placeholders(5, ids.len())
        );
        let mut query = sqlx::query(dynamic(sql))
            .bind(config.project.clone())
            .bind(config.config.clone())
            .bind(config.revision)
            .bind(config.skipped.clone());
        for id in &ids {
            query = query.bind(id.to_string());
        }
        query.execute(&mut **tx).await?;
    }
    // An agent may have reported on this bundle before this record landed (the API records in
    // the background): its stored status then applies now.
    let mut reported: HashMap<(SyncState, &str), Vec<&str>> = HashMap::new();
    let mut idle = Vec::new();
    for (id, status) in &found {
        match (&status.hash, &status.state) {
            (Some(hash), Some(state)) if *hash == bundle.hash => {
                let message = status.message.as_deref().unwrap_or("");
                reported
                    .entry((parse_sync_state(state)?, message))
                    .or_default()
                    .push(id);
            }
            _ => idle.push(id.as_str()),
        }
    }
    for ((state, message), agents) in &reported {
        record_config_reports(tx, agents, *state, message).await?;
    }
    forget_idle_config_rows(tx, &idle).await?;
    Ok(found)
}

/// Clears what the agents were sent before, config by config.
async fn forget_sent_revisions(conn: &mut Conn, agents: &[&str]) -> StoreResult<()> {
    execute_for_agents(
        conn,
        "UPDATE agent_configs SET desired_revision = NULL, skipped_reason = NULL \
         WHERE agent_id IN ({agents})",
        agents,
    )
    .await
}
