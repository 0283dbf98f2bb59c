//! The store's half of an agent's sync call: record what the agent reported (its sequence
//! number, attributes, the status of a bundle), and later what it was sent. Per-config rows
//! (`agent_configs`) follow both, so rollout status and automatic pauses are counts over an index.

use logplane_model::audit::NewAuditEvent;
use logplane_model::authz::Access;
use logplane_model::{
    AgentAttributes, AgentSyncRequest, AuditResult, Labels, SyncState, Timestamp,
};
use sqlx::Row;

use super::agents::{
    parse_agent_type, parse_json, parse_sync_state, render_json, selected_attributes,
    sync_state_text,
};
use super::generations::read_generation;
use super::{Conn, SqlStore, commit, dynamic, retrying};
use crate::context::Ctx;
use crate::distribution::{AppliedConfig, SentBundle, SentSignature, SyncReport, SyncingAgent};
use crate::error::{StoreError, StoreResult};

/// What a report changed, besides the report itself.
struct Recorded {
    report: SyncReport,
    new_failure: bool,
}

impl SqlStore {
    /// Authorizes an agent credential for `agent_id`: agents act for themselves only; any other
    /// id answers 404, as another tenant's resource does.
    async fn authorize_agent(
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
        request: &AgentSyncRequest,
    ) -> StoreResult<SyncReport> {
        let tenant = self.authorize_agent(ctx, agent_id, "agent.sync").await?;
        request.validate()?;
        let recorded = retrying(|| self.record_once(&tenant, agent_id, request)).await?;
        if recorded.new_failure {
            self.failure_reports.notify_one();
        }
        // Waiters here must compute from at least what this agent's own call saw.
        self.generations
            .publish(&tenant, recorded.report.generation);
        Ok(recorded.report)
    }

    async fn record_once(
        &self,
        tenant: &str,
        agent_id: &str,
        request: &AgentSyncRequest,
    ) -> StoreResult<Recorded> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(dynamic(format!(
            "SELECT agent_type, attributes, enrollment_labels, last_seq, desired_hash, \
             desired_skipped, applied_hash, status_hash, status_state, status_message \
             FROM agents WHERE id = $1 AND tenant = $2{}",
            self.backend.for_update()
        )))
        .bind(agent_id.to_string())
        .bind(tenant.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound(format!("agents/{agent_id}")));
        };
        let last_seq: Option<i64> = row.try_get("last_seq")?;
        let desired_hash: Option<String> = row.try_get("desired_hash")?;
        let applied_hash: Option<String> = row.try_get("applied_hash")?;
        let mut attributes: AgentAttributes =
            parse_json(&row.try_get::<String, _>("attributes")?, "agent attributes")?;
        let enrollment_labels: Labels = parse_json(
            &row.try_get::<String, _>("enrollment_labels")?,
            "enrollment labels",
        )?;
        let now = Timestamp::now();
        // `checked_add`: a seq of i64::MAX has no successor, so whatever follows it is a gap.
        let full_state_requested =
            last_seq.is_some_and(|last| last.checked_add(1) != Some(request.seq));

        if let Some(reported) = &request.attributes
            && *reported != attributes
        {
            attributes = reported.clone();
            sqlx::query("UPDATE agents SET attributes = $1 WHERE id = $2")
                .bind(render_json(&attributes)?)
                .bind(agent_id.to_string())
                .execute(&mut *tx)
                .await?;
        }

        let mut new_failure = false;
        let mut applied_hash = applied_hash;
        if let Some(status) = &request.status {
            let stored_hash: Option<String> = row.try_get("status_hash")?;
            let stored_state: Option<String> = row.try_get("status_state")?;
            let stored_message: Option<String> = row.try_get("status_message")?;
            let state = sync_state_text(status.state);
            let unchanged = stored_hash.as_deref() == Some(status.hash.as_str())
                && stored_state.as_deref() == Some(state)
                && stored_message.as_deref().unwrap_or("") == status.message;
            if !unchanged {
                if desired_hash.as_deref() == Some(status.hash.as_str()) {
                    record_config_reports(&mut tx, agent_id, status.state, &status.message).await?;
                    new_failure = status.state == SyncState::Failed;
                }
                if status.state == SyncState::Applied {
                    applied_hash = Some(status.hash.clone());
                }
                sqlx::query(
                    "UPDATE agents SET status_hash = $1, status_state = $2, status_message = $3, \
                     status_at = $4, applied_hash = $5 WHERE id = $6",
                )
                .bind(status.hash.clone())
                .bind(state)
                .bind(status.message.clone())
                .bind(now.unix_micros())
                .bind(applied_hash.clone())
                .bind(agent_id.to_string())
                .execute(&mut *tx)
                .await?;
            }
        }

        sqlx::query("UPDATE agents SET last_seen_at = $1, last_seq = $2 WHERE id = $3")
            .bind(now.unix_micros())
            .bind(request.seq)
            .bind(agent_id.to_string())
            .execute(&mut *tx)
            .await?;
        let generation = read_generation(&mut tx, tenant).await?;
        let applied_rows = sqlx::query(
            "SELECT project, collection_config, applied_revision FROM agent_configs \
             WHERE agent_id = $1 AND applied_revision IS NOT NULL",
        )
        .bind(agent_id.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let applied = applied_rows
            .iter()
            .map(|row| {
                Ok(AppliedConfig {
                    project: row.try_get("project")?,
                    config: row.try_get("collection_config")?,
                    revision: row.try_get("applied_revision")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let sent = SentSignature {
            hash: desired_hash,
            skipped: row.try_get("desired_skipped")?,
        };
        let agent_type = parse_agent_type(&row.try_get::<String, _>("agent_type")?)?;
        commit(tx).await?;
        Ok(Recorded {
            report: SyncReport {
                agent: SyncingAgent {
                    id: agent_id.to_string(),
                    tenant: tenant.to_string(),
                    agent_type,
                    attributes: selected_attributes(&attributes, &enrollment_labels),
                    applied,
                },
                generation,
                full_state_requested,
                sent,
            },
            new_failure,
        })
    }

    /// Records that `agent_id` was sent `bundle`.
    pub(crate) async fn record_sent_bundle(
        &self,
        ctx: &Ctx,
        agent_id: &str,
        bundle: &SentBundle,
    ) -> StoreResult<()> {
        let tenant = self.authorize_agent(ctx, agent_id, "agent.sync").await?;
        retrying(|| async {
            let mut tx = self.begin_write().await?;
            let signature = bundle.signature();
            let updated = sqlx::query(
                "UPDATE agents SET desired_hash = $1, desired_skipped = $2 WHERE id = $3 AND tenant = $4",
            )
            .bind(signature.hash.clone())
            .bind(signature.skipped.clone())
            .bind(agent_id.to_string())
            .bind(tenant.clone())
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::NotFound(format!("agents/{agent_id}")));
            }
            sqlx::query(
                "UPDATE agent_configs SET desired_revision = NULL, skipped_reason = NULL \
                 WHERE agent_id = $1",
            )
            .bind(agent_id.to_string())
            .execute(&mut *tx)
            .await?;
            for config in &bundle.configs {
                // Inserted only while the config exists: one deleted since the snapshot was
                // read is simply not recorded (its rows went with it).
                sqlx::query(
                    "INSERT INTO agent_configs (agent_id, tenant, project, collection_config, \
                     desired_revision, skipped_reason) \
                     SELECT $1, $2, $3, $4, $5, $6 FROM collection_configs \
                     WHERE tenant = $2 AND project = $3 AND name = $4 \
                     ON CONFLICT (agent_id, project, collection_config) DO UPDATE SET \
                     desired_revision = excluded.desired_revision, \
                     skipped_reason = excluded.skipped_reason",
                )
                .bind(agent_id.to_string())
                .bind(tenant.clone())
                .bind(config.project.clone())
                .bind(config.config.clone())
                .bind(config.revision)
                .bind(config.skipped.clone())
                .execute(&mut *tx)
                .await?;
            }
            // The agent may have reported on this bundle before this record landed (the API
            // records in the background): its stored status then applies now.
            let status = sqlx::query(
                "SELECT status_hash, status_state, status_message FROM agents WHERE id = $1",
            )
            .bind(agent_id.to_string())
            .fetch_one(&mut *tx)
            .await?;
            let status_hash: Option<String> = status.try_get("status_hash")?;
            let status_state: Option<String> = status.try_get("status_state")?;
            match (status_hash, status_state) {
                (Some(hash), Some(state)) if hash == bundle.hash => {
                    let message: Option<String> = status.try_get("status_message")?;
                    record_config_reports(
                        &mut tx,
                        agent_id,
                        parse_sync_state(&state)?,
                        message.as_deref().unwrap_or(""),
                    )
                    .await?;
                }
                _ => forget_idle_config_rows(&mut tx, agent_id).await?,
            }
            commit(tx).await
        })
        .await
    }
}

/// The agent reported `state` for the bundle it was last sent: each config of that bundle gets
/// the report; an applied bundle becomes what the agent runs, config by config.
async fn record_config_reports(
    conn: &mut Conn,
    agent_id: &str,
    state: SyncState,
    message: &str,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE agent_configs SET \
         reported_revision = CASE WHEN skipped_reason IS NULL THEN desired_revision END, \
         reported_state = CASE WHEN skipped_reason IS NULL AND desired_revision IS NOT NULL \
             THEN $2 END, \
         reported_message = CASE WHEN skipped_reason IS NULL AND desired_revision IS NOT NULL \
             THEN $3 END \
         WHERE agent_id = $1",
    )
    .bind(agent_id.to_string())
    .bind(sync_state_text(state))
    .bind(message.to_string())
    .execute(&mut *conn)
    .await?;
    if state == SyncState::Applied {
        sqlx::query(
            "UPDATE agent_configs SET \
             applied_revision = CASE WHEN skipped_reason IS NULL THEN desired_revision END \
             WHERE agent_id = $1",
        )
        .bind(agent_id.to_string())
        .execute(&mut *conn)
        .await?;
    }
    forget_idle_config_rows(conn, agent_id).await
}

/// Rows that say nothing any more: not sent, not reported, not run.
async fn forget_idle_config_rows(conn: &mut Conn, agent_id: &str) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM agent_configs WHERE agent_id = $1 AND desired_revision IS NULL \
         AND reported_revision IS NULL AND applied_revision IS NULL",
    )
    .bind(agent_id.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
