//! Tenants: top-level resources that only platform admins create, replace and delete.

use logplane_model::authz::Access;
use logplane_model::{ResourceMeta, Tenant, TenantSpec, ValidationErrors};

use super::projects::PROJECTS;
use super::resource::{Kind, Table};

pub(crate) const TENANTS: Table = Table {
    sql_name: "tenants",
    kind: "tenant",
    key_columns: &["name"],
    path_segments: &["tenants"],
};

pub(crate) struct TenantKind;

impl Kind for TenantKind {
    type Spec = TenantSpec;
    type Resource = Tenant;

    const TABLE: Table = TENANTS;
    const PARENT: Option<Table> = None;
    const CHILD: Option<Table> = Some(PROJECTS);
    const WRITE_ACCESS: Access = Access::Platform;

    fn validate(spec: &TenantSpec) -> Result<(), ValidationErrors> {
        spec.validate()
    }

    fn build(meta: ResourceMeta, spec: TenantSpec) -> Tenant {
        Tenant::from_parts(meta, spec)
    }
}
