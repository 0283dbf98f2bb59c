//! `/v1/tenants`: platform admins create and delete tenants; a tenant's own credentials read it.

use logplane_model::{Page, Tenant, TenantSpec};

use crate::Result;
use crate::client::Client;
use crate::request::{PageOptions, Precondition, PutResponse};

impl Client {
    /// Creates or replaces a tenant (`tenant_put`).
    pub async fn put_tenant(
        &self,
        tenant: &str,
        spec: &TenantSpec,
        precondition: Precondition,
    ) -> Result<PutResponse<Tenant>> {
        let url = self.endpoint(&["v1", "tenants", tenant])?;
        self.put_json(url, spec, &precondition).await
    }

    /// `tenant_get`.
    pub async fn get_tenant(&self, tenant: &str) -> Result<Tenant> {
        self.get_json(self.endpoint(&["v1", "tenants", tenant])?)
            .await
    }

    /// Deletes a tenant (`tenant_delete`); with `if_match`, only that version of it.
    pub async fn delete_tenant(&self, tenant: &str, if_match: Option<&str>) -> Result<()> {
        let url = self.endpoint(&["v1", "tenants", tenant])?;
        self.delete(url, &Precondition::for_delete(if_match)).await
    }

    /// One page of the tenants the caller may see, by name (`tenant_list`).
    pub async fn list_tenants(&self, page: &PageOptions) -> Result<Page<Tenant>> {
        self.get_page(self.endpoint(&["v1", "tenants"])?, page)
            .await
    }

    /// Every tenant the caller may see, following `next_page_token` to the end.
    pub async fn list_all_tenants(&self) -> Result<Vec<Tenant>> {
        self.get_all_pages(self.endpoint(&["v1", "tenants"])?).await
    }
}
