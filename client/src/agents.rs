//! Agents: enrollment tokens (tenant admins), enrollment, the tenant's agents, and the agent
//! protocol's sync call (create the client with the agent's API key).

use std::time::Duration;

use logplane_model::{
    Agent, AgentEnrollRequest, AgentEnrolled, AgentSyncRequest, ConfigBundle, EnrollmentToken,
    EnrollmentTokenCreated, EnrollmentTokenRequest, Page,
};
use reqwest::header::{ETAG, IF_NONE_MATCH};
use reqwest::{Method, StatusCode, Url};

use crate::Result;
use crate::client::{Client, DEFAULT_TIMEOUT};
use crate::error::Error;
use crate::request::{PageOptions, Precondition, header_text, read_json};

/// The header that asks the agent for its full state in the next call.
const FULL_STATE_HEADER: &str = "logplane-report-full-state";

/// What a sync call answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleUpdate {
    /// The bundle differs from the one the agent named: apply it.
    Changed(ConfigBundle),
    /// The bundle is still the one the agent named (304).
    Unchanged { hash: String },
}

/// A sync call's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSync {
    pub update: BundleUpdate,
    /// The call's `seq` did not follow the previous one: send the attributes and the status in
    /// the next call.
    pub full_state_requested: bool,
}

impl Client {
    fn enrollment_tokens_url(&self, tenant: &str) -> Result<Url> {
        self.endpoint(&["v1", "tenants", tenant, "agent-enrollment-tokens"])
    }

    /// Creates an enrollment token (`enrollment_token_create`); keep the returned secret, it is
    /// never shown again.
    pub async fn create_enrollment_token(
        &self,
        tenant: &str,
        request: &EnrollmentTokenRequest,
    ) -> Result<EnrollmentTokenCreated> {
        self.post_json(self.enrollment_tokens_url(tenant)?, request)
            .await
    }

    /// One page of a tenant's enrollment tokens, by id, without secrets
    /// (`enrollment_token_list`).
    pub async fn list_enrollment_tokens(
        &self,
        tenant: &str,
        page: &PageOptions,
    ) -> Result<Page<EnrollmentToken>> {
        self.get_page(self.enrollment_tokens_url(tenant)?, page)
            .await
    }

    /// Revokes an enrollment token (`enrollment_token_delete`).
    pub async fn delete_enrollment_token(&self, tenant: &str, token_id: &str) -> Result<()> {
        let url = self.endpoint(&["v1", "tenants", tenant, "agent-enrollment-tokens", token_id])?;
        self.delete(url, &Precondition::Unconditional).await
    }

    /// Enrolls an agent (`agent_enroll`); needs no credential, the enrollment token is one.
    /// Keep the returned API key: it is never shown again.
    pub async fn enroll_agent(&self, request: &AgentEnrollRequest) -> Result<AgentEnrolled> {
        let url = self.endpoint(&["v1", "agents", "enroll"])?;
        self.without_credentials().post_json(url, request).await
    }

    /// One page of a tenant's agents, by id (`agent_list`).
    pub async fn list_agents(&self, tenant: &str, page: &PageOptions) -> Result<Page<Agent>> {
        let url = self.endpoint(&["v1", "tenants", tenant, "agents"])?;
        self.get_page(url, page).await
    }

    /// Every agent of a tenant, following `next_page_token` to the end.
    pub async fn list_all_agents(&self, tenant: &str) -> Result<Vec<Agent>> {
        let url = self.endpoint(&["v1", "tenants", tenant, "agents"])?;
        self.get_all_pages(url).await
    }

    /// Removes an agent and revokes its credential (`agent_delete`).
    pub async fn delete_agent(&self, tenant: &str, agent_id: &str) -> Result<()> {
        let url = self.endpoint(&["v1", "tenants", tenant, "agents", agent_id])?;
        self.delete(url, &Precondition::Unconditional).await
    }

    /// Reports and asks for the agent's bundle (`agent_sync`), as the agent itself: waits up to
    /// `wait` (at most 60 s) for a change when `known_hash` is still current. The request's
    /// timeout is the wait plus the client's usual allowance.
    pub async fn sync_agent(
        &self,
        agent_id: &str,
        request: &AgentSyncRequest,
        known_hash: Option<&str>,
        wait: Duration,
    ) -> Result<AgentSync> {
        let mut url = self.endpoint(&["v1", "agents", agent_id, "sync"])?;
        url.query_pairs_mut()
            .append_pair("wait_ms", &wait.as_millis().to_string());
        let mut builder = self
            .request(Method::POST, url)
            .json(request)
            .timeout(wait + DEFAULT_TIMEOUT);
        if let Some(hash) = known_hash {
            builder = builder.header(IF_NONE_MATCH, format!("\"{hash}\""));
        }
        let response = builder.send().await.map_err(Error::Transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let full_state_requested =
            header_text(&headers, FULL_STATE_HEADER).as_deref() == Some("true");
        if status == StatusCode::NOT_MODIFIED {
            let Some(etag) = header_text(&headers, ETAG.as_str()) else {
                return Err(Error::decode(status, "a 304 without an ETag", b""));
            };
            return Ok(AgentSync {
                update: BundleUpdate::Unchanged {
                    hash: etag.trim_matches('"').to_string(),
                },
                full_state_requested,
            });
        }
        if !status.is_success() {
            let body = response.bytes().await.map_err(Error::Transport)?;
            return Err(Error::from_error_response(status, &headers, &body));
        }
        let bundle: ConfigBundle = read_json(response).await?;
        Ok(AgentSync {
            update: BundleUpdate::Changed(bundle),
            full_state_requested,
        })
    }
}
