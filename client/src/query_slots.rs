//! Query slots, for query frontends: create the client with a `query-frontend` API key.

use logplane_model::{QuerySlot, QuerySlotRequest};
use reqwest::Method;

use crate::Result;
use crate::client::Client;
use crate::request::{Precondition, read_json};

impl Client {
    /// Acquires a slot for one query of `tenant`'s `project`, waiting up to
    /// `request.max_wait_ms` (`query_slot_acquire`). A full queue or a wait that ran out is an
    /// API error with status 429 and a `retry_after`.
    ///
    /// The request's timeout must exceed `max_wait_ms`; set it with `ClientBuilder::timeout`.
    pub async fn acquire_query_slot(
        &self,
        tenant: &str,
        project: &str,
        request: &QuerySlotRequest,
    ) -> Result<QuerySlot> {
        let url = self.endpoint(&["v1", "tenants", tenant, "projects", project, "query-slots"])?;
        self.post_json(url, request).await
    }

    /// Extends the slot's lease by its TTL (`query_slot_renew`).
    pub async fn renew_query_slot(&self, slot_id: &str) -> Result<QuerySlot> {
        let url = self.endpoint(&["v1", "query-slots", slot_id, "renew"])?;
        let response = self.execute(self.request(Method::POST, url)).await?;
        read_json(response).await
    }

    /// Releases the slot (`query_slot_release`).
    pub async fn release_query_slot(&self, slot_id: &str) -> Result<()> {
        let url = self.endpoint(&["v1", "query-slots", slot_id])?;
        self.delete(url, &Precondition::Unconditional).await
    }
}
