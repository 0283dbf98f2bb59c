//! API keys: `/v1/api-keys` for the platform, `/v1/tenants/{tenant}/api-keys` for a tenant. The
//! secret is in the creation answer only; deleting a key revokes it and every token minted
//! from it.

use logplane_model::{ApiKey, ApiKeyCreated, ApiKeyRequest, Page};
use reqwest::Url;

use crate::Result;
use crate::client::Client;
use crate::request::{PageOptions, Precondition};

impl Client {
    fn platform_keys_url(&self) -> Result<Url> {
        self.endpoint(&["v1", "api-keys"])
    }

    fn tenant_keys_url(&self, tenant: &str) -> Result<Url> {
        self.endpoint(&["v1", "tenants", tenant, "api-keys"])
    }

    /// Creates a platform key (`platform_api_key_create`); keep the returned secret, it is
    /// never shown again.
    pub async fn create_platform_api_key(&self, request: &ApiKeyRequest) -> Result<ApiKeyCreated> {
        self.post_json(self.platform_keys_url()?, request).await
    }

    /// `platform_api_key_get`, by the id the creation returned.
    pub async fn get_platform_api_key(&self, key_id: &str) -> Result<ApiKey> {
        self.get_json(self.endpoint(&["v1", "api-keys", key_id])?)
            .await
    }

    /// Revokes a platform key (`platform_api_key_delete`).
    pub async fn delete_platform_api_key(&self, key_id: &str) -> Result<()> {
        let url = self.endpoint(&["v1", "api-keys", key_id])?;
        self.delete(url, &Precondition::Unconditional).await
    }

    /// One page of platform keys, by name, without secrets (`platform_api_key_list`).
    pub async fn list_platform_api_keys(&self, page: &PageOptions) -> Result<Page<ApiKey>> {
        self.get_page(self.platform_keys_url()?, page).await
    }

    /// Every platform key, following `next_page_token` to the end.
    pub async fn list_all_platform_api_keys(&self) -> Result<Vec<ApiKey>> {
        self.get_all_pages(self.platform_keys_url()?).await
    }

    /// Creates a tenant key (`api_key_create`); keep the returned secret, it is never shown
    /// again.
    pub async fn create_tenant_api_key(
        &self,
        tenant: &str,
        request: &ApiKeyRequest,
    ) -> Result<ApiKeyCreated> {
        self.post_json(self.tenant_keys_url(tenant)?, request).await
    }

    /// `api_key_get`, by the id the creation returned.
    pub async fn get_tenant_api_key(&self, tenant: &str, key_id: &str) -> Result<ApiKey> {
        let url = self.endpoint(&["v1", "tenants", tenant, "api-keys", key_id])?;
        self.get_json(url).await
    }

    /// Revokes a tenant key (`api_key_delete`).
    pub async fn delete_tenant_api_key(&self, tenant: &str, key_id: &str) -> Result<()> {
        let url = self.endpoint(&["v1", "tenants", tenant, "api-keys", key_id])?;
        self.delete(url, &Precondition::Unconditional).await
    }

    /// One page of a tenant's keys, by name, without secrets (`api_key_list`).
    pub async fn list_tenant_api_keys(
        &self,
        tenant: &str,
        page: &PageOptions,
    ) -> Result<Page<ApiKey>> {
        self.get_page(self.tenant_keys_url(tenant)?, page).await
    }

    /// Every key of a tenant, following `next_page_token` to the end.
    pub async fn list_all_tenant_api_keys(&self, tenant: &str) -> Result<Vec<ApiKey>> {
        self.get_all_pages(self.tenant_keys_url(tenant)?).await
    }
}
