//! `/v1/tenants/{tenant}/projects/{project}/machine-groups`, the agents each selects, and
//! bindings to collection configs.

use logplane_model::{Agent, CollectionConfigBinding, MachineGroup, MachineGroupSpec, Page};
use reqwest::{Method, Url};

use crate::Result;
use crate::client::Client;
use crate::request::{PageOptions, Precondition, PutResponse, read_put_response};

impl Client {
    fn machine_groups_url(&self, tenant: &str, project: &str) -> Result<Url> {
        self.endpoint(&[
            "v1",
            "tenants",
            tenant,
            "projects",
            project,
            "machine-groups",
        ])
    }

    fn machine_group_url(&self, tenant: &str, project: &str, group: &str) -> Result<Url> {
        self.endpoint(&[
            "v1",
            "tenants",
            tenant,
            "projects",
            project,
            "machine-groups",
            group,
        ])
    }

    fn machine_group_part_url(
        &self,
        tenant: &str,
        project: &str,
        group: &str,
        part: &str,
    ) -> Result<Url> {
        self.endpoint(&[
            "v1",
            "tenants",
            tenant,
            "projects",
            project,
            "machine-groups",
            group,
            part,
        ])
    }

    /// Creates or replaces a machine group (`machine_group_put`).
    pub async fn put_machine_group(
        &self,
        tenant: &str,
        project: &str,
        group: &str,
        spec: &MachineGroupSpec,
        precondition: Precondition,
    ) -> Result<PutResponse<MachineGroup>> {
        let url = self.machine_group_url(tenant, project, group)?;
        self.put_json(url, spec, &precondition).await
    }

    /// `machine_group_get`.
    pub async fn get_machine_group(
        &self,
        tenant: &str,
        project: &str,
        group: &str,
    ) -> Result<MachineGroup> {
        self.get_json(self.machine_group_url(tenant, project, group)?)
            .await
    }

    /// Deletes a machine group (`machine_group_delete`); 409 while configs are bound to it.
    pub async fn delete_machine_group(
        &self,
        tenant: &str,
        project: &str,
        group: &str,
        if_match: Option<&str>,
    ) -> Result<()> {
        let url = self.machine_group_url(tenant, project, group)?;
        self.delete(url, &Precondition::for_delete(if_match)).await
    }

    /// One page of a project's machine groups, by name (`machine_group_list`).
    pub async fn list_machine_groups(
        &self,
        tenant: &str,
        project: &str,
        page: &PageOptions,
    ) -> Result<Page<MachineGroup>> {
        self.get_page(self.machine_groups_url(tenant, project)?, page)
            .await
    }

    /// Every machine group of a project, following `next_page_token` to the end.
    pub async fn list_all_machine_groups(
        &self,
        tenant: &str,
        project: &str,
    ) -> Result<Vec<MachineGroup>> {
        self.get_all_pages(self.machine_groups_url(tenant, project)?)
            .await
    }

    /// One page of the agents the group selects now, by id (`machine_group_agent_list`).
    pub async fn list_machine_group_agents(
        &self,
        tenant: &str,
        project: &str,
        group: &str,
        page: &PageOptions,
    ) -> Result<Page<Agent>> {
        let url = self.machine_group_part_url(tenant, project, group, "agents")?;
        self.get_page(url, page).await
    }

    /// Binds a collection config to a machine group (`binding_put`); `created` is false when it
    /// was bound already. 422 names the fields an agent type in the group cannot express.
    pub async fn put_binding(
        &self,
        tenant: &str,
        project: &str,
        group: &str,
        config: &str,
    ) -> Result<PutResponse<CollectionConfigBinding>> {
        let url = self.binding_url(tenant, project, group, config)?;
        let response = self.execute(self.request(Method::PUT, url)).await?;
        read_put_response(response).await
    }

    /// Unbinds a collection config from a machine group (`binding_delete`).
    pub async fn delete_binding(
        &self,
        tenant: &str,
        project: &str,
        group: &str,
        config: &str,
    ) -> Result<()> {
        let url = self.binding_url(tenant, project, group, config)?;
        self.delete(url, &Precondition::Unconditional).await
    }

    fn binding_url(&self, tenant: &str, project: &str, group: &str, config: &str) -> Result<Url> {
        self.endpoint(&[
            "v1",
            "tenants",
            tenant,
            "projects",
            project,
            "machine-groups",
            group,
            "collection-configs",
            config,
        ])
    }

    /// One page of the configs bound to a machine group, by config name
    /// (`machine_group_config_list`).
    pub async fn list_machine_group_configs(
        &self,
        tenant: &str,
        project: &str,
        group: &str,
        page: &PageOptions,
    ) -> Result<Page<CollectionConfigBinding>> {
        let url = self.machine_group_part_url(tenant, project, group, "collection-configs")?;
        self.get_page(url, page).await
    }
}
