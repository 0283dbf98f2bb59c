//! `/v1/tenants/{tenant}/projects/{project}/logstores`.

use logplane_model::{Logstore, LogstoreSpec, Page};
use reqwest::Url;

use crate::Result;
use crate::client::Client;
use crate::request::{PageOptions, Precondition, PutResponse};

impl Client {
    fn logstores_url(&self, tenant: &str, project: &str) -> Result<Url> {
        self.endpoint(&["v1", "tenants", tenant, "projects", project, "logstores"])
    }

    fn logstore_url(&self, tenant: &str, project: &str, logstore: &str) -> Result<Url> {
        self.endpoint(&[
            "v1",
            "tenants",
            tenant,
            "projects",
            project,
            "logstores",
            logstore,
        ])
    }

    /// Creates or replaces a logstore (`logstore_put`). Creating one creates its shards;
    /// `mode`, `telemetry` and `shard_count` cannot change afterwards (422).
    pub async fn put_logstore(
        &self,
        tenant: &str,
        project: &str,
        logstore: &str,
        spec: &LogstoreSpec,
        precondition: Precondition,
    ) -> Result<PutResponse<Logstore>> {
        let url = self.logstore_url(tenant, project, logstore)?;
        self.put_json(url, spec, &precondition).await
    }

    /// `logstore_get`.
    pub async fn get_logstore(
        &self,
        tenant: &str,
        project: &str,
        logstore: &str,
    ) -> Result<Logstore> {
        self.get_json(self.logstore_url(tenant, project, logstore)?)
            .await
    }

    /// Deletes a logstore and its shards (`logstore_delete`).
    pub async fn delete_logstore(
        &self,
        tenant: &str,
        project: &str,
        logstore: &str,
        if_match: Option<&str>,
    ) -> Result<()> {
        let url = self.logstore_url(tenant, project, logstore)?;
        self.delete(url, &Precondition::for_delete(if_match)).await
    }

    /// One page of a project's logstores, by name (`logstore_list`).
    pub async fn list_logstores(
        &self,
        tenant: &str,
        project: &str,
        page: &PageOptions,
    ) -> Result<Page<Logstore>> {
        self.get_page(self.logstores_url(tenant, project)?, page)
            .await
    }

    /// Every logstore of a project, following `next_page_token` to the end.
    pub async fn list_all_logstores(&self, tenant: &str, project: &str) -> Result<Vec<Logstore>> {
        self.get_all_pages(self.logstores_url(tenant, project)?)
            .await
    }
}
