//! Projects: a tenant's grouping of logstores, machine groups and collection configs.

use logplane_model::authz::Access;
use logplane_model::{Project, ProjectSpec, Quota, ResourceMeta, ValidationErrors};

use super::Conn;
use super::logstores::LOGSTORES;
use super::quotas::{check_count, count};
use super::resource::{Kind, Table};
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

    const TABLE: Table = PROJECTS;
    const PARENT: Option<Table> = Some(TENANTS);
    const CHILD: Option<Table> = Some(LOGSTORES);
    const WRITE_ACCESS: Access = Access::Write;

    fn validate(spec: &ProjectSpec) -> Result<(), ValidationErrors> {
        spec.validate()
    }

    fn build(meta: ResourceMeta, spec: ProjectSpec) -> Project {
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
