//! Projects: a tenant's grouping of logstores, machine groups and collection configs.

use logplane_model::authz::Access;
use logplane_model::{Project, ProjectSpec, ResourceMeta, ValidationErrors};

use super::logstores::LOGSTORES;
use super::resource::{Kind, Table};
use super::tenants::TENANTS;

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
}
