//! The client itself: where the server is, how long a request may take, and which credential and
//! request id every request carries.

use std::fmt;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, RequestBuilder, Url};

use crate::Result;
use crate::error::Error;

/// The longest a whole request (connect, send, wait, read the body) may take by default. Long
/// enough for a large page from a loaded server, short enough that a caller stuck behind a dead
/// connection finds out.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Connecting is quick or hopeless; failing it early leaves the rest of the budget unused.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The header the server echoes and logs; set it to correlate a call with the server's logs.
pub(crate) const REQUEST_ID_HEADER: &str = "x-request-id";

/// A handle on one Logplane server. Cloning is cheap and clones share their connection pool, so
/// [`Client::with_bearer_token`] and [`Client::with_request_id`] derive variants freely.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: Url,
    authorization: Option<HeaderValue>,
    request_id: Option<HeaderValue>,
}

/// Settings that must be fixed before the connection pool is built.
#[derive(Clone)]
pub struct ClientBuilder {
    base_url: String,
    timeout: Duration,
    connect_timeout: Duration,
    bearer_token: Option<String>,
}

impl ClientBuilder {
    /// Bounds every request, from connecting to reading the last byte of the answer.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }

    /// An access token from `POST /v1/auth/token`, sent as `Authorization: Bearer <token>`.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(token.into());
        self
    }

    pub fn build(self) -> Result<Client> {
        let base_url = parse_base_url(&self.base_url)?;
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(concat!("logplane-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::InvalidInput(format!("cannot build the HTTP client: {e}")))?;
        let authorization = self
            .bearer_token
            .as_deref()
            .map(bearer_header)
            .transpose()?;
        Ok(Client {
            http,
            base_url,
            authorization,
            request_id: None,
        })
    }
}

impl Client {
    /// A client for the server at `base_url` (such as `http://127.0.0.1:7470`), with the default
    /// timeouts and no credential.
    pub fn new(base_url: &str) -> Result<Client> {
        Client::builder(base_url).build()
    }

    pub fn builder(base_url: &str) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.to_string(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            bearer_token: None,
        }
    }

    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// A client that sends this access token with every request.
    pub fn with_bearer_token(&self, token: &str) -> Result<Client> {
        let mut client = self.clone();
        client.authorization = Some(bearer_header(token)?);
        Ok(client)
    }

    /// A client that sends no credential, for the unauthenticated endpoints.
    pub fn without_credentials(&self) -> Client {
        let mut client = self.clone();
        client.authorization = None;
        client
    }

    /// A client that sends `X-Request-Id: <request_id>` with every request. Without it the
    /// client sends none and the server makes one up; either way the server echoes it.
    pub fn with_request_id(&self, request_id: &str) -> Result<Client> {
        let value = HeaderValue::from_str(request_id).map_err(|_| {
            Error::InvalidInput(format!(
                "request id {request_id:?} is not a valid header value"
            ))
        })?;
        let mut client = self.clone();
        client.request_id = Some(value);
        Ok(client)
    }

    /// The URL of an API path given as unencoded segments: each segment is percent-encoded, so
    /// a name can never reach another path.
    pub(crate) fn endpoint(&self, segments: &[&str]) -> Result<Url> {
        // URL parsers drop `.` and `..` segments (even percent-encoded) and an empty segment
        // would address the parent collection, so `delete_project(t, "..")` could hit another
        // resource. No valid name looks like that; refuse it here.
        if let Some(bad) = segments.iter().find(|s| matches!(**s, "" | "." | "..")) {
            return Err(Error::InvalidInput(format!(
                "{bad:?} cannot be used as a name in a URL path"
            )));
        }
        let mut url = self.base_url.clone();
        // `parse_base_url` refused URLs that cannot be a base, so this cannot fail.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        Ok(url)
    }

    /// A request carrying the credential and request id this client was configured with.
    pub(crate) fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let mut builder = self.http.request(method, url);
        if let Some(authorization) = &self.authorization {
            builder = builder.header(AUTHORIZATION, authorization.clone());
        }
        if let Some(request_id) = &self.request_id {
            builder = builder.header(REQUEST_ID_HEADER, request_id.clone());
        }
        builder
    }
}

/// Tokens are credentials: never printed, not even in a debug dump of the builder.
impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Tokens are credentials: never printed, not even in a debug dump of the client.
impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url.as_str())
            .field("authorization", &self.authorization.as_ref().map(|_| "***"))
            .field("request_id", &self.request_id)
            .finish()
    }
}

fn bearer_header(token: &str) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| Error::InvalidInput("the access token is not a valid header value".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

fn parse_base_url(text: &str) -> Result<Url> {
    let url =
        Url::parse(text).map_err(|e| Error::InvalidInput(format!("base URL {text:?}: {e}")))?;
    match url.scheme() {
        "http" => {}
        // The crate is built without a TLS stack for now (it pulls a long C build); put a
        // TLS-terminating proxy in front until the TLS feature lands.
        "https" => {
            return Err(Error::InvalidInput(
                "https base URLs are not supported yet: this build has no TLS".into(),
            ));
        }
        other => {
            return Err(Error::InvalidInput(format!(
                "base URL {text:?}: scheme {other:?} is not http"
            )));
        }
    }
    if url.cannot_be_a_base() || url.query().is_some() || url.fragment().is_some() {
        return Err(Error::InvalidInput(format!(
            "base URL {text:?} must be a plain http://host:port[/prefix] URL"
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_join_the_base_url_and_encode_each_segment() {
        let client = Client::new("http://127.0.0.1:7470").unwrap();
        assert_eq!(
            client
                .endpoint(&["v1", "tenants", "acme"])
                .unwrap()
                .as_str(),
            "http://127.0.0.1:7470/v1/tenants/acme"
        );
        // A name with a slash or a query character stays one segment of the path.
        assert_eq!(
            client
                .endpoint(&["v1", "tenants", "a/b", "projects", "x?y#z%"])
                .unwrap()
                .path(),
            "/v1/tenants/a%2Fb/projects/x%3Fy%23z%25"
        );
    }

    #[test]
    fn names_that_would_address_another_path_are_refused() {
        let client = Client::new("http://127.0.0.1:7470").unwrap();
        for bad in ["", ".", ".."] {
            assert!(matches!(
                client.endpoint(&["v1", "tenants", "acme", "projects", bad]),
                Err(Error::InvalidInput(_))
            ));
        }
    }

    #[test]
    fn a_base_url_with_a_prefix_keeps_it_with_or_without_a_trailing_slash() {
        for base in [
            "http://gateway:8080/logplane",
            "http://gateway:8080/logplane/",
        ] {
            let client = Client::new(base).unwrap();
            assert_eq!(
                client.endpoint(&["v1", "tenants"]).unwrap().as_str(),
                "http://gateway:8080/logplane/v1/tenants"
            );
        }
    }

    #[test]
    fn refuses_base_urls_it_cannot_serve() {
        for bad in [
            "127.0.0.1:7470",
            "https://example.test",
            "ftp://example.test",
            "http://example.test/?x=1",
            "not a url",
        ] {
            assert!(
                matches!(Client::new(bad), Err(Error::InvalidInput(_))),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let builder = Client::builder("http://127.0.0.1:1").bearer_token("secret-token-value");
        let client = builder.clone().build().unwrap();
        for printed in [format!("{builder:?}"), format!("{client:?}")] {
            assert!(!printed.contains("secret-token-value"), "{printed}");
            assert!(printed.contains("***"), "{printed}");
        }
    }
}
