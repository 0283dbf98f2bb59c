//! Unauthenticated endpoints for load balancers, Prometheus and tooling: liveness, readiness,
//! metrics and the OpenAPI document.

use logplane_model::Health;
use reqwest::Method;

use crate::Result;
use crate::client::Client;
use crate::error::Error;

impl Client {
    /// Whether the process is alive (`health_check`).
    pub async fn healthz(&self) -> Result<Health> {
        self.get_json(self.endpoint(&["healthz"])?).await
    }

    /// Whether the server can serve: its store answers and is migrated (`readiness_check`).
    /// A server that is not ready answers 503, which arrives as [`Error::Api`].
    pub async fn readyz(&self) -> Result<Health> {
        self.get_json(self.endpoint(&["readyz"])?).await
    }

    /// Prometheus metrics in the text exposition format (`metrics_get`).
    pub async fn metrics(&self) -> Result<String> {
        let request = self.request(Method::GET, self.endpoint(&["metrics"])?);
        let response = self.execute(request).await?;
        let status = response.status();
        let body = response.bytes().await.map_err(Error::Transport)?;
        String::from_utf8(body.to_vec())
            .map_err(|_| Error::decode(status, "the metrics are not UTF-8", &body))
    }

    /// The OpenAPI document the server implements, as JSON (`/openapi.json`).
    pub async fn openapi(&self) -> Result<serde_json::Value> {
        self.get_json(self.endpoint(&["openapi.json"])?).await
    }
}
