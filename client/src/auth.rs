//! `POST /v1/auth/token`: API keys are long-lived secrets; every other call carries the
//! short-lived token they are exchanged for.

use logplane_model::{TokenRequest, TokenResponse};

use crate::Result;
use crate::client::Client;

impl Client {
    /// Exchanges an API key's secret for an access token (`token_create`). Needs no credential.
    pub async fn exchange_token(&self, api_key: &str) -> Result<TokenResponse> {
        let url = self.endpoint(&["v1", "auth", "token"])?;
        let request = TokenRequest {
            api_key: api_key.to_string(),
        };
        self.post_json(url, &request).await
    }

    /// Exchanges an API key for a token and returns a client that sends it. The token expires
    /// (see [`TokenResponse::expires_in`]); long-running callers exchange again before then.
    pub async fn with_api_key(&self, api_key: &str) -> Result<Client> {
        let token = self.exchange_token(api_key).await?;
        self.with_bearer_token(&token.access_token)
    }
}
