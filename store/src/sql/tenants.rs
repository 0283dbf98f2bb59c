//! Tenants: top-level resources that only platform admins create, replace and delete.

use logplane_model::authz::Access;
use logplane_model::{ResourceMeta, Tenant, TenantSpec, ValidationErrors};

use super::resource::{Children, Kind, Table};

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
    type Derived = ();

    const TABLE: Table = TENANTS;
    const PARENT: Option<Table> = None;
    const CHILDREN: &'static [Children] = &[Children {
        sql_name: "projects",
        noun: "projects",
        parent_columns: &["tenant"],
    }];
    const WRITE_ACCESS: Access = Access::Platform;

    fn validate(spec: &TenantSpec) -> Result<(), ValidationErrors> {
        spec.validate()
    }

    fn build(meta: ResourceMeta, spec: TenantSpec, _derived: ()) -> Tenant {
        Tenant::from_parts(meta, spec)
    }
}
