//! Projects: a tenant's grouping of logstores, machine groups and collection configs. A project
//! with any of them cannot be deleted.

use logplane_model::authz::Access;
use logplane_model::{Project, ProjectSpec, Quota, ResourceMeta, ValidationErrors};

use super::Conn;
use super::quotas::{check_count, count};
use super::resource::{Children, Kind, Table};
use super::tenants::TENANTS;
use crate::error::StoreResult;

pub(crate) const PROJECTS: Table = Table {
    sql_name: "projects",
    kind: "project",
    key_columns: &["tenant", "name"],
    path_segments: &["tenants", "projects"],
};

pub(crate) struct ProjectKind;

impl Kind for ProjectKind {
    type Spec = ProjectSpec;
    type Resource = Project;
    type Derived = ();

    const TABLE: Table = PROJECTS;
    const PARENT: Option<Table> = Some(TENANTS);
    const CHILDREN: &'static [Children] = &[
        Children {
            sql_name: "logstores",
            noun: "logstores",
            parent_columns: &["tenant", "project"],
        },
        Children {
            sql_name: "machine_groups",
            noun: "machine groups",
            parent_columns: &["tenant", "project"],
        },
        Children {
            sql_name: "collection_configs",
            noun: "collection configs",
            parent_columns: &["tenant", "project"],
        },
    ];
    const WRITE_ACCESS: Access = Access::Write;

    fn validate(spec: &ProjectSpec) -> Result<(), ValidationErrors> {
        spec.validate()
    }

    fn build(meta: ResourceMeta, spec: ProjectSpec, _derived: ()) -> Project {
        Project::from_parts(meta, spec)
    }

    const COUNTED: bool = true;

    async fn check_quota(
        conn: &mut Conn,
        key: &[&str],
        _spec: &ProjectSpec,
        quota: &Quota,
    ) -> StoreResult<()> {
        let projects = count(conn, "projects", "tenant = $1", &key[..1]).await?;
        check_count("max_projects", quota.max_projects, projects, 1)
    }
}
