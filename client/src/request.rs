//! The parts every resource shares: write preconditions, list paging, and turning an HTTP answer
//! into a typed value or an [`Error`].

use bytes::Bytes;
use logplane_model::Page;
use logplane_model::page::MAX_PAGE_SIZE;
use reqwest::header::{ETAG, HeaderMap, HeaderName, IF_MATCH, IF_NONE_MATCH};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Result;
use crate::client::{Client, REQUEST_ID_HEADER};
use crate::error::Error;

/// When a `PUT` may apply. ETags are given as the resource's `etag` field shows them (unquoted);
/// the client quotes them for the header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Precondition {
    /// Create or replace, whatever is stored.
    #[default]
    Unconditional,
    /// Replace only the version with this ETag (optimistic concurrency); 412 otherwise.
    IfMatch(String),
    /// Replace only if the resource exists (`If-Match: *`); 412 otherwise.
    IfExists,
    /// Create only (`If-None-Match: *`); 412 if the resource exists.
    IfAbsent,
}

impl Precondition {
    fn header(&self) -> Option<(HeaderName, String)> {
        match self {
            Precondition::Unconditional => None,
            Precondition::IfMatch(etag) => Some((IF_MATCH, quote_etag(etag))),
            Precondition::IfExists => Some((IF_MATCH, "*".to_string())),
            Precondition::IfAbsent => Some((IF_NONE_MATCH, "*".to_string())),
        }
    }

    pub(crate) fn apply(&self, builder: RequestBuilder) -> RequestBuilder {
        match self.header() {
            Some((name, value)) => builder.header(name, value),
            None => builder,
        }
    }

    /// The precondition of a `DELETE`: only this version, or whatever is stored.
    pub(crate) fn for_delete(if_match: Option<&str>) -> Precondition {
        match if_match {
            Some(etag) => Precondition::IfMatch(etag.to_string()),
            None => Precondition::Unconditional,
        }
    }
}

/// `If-Match` needs the quoted form; a caller that copied the `ETag` header (already quoted, or
/// weak) gets it sent as it is rather than quoted twice.
fn quote_etag(etag: &str) -> String {
    if etag.starts_with('"') || etag.starts_with("W/") {
        etag.to_string()
    } else {
        format!("\"{etag}\"")
    }
}

fn unquote_etag(header: &str) -> &str {
    header
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(header)
}

/// Which page of a list to fetch. The default is the server's first page of its default size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageOptions {
    /// 1–1000; the server's default (100) when `None`.
    pub page_size: Option<u32>,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

impl PageOptions {
    pub fn first(page_size: u32) -> PageOptions {
        PageOptions {
            page_size: Some(page_size),
            page_token: None,
        }
    }

    /// The page after one that answered with `next_page_token`, of the same size.
    pub fn next(&self, page_token: impl Into<String>) -> PageOptions {
        PageOptions {
            page_size: self.page_size,
            page_token: Some(page_token.into()),
        }
    }

    pub(crate) fn apply(&self, mut url: Url) -> Url {
        if self.page_size.is_none() && self.page_token.is_none() {
            return url;
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(size) = self.page_size {
                query.append_pair("page_size", &size.to_string());
            }
            if let Some(token) = &self.page_token {
                query.append_pair("page_token", token);
            }
        }
        url
    }
}

/// The answer to a `PUT`: the resource as stored, whether this call created it (201) or
/// replaced it (200), its ETag, and the request id the server used.
#[derive(Debug, Clone, PartialEq)]
pub struct PutResponse<T> {
    pub resource: T,
    pub created: bool,
    /// Unquoted, as the resource's `etag` field shows it; pass it to [`Precondition::IfMatch`].
    pub etag: String,
    /// The `X-Request-Id` the server echoed: the caller's own, or the one it made up.
    pub request_id: Option<String>,
}

impl Client {
    /// Sends a request and returns the answer if its status is a success; an error status
    /// becomes [`Error::Api`].
    pub(crate) async fn execute(&self, builder: RequestBuilder) -> Result<Response> {
        let response = builder.send().await.map_err(Error::Transport)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(Error::Transport)?;
        Err(Error::from_error_response(status, &headers, &body))
    }

    pub(crate) async fn get_json<T: DeserializeOwned>(&self, url: Url) -> Result<T> {
        let response = self.execute(self.request(Method::GET, url)).await?;
        read_json(response).await
    }

    pub(crate) async fn put_json<B: Serialize, T: DeserializeOwned>(
        &self,
        url: Url,
        body: &B,
        precondition: &Precondition,
    ) -> Result<PutResponse<T>> {
        let builder = precondition.apply(self.request(Method::PUT, url).json(body));
        let response = self.execute(builder).await?;
        read_put_response(response).await
    }

    pub(crate) async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        url: Url,
        body: &B,
    ) -> Result<T> {
        let response = self
            .execute(self.request(Method::POST, url).json(body))
            .await?;
        read_json(response).await
    }

    pub(crate) async fn delete(&self, url: Url, precondition: &Precondition) -> Result<()> {
        let builder = precondition.apply(self.request(Method::DELETE, url));
        self.execute(builder).await?;
        Ok(())
    }

    pub(crate) async fn get_page<T: DeserializeOwned>(
        &self,
        url: Url,
        options: &PageOptions,
    ) -> Result<Page<T>> {
        self.get_json(options.apply(url)).await
    }

    /// Follows `next_page_token` from the first page to the last, in pages of the largest size,
    /// and returns every item in the server's order.
    pub(crate) async fn get_all_pages<T: DeserializeOwned>(&self, url: Url) -> Result<Vec<T>> {
        let mut options = PageOptions::first(MAX_PAGE_SIZE);
        let mut items = Vec::new();
        loop {
            let page: Page<T> = self.get_page(url.clone(), &options).await?;
            items.extend(page.items);
            let Some(token) = page.next_page_token else {
                return Ok(items);
            };
            // A server that hands back the token it was given would keep this loop going
            // forever; treat that as an unreadable answer instead.
            if options.page_token.as_deref() == Some(token.as_str()) {
                return Err(Error::decode(
                    StatusCode::OK,
                    "the server returned the same page token twice",
                    token.as_bytes(),
                ));
            }
            options = options.next(token);
        }
    }
}

async fn read_body(response: Response) -> Result<(StatusCode, HeaderMap, Bytes)> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(Error::Transport)?;
    Ok((status, headers, body))
}

pub(crate) async fn read_json<T: DeserializeOwned>(response: Response) -> Result<T> {
    let (status, _, body) = read_body(response).await?;
    decode_json(status, body.as_ref())
}

fn decode_json<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|error| Error::decode(status, error.to_string(), body))
}

pub(crate) async fn read_put_response<T: DeserializeOwned>(
    response: Response,
) -> Result<PutResponse<T>> {
    let (status, headers, body) = read_body(response).await?;
    decode_put_response(status, &headers, body.as_ref())
}

fn decode_put_response<T: DeserializeOwned>(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<PutResponse<T>> {
    let resource = decode_json(status, body)?;
    // Every single-resource answer carries an ETag; one without it breaks the contract that
    // optimistic concurrency relies on, so it is reported rather than papered over.
    let Some(etag) = headers.get(ETAG).and_then(|v| v.to_str().ok()) else {
        return Err(Error::decode(status, "the answer carries no ETag", body));
    };
    Ok(PutResponse {
        resource,
        created: status == StatusCode::CREATED,
        etag: unquote_etag(etag).to_string(),
        request_id: header_text(headers, REQUEST_ID_HEADER),
    })
}

pub(crate) fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use logplane_model::Health;
    use reqwest::header::HeaderValue;

    #[test]
    fn preconditions_become_the_documented_headers() {
        assert_eq!(Precondition::Unconditional.header(), None);
        assert_eq!(
            Precondition::IfMatch("0f3a".into()).header(),
            Some((IF_MATCH, "\"0f3a\"".into()))
        );
        assert_eq!(
            Precondition::IfMatch("\"0f3a\"".into()).header(),
            Some((IF_MATCH, "\"0f3a\"".into()))
        );
        assert_eq!(
            Precondition::IfExists.header(),
            Some((IF_MATCH, "*".into()))
        );
        assert_eq!(
            Precondition::IfAbsent.header(),
            Some((IF_NONE_MATCH, "*".into()))
        );
        assert_eq!(
            Precondition::for_delete(Some("e1")),
            Precondition::IfMatch("e1".into())
        );
        assert_eq!(Precondition::for_delete(None), Precondition::Unconditional);
    }

    #[test]
    fn page_options_become_query_parameters_and_tokens_are_encoded() {
        let url = Url::parse("http://h:1/v1/tenants").unwrap();
        assert_eq!(
            PageOptions::default().apply(url.clone()).as_str(),
            url.as_str()
        );
        let options = PageOptions::first(5).next("djE6d2ViLTI=+/");
        assert_eq!(
            options.apply(url).as_str(),
            "http://h:1/v1/tenants?page_size=5&page_token=djE6d2ViLTI%3D%2B%2F"
        );
    }

    #[test]
    fn a_put_answer_yields_the_resource_whether_created_and_the_unquoted_etag() {
        let mut headers = HeaderMap::new();
        headers.insert(ETAG, HeaderValue::from_static("\"e42\""));
        headers.insert(REQUEST_ID_HEADER, HeaderValue::from_static("req-1"));
        let created: PutResponse<Health> =
            decode_put_response(StatusCode::CREATED, &headers, br#"{"status":"ok"}"#).unwrap();
        assert!(created.created);
        assert_eq!(created.etag, "e42");
        assert_eq!(created.request_id.as_deref(), Some("req-1"));
        assert_eq!(created.resource.status, "ok");
        let replaced: PutResponse<Health> =
            decode_put_response(StatusCode::OK, &headers, br#"{"status":"ok"}"#).unwrap();
        assert!(!replaced.created);
    }

    #[test]
    fn a_put_answer_without_etag_or_with_a_foreign_body_is_a_decode_error() {
        let no_etag =
            decode_put_response::<Health>(StatusCode::OK, &HeaderMap::new(), br#"{"status":"ok"}"#);
        assert!(matches!(no_etag, Err(Error::Decode { .. })));
        let wrong_body = decode_json::<Health>(StatusCode::OK, b"<html>");
        assert!(matches!(wrong_body, Err(Error::Decode { .. })));
    }
}
