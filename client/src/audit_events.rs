//! Audit events, newest first: every event for platform admins, a tenant's for its admins.

use logplane_model::{AuditEvent, Page};

use crate::Result;
use crate::client::Client;
use crate::request::PageOptions;

impl Client {
    /// One page of every audit event, newest first (`platform_audit_event_list`).
    pub async fn list_platform_audit_events(&self, page: &PageOptions) -> Result<Page<AuditEvent>> {
        self.get_page(self.endpoint(&["v1", "audit-events"])?, page)
            .await
    }

    /// Every audit event, newest first. The log only grows: prefer paging on a busy server.
    pub async fn list_all_platform_audit_events(&self) -> Result<Vec<AuditEvent>> {
        self.get_all_pages(self.endpoint(&["v1", "audit-events"])?)
            .await
    }

    /// One page of a tenant's audit events, newest first (`audit_event_list`).
    pub async fn list_tenant_audit_events(
        &self,
        tenant: &str,
        page: &PageOptions,
    ) -> Result<Page<AuditEvent>> {
        let url = self.endpoint(&["v1", "tenants", tenant, "audit-events"])?;
        self.get_page(url, page).await
    }

    /// Every audit event of a tenant, newest first.
    pub async fn list_all_tenant_audit_events(&self, tenant: &str) -> Result<Vec<AuditEvent>> {
        let url = self.endpoint(&["v1", "tenants", tenant, "audit-events"])?;
        self.get_all_pages(url).await
    }
}
