//! Reading everything a tenant's bundles are computed from, in one consistent read: on
//! PostgreSQL a REPEATABLE READ read-only transaction, on SQLite a read transaction (WAL
//! snapshot). The generation is read in the same snapshot, so the data is exactly that
//! generation's.

use std::collections::HashMap;
use std::sync::Arc;

use logplane_collect::Rollout;
use logplane_model::authz::Access;
use logplane_model::{CollectionConfigSpec, MachineGroupSpec};
use sqlx::Row;

use super::agents::parse_json;
use super::generations::read_generation;
use super::{Backend, SqlStore};
use crate::context::Ctx;
use crate::distribution::{ConfigDistribution, GroupSelection, RevisionSpec, TenantDistribution};
use crate::error::StoreResult;

impl SqlStore {
    pub(crate) async fn distribution_of(
        &self,
        ctx: &Ctx,
        tenant: &str,
    ) -> StoreResult<TenantDistribution> {
        self.authorize(
            ctx,
            Some(tenant),
            Access::AgentProtocol,
            "agent.sync",
            &format!("tenants/{tenant}"),
        )
        .await?;
        self.read_distribution(tenant).await
    }

    pub(crate) async fn read_distribution(&self, tenant: &str) -> StoreResult<TenantDistribution> {
        let begin = match self.backend {
            Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            Backend::Sqlite => "BEGIN",
        };
        let mut tx = self.pool.begin_with(begin).await?;
        let generation = read_generation(&mut tx, tenant).await?;

        let binding_rows = sqlx::query(
            "SELECT project, machine_group, collection_config FROM collection_config_bindings \
             WHERE tenant = $1 ORDER BY project, machine_group, collection_config",
        )
        .bind(tenant.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let mut bound: HashMap<(String, String), Vec<String>> = HashMap::new();
        for row in &binding_rows {
            bound
                .entry((row.try_get("project")?, row.try_get("machine_group")?))
                .or_default()
                .push(row.try_get("collection_config")?);
        }

        let group_rows = sqlx::query(
            "SELECT project, name, spec FROM machine_groups WHERE tenant = $1 ORDER BY project, name",
        )
        .bind(tenant.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let mut groups = Vec::new();
        for row in &group_rows {
            let project: String = row.try_get("project")?;
            let name: String = row.try_get("name")?;
            // A group without bindings puts nothing in any bundle.
            let Some(configs) = bound.remove(&(project.clone(), name.clone())) else {
                continue;
            };
            let spec: MachineGroupSpec =
                parse_json(&row.try_get::<String, _>("spec")?, "machine group")?;
            groups.push(GroupSelection {
                project,
                name,
                selector: spec.selector,
                configs,
            });
        }

        let revision_rows = sqlx::query(
            "SELECT r.project, r.collection_config, r.revision, r.content_hash, r.spec \
             FROM collection_config_revisions r JOIN collection_configs c \
             ON c.tenant = r.tenant AND c.project = r.project AND c.name = r.collection_config \
             WHERE r.tenant = $1 AND (r.revision = c.revision OR r.revision = c.previous_revision)",
        )
        .bind(tenant.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let mut revisions: HashMap<(String, String), Vec<RevisionSpec>> = HashMap::new();
        for row in &revision_rows {
            let spec: CollectionConfigSpec =
                parse_json(&row.try_get::<String, _>("spec")?, "collection config")?;
            revisions
                .entry((row.try_get("project")?, row.try_get("collection_config")?))
                .or_default()
                .push(RevisionSpec {
                    revision: row.try_get("revision")?,
                    content_hash: row.try_get("content_hash")?,
                    spec: Arc::new(spec),
                });
        }

        let config_rows = sqlx::query(
            "SELECT project, name, revision, previous_revision, rollout_percent, rollout_state \
             FROM collection_configs WHERE tenant = $1 AND revision > 0 ORDER BY project, name",
        )
        .bind(tenant.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let mut configs = Vec::with_capacity(config_rows.len());
        for row in &config_rows {
            let project: String = row.try_get("project")?;
            let name: String = row.try_get("name")?;
            let state: String = row.try_get("rollout_state")?;
            let percent: i64 = row.try_get("rollout_percent")?;
            configs.push(ConfigDistribution {
                revisions: revisions
                    .remove(&(project.clone(), name.clone()))
                    .unwrap_or_default(),
                project,
                name,
                rollout: Rollout {
                    previous_revision: row.try_get("previous_revision")?,
                    new_revision: row.try_get("revision")?,
                    percent: percent.clamp(0, 100) as u8,
                    paused: state == "paused",
                },
            });
        }
        tx.commit().await?;
        Ok(TenantDistribution {
            tenant: tenant.to_string(),
            generation,
            groups,
            configs,
        })
    }
}
