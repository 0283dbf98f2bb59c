//! Collection configs and their revisions. Every change of the spec makes an immutable revision
//! (number and content hash) in the same transaction, and restarts the rollout at 0% over the
//! last fully rolled-out revision; a rollback makes a new revision with an old one's content and
//! rolls it out to everyone at once.

use logplane_collect::{check_supported, config_content_hash};
use logplane_model::authz::Access;
use logplane_model::page::PageRequest;
use logplane_model::{
    AgentSelector, AgentType, CollectionConfig, CollectionConfigRevision, CollectionConfigSpec,
    MachineGroupSpec, Quota, ResourceMeta, Timestamp, ValidationErrors,
};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::agents::agent_types_present;
use super::generations::bump_generation;
use super::projects::PROJECTS;
use super::quotas::{check_count, count};
use super::resource::{
    Children, Kind, Table, bind_key, new_etag, paginate, parse_spec, render_spec, select_row,
    update_row,
};
use super::{Backend, Conn, SqlStore, commit, dynamic, retrying};
use crate::context::{Ctx, Listed};
use crate::error::{StoreError, StoreResult};

pub(crate) const COLLECTION_CONFIGS: Table = Table {
    sql_name: "collection_configs",
    kind: "collection_config",
    key_columns: &["tenant", "project", "name"],
    path_segments: &["tenants", "projects", "collection-configs"],
};

/// Revisions kept per config besides the two a rollout uses; older ones are deleted, so a config
/// changed every minute for years does not grow without bound.
pub(crate) const KEPT_REVISIONS: i64 = 100;

/// The current revision of a config, stored beside its spec.
#[derive(Debug, Clone, Default)]
pub(crate) struct RevisionInfo {
    pub revision: i64,
    pub content_hash: String,
}

pub(crate) struct CollectionConfigKind;

impl Kind for CollectionConfigKind {
    type Spec = CollectionConfigSpec;
    type Resource = CollectionConfig;
    type Derived = RevisionInfo;

    const TABLE: Table = COLLECTION_CONFIGS;
    const PARENT: Option<Table> = Some(PROJECTS);
    const CHILDREN: &'static [Children] = &[Children {
        sql_name: "collection_config_bindings",
        noun: "machine groups bound to it",
        parent_columns: &["tenant", "project", "collection_config"],
    }];
    const WRITE_ACCESS: Access = Access::Write;
    const DERIVED_COLUMNS: &'static str = ", revision, content_hash";

    fn validate(spec: &CollectionConfigSpec) -> Result<(), ValidationErrors> {
        spec.validate()
    }

    fn build(
        meta: ResourceMeta,
        spec: CollectionConfigSpec,
        derived: RevisionInfo,
    ) -> CollectionConfig {
        CollectionConfig::from_parts(meta, derived.revision, derived.content_hash, spec)
    }

    fn read_derived(row: &AnyRow) -> StoreResult<RevisionInfo> {
        Ok(RevisionInfo {
            revision: row.try_get("revision")?,
            content_hash: row.try_get("content_hash")?,
        })
    }

    const COUNTED: bool = true;

    async fn check_quota(
        conn: &mut Conn,
        key: &[&str],
        _spec: &CollectionConfigSpec,
        quota: &Quota,
    ) -> StoreResult<()> {
        let configs = count(
            conn,
            "collection_configs",
            "tenant = $1 AND project = $2",
            &key[..2],
        )
        .await?;
        check_count(
            "max_collection_configs_per_project",
            quota.max_collection_configs_per_project,
            configs,
            1,
        )
    }

    async fn check_in_tx(
        conn: &mut Conn,
        backend: Backend,
        key: &[&str],
        spec: &CollectionConfigSpec,
    ) -> StoreResult<()> {
        check_destination(conn, backend, key, spec).await?;
        check_bound_groups_can_run(conn, key, spec).await
    }

    async fn after_write(
        conn: &mut Conn,
        key: &[&str],
        spec: &CollectionConfigSpec,
        stored: Option<&RevisionInfo>,
        now: Timestamp,
    ) -> StoreResult<RevisionInfo> {
        let revision = stored.map_or(0, |stored| stored.revision) + 1;
        let content_hash = config_content_hash(spec);
        write_revision(conn, key, spec, revision, &content_hash, now).await?;
        Ok(RevisionInfo {
            revision,
            content_hash,
        })
    }

    async fn before_delete(conn: &mut Conn, key: &[&str]) -> StoreResult<()> {
        bump_generation(conn, key[0]).await?;
        Ok(())
    }

    async fn after_commit(store: &SqlStore, key: &[&str]) {
        store.publish_generation(key[0]).await;
    }
}

/// Records `revision` and makes it the config's current one: the revision row, the derived
/// columns, and a rollout restarted at 0%. The previous revision of the new rollout is the old
/// current one if that reached every agent (100%, not paused); otherwise the rollout's previous
/// revision stays, so agents that only ran an unfinished revision go back to the last complete one.
async fn write_revision(
    conn: &mut Conn,
    key: &[&str],
    spec: &CollectionConfigSpec,
    revision: i64,
    content_hash: &str,
    now: Timestamp,
) -> StoreResult<()> {
    let rendered = render_spec::<CollectionConfigKind>(spec)?;
    bind_key(
        sqlx::query(
            "INSERT INTO collection_config_revisions (tenant, project, collection_config, revision, \
             content_hash, spec, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        ),
        key,
    )
    .bind(revision)
    .bind(content_hash.to_string())
    .bind(rendered)
    .bind(now.unix_micros())
    .execute(&mut *conn)
    .await?;
    // Every expression on the right reads the row as it was before this statement.
    bind_key(
        sqlx::query(
            "UPDATE collection_configs SET \
             previous_revision = CASE WHEN rollout_percent = 100 AND rollout_state = 'running' \
                 AND revision > 0 THEN revision ELSE previous_revision END, \
             revision = $4, content_hash = $5, destination_logstore = $6, rollout_percent = 0, \
             rollout_state = 'running', rollout_paused_reason = NULL, rollout_updated_at = $7 \
             WHERE tenant = $1 AND project = $2 AND name = $3",
        ),
        key,
    )
    .bind(revision)
    .bind(content_hash.to_string())
    .bind(spec.destination.logstore.clone())
    .bind(now.unix_micros())
    .execute(&mut *conn)
    .await?;
    bind_key(
        sqlx::query(
            "DELETE FROM collection_config_revisions WHERE tenant = $1 AND project = $2 \
             AND collection_config = $3 AND revision <= $4 AND revision NOT IN (\
                 SELECT previous_revision FROM collection_configs WHERE tenant = $1 \
                 AND project = $2 AND name = $3 AND previous_revision IS NOT NULL)",
        ),
        key,
    )
    .bind(revision - KEPT_REVISIONS)
    .execute(&mut *conn)
    .await?;
    bump_generation(conn, key[0]).await?;
    Ok(())
}

/// The destination must be a logstore of the same project; its row is locked so it cannot be
/// deleted before this transaction commits (the foreign key would refuse it anyway).
async fn check_destination(
    conn: &mut Conn,
    backend: Backend,
    key: &[&str],
    spec: &CollectionConfigSpec,
) -> StoreResult<()> {
    let logstore = &spec.destination.logstore;
    let sql = format!(
        "SELECT 1 FROM logstores WHERE tenant = $1 AND project = $2 AND name = $3{}",
        backend.for_update()
    );
    let found = sqlx::query(dynamic(sql))
        .bind(key[0].to_string())
        .bind(key[1].to_string())
        .bind(logstore.clone())
        .fetch_optional(&mut *conn)
        .await?;
    if found.is_none() {
        return Err(StoreError::Invalid(ValidationErrors::single(
            "destination.logstore",
            format!("project {} has no logstore {logstore:?}", key[1]),
        )));
    }
    Ok(())
}

/// A bound config must be expressible by every agent type known to be in its machine groups
/// (agents that join later and cannot run it are reported in the config's status instead).
async fn check_bound_groups_can_run(
    conn: &mut Conn,
    key: &[&str],
    spec: &CollectionConfigSpec,
) -> StoreResult<()> {
    let rows = bind_key(
        sqlx::query(
            "SELECT g.name, g.spec FROM collection_config_bindings b JOIN machine_groups g \
             ON g.tenant = b.tenant AND g.project = b.project AND g.name = b.machine_group \
             WHERE b.tenant = $1 AND b.project = $2 AND b.collection_config = $3 ORDER BY g.name",
        ),
        key,
    )
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut groups = Vec::with_capacity(rows.len());
    for row in &rows {
        let spec: MachineGroupSpec = serde_json::from_str(&row.try_get::<String, _>("spec")?)
            .map_err(StoreError::internal)?;
        groups.push((row.try_get::<String, _>("name")?, spec.selector));
    }
    check_agents_can_run(conn, key[0], &groups, spec).await
}

/// Refuses (422, naming each field) a spec that an agent type present in `groups` cannot express.
pub(crate) async fn check_agents_can_run(
    conn: &mut Conn,
    tenant: &str,
    groups: &[(String, AgentSelector)],
    spec: &CollectionConfigSpec,
) -> StoreResult<()> {
    let mut unsupported = Vec::new();
    for agent_type in AgentType::ALL {
        if let Err(error) = check_supported(agent_type, spec) {
            unsupported.push((agent_type, error));
        }
    }
    if unsupported.is_empty() {
        return Ok(());
    }
    let types: Vec<AgentType> = unsupported.iter().map(|(t, _)| *t).collect();
    let present = agent_types_present(conn, tenant, &types, groups).await?;
    let mut errors = ValidationErrors::new();
    for (agent_type, error) in &unsupported {
        let Some((_, group)) = present.iter().find(|(t, _)| t == agent_type) else {
            continue;
        };
        for problem in &error.problems {
            errors.add(
                problem.field.clone(),
                format!(
                    "{agent_type} agents are in machine group {group}, and {agent_type} cannot \
                     express {}: {}",
                    problem.feature, problem.reason
                ),
            );
        }
    }
    errors.into_result().map_err(StoreError::Invalid)
}

fn revision_from_row(row: &AnyRow) -> StoreResult<CollectionConfigRevision> {
    Ok(CollectionConfigRevision {
        revision: row.try_get("revision")?,
        content_hash: row.try_get("content_hash")?,
        spec: parse_spec::<CollectionConfigKind>(&row.try_get::<String, _>("spec")?)?,
        created_at: Timestamp::from_unix_micros(row.try_get("created_at")?),
    })
}

impl SqlStore {
    pub(crate) async fn config_revisions(
        &self,
        ctx: &Ctx,
        key: &[&str],
        page: &PageRequest,
    ) -> StoreResult<Listed<CollectionConfigRevision>> {
        // Reading the config authorizes the caller and answers 404 for a missing one.
        self.get_resource::<CollectionConfigKind>(ctx, key).await?;
        let before = match &page.after {
            Some(cursor) => cursor.parse::<i64>().map_err(|_| {
                ValidationErrors::single("page_token", "is not a token of this list")
            })?,
            None => i64::MAX,
        };
        let mut conn = self.reader().await?;
        let rows = bind_key(
            sqlx::query(
                "SELECT revision, content_hash, spec, created_at FROM collection_config_revisions \
                 WHERE tenant = $1 AND project = $2 AND collection_config = $3 AND revision < $4 \
                 ORDER BY revision DESC LIMIT $5",
            ),
            key,
        )
        .bind(before)
        .bind(i64::from(page.size) + 1)
        .fetch_all(&mut *conn)
        .await?;
        let revisions = rows
            .iter()
            .map(revision_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        paginate(revisions, page.size, |r| r.revision.to_string())
    }

    pub(crate) async fn rollback_config(
        &self,
        ctx: &Ctx,
        key: &[&str],
        revision: i64,
    ) -> StoreResult<CollectionConfig> {
        let path = COLLECTION_CONFIGS.resource_path(key);
        self.authorize(
            ctx,
            Some(key[0]),
            Access::Write,
            "collection_config.rollback",
            &path,
        )
        .await?;
        let config = retrying(|| self.rollback_once(ctx, key, revision, &path)).await?;
        self.publish_generation(key[0]).await;
        Ok(config)
    }

    async fn rollback_once(
        &self,
        ctx: &Ctx,
        key: &[&str],
        revision: i64,
        path: &str,
    ) -> StoreResult<CollectionConfig> {
        let mut tx = self.begin_write().await?;
        let Some(row) =
            select_row::<CollectionConfigKind>(&mut tx, self.backend, key, true).await?
        else {
            return Err(StoreError::NotFound(path.to_string()));
        };
        let old = bind_key(
            sqlx::query(
                "SELECT revision, content_hash, spec, created_at FROM collection_config_revisions \
                 WHERE tenant = $1 AND project = $2 AND collection_config = $3 AND revision = $4",
            ),
            key,
        )
        .bind(revision)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(old) = old else {
            return Err(StoreError::Invalid(ValidationErrors::single(
                "revision",
                format!(
                    "{path} has no revision {revision} (the newest {KEPT_REVISIONS} and those in \
                     use are kept)"
                ),
            )));
        };
        let old = revision_from_row(&old)?;
        if old.content_hash == row.derived.content_hash {
            return Err(StoreError::Conflict(format!(
                "revision {revision} has the current content of {path}; set its rollout to 100 \
                 instead"
            )));
        }
        // The rules may have grown stricter, and the logstore or the machine groups changed,
        // since the revision was written: it is checked as a new write would be.
        CollectionConfigKind::validate(&old.spec)?;
        CollectionConfigKind::check_in_tx(&mut tx, self.backend, key, &old.spec).await?;
        let now = Timestamp::now();
        let etag = new_etag();
        let rendered = render_spec::<CollectionConfigKind>(&old.spec)?;
        update_row(
            &mut tx,
            &COLLECTION_CONFIGS,
            key,
            &rendered,
            &etag,
            now,
            &row.etag,
        )
        .await?;
        let derived =
            CollectionConfigKind::after_write(&mut tx, key, &old.spec, Some(&row.derived), now)
                .await?;
        // A rollback is the way out of a bad revision: it reaches every agent at once.
        bind_key(
            sqlx::query(
                "UPDATE collection_configs SET rollout_percent = 100 \
                 WHERE tenant = $1 AND project = $2 AND name = $3",
            ),
            key,
        )
        .execute(&mut *tx)
        .await?;
        self.audit_success(
            &mut tx,
            ctx,
            Some(key[0]),
            "collection_config.rollback",
            path,
        )
        .await?;
        commit(tx).await?;
        let meta = ResourceMeta {
            updated_at: now,
            etag,
            ..row.meta()
        };
        Ok(CollectionConfigKind::build(meta, old.spec, derived))
    }
}
