//! `/v1/tenants/{tenant}/quota` and `/v1/tenants/{tenant}/usage`.

use logplane_model::quota::TenantUsage;
use logplane_model::{QuotaSpec, TenantQuota};

use crate::Result;
use crate::client::Client;
use crate::request::{Precondition, PutResponse};

impl Client {
    /// The tenant's quota: effective values and the fields set for it (`quota_get`).
    pub async fn get_quota(&self, tenant: &str) -> Result<TenantQuota> {
        self.get_json(self.endpoint(&["v1", "tenants", tenant, "quota"])?)
            .await
    }

    /// Sets the fields of the tenant's quota that differ from the server's defaults
    /// (`quota_put`, platform admins). The quota always exists, so the answer is never `created`.
    pub async fn put_quota(
        &self,
        tenant: &str,
        spec: &QuotaSpec,
        precondition: Precondition,
    ) -> Result<PutResponse<TenantQuota>> {
        let url = self.endpoint(&["v1", "tenants", tenant, "quota"])?;
        self.put_json(url, spec, &precondition).await
    }

    /// Every count quota against its limit, and the reported rates (`usage_get`).
    pub async fn get_usage(&self, tenant: &str) -> Result<TenantUsage> {
        self.get_json(self.endpoint(&["v1", "tenants", tenant, "usage"])?)
            .await
    }
}
