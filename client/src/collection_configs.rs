//! `/v1/tenants/{tenant}/projects/{project}/collection-configs`: configs, revisions, rollback,
//! preview, rollout and status.

use logplane_model::collection_config::{PreviewRequest, PreviewResponse};
use logplane_model::{
    CollectionConfig, CollectionConfigBinding, CollectionConfigRevision, CollectionConfigRollout,
    CollectionConfigSpec, CollectionConfigStatus, Page, RollbackRequest, RolloutRequest,
};
use reqwest::{Method, Url};

use crate::Result;
use crate::client::Client;
use crate::request::{PageOptions, Precondition, PutResponse, read_json};

impl Client {
    fn collection_configs_url(&self, tenant: &str, project: &str) -> Result<Url> {
        self.endpoint(&[
            "v1",
            "tenants",
            tenant,
            "projects",
            project,
            "collection-configs",
        ])
    }

    /// The config's URL, or one of its parts (`revisions`, `rollout`, …) below it.
    fn collection_config_url(
        &self,
        tenant: &str,
        project: &str,
        config: &str,
        parts: &[&str],
    ) -> Result<Url> {
        let mut segments = vec![
            "v1",
            "tenants",
            tenant,
            "projects",
            project,
            "collection-configs",
            config,
        ];
        segments.extend_from_slice(parts);
        self.endpoint(&segments)
    }

    /// Creates or replaces a collection config (`collection_config_put`). A change makes a new
    /// revision whose rollout starts at 0%.
    pub async fn put_collection_config(
        &self,
        tenant: &str,
        project: &str,
        config: &str,
        spec: &CollectionConfigSpec,
        precondition: Precondition,
    ) -> Result<PutResponse<CollectionConfig>> {
        let url = self.collection_config_url(tenant, project, config, &[])?;
        self.put_json(url, spec, &precondition).await
    }

    /// `collection_config_get`: the config at its current revision.
    pub async fn get_collection_config(
        &self,
        tenant: &str,
        project: &str,
        config: &str,
    ) -> Result<CollectionConfig> {
        self.get_json(self.collection_config_url(tenant, project, config, &[])?)
            .await
    }

    /// Deletes a config and its revisions (`collection_config_delete`); 409 while bound.
    pub async fn delete_collection_config(
        &self,
        tenant: &str,
        project: &str,
        config: &str,
        if_match: Option<&str>,
    ) -> Result<()> {
        let url = self.collection_config_url(tenant, project, config, &[])?;
        self.delete(url, &Precondition::for_delete(if_match)).await
    }

    /// One page of a project's configs, by name (`collection_config_list`).
    pub async fn list_collection_configs(
        &self,
        tenant: &str,
        project: &str,
        page: &PageOptions,
    ) -> Result<Page<CollectionConfig>> {
        self.get_page(self.collection_configs_url(tenant, project)?, page)
            .await
    }

    /// Every config of a project, following `next_page_token` to the end.
    pub async fn list_all_collection_configs(
        &self,
        tenant: &str,
        project: &str,
    ) -> Result<Vec<CollectionConfig>> {
        self.get_all_pages(self.collection_configs_url(tenant, project)?)
            .await
    }

    /// One page of a config's revisions, newest first (`collection_config_revision_list`).
    pub async fn list_collection_config_revisions(
        &self,
        tenant: &str,
        project: &str,
        config: &str,
        page: &PageOptions,
    ) -> Result<Page<CollectionConfigRevision>> {
        let url = self.collection_config_url(tenant, project, config, &["revisions"])?;
        self.get_page(url, page).await
    }

    /// Makes a new revision with `revision`'s content, rolled out to every agent at once
    /// (`collection_config_rollback`).
    pub async fn rollback_collection_config(
        &self,
        tenant: &str,
        project: &str,
        config: &str,
        revision: i64,
    ) -> Result<CollectionConfig> {
        let url = self.collection_config_url(tenant, project, config, &["rollback"])?;
        self.post_json(url, &RollbackRequest { revision }).await
    }

    /// What the config's current revision makes of sample lines (`collection_config_preview`).
    pub async fn preview_collection_config(
        &self,
        tenant: &str,
        project: &str,
        config: &str,
        request: &PreviewRequest,
    ) -> Result<PreviewResponse> {
        let url = self.collection_config_url(tenant, project, config, &["preview"])?;
        self.post_json(url, request).await
    }

    /// Sets the share of agents that run the current revision
    /// (`collection_config_rollout_put`); 409 while the rollout is paused.
    pub async fn put_collection_config_rollout(
        &self,
        tenant: &str,
        project: &str,
        config: &str,
        percent: i64,
    ) -> Result<PutResponse<CollectionConfigRollout>> {
        let url = self.collection_config_url(tenant, project, config, &["rollout"])?;
        self.put_json(
            url,
            &RolloutRequest { percent },
            &Precondition::Unconditional,
        )
        .await
    }

    /// Resumes a paused rollout (`collection_config_rollout_resume`).
    pub async fn resume_collection_config_rollout(
        &self,
        tenant: &str,
        project: &str,
        config: &str,
    ) -> Result<CollectionConfigRollout> {
        let url = self.collection_config_url(tenant, project, config, &["rollout", "resume"])?;
        let response = self.execute(self.request(Method::POST, url)).await?;
        read_json(response).await
    }

    /// The rollout and how agents fare with each revision (`collection_config_status_get`).
    pub async fn get_collection_config_status(
        &self,
        tenant: &str,
        project: &str,
        config: &str,
    ) -> Result<CollectionConfigStatus> {
        self.get_json(self.collection_config_url(tenant, project, config, &["status"])?)
            .await
    }

    /// One page of the machine groups a config is bound to, by group name
    /// (`config_machine_group_list`).
    pub async fn list_config_machine_groups(
        &self,
        tenant: &str,
        project: &str,
        config: &str,
        page: &PageOptions,
    ) -> Result<Page<CollectionConfigBinding>> {
        let url = self.collection_config_url(tenant, project, config, &["machine-groups"])?;
        self.get_page(url, page).await
    }
}
