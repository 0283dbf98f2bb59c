//! Logstores and the shards created with them.

use logplane_model::authz::Access;
use logplane_model::{
    KeyRange, Logstore, LogstoreSpec, Quota, ResourceMeta, Shard, ShardStatus, Timestamp,
    ValidationErrors,
};

use super::projects::PROJECTS;
use super::quotas::{check_count, count, project_shards};
use super::resource::{Children, Kind, Table, bind_key};
use super::shard_listing::read_shards;
use super::{Conn, SqlStore};
use crate::context::Ctx;
use crate::error::{StoreError, StoreResult};

pub(crate) const LOGSTORES: Table = Table {
    sql_name: "logstores",
    kind: "logstore",
    key_columns: &["tenant", "project", "name"],
    path_segments: &["tenants", "projects", "logstores"],
};

pub(crate) struct LogstoreKind;

impl Kind for LogstoreKind {
    type Spec = LogstoreSpec;
    type Resource = Logstore;
    type Derived = ();

    const TABLE: Table = LOGSTORES;
    const PARENT: Option<Table> = Some(PROJECTS);
    // Shards go with their logstore (ON DELETE CASCADE); collection configs that send to it keep
    // it, so their agents never ship to a logstore that is gone.
    const CHILDREN: &'static [Children] = &[Children {
        sql_name: "collection_configs",
        noun: "collection configs sending to it",
        parent_columns: &["tenant", "project", "destination_logstore"],
    }];
    const WRITE_ACCESS: Access = Access::Write;

    fn validate(spec: &LogstoreSpec) -> Result<(), ValidationErrors> {
        spec.validate()
    }

    fn build(meta: ResourceMeta, spec: LogstoreSpec, _derived: ()) -> Logstore {
        Logstore::from_parts(meta, spec)
    }

    fn check_update(spec: &LogstoreSpec, stored: &LogstoreSpec) -> Result<(), ValidationErrors> {
        spec.check_update(stored)
    }

    const COUNTED: bool = true;

    async fn check_quota(
        conn: &mut Conn,
        key: &[&str],
        spec: &LogstoreSpec,
        quota: &Quota,
    ) -> StoreResult<()> {
        let project = &key[..2];
        let logstores = count(conn, "logstores", "tenant = $1 AND project = $2", project).await?;
        check_count(
            "max_logstores_per_project",
            quota.max_logstores_per_project,
            logstores,
            1,
        )?;
        let shards = project_shards(conn, project[0], project[1]).await?;
        check_count(
            "max_shards_per_project",
            quota.max_shards_per_project,
            shards,
            spec.shard_count,
        )
    }

    /// A new `shard_count` reshards: the widest ranges are split or the narrowest adjacent pairs
    /// merged (the scheduler's plan), within the logstore's and the project's shard limits.
    async fn after_update(
        store: &SqlStore,
        conn: &mut Conn,
        key: &[&str],
        spec: &LogstoreSpec,
        stored: &LogstoreSpec,
        now: Timestamp,
    ) -> StoreResult<()> {
        if spec.shard_count == stored.shard_count {
            return Ok(());
        }
        store.reshard_to(conn, key, spec.shard_count, now).await
    }

    /// A new logstore starts with `shard_count` read-write shards splitting the key space evenly.
    async fn after_write(
        conn: &mut Conn,
        key: &[&str],
        spec: &LogstoreSpec,
        stored: Option<&()>,
        now: Timestamp,
    ) -> StoreResult<()> {
        if stored.is_some() {
            return Ok(());
        }
        let count = u32::try_from(spec.shard_count).map_err(StoreError::internal)?;
        for (id, range) in KeyRange::split_evenly(count).into_iter().enumerate() {
            bind_key(
                sqlx::query(
                    "INSERT INTO shards (tenant, project, logstore, shard_id, inclusive_begin_key, \
                     exclusive_end_key, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                ),
                key,
            )
            .bind(id as i64)
            .bind(range.begin_hex())
            .bind(range.end_hex())
            .bind(ShardStatus::Readwrite.as_str())
            .bind(now.unix_micros())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

impl SqlStore {
    pub(crate) async fn shards_of(&self, ctx: &Ctx, key: &[&str]) -> StoreResult<Vec<Shard>> {
        // Reading the logstore first authorizes the caller and answers 404 for a missing one.
        self.get_resource::<LogstoreKind>(ctx, key).await?;
        let mut conn = self.reader().await?;
        read_shards(&mut conn, key).await
    }
}
