//! Bindings between machine groups and collection configs of one project. Binding checks that
//! every agent type already in the group can express the config (422 naming the fields
//! otherwise); agents of other types that join later find the config left out of their bundle and
//! reported in the config's status.

use logplane_model::authz::Access;
use logplane_model::page::PageRequest;
use logplane_model::{CollectionConfigBinding, CollectionConfigSpec, MachineGroupSpec, Timestamp};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::collection_configs::{COLLECTION_CONFIGS, check_agents_can_run};
use super::generations::bump_generation;
use super::machine_groups::MACHINE_GROUPS;
use super::resource::{new_etag, paginate, row_exists};
use super::{SqlStore, commit, dynamic, retrying};
use crate::context::{Ctx, Listed, PutOutcome};
use crate::error::{StoreError, StoreResult};

/// A binding's key: tenant, project, machine group, collection config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BindingKey<'a> {
    pub tenant: &'a str,
    pub project: &'a str,
    pub group: &'a str,
    pub config: &'a str,
}

impl BindingKey<'_> {
    fn path(&self) -> String {
        format!(
            "tenants/{}/projects/{}/machine-groups/{}/collection-configs/{}",
            self.tenant, self.project, self.group, self.config
        )
    }
}

const COLUMNS: &str = "machine_group, collection_config, etag, created_at";

fn from_row(row: &AnyRow) -> StoreResult<CollectionConfigBinding> {
    Ok(CollectionConfigBinding {
        machine_group: row.try_get("machine_group")?,
        collection_config: row.try_get("collection_config")?,
        etag: row.try_get("etag")?,
        created_at: Timestamp::from_unix_micros(row.try_get("created_at")?),
    })
}

async fn select_binding(
    conn: &mut super::Conn,
    key: BindingKey<'_>,
) -> StoreResult<Option<CollectionConfigBinding>> {
    let row = sqlx::query(dynamic(format!(
        "SELECT {COLUMNS} FROM collection_config_bindings WHERE tenant = $1 AND project = $2 \
         AND machine_group = $3 AND collection_config = $4"
    )))
    .bind(key.tenant.to_string())
    .bind(key.project.to_string())
    .bind(key.group.to_string())
    .bind(key.config.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Which list: the configs bound to a group, or the groups a config is bound to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BindingSide {
    Group,
    Config,
}

impl SqlStore {
    pub(crate) async fn bind(
        &self,
        ctx: &Ctx,
        key: BindingKey<'_>,
    ) -> StoreResult<PutOutcome<CollectionConfigBinding>> {
        let path = key.path();
        self.authorize(ctx, Some(key.tenant), Access::Write, "binding.put", &path)
            .await?;
        {
            // Re-applying a binding is the common case (every Terraform plan); it costs a read.
            let mut conn = self.reader().await?;
            if let Some(existing) = select_binding(&mut conn, key).await? {
                return Ok(PutOutcome::Unchanged(existing));
            }
        }
        let outcome = retrying(|| self.bind_once(ctx, key, &path)).await?;
        if outcome.is_created() {
            self.publish_generation(key.tenant).await;
        }
        Ok(outcome)
    }

    async fn bind_once(
        &self,
        ctx: &Ctx,
        key: BindingKey<'_>,
        path: &str,
    ) -> StoreResult<PutOutcome<CollectionConfigBinding>> {
        let mut tx = self.begin_write().await?;
        let group_key = [key.tenant, key.project, key.group];
        let group = sqlx::query(dynamic(format!(
            "SELECT spec FROM machine_groups WHERE tenant = $1 AND project = $2 AND name = $3{}",
            self.backend.for_update()
        )))
        .bind(key.tenant.to_string())
        .bind(key.project.to_string())
        .bind(key.group.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(group) = group else {
            return Err(StoreError::NotFound(
                MACHINE_GROUPS.resource_path(&group_key),
            ));
        };
        let config_key = [key.tenant, key.project, key.config];
        let config = sqlx::query(dynamic(format!(
            "SELECT spec FROM collection_configs WHERE tenant = $1 AND project = $2 AND name = $3{}",
            self.backend.for_update()
        )))
        .bind(key.tenant.to_string())
        .bind(key.project.to_string())
        .bind(key.config.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(config) = config else {
            return Err(StoreError::NotFound(
                COLLECTION_CONFIGS.resource_path(&config_key),
            ));
        };
        if let Some(existing) = select_binding(&mut tx, key).await? {
            return Ok(PutOutcome::Unchanged(existing));
        }
        let group: MachineGroupSpec = serde_json::from_str(&group.try_get::<String, _>("spec")?)
            .map_err(StoreError::internal)?;
        let spec: CollectionConfigSpec =
            serde_json::from_str(&config.try_get::<String, _>("spec")?)
                .map_err(StoreError::internal)?;
        check_agents_can_run(
            &mut tx,
            key.tenant,
            &[(key.group.to_string(), group.selector)],
            &spec,
        )
        .await?;
        let binding = CollectionConfigBinding {
            machine_group: key.group.to_string(),
            collection_config: key.config.to_string(),
            created_at: Timestamp::now(),
            etag: new_etag(),
        };
        sqlx::query(
            "INSERT INTO collection_config_bindings (tenant, project, machine_group, \
             collection_config, etag, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(key.tenant.to_string())
        .bind(key.project.to_string())
        .bind(key.group.to_string())
        .bind(key.config.to_string())
        .bind(binding.etag.clone())
        .bind(binding.created_at.unix_micros())
        .execute(&mut *tx)
        .await?;
        bump_generation(&mut tx, key.tenant).await?;
        self.audit_success(&mut tx, ctx, Some(key.tenant), "binding.create", path)
            .await?;
        commit(tx).await?;
        Ok(PutOutcome::Created(binding))
    }

    pub(crate) async fn unbind(&self, ctx: &Ctx, key: BindingKey<'_>) -> StoreResult<()> {
        let path = key.path();
        self.authorize(
            ctx,
            Some(key.tenant),
            Access::Write,
            "binding.delete",
            &path,
        )
        .await?;
        retrying(|| async {
            let mut tx = self.begin_write().await?;
            let deleted = sqlx::query(
                "DELETE FROM collection_config_bindings WHERE tenant = $1 AND project = $2 \
                 AND machine_group = $3 AND collection_config = $4",
            )
            .bind(key.tenant.to_string())
            .bind(key.project.to_string())
            .bind(key.group.to_string())
            .bind(key.config.to_string())
            .execute(&mut *tx)
            .await?;
            if deleted.rows_affected() == 0 {
                return Err(StoreError::NotFound(path.clone()));
            }
            bump_generation(&mut tx, key.tenant).await?;
            self.audit_success(&mut tx, ctx, Some(key.tenant), "binding.delete", &path)
                .await?;
            commit(tx).await
        })
        .await?;
        self.publish_generation(key.tenant).await;
        Ok(())
    }

    /// The bindings of one group (by config name) or of one config (by group name).
    pub(crate) async fn bindings_of(
        &self,
        ctx: &Ctx,
        side: BindingSide,
        key: &[&str],
        page: &PageRequest,
    ) -> StoreResult<Listed<CollectionConfigBinding>> {
        let (table, fixed, ordered) = match side {
            BindingSide::Group => (&MACHINE_GROUPS, "machine_group", "collection_config"),
            BindingSide::Config => (&COLLECTION_CONFIGS, "collection_config", "machine_group"),
        };
        let path = table.resource_path(key);
        self.authorize(ctx, Some(key[0]), Access::Read, "binding.list", &path)
            .await?;
        let mut conn = self.reader().await?;
        if !row_exists(&mut conn, self.backend, table, key, false).await? {
            return Err(StoreError::NotFound(path));
        }
        let rows = sqlx::query(dynamic(format!(
            "SELECT {COLUMNS} FROM collection_config_bindings WHERE tenant = $1 AND project = $2 \
             AND {fixed} = $3 AND {ordered} > $4 ORDER BY {ordered} LIMIT $5"
        )))
        .bind(key[0].to_string())
        .bind(key[1].to_string())
        .bind(key[2].to_string())
        .bind(page.after.clone().unwrap_or_default())
        .bind(i64::from(page.size) + 1)
        .fetch_all(&mut *conn)
        .await?;
        let bindings = rows.iter().map(from_row).collect::<StoreResult<Vec<_>>>()?;
        paginate(bindings, page.size, move |binding| match side {
            BindingSide::Group => binding.collection_config.clone(),
            BindingSide::Config => binding.machine_group.clone(),
        })
    }
}
