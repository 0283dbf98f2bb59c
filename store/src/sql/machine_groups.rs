//! Machine groups: named selectors over a tenant's agents, inside a project. A change can move
//! agents in or out, so every write advances the tenant's distribution generation.

use logplane_model::authz::Access;
use logplane_model::{
    MachineGroup, MachineGroupSpec, Quota, ResourceMeta, Timestamp, ValidationErrors,
};

use super::generations::bump_generation;
use super::projects::PROJECTS;
use super::quotas::{check_count, count};
use super::resource::{Children, Kind, Table};
use super::{Conn, SqlStore};
use crate::error::StoreResult;

pub(crate) const MACHINE_GROUPS: Table = Table {
    sql_name: "machine_groups",
    kind: "machine_group",
    key_columns: &["tenant", "project", "name"],
    path_segments: &["tenants", "projects", "machine-groups"],
};

pub(crate) struct MachineGroupKind;

impl Kind for MachineGroupKind {
    type Spec = MachineGroupSpec;
    type Resource = MachineGroup;
    type Derived = ();

    const TABLE: Table = MACHINE_GROUPS;
    const PARENT: Option<Table> = Some(PROJECTS);
    const CHILDREN: &'static [Children] = &[Children {
        sql_name: "collection_config_bindings",
        noun: "collection configs bound to it",
        parent_columns: &["tenant", "project", "machine_group"],
    }];
    const WRITE_ACCESS: Access = Access::Write;

    fn validate(spec: &MachineGroupSpec) -> Result<(), ValidationErrors> {
        spec.validate()
    }

    fn build(meta: ResourceMeta, spec: MachineGroupSpec, _derived: ()) -> MachineGroup {
        MachineGroup::from_parts(meta, spec)
    }

    const COUNTED: bool = true;

    async fn check_quota(
        conn: &mut Conn,
        key: &[&str],
        _spec: &MachineGroupSpec,
        quota: &Quota,
    ) -> StoreResult<()> {
        let groups = count(
            conn,
            "machine_groups",
            "tenant = $1 AND project = $2",
            &key[..2],
        )
        .await?;
        check_count(
            "max_machine_groups_per_project",
            quota.max_machine_groups_per_project,
            groups,
            1,
        )
    }

    async fn after_write(
        conn: &mut Conn,
        key: &[&str],
        _spec: &MachineGroupSpec,
        _stored: Option<&()>,
        _now: Timestamp,
    ) -> StoreResult<()> {
        bump_generation(conn, key[0]).await?;
        Ok(())
    }

    async fn before_delete(conn: &mut Conn, key: &[&str]) -> StoreResult<()> {
        bump_generation(conn, key[0]).await?;
        Ok(())
    }

    async fn after_commit(store: &SqlStore, key: &[&str]) {
        store.publish_generation(key[0]).await;
    }
}
