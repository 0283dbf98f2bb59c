//! `/v1/tenants/{tenant}/projects`.

use logplane_model::{Page, Project, ProjectSpec};

use crate::Result;
use crate::client::Client;
use crate::request::{PageOptions, Precondition, PutResponse};

impl Client {
    /// Creates or replaces a project (`project_put`).
    pub async fn put_project(
        &self,
        tenant: &str,
        project: &str,
        spec: &ProjectSpec,
        precondition: Precondition,
    ) -> Result<PutResponse<Project>> {
        let url = self.endpoint(&["v1", "tenants", tenant, "projects", project])?;
        self.put_json(url, spec, &precondition).await
    }

    /// `project_get`.
    pub async fn get_project(&self, tenant: &str, project: &str) -> Result<Project> {
        let url = self.endpoint(&["v1", "tenants", tenant, "projects", project])?;
        self.get_json(url).await
    }

    /// Deletes a project (`project_delete`); its logstores must be gone first (409 otherwise).
    pub async fn delete_project(
        &self,
        tenant: &str,
        project: &str,
        if_match: Option<&str>,
    ) -> Result<()> {
        let url = self.endpoint(&["v1", "tenants", tenant, "projects", project])?;
        self.delete(url, &Precondition::for_delete(if_match)).await
    }

    /// One page of a tenant's projects, by name (`project_list`).
    pub async fn list_projects(&self, tenant: &str, page: &PageOptions) -> Result<Page<Project>> {
        let url = self.endpoint(&["v1", "tenants", tenant, "projects"])?;
        self.get_page(url, page).await
    }

    /// Every project of a tenant, following `next_page_token` to the end.
    pub async fn list_all_projects(&self, tenant: &str) -> Result<Vec<Project>> {
        let url = self.endpoint(&["v1", "tenants", tenant, "projects"])?;
        self.get_all_pages(url).await
    }
}
