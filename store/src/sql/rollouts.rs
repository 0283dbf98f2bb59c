//! Rollouts of a config's current revision: the percentage, pausing and resuming, the automatic
//! pause when too many of the updated agents fail, and the per-revision status.

use std::collections::BTreeMap;

use logplane_collect::{Rollout, RolloutError, should_auto_pause};
use logplane_model::audit::NewAuditEvent;
use logplane_model::authz::Access;
use logplane_model::collection_config::rollout::MAX_STATUS_MESSAGES;
use logplane_model::collection_config::{RevisionStatus, StatusMessage, StatusMessageKind};
use logplane_model::{
    AuditResult, CollectionConfigRollout, CollectionConfigStatus, RolloutRequest, Timestamp,
    ValidationErrors,
};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit;
use super::collection_configs::COLLECTION_CONFIGS;
use super::generations::bump_generation;
use super::resource::bind_key;
use super::{Conn, SqlStore, commit, dynamic, retrying};
use crate::context::{Ctx, PutOutcome};
use crate::error::{StoreError, StoreResult};

/// The actor automatic pauses are audited under.
const ROLLOUT_GUARD: &str = "system:rollout-guard";

const ROLLOUT_COLUMNS: &str = "revision, previous_revision, rollout_percent, rollout_state, \
     rollout_paused_reason, rollout_updated_at";

fn rollout_from_row(row: &AnyRow) -> StoreResult<CollectionConfigRollout> {
    let state: String = row.try_get("rollout_state")?;
    Ok(CollectionConfigRollout {
        revision: row.try_get("revision")?,
        previous_revision: row.try_get("previous_revision")?,
        percent: row.try_get("rollout_percent")?,
        paused: state == "paused",
        paused_reason: row.try_get("rollout_paused_reason")?,
        updated_at: Timestamp::from_unix_micros(row.try_get("rollout_updated_at")?),
    })
}

/// The pure model of a stored rollout, whose rules (`with_percent`) decide changes.
pub(crate) fn as_rollout(rollout: &CollectionConfigRollout) -> Rollout {
    Rollout {
        previous_revision: rollout.previous_revision,
        new_revision: rollout.revision,
        percent: rollout.percent.clamp(0, 100) as u8,
        paused: rollout.paused,
    }
}

async fn select_rollout(
    conn: &mut Conn,
    key: &[&str],
    lock: &str,
) -> StoreResult<Option<CollectionConfigRollout>> {
    let sql = format!(
        "SELECT {ROLLOUT_COLUMNS} FROM collection_configs \
         WHERE tenant = $1 AND project = $2 AND name = $3{lock}"
    );
    let row = bind_key(sqlx::query(dynamic(sql)), key)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(rollout_from_row).transpose()
}

async fn write_rollout(
    conn: &mut Conn,
    key: &[&str],
    rollout: &CollectionConfigRollout,
) -> StoreResult<()> {
    bind_key(
        sqlx::query(
            "UPDATE collection_configs SET rollout_percent = $4, rollout_state = $5, \
             rollout_paused_reason = $6, rollout_updated_at = $7 \
             WHERE tenant = $1 AND project = $2 AND name = $3",
        ),
        key,
    )
    .bind(rollout.percent)
    .bind(if rollout.paused { "paused" } else { "running" })
    .bind(rollout.paused_reason.clone())
    .bind(rollout.updated_at.unix_micros())
    .execute(&mut *conn)
    .await?;
    bump_generation(conn, key[0]).await?;
    Ok(())
}

/// One config's agents updated to its current revision: how many run it, and how many failed to
/// load a bundle that brought it (failures of bundles that did not change this config, such as
/// another config's bad revision, are not held against it).
struct ReportedOutcome {
    tenant: String,
    project: String,
    config: String,
    revision: i64,
    applied: i64,
    failed: i64,
}

impl SqlStore {
    pub(crate) async fn set_rollout(
        &self,
        ctx: &Ctx,
        key: &[&str],
        request: RolloutRequest,
    ) -> StoreResult<PutOutcome<CollectionConfigRollout>> {
        let path = format!("{}/rollout", COLLECTION_CONFIGS.resource_path(key));
        self.authorize(ctx, Some(key[0]), Access::Write, "rollout.put", &path)
            .await?;
        request.validate()?;
        let outcome = retrying(|| async {
            let mut tx = self.begin_write().await?;
            let Some(current) = select_rollout(&mut tx, key, self.backend.for_update()).await?
            else {
                return Err(StoreError::NotFound(COLLECTION_CONFIGS.resource_path(key)));
            };
            let changed = match as_rollout(&current).with_percent(request.percent) {
                Ok(changed) => changed,
                Err(RolloutError::Paused) => {
                    return Err(StoreError::Conflict(format!(
                        "the rollout of revision {} is paused ({}): resume it or roll back first",
                        current.revision,
                        current.paused_reason.as_deref().unwrap_or("paused")
                    )));
                }
                Err(error @ RolloutError::PercentOutOfRange(_)) => {
                    return Err(StoreError::Invalid(ValidationErrors::single(
                        "percent",
                        error.to_string(),
                    )));
                }
            };
            if i64::from(changed.percent) == current.percent {
                return Ok(PutOutcome::Unchanged(current));
            }
            let updated = CollectionConfigRollout {
                percent: i64::from(changed.percent),
                updated_at: Timestamp::now(),
                ..current
            };
            write_rollout(&mut tx, key, &updated).await?;
            self.audit_success(&mut tx, ctx, Some(key[0]), "rollout.update", &path)
                .await?;
            commit(tx).await?;
            Ok(PutOutcome::Replaced(updated))
        })
        .await?;
        if !matches!(outcome, PutOutcome::Unchanged(_)) {
            self.publish_generation(key[0]).await;
        }
        Ok(outcome)
    }

    pub(crate) async fn resume_rollout(
        &self,
        ctx: &Ctx,
        key: &[&str],
    ) -> StoreResult<CollectionConfigRollout> {
        let path = format!("{}/rollout", COLLECTION_CONFIGS.resource_path(key));
        self.authorize(ctx, Some(key[0]), Access::Write, "rollout.resume", &path)
            .await?;
        let (rollout, changed) = retrying(|| async {
            let mut tx = self.begin_write().await?;
            let Some(current) = select_rollout(&mut tx, key, self.backend.for_update()).await?
            else {
                return Err(StoreError::NotFound(COLLECTION_CONFIGS.resource_path(key)));
            };
            if !current.paused {
                return Ok((current, false));
            }
            let resumed = CollectionConfigRollout {
                paused: false,
                paused_reason: None,
                updated_at: Timestamp::now(),
                ..current
            };
            write_rollout(&mut tx, key, &resumed).await?;
            self.audit_success(&mut tx, ctx, Some(key[0]), "rollout.resume", &path)
                .await?;
            commit(tx).await?;
            Ok((resumed, true))
        })
        .await?;
        if changed {
            self.publish_generation(key[0]).await;
        }
        Ok(rollout)
    }

    /// Pauses every running rollout whose updated agents fail more often than the threshold.
    /// Idempotent and conditional on the revision it judged, so every replica may run it.
    /// Returns how many rollouts it paused.
    pub(crate) async fn guard_rollouts(&self) -> StoreResult<usize> {
        let outcomes = {
            let mut conn = self.reader().await?;
            let rows = sqlx::query(
                "SELECT c.tenant, c.project, c.name, c.revision, \
                 SUM(CASE WHEN s.applied_revision = c.revision THEN 1 ELSE 0 END) AS applied, \
                 SUM(CASE WHEN s.reported_revision = c.revision AND s.reported_state = 'failed' \
                     AND (s.applied_revision IS NULL OR s.applied_revision <> c.revision) \
                     THEN 1 ELSE 0 END) AS failed \
                 FROM collection_configs c JOIN agent_configs s ON s.tenant = c.tenant \
                 AND s.project = c.project AND s.collection_config = c.name \
                 AND (s.reported_revision = c.revision OR s.applied_revision = c.revision) \
                 WHERE c.rollout_state = 'running' AND c.rollout_percent > 0 \
                 GROUP BY c.tenant, c.project, c.name, c.revision",
            )
            .fetch_all(&mut *conn)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(ReportedOutcome {
                        tenant: row.try_get("tenant")?,
                        project: row.try_get("project")?,
                        config: row.try_get("name")?,
                        revision: row.try_get("revision")?,
                        applied: row.try_get("applied")?,
                        failed: row.try_get("failed")?,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?
        };
        let threshold = self.agent_settings.auto_pause_failed_percent;
        let mut paused = 0;
        for outcome in outcomes {
            let updated = (outcome.applied + outcome.failed).max(0) as u64;
            if should_auto_pause(updated, outcome.failed.max(0) as u64, threshold)
                && self.auto_pause(&outcome, threshold).await?
            {
                paused += 1;
            }
        }
        Ok(paused)
    }

    async fn auto_pause(&self, outcome: &ReportedOutcome, threshold: u8) -> StoreResult<bool> {
        let key = [
            outcome.tenant.as_str(),
            outcome.project.as_str(),
            outcome.config.as_str(),
        ];
        let reason = format!(
            "{} of {} agents that received revision {} failed, more than {threshold}%",
            outcome.failed,
            outcome.applied + outcome.failed,
            outcome.revision
        );
        let paused = retrying(|| async {
            let mut tx = self.begin_write().await?;
            let updated = bind_key(
                sqlx::query(
                    "UPDATE collection_configs SET rollout_state = 'paused', \
                     rollout_paused_reason = $5, rollout_updated_at = $6 \
                     WHERE tenant = $1 AND project = $2 AND name = $3 AND revision = $4 \
                     AND rollout_state = 'running'",
                ),
                &key,
            )
            .bind(outcome.revision)
            .bind(reason.clone())
            .bind(Timestamp::now().unix_micros())
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                // Changed since it was judged (a new revision, a pause, a rollback).
                return Ok(false);
            }
            bump_generation(&mut tx, key[0]).await?;
            let event = NewAuditEvent {
                tenant: Some(outcome.tenant.clone()),
                actor: ROLLOUT_GUARD.to_string(),
                action: "rollout.auto_pause".to_string(),
                resource: format!("{}/rollout", COLLECTION_CONFIGS.resource_path(&key)),
                result: AuditResult::Success,
                reason: Some(reason.clone()),
                request_id: None,
                client_address: None,
            };
            audit::insert(&mut tx, &event).await?;
            commit(tx).await?;
            Ok(true)
        })
        .await?;
        if paused {
            tracing::warn!(tenant = %outcome.tenant, project = %outcome.project, config = %outcome.config, revision = outcome.revision, failed = outcome.failed, "rollout paused automatically");
            self.publish_generation(&outcome.tenant).await;
        }
        Ok(paused)
    }

    pub(crate) async fn config_status(
        &self,
        ctx: &Ctx,
        key: &[&str],
    ) -> StoreResult<CollectionConfigStatus> {
        let path = COLLECTION_CONFIGS.resource_path(key);
        self.authorize(
            ctx,
            Some(key[0]),
            Access::Read,
            "collection_config.status",
            &path,
        )
        .await?;
        let mut conn = self.reader().await?;
        let Some(rollout) = select_rollout(&mut conn, key, "").await? else {
            return Err(StoreError::NotFound(path));
        };
        let mut revisions: BTreeMap<i64, RevisionStatus> = BTreeMap::new();
        let empty = |revision| RevisionStatus {
            revision,
            targeted: 0,
            applied: 0,
            applying: 0,
            failed: 0,
            skipped: 0,
            messages: Vec::new(),
        };
        revisions.insert(rollout.revision, empty(rollout.revision));
        if let Some(previous) = rollout.previous_revision {
            revisions.insert(previous, empty(previous));
        }
        let targeted = bind_key(
            sqlx::query(
                "SELECT desired_revision AS revision, COUNT(*) AS agents, \
                 SUM(CASE WHEN skipped_reason IS NULL THEN 0 ELSE 1 END) AS skipped \
                 FROM agent_configs WHERE tenant = $1 AND project = $2 AND collection_config = $3 \
                 AND desired_revision IS NOT NULL GROUP BY desired_revision",
            ),
            key,
        )
        .fetch_all(&mut *conn)
        .await?;
        for row in &targeted {
            let revision: i64 = row.try_get("revision")?;
            let status = revisions.entry(revision).or_insert_with(|| empty(revision));
            status.targeted = row.try_get("agents")?;
            status.skipped = row.try_get("skipped")?;
        }
        // Applied counts what agents run; applying and failed count their last report, so an
        // agent that failed to load a new revision counts there and as running the old one.
        let reported = bind_key(
            sqlx::query(
                "SELECT applied_revision AS revision, 'applied' AS state, COUNT(*) AS agents \
                 FROM agent_configs WHERE tenant = $1 AND project = $2 AND collection_config = $3 \
                 AND applied_revision IS NOT NULL GROUP BY applied_revision \
                 UNION ALL \
                 SELECT reported_revision AS revision, reported_state AS state, COUNT(*) AS agents \
                 FROM agent_configs WHERE tenant = $1 AND project = $2 AND collection_config = $3 \
                 AND reported_revision IS NOT NULL AND reported_state IN ('applying', 'failed') \
                 GROUP BY reported_revision, reported_state",
            ),
            key,
        )
        .fetch_all(&mut *conn)
        .await?;
        for row in &reported {
            let revision: i64 = row.try_get("revision")?;
            let state: String = row.try_get("state")?;
            let agents: i64 = row.try_get("agents")?;
            let status = revisions.entry(revision).or_insert_with(|| empty(revision));
            match state.as_str() {
                "applied" => status.applied = agents,
                "applying" => status.applying = agents,
                "failed" => status.failed = agents,
                _ => {}
            }
        }
        let messages = bind_key(
            sqlx::query(
                "SELECT reported_revision AS revision, 'failed' AS kind, reported_message AS message, \
                 COUNT(*) AS agents FROM agent_configs WHERE tenant = $1 AND project = $2 \
                 AND collection_config = $3 AND reported_state = 'failed' \
                 GROUP BY reported_revision, reported_message \
                 UNION ALL \
                 SELECT desired_revision AS revision, 'skipped' AS kind, skipped_reason AS message, \
                 COUNT(*) AS agents FROM agent_configs WHERE tenant = $1 AND project = $2 \
                 AND collection_config = $3 AND skipped_reason IS NOT NULL \
                 GROUP BY desired_revision, skipped_reason",
            ),
            key,
        )
        .fetch_all(&mut *conn)
        .await?;
        for row in &messages {
            let revision: Option<i64> = row.try_get("revision")?;
            let Some(revision) = revision else { continue };
            let kind: String = row.try_get("kind")?;
            let status = revisions.entry(revision).or_insert_with(|| empty(revision));
            status.messages.push(StatusMessage {
                kind: if kind == "failed" {
                    StatusMessageKind::Failed
                } else {
                    StatusMessageKind::Skipped
                },
                message: row
                    .try_get::<Option<String>, _>("message")?
                    .unwrap_or_default(),
                agents: row.try_get("agents")?,
            });
        }
        let revisions = revisions
            .into_values()
            .rev()
            .map(|mut status| {
                status
                    .messages
                    .sort_by(|a, b| b.agents.cmp(&a.agents).then(a.message.cmp(&b.message)));
                status.messages.truncate(MAX_STATUS_MESSAGES);
                status
            })
            .collect();
        Ok(CollectionConfigStatus {
            name: key[2].to_string(),
            rollout,
            revisions,
        })
    }
}
