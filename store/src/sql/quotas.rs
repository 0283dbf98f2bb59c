//! Tenant quotas: reading the effective quota inside a creating transaction, counting what a
//! create would add to, and the quota and usage resources.

use logplane_model::authz::Access;
use logplane_model::quota::{CountUsage, ProjectUsage, QuotaExceeded, ReportedUsage, TenantUsage};
use logplane_model::{Quota, QuotaSpec, TenantQuota, Timestamp};
use sqlx::Row;

use super::resource::new_etag;
use super::{Conn, SqlStore, commit, dynamic, retrying};
use crate::context::{Ctx, Precondition, PutOutcome};
use crate::error::{StoreError, StoreResult};

/// The ETag of a quota that was never written (it follows the defaults).
const DEFAULTS_ETAG: &str = "0000000000000000";
/// Projects listed in a usage report at most; a report is one response, so it is bounded.
const MAX_PROJECTS_IN_USAGE: i64 = 1000;

struct StoredQuota {
    spec: QuotaSpec,
    etag: String,
    updated_at: Option<Timestamp>,
}

async fn stored_quota(conn: &mut Conn, tenant: &str, lock: &str) -> StoreResult<StoredQuota> {
    let sql = format!("SELECT spec, etag, updated_at FROM tenant_quotas WHERE tenant = $1{lock}");
    let row = sqlx::query(dynamic(sql))
        .bind(tenant.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Ok(StoredQuota {
            spec: QuotaSpec::default(),
            etag: DEFAULTS_ETAG.to_string(),
            updated_at: None,
        });
    };
    let text: String = row.try_get("spec")?;
    let spec = serde_json::from_str(&text).map_err(|e| {
        StoreError::internal(format!("stored quota of {tenant} does not parse: {e}"))
    })?;
    Ok(StoredQuota {
        spec,
        etag: row.try_get("etag")?,
        updated_at: Some(Timestamp::from_unix_micros(row.try_get("updated_at")?)),
    })
}

/// Counts rows matching `condition` (placeholders `$1`… bound to `values`).
pub(crate) async fn count(
    conn: &mut Conn,
    table: &str,
    condition: &str,
    values: &[&str],
) -> StoreResult<i64> {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE {condition}");
    let mut query = sqlx::query_scalar::<_, i64>(dynamic(sql));
    for value in values {
        query = query.bind(value.to_string());
    }
    Ok(query.fetch_one(&mut *conn).await?)
}

/// Refuses a create that would take `usage + adding` past `limit`.
pub(crate) fn check_count(
    quota: &'static str,
    limit: i64,
    usage: i64,
    adding: i64,
) -> StoreResult<()> {
    if usage + adding > limit {
        return Err(StoreError::QuotaExceeded(QuotaExceeded {
            quota,
            limit,
            usage,
        }));
    }
    Ok(())
}

/// Read-write shards in a project: what `max_shards_per_project` counts.
pub(crate) async fn project_shards(
    conn: &mut Conn,
    tenant: &str,
    project: &str,
) -> StoreResult<i64> {
    count(
        conn,
        "shards",
        "tenant = $1 AND project = $2 AND status = 'readwrite'",
        &[tenant, project],
    )
    .await
}

impl SqlStore {
    /// The tenant's effective quota, read in the caller's transaction. Creates lock the parent row
    /// before calling this, and a quota write locks the tenant row too, so a count check and the
    /// insert it allows see one consistent quota.
    pub(crate) async fn quota_in_tx(&self, conn: &mut Conn, tenant: &str) -> StoreResult<Quota> {
        Ok(stored_quota(conn, tenant, "")
            .await?
            .spec
            .over(&self.quota_defaults))
    }

    pub(crate) async fn tenant_quota(&self, ctx: &Ctx, tenant: &str) -> StoreResult<TenantQuota> {
        let path = format!("tenants/{tenant}/quota");
        self.authorize(ctx, Some(tenant), Access::Read, "quota.get", &path)
            .await?;
        let mut conn = self.reader().await?;
        self.require_tenant(&mut conn, tenant, false).await?;
        let stored = stored_quota(&mut conn, tenant, "").await?;
        Ok(self.present(stored))
    }

    fn present(&self, stored: StoredQuota) -> TenantQuota {
        TenantQuota {
            effective: stored.spec.over(&self.quota_defaults),
            overrides: stored.spec,
            updated_at: stored.updated_at,
            etag: stored.etag,
        }
    }

    pub(crate) async fn put_tenant_quota(
        &self,
        ctx: &Ctx,
        tenant: &str,
        spec: QuotaSpec,
        precondition: Precondition,
    ) -> StoreResult<PutOutcome<TenantQuota>> {
        let path = format!("tenants/{tenant}/quota");
        self.authorize(ctx, Some(tenant), Access::Platform, "quota.put", &path)
            .await?;
        spec.validate()?;
        retrying(|| async {
            let mut tx = self.begin_write().await?;
            self.require_tenant(&mut tx, tenant, true).await?;
            let stored = stored_quota(&mut tx, tenant, self.backend.for_update()).await?;
            match &precondition {
                Precondition::IfMatch(Some(expected)) if *expected != stored.etag => {
                    return Err(StoreError::PreconditionFailed(format!("{path} has changed")));
                }
                Precondition::IfAbsent | Precondition::Contradictory => {
                    return Err(StoreError::PreconditionFailed(format!("{path} always exists")));
                }
                _ => {}
            }
            if stored.spec == spec && stored.updated_at.is_some() {
                return Ok(PutOutcome::Unchanged(self.present(stored)));
            }
            let now = Timestamp::now();
            let etag = new_etag();
            let rendered = serde_json::to_string(&spec).map_err(StoreError::internal)?;
            sqlx::query(
                "INSERT INTO tenant_quotas (tenant, spec, etag, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant) DO UPDATE SET spec = excluded.spec, etag = excluded.etag, \
                 updated_at = excluded.updated_at",
            )
            .bind(tenant.to_string())
            .bind(rendered)
            .bind(etag.clone())
            .bind(now.unix_micros())
            .execute(&mut *tx)
            .await?;
            self.audit_success(&mut tx, ctx, Some(tenant), "quota.update", &path).await?;
            commit(tx).await?;
            let written = StoredQuota { spec, etag, updated_at: Some(now) };
            Ok(PutOutcome::Replaced(self.present(written)))
        })
        .await
    }

    pub(crate) async fn tenant_usage(&self, ctx: &Ctx, tenant: &str) -> StoreResult<TenantUsage> {
        let path = format!("tenants/{tenant}/usage");
        self.authorize(ctx, Some(tenant), Access::Read, "usage.get", &path)
            .await?;
        let mut conn = self.reader().await?;
        self.require_tenant(&mut conn, tenant, false).await?;
        let quota = self.quota_in_tx(&mut conn, tenant).await?;
        let counts = vec![
            CountUsage {
                quota: "max_projects".into(),
                limit: quota.max_projects,
                used: count(&mut conn, "projects", "tenant = $1", &[tenant]).await?,
            },
            CountUsage {
                quota: "max_api_keys".into(),
                limit: quota.max_api_keys,
                used: count(&mut conn, "api_keys", "tenant = $1", &[tenant]).await?,
            },
            CountUsage {
                quota: "max_agents".into(),
                limit: quota.max_agents,
                used: count(&mut conn, "agents", "tenant = $1", &[tenant]).await?,
            },
        ];
        let project_names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM projects WHERE tenant = $1 ORDER BY name LIMIT $2",
        )
        .bind(tenant.to_string())
        .bind(MAX_PROJECTS_IN_USAGE)
        .fetch_all(&mut *conn)
        .await?;
        let mut projects = Vec::with_capacity(project_names.len());
        for project in project_names {
            let keys = [tenant, project.as_str()];
            let logstores = count(
                &mut conn,
                "logstores",
                "tenant = $1 AND project = $2",
                &keys,
            )
            .await?;
            let shards = project_shards(&mut conn, tenant, &project).await?;
            let project_condition = "tenant = $1 AND project = $2";
            let machine_groups =
                count(&mut conn, "machine_groups", project_condition, &keys).await?;
            let collection_configs =
                count(&mut conn, "collection_configs", project_condition, &keys).await?;
            projects.push(ProjectUsage {
                project: project.clone(),
                counts: vec![
                    CountUsage {
                        quota: "max_logstores_per_project".into(),
                        limit: quota.max_logstores_per_project,
                        used: logstores,
                    },
                    CountUsage {
                        quota: "max_shards_per_project".into(),
                        limit: quota.max_shards_per_project,
                        used: shards,
                    },
                    CountUsage {
                        quota: "max_machine_groups_per_project".into(),
                        limit: quota.max_machine_groups_per_project,
                        used: machine_groups,
                    },
                    CountUsage {
                        quota: "max_collection_configs_per_project".into(),
                        limit: quota.max_collection_configs_per_project,
                        used: collection_configs,
                    },
                ],
            });
        }
        // Workers report rates and storage in their heartbeats; until one has, nothing is known.
        let totals = self.reported_totals(&mut conn, tenant).await?;
        let reported = [
            ("ingest_bytes_per_sec", quota.ingest_bytes_per_sec),
            ("ingest_events_per_sec", quota.ingest_events_per_sec),
            ("query_requests_per_sec", quota.query_requests_per_sec),
            ("storage_bytes", quota.storage_bytes),
        ]
        .into_iter()
        .map(|(name, limit)| {
            let value = totals.as_ref().and_then(|totals| totals.value_of(name));
            ReportedUsage {
                quota: name.into(),
                limit,
                reported: value,
                reported_at: value.and(totals.as_ref().map(|totals| totals.reported_at)),
            }
        })
        .collect();
        let query_slots = self.slot_usage(&mut conn, tenant, &quota).await?;
        Ok(TenantUsage {
            tenant: tenant.to_string(),
            counts,
            projects,
            reported,
            query_slots,
        })
    }

    /// Answers 404 unless the tenant exists; with `lock`, holds its row for the transaction.
    pub(crate) async fn require_tenant(
        &self,
        conn: &mut Conn,
        tenant: &str,
        lock: bool,
    ) -> StoreResult<()> {
        let sql = format!(
            "SELECT 1 FROM tenants WHERE name = $1{}",
            if lock { self.backend.for_update() } else { "" }
        );
        let row = sqlx::query(dynamic(sql))
            .bind(tenant.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        match row {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound(format!("tenants/{tenant}"))),
        }
    }
}
