//! Resharding with SLS semantics: split a shard, merge it with its right neighbour, or reshard a
//! logstore to a new `shard_count`. The plans are the scheduler's (`logplane_scheduler::reshard`);
//! here they are applied in one transaction holding the logstore's row, so concurrent reshards
//! of one logstore run one after the other and the key space stays covered exactly once by
//! `readwrite` shards. Parents become `readonly` (they keep serving queries over what they hold);
//! children get ids after the highest. The logstore's `shard_count` follows the number of
//! `readwrite` shards, and `max_shards_per_project` is checked in the same transaction.

use logplane_model::authz::Access;
use logplane_model::logstore::MAX_SHARDS;
use logplane_model::{
    KeyRange, LogstoreSpec, Shard, ShardRef, ShardSplitRequest, ShardStatus, Timestamp,
    ValidationErrors,
};
use logplane_scheduler::reshard::{self, ReshardError, ReshardPlan, ShardRange};
use sqlx::Row;

use super::quotas::{check_count, project_shards};
use super::resource::{bind_key, new_etag};
use super::shard_listing::read_shards;
use super::workers::audit_as;
use super::{Conn, Leadership, SqlStore, commit, dynamic, retrying};
use crate::context::Ctx;
use crate::error::{StoreError, StoreResult};
use crate::worker_pool::AutoSplitOutcome;

fn logstore_path(key: &[&str]) -> String {
    format!(
        "tenants/{}/projects/{}/logstores/{}",
        key[0], key[1], key[2]
    )
}

/// Locks the logstore's row and returns its spec; 404 when it does not exist.
async fn lock_logstore(
    store: &SqlStore,
    conn: &mut Conn,
    key: &[&str],
) -> StoreResult<LogstoreSpec> {
    let sql = format!(
        "SELECT spec FROM logstores WHERE tenant = $1 AND project = $2 AND name = $3{}",
        store.backend.for_update()
    );
    let spec: Option<String> = bind_key(sqlx::query(dynamic(sql)), key)
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| row.try_get("spec"))
        .transpose()?;
    let spec = spec.ok_or_else(|| StoreError::NotFound(logstore_path(key)))?;
    serde_json::from_str(&spec)
        .map_err(|e| StoreError::internal(format!("stored logstore spec does not parse: {e}")))
}

/// Every shard of a logstore as the plans see them.
pub(crate) async fn load_ranges(conn: &mut Conn, key: &[&str]) -> StoreResult<Vec<ShardRange>> {
    let rows = bind_key(
        sqlx::query(
            "SELECT shard_id, inclusive_begin_key, exclusive_end_key, status FROM shards \
             WHERE tenant = $1 AND project = $2 AND logstore = $3 ORDER BY shard_id",
        ),
        key,
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let id: i64 = row.try_get("shard_id")?;
            let begin: String = row.try_get("inclusive_begin_key")?;
            let end: String = row.try_get("exclusive_end_key")?;
            let status: String = row.try_get("status")?;
            Ok(ShardRange {
                id,
                range: KeyRange::from_hex(&begin, &end).ok_or_else(|| {
                    StoreError::internal(format!("shard {id} has a malformed key range"))
                })?,
                status: ShardStatus::parse(&status).ok_or_else(|| {
                    StoreError::internal(format!("unknown shard status {status:?}"))
                })?,
            })
        })
        .collect()
}

fn readwrite_count(ranges: &[ShardRange]) -> i64 {
    ranges
        .iter()
        .filter(|s| s.status == ShardStatus::Readwrite)
        .count() as i64
}

/// The number of readwrite shards after the plan.
fn readwrite_after(ranges: &[ShardRange], plan: &ReshardPlan) -> i64 {
    readwrite_count(ranges) - plan.to_readonly.len() as i64 + plan.created.len() as i64
}

impl SqlStore {
    /// Refuses a plan that would take the logstore past 256 readwrite shards or the project past
    /// `max_shards_per_project`. Runs in the resharding transaction, after the logstore row is
    /// locked; creates in the project lock its row first, so counts are consistent enough for
    /// one logstore, and the project-wide count is re-read here.
    pub(crate) async fn check_reshard_limits(
        &self,
        conn: &mut Conn,
        key: &[&str],
        ranges: &[ShardRange],
        plan: &ReshardPlan,
    ) -> StoreResult<()> {
        let after = readwrite_after(ranges, plan);
        if after > MAX_SHARDS {
            return Err(StoreError::Conflict(format!(
                "{} would have {after} readwrite shards; the most is {MAX_SHARDS}",
                logstore_path(key)
            )));
        }
        let adding = after - readwrite_count(ranges);
        if adding > 0 {
            let quota = self.quota_in_tx(conn, key[0]).await?;
            let usage = project_shards(conn, key[0], key[1]).await?;
            check_count(
                "max_shards_per_project",
                quota.max_shards_per_project,
                usage,
                adding,
            )?;
        }
        Ok(())
    }

    /// Turns the parents readonly and inserts the children.
    pub(crate) async fn apply_reshard_plan(
        &self,
        conn: &mut Conn,
        key: &[&str],
        plan: &ReshardPlan,
        now: Timestamp,
    ) -> StoreResult<()> {
        for parent in &plan.to_readonly {
            bind_key(
                sqlx::query(
                    "UPDATE shards SET status = 'readonly' WHERE tenant = $1 AND project = $2 \
                     AND logstore = $3 AND shard_id = $4",
                ),
                key,
            )
            .bind(*parent)
            .execute(&mut *conn)
            .await?;
        }
        for child in &plan.created {
            bind_key(
                sqlx::query(
                    "INSERT INTO shards (tenant, project, logstore, shard_id, inclusive_begin_key, \
                     exclusive_end_key, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'readwrite', $7)",
                ),
                key,
            )
            .bind(child.id)
            .bind(child.range.begin_hex())
            .bind(child.range.end_hex())
            .bind(now.unix_micros())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// Writes the logstore's new `shard_count` (and a new ETag) after a split or merge.
    async fn record_shard_count(
        &self,
        conn: &mut Conn,
        key: &[&str],
        mut spec: LogstoreSpec,
        shard_count: i64,
        now: Timestamp,
    ) -> StoreResult<()> {
        spec.shard_count = shard_count;
        let rendered = serde_json::to_string(&spec).map_err(StoreError::internal)?;
        bind_key(
            sqlx::query(
                "UPDATE logstores SET spec = $4, etag = $5, updated_at = $6 \
                 WHERE tenant = $1 AND project = $2 AND name = $3",
            ),
            key,
        )
        .bind(rendered)
        .bind(new_etag())
        .bind(now.unix_micros())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Reshards the logstore `key` (its row already locked by the caller) to `shard_count`
    /// readwrite shards; part of a logstore `PUT`.
    pub(crate) async fn reshard_to(
        &self,
        conn: &mut Conn,
        key: &[&str],
        shard_count: i64,
        now: Timestamp,
    ) -> StoreResult<()> {
        let count = u32::try_from(shard_count).map_err(|_| {
            StoreError::Invalid(ValidationErrors::single(
                "shard_count",
                format!("must be between 1 and {MAX_SHARDS}"),
            ))
        })?;
        let ranges = load_ranges(conn, key).await?;
        let plan =
            reshard::reshard(&ranges, count).map_err(|e| reshard_error(&logstore_path(key), e))?;
        self.check_reshard_limits(conn, key, &ranges, &plan).await?;
        self.apply_reshard_plan(conn, key, &plan, now).await
    }

    pub(crate) async fn split(
        &self,
        ctx: &Ctx,
        key: &[&str],
        shard_id: i64,
        request: &ShardSplitRequest,
    ) -> StoreResult<Vec<Shard>> {
        let split_key = match &request.split_key {
            None => None,
            Some(text) => Some(parse_split_key(text)?),
        };
        self.reshard_by_hand(ctx, key, shard_id, "shard.split", |ranges| {
            reshard::split(ranges, shard_id, split_key)
        })
        .await
    }

    pub(crate) async fn merge(
        &self,
        ctx: &Ctx,
        key: &[&str],
        shard_id: i64,
    ) -> StoreResult<Vec<Shard>> {
        self.reshard_by_hand(ctx, key, shard_id, "shard.merge", |ranges| {
            reshard::merge(ranges, shard_id)
        })
        .await
    }

    async fn reshard_by_hand(
        &self,
        ctx: &Ctx,
        key: &[&str],
        shard_id: i64,
        action: &str,
        plan_for: impl Fn(&[ShardRange]) -> Result<ReshardPlan, ReshardError>,
    ) -> StoreResult<Vec<Shard>> {
        let shard_path = format!("{}/shards/{shard_id}", logstore_path(key));
        self.authorize(ctx, Some(key[0]), Access::Write, action, &shard_path)
            .await?;
        let changed = retrying(|| async {
            let mut tx = self.begin_write().await?;
            let spec = lock_logstore(self, &mut tx, key).await?;
            let ranges = load_ranges(&mut tx, key).await?;
            let plan = plan_for(&ranges).map_err(|e| reshard_error(&shard_path, e))?;
            self.check_reshard_limits(&mut tx, key, &ranges, &plan)
                .await?;
            let now = Timestamp::now();
            self.apply_reshard_plan(&mut tx, key, &plan, now).await?;
            self.record_shard_count(&mut tx, key, spec, readwrite_after(&ranges, &plan), now)
                .await?;
            self.audit_success(&mut tx, ctx, Some(key[0]), action, &shard_path)
                .await?;
            let mut changed: Vec<i64> = plan.to_readonly.clone();
            changed.extend(plan.created.iter().map(|child| child.id));
            let shards = read_shards(&mut tx, key).await?;
            commit(tx).await?;
            Ok(ordered_subset(shards, &changed))
        })
        .await?;
        self.wake_scheduler();
        Ok(changed)
    }

    /// The leader's split of a hot shard: fenced by its epoch, and only while the logstore still
    /// wants it (auto-split enabled, below its maximum, within the quota).
    pub(crate) async fn auto_split(
        &self,
        leadership: &Leadership,
        shard: &ShardRef,
    ) -> StoreResult<AutoSplitOutcome> {
        let key = [
            shard.tenant.as_str(),
            shard.project.as_str(),
            shard.logstore.as_str(),
        ];
        let shard_path = format!("{}/shards/{}", logstore_path(&key), shard.shard_id);
        let outcome = retrying(|| async {
            let mut tx = self.begin_write().await?;
            self.check_leadership(&mut tx, leadership).await?;
            let spec = match lock_logstore(self, &mut tx, &key).await {
                Ok(spec) => spec,
                Err(StoreError::NotFound(_)) => {
                    return Ok(AutoSplitOutcome::Skipped("the logstore is gone".into()));
                }
                Err(other) => return Err(other),
            };
            if !spec.auto_split.enabled {
                return Ok(AutoSplitOutcome::Skipped("auto-split is disabled".into()));
            }
            let ranges = load_ranges(&mut tx, &key).await?;
            if readwrite_count(&ranges) >= spec.auto_split.max_shards {
                return Ok(AutoSplitOutcome::Skipped(format!(
                    "the logstore has auto_split.max_shards ({}) readwrite shards",
                    spec.auto_split.max_shards
                )));
            }
            let plan = match reshard::split(&ranges, shard.shard_id, None) {
                Ok(plan) => plan,
                Err(error) => return Ok(AutoSplitOutcome::Skipped(error.to_string())),
            };
            match self
                .check_reshard_limits(&mut tx, &key, &ranges, &plan)
                .await
            {
                Ok(()) => {}
                Err(StoreError::QuotaExceeded(exceeded)) => {
                    return Ok(AutoSplitOutcome::Skipped(exceeded.to_string()));
                }
                Err(StoreError::Conflict(reason)) => return Ok(AutoSplitOutcome::Skipped(reason)),
                Err(other) => return Err(other),
            }
            let now = Timestamp::now();
            self.apply_reshard_plan(&mut tx, &key, &plan, now).await?;
            self.record_shard_count(&mut tx, &key, spec, readwrite_after(&ranges, &plan), now)
                .await?;
            let actor = format!("scheduler:{}", leadership.holder);
            audit_as(
                &mut tx,
                &actor,
                Some(key[0]),
                "shard.auto_split",
                &shard_path,
            )
            .await?;
            commit(tx).await?;
            Ok(AutoSplitOutcome::Split {
                children: plan.created.iter().map(|child| child.id).collect(),
            })
        })
        .await?;
        if matches!(outcome, AutoSplitOutcome::Split { .. }) {
            self.wake_scheduler();
        }
        Ok(outcome)
    }
}

/// The shards named in `ids`, in that order.
fn ordered_subset(shards: Vec<Shard>, ids: &[i64]) -> Vec<Shard> {
    ids.iter()
        .filter_map(|id| shards.iter().find(|shard| shard.id == *id).cloned())
        .collect()
}

fn parse_split_key(text: &str) -> StoreResult<u128> {
    logplane_model::key_range::parse_key(text).ok_or_else(|| {
        StoreError::Invalid(ValidationErrors::single(
            "split_key",
            "must be 32 lowercase hexadecimal digits",
        ))
    })
}

fn reshard_error(shard_path: &str, error: ReshardError) -> StoreError {
    match error {
        ReshardError::NoSuchShard(_) => StoreError::NotFound(shard_path.to_string()),
        ReshardError::SplitKeyOutside { .. } => {
            StoreError::Invalid(ValidationErrors::single("split_key", format!("{error}")))
        }
        ReshardError::ZeroShards => {
            StoreError::Invalid(ValidationErrors::single("shard_count", format!("{error}")))
        }
        ReshardError::NotReadwrite(_)
        | ReshardError::TooNarrow(_)
        | ReshardError::NoRightNeighbour(_) => StoreError::Conflict(format!("{error}")),
    }
}
