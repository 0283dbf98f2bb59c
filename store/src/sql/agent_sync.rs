//! The store's half of an agent's sync call: record what the agent reported (its sequence
//! number, attributes, the status of a bundle), and later what it was sent (`sent_bundles.rs`).
//! Per-config rows (`agent_configs`) follow both, so rollout status and automatic pauses are
//! counts over an index.
//!
//! One config change wakes a whole fleet, and every agent answers with a report at once. The
//! reports are written in batches (`batching.rs`), and a batch is written with a fixed
//! number of statements whatever its size: one read of the agents' rows, one update of their
//! sequence numbers, one read of what they run, and for status changes one update per distinct
//! status. On SQLite each statement is a round trip to the database's thread, so statements per
//! agent, not rows, are what a change costs.

use std::collections::HashMap;

use logplane_model::audit::NewAuditEvent;
use logplane_model::authz::Access;
use logplane_model::{
    AgentAttributes, AgentSyncRequest, AuditResult, Labels, SyncState, Timestamp,
};
use sqlx::Row;

use super::agents::{
    parse_agent_type, parse_json, render_json, selected_attributes, sync_state_text,
};
use super::batching::{BatchedWrite, write_batch};
use super::generations::read_generation;
use super::{Conn, SqlStore, WriteTx, dynamic, placeholders};
use crate::context::Ctx;
use crate::distribution::{AppliedConfig, SentSignature, SyncReport, SyncingAgent};
use crate::error::{StoreError, StoreResult};

/// What a report changed, besides the report itself.
pub(super) struct Recorded {
    report: SyncReport,
    new_failure: bool,
}

/// An agent's sync report, waiting for its batch.
pub(super) struct QueuedReport {
    tenant: String,
    agent_id: String,
    request: AgentSyncRequest,
}

impl BatchedWrite for QueuedReport {
    type Output = Recorded;

    fn agent(&self) -> &str {
        &self.agent_id
    }

    async fn write_all(
        store: &SqlStore,
        tx: &mut WriteTx,
        items: &[Self],
    ) -> StoreResult<Vec<StoreResult<Recorded>>> {
        store.record_reports_in(tx, items).await
    }
}

/// An agent's row as a report reads it.
struct AgentRow {
    tenant: String,
    agent_type: String,
    attributes: String,
    enrollment_labels: String,
    last_seq: Option<i64>,
    desired_hash: Option<String>,
    desired_skipped: Option<String>,
    status_hash: Option<String>,
    status_state: Option<String>,
    status_message: Option<String>,
}

/// A status written for every agent of a batch that reported it.
#[derive(PartialEq, Eq, Hash)]
struct StatusKey<'a> {
    hash: &'a str,
    state: SyncState,
    message: &'a str,
}

#[derive(Default)]
struct StatusWrite<'a> {
    agents: Vec<&'a str>,
    /// The agents among them that reported on the bundle they were last sent: their configs
    /// take the report.
    reaching_configs: Vec<&'a str>,
}

/// A report read and judged, before the batch's shared statements fill in the rest.
struct Judged {
    agent_type: String,
    attributes: AgentAttributes,
    enrollment_labels: String,
    full_state_requested: bool,
    new_failure: bool,
    sent: SentSignature,
}

impl SqlStore {
    /// Authorizes an agent credential for `agent_id`: agents act for themselves only; any other
    /// id answers 404, as another tenant's resource does.
    pub(super) async fn authorize_agent(
        &self,
        ctx: &Ctx,
        agent_id: &str,
        action: &str,
    ) -> StoreResult<String> {
        let path = format!("agents/{agent_id}");
        let tenant = ctx.caller.tenant.clone();
        self.authorize(ctx, tenant.as_deref(), Access::AgentProtocol, action, &path)
            .await?;
        let Some(tenant) = tenant else {
            return Err(StoreError::Forbidden(format!("only agents may {action}")));
        };
        if ctx.caller.key_id != agent_id {
            let event = NewAuditEvent {
                tenant: Some(tenant.clone()),
                actor: ctx.caller.actor(),
                action: action.to_string(),
                resource: path.clone(),
                result: AuditResult::Denied,
                reason: Some("an agent acts only for itself".to_string()),
                request_id: ctx.request_id.clone(),
                client_address: ctx.client_address.clone(),
            };
            if let Err(error) = self.insert_audit_event(&event).await {
                tracing::warn!(%error, "could not record a denied agent request");
            }
            return Err(StoreError::NotFound(path));
        }
        Ok(tenant)
    }

    pub(crate) async fn record_sync_report(
        &self,
        ctx: &Ctx,
        agent_id: &str,
        request: AgentSyncRequest,
    ) -> StoreResult<SyncReport> {
        let tenant = self.authorize_agent(ctx, agent_id, "agent.sync").await?;
        request.validate()?;
        let report = QueuedReport {
            tenant,
            agent_id: agent_id.to_string(),
            request,
        };
        let recorded = self
            .sync_reports
            .submit(report, |batch| write_batch(self.clone(), batch))
            .await?;
        if recorded.new_failure {
            self.failure_reports.notify_one();
        }
        // Waiters here must compute from at least what this agent's own call saw.
        self.generations
            .publish(&recorded.report.agent.tenant, recorded.report.generation);
        Ok(recorded.report)
    }

    /// Records the reports of a batch (each agent at most once) in `tx`.
    async fn record_reports_in(
        &self,
        tx: &mut WriteTx,
        items: &[QueuedReport],
    ) -> StoreResult<Vec<StoreResult<Recorded>>> {
        let ids: Vec<&str> = items.iter().map(|item| item.agent_id.as_str()).collect();
        let rows = self.lock_agent_rows(tx, &ids).await?;
        let now = Timestamp::now();
        let mut judged: Vec<Option<Judged>> = Vec::with_capacity(items.len());
        let mut statuses: HashMap<StatusKey<'_>, StatusWrite<'_>> = HashMap::new();
        for item in items {
            let row = rows
                .get(&item.agent_id)
                .filter(|row| row.tenant == item.tenant);
            let Some(row) = row else {
                judged.push(None);
                continue;
            };
            let request = &item.request;
            let mut attributes: AgentAttributes = parse_json(&row.attributes, "agent attributes")?;
            if let Some(reported) = &request.attributes
                && *reported != attributes
            {
                attributes = reported.clone();
                sqlx::query("UPDATE agents SET attributes = $1 WHERE id = $2")
                    .bind(render_json(&attributes)?)
                    .bind(item.agent_id.clone())
                    .execute(&mut **tx)
                    .await?;
            }
            let mut new_failure = false;
            if let Some(status) = &request.status {
                let state = sync_state_text(status.state);
                let unchanged = row.status_hash.as_deref() == Some(status.hash.as_str())
                    && row.status_state.as_deref() == Some(state)
                    && row.status_message.as_deref().unwrap_or("") == status.message;
                if !unchanged {
                    let write = statuses
                        .entry(StatusKey {
                            hash: &status.hash,
                            state: status.state,
                            message: &status.message,
                        })
                        .or_default();
                    write.agents.push(&item.agent_id);
                    if row.desired_hash.as_deref() == Some(status.hash.as_str()) {
                        write.reaching_configs.push(&item.agent_id);
                        new_failure = status.state == SyncState::Failed;
                    }
                }
            }
            judged.push(Some(Judged {
                agent_type: row.agent_type.clone(),
                attributes,
                enrollment_labels: row.enrollment_labels.clone(),
                // `checked_add`: a seq of i64::MAX has no successor, so whatever follows it is
                // a gap.
                full_state_requested: row
                    .last_seq
                    .is_some_and(|last| last.checked_add(1) != Some(request.seq)),
                new_failure,
                sent: SentSignature {
                    hash: row.desired_hash.clone(),
                    skipped: row.desired_skipped.clone(),
                },
            }));
        }
        for (status, write) in &statuses {
            write_status(tx, status, &write.agents, now).await?;
            if !write.reaching_configs.is_empty() {
                record_config_reports(tx, &write.reaching_configs, status.state, status.message)
                    .await?;
            }
        }

        let seen: Vec<(&str, i64)> = items
            .iter()
            .zip(&judged)
            .filter(|(_, judged)| judged.is_some())
            .map(|(item, _)| (item.agent_id.as_str(), item.request.seq))
            .collect();
        record_seen(tx, &seen, now).await?;
        let seen_ids: Vec<&str> = seen.iter().map(|(id, _)| *id).collect();
        let mut applied = applied_configs(tx, &seen_ids).await?;
        let mut generations: HashMap<&str, i64> = HashMap::new();
        let mut results = Vec::with_capacity(items.len());
        for (item, judged) in items.iter().zip(judged) {
            let Some(judged) = judged else {
                results.push(Err(StoreError::NotFound(format!(
                    "agents/{}",
                    item.agent_id
                ))));
                continue;
            };
            let generation = match generations.get(item.tenant.as_str()) {
                Some(generation) => *generation,
                None => {
                    let generation = read_generation(tx, &item.tenant).await?;
                    generations.insert(&item.tenant, generation);
                    generation
                }
            };
            let enrollment_labels: Labels =
                parse_json(&judged.enrollment_labels, "enrollment labels")?;
            results.push(Ok(Recorded {
                report: SyncReport {
                    agent: SyncingAgent {
                        id: item.agent_id.clone(),
                        tenant: item.tenant.clone(),
                        agent_type: parse_agent_type(&judged.agent_type)?,
                        attributes: selected_attributes(&judged.attributes, &enrollment_labels),
                        applied: applied.remove(&item.agent_id).unwrap_or_default(),
                    },
                    generation,
                    full_state_requested: judged.full_state_requested,
                    sent: judged.sent,
                },
                new_failure: judged.new_failure,
            }));
        }
        Ok(results)
    }

    /// The rows of `ids` that exist, locked for the rest of the transaction (PostgreSQL; SQLite's
    /// writer holds the whole database). Locked in id order, as every batch locks them.
    async fn lock_agent_rows(
        &self,
        conn: &mut Conn,
        ids: &[&str],
    ) -> StoreResult<HashMap<String, AgentRow>> {
        let sql = format!(
            "SELECT id, tenant, agent_type, attributes, enrollment_labels, last_seq, desired_hash, \
             desired_skipped, status_hash, status_state, status_message \
             FROM agents WHERE id IN ({}) ORDER BY id{}",
            placeholders(1, ids.len()),
            self.backend.for_update()
        );
        let mut query = sqlx::query(dynamic(sql));
        for id in ids {
            query = query.bind(id.to_string());
        }
        let mut rows = HashMap::with_capacity(ids.len());
        for row in query.fetch_all(&mut *conn).await? {
            rows.insert(
                row.try_get("id")?,
                AgentRow {
                    tenant: row.try_get("tenant")?,
                    agent_type: row.try_get("agent_type")?,
                    attributes: row.try_get("attributes")?,
                    enrollment_labels: row.try_get("enrollment_labels")?,
                    last_seq: row.try_get("last_seq")?,
                    desired_hash: row.try_get("desired_hash")?,
                    desired_skipped: row.try_get("desired_skipped")?,
                    status_hash: row.try_get("status_hash")?,
                    status_state: row.try_get("status_state")?,
                    status_message: row.try_get("status_message")?,
                },
            );
        }
        Ok(rows)
    }
}

/// Stores one reported status for every agent in `agents`; an applied bundle becomes what they
/// run.
async fn write_status(
    conn: &mut Conn,
    status: &StatusKey<'_>,
    agents: &[&str],
    now: Timestamp,
) -> StoreResult<()> {
    let applied = if status.state == SyncState::Applied {
        ", applied_hash = $1"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE agents SET status_hash = $1, status_state = $2, status_message = $3, \
         status_at = $4{applied} WHERE id IN ({})",
        placeholders(5, agents.len())
    );
    let mut query = sqlx::query(dynamic(sql))
        .bind(status.hash.to_string())
        .bind(sync_state_text(status.state))
        .bind(status.message.to_string())
        .bind(now.unix_micros());
    for agent in agents {
        query = query.bind(agent.to_string());
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// Each agent's sequence number, and that it was seen now.
async fn record_seen(conn: &mut Conn, seen: &[(&str, i64)], now: Timestamp) -> StoreResult<()> {
    if seen.is_empty() {
        return Ok(());
    }
    // `CASE id WHEN $2 THEN $3 WHEN $4 THEN $5 …`: one statement for the whole batch.
    let cases: String = (0..seen.len())
        .map(|at| format!(" WHEN ${} THEN ${}", 2 + 2 * at, 3 + 2 * at))
        .collect();
    let ids: Vec<String> = (0..seen.len())
        .map(|at| format!("${}", 2 + 2 * at))
        .collect();
    let sql = format!(
        "UPDATE agents SET last_seen_at = $1, last_seq = CASE id{cases} END WHERE id IN ({})",
        ids.join(", ")
    );
    let mut query = sqlx::query(dynamic(sql)).bind(now.unix_micros());
    for (id, seq) in seen {
        query = query.bind(id.to_string()).bind(*seq);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// What each of `agents` runs, config by config.
async fn applied_configs(
    conn: &mut Conn,
    agents: &[&str],
) -> StoreResult<HashMap<String, Vec<AppliedConfig>>> {
    let mut applied: HashMap<String, Vec<AppliedConfig>> = HashMap::new();
    if agents.is_empty() {
        return Ok(applied);
    }
    let sql = format!(
        "SELECT agent_id, project, collection_config, applied_revision FROM agent_configs \
         WHERE agent_id IN ({}) AND applied_revision IS NOT NULL",
        placeholders(1, agents.len())
    );
    let mut query = sqlx::query(dynamic(sql));
    for agent in agents {
        query = query.bind(agent.to_string());
    }
    for row in query.fetch_all(&mut *conn).await? {
        applied
            .entry(row.try_get("agent_id")?)
            .or_default()
            .push(AppliedConfig {
                project: row.try_get("project")?,
                config: row.try_get("collection_config")?,
                revision: row.try_get("applied_revision")?,
            });
    }
    Ok(applied)
}

/// The agents reported `state` for the bundle each was last sent: each config of that bundle
/// gets the report; an applied bundle becomes what the agent runs, config by config.
pub(super) async fn record_config_reports(
    conn: &mut Conn,
    agents: &[&str],
    state: SyncState,
    message: &str,
) -> StoreResult<()> {
    let applied = if state == SyncState::Applied {
        ", applied_revision = CASE WHEN skipped_reason IS NULL THEN desired_revision END"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE agent_configs SET \
         reported_revision = CASE WHEN skipped_reason IS NULL THEN desired_revision END, \
         reported_state = CASE WHEN skipped_reason IS NULL AND desired_revision IS NOT NULL \
             THEN $1 END, \
         reported_message = CASE WHEN skipped_reason IS NULL AND desired_revision IS NOT NULL \
             THEN $2 END{applied} \
         WHERE agent_id IN ({})",
        placeholders(3, agents.len())
    );
    let mut query = sqlx::query(dynamic(sql))
        .bind(sync_state_text(state))
        .bind(message.to_string());
    for agent in agents {
        query = query.bind(agent.to_string());
    }
    query.execute(&mut *conn).await?;
    forget_idle_config_rows(conn, agents).await
}

/// Rows that say nothing any more: not sent, not reported, not run.
pub(super) async fn forget_idle_config_rows(conn: &mut Conn, agents: &[&str]) -> StoreResult<()> {
    if agents.is_empty() {
        return Ok(());
    }
    execute_for_agents(
        conn,
        "DELETE FROM agent_configs WHERE agent_id IN ({agents}) AND desired_revision IS NULL \
         AND reported_revision IS NULL AND applied_revision IS NULL",
        agents,
    )
    .await
}

/// Runs `statement` with `{agents}` standing for the list of `agents`' ids, bound as `$1…`.
pub(super) async fn execute_for_agents(
    conn: &mut Conn,
    statement: &str,
    agents: &[&str],
) -> StoreResult<()> {
    let sql = statement.replace("{agents}", &placeholders(1, agents.len()));
    let mut query = sqlx::query(dynamic(sql));
    for agent in agents {
        query = query.bind(agent.to_string());
    }
    query.execute(&mut *conn).await?;
    Ok(())
}
