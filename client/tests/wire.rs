//! What the client puts on the wire and how it reads answers, checked against a canned HTTP
//! responder on a loopback socket (the real server is exercised by `logplane-e2e`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use logplane_client::{Client, Error, Precondition};
use logplane_model::TenantSpec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TENANT: &str = r#"{"name":"acme","display_name":"","labels":{},"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","etag":"e2"}"#;

/// Answers each connection with the next canned response and records the request it got.
struct CannedServer {
    base_url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl CannedServer {
    async fn start(responses: Vec<String>) -> CannedServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        tokio::spawn(async move {
            for response in responses {
                let (mut stream, _) = listener.accept().await.unwrap();
                let request = read_request(&mut stream).await;
                recorded.lock().unwrap().push(request);
                stream.write_all(response.as_bytes()).await.unwrap();
                stream.shutdown().await.unwrap();
            }
            // Further connections are accepted and left unanswered, for the timeout test.
            let mut idle = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                idle.push(stream);
            }
        });
        CannedServer { base_url, requests }
    }

    /// The request heads received so far, header names lowercased.
    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn response(status: &str, headers: &[&str], body: &str) -> String {
    let mut text = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    text
}

async fn read_request(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = stream.read(&mut buffer).await.unwrap();
        bytes.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&bytes).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if bytes.len() >= end + 4 + length || read == 0 {
                return text[..end].to_ascii_lowercase() + &text[end..];
            }
        }
        if read == 0 {
            return text;
        }
    }
}

#[tokio::test]
async fn sends_a_request_id_only_when_the_caller_set_one() {
    let ok = response(
        "200 OK",
        &["Content-Type: application/json"],
        r#"{"status":"ok"}"#,
    );
    let server = CannedServer::start(vec![ok.clone(), ok]).await;
    let client = Client::new(&server.base_url).unwrap();
    client.healthz().await.unwrap();
    client
        .with_request_id("trace-42")
        .unwrap()
        .healthz()
        .await
        .unwrap();
    let requests = server.requests();
    assert!(!requests[0].contains("x-request-id"), "{}", requests[0]);
    assert!(
        requests[1].contains("x-request-id: trace-42"),
        "{}",
        requests[1]
    );
}

#[tokio::test]
async fn a_put_sends_token_precondition_and_json_and_reads_the_etag() {
    let created = response(
        "201 Created",
        &[
            "Content-Type: application/json",
            "ETag: \"e2\"",
            "X-Request-Id: generated-1",
        ],
        TENANT,
    );
    let server = CannedServer::start(vec![created]).await;
    let client = Client::builder(&server.base_url)
        .bearer_token("token-1")
        .build()
        .unwrap();
    let put = client
        .put_tenant(
            "acme",
            &TenantSpec::default(),
            Precondition::IfMatch("e1".into()),
        )
        .await
        .unwrap();
    assert!(put.created);
    assert_eq!(put.etag, "e2");
    assert_eq!(put.request_id.as_deref(), Some("generated-1"));
    let request = &server.requests()[0];
    assert!(
        request.starts_with("put /v1/tenants/acme http/1.1"),
        "{request}"
    );
    assert!(
        request.contains("authorization: bearer token-1"),
        "{request}"
    );
    assert!(request.contains("if-match: \"e1\""), "{request}");
    assert!(
        request.contains("content-type: application/json"),
        "{request}"
    );
    assert!(
        request.ends_with(r#"{"display_name":"","labels":{}}"#),
        "{request}"
    );
}

#[tokio::test]
async fn list_all_follows_next_page_token_to_the_last_page() {
    let first = response(
        "200 OK",
        &["Content-Type: application/json"],
        &format!(r#"{{"items":[{TENANT}],"next_page_token":"t1"}}"#),
    );
    let last = response(
        "200 OK",
        &["Content-Type: application/json"],
        &format!(r#"{{"items":[{TENANT}],"next_page_token":null}}"#),
    );
    let server = CannedServer::start(vec![first, last]).await;
    let client = Client::new(&server.base_url).unwrap();
    let tenants = client.list_all_tenants().await.unwrap();
    assert_eq!(tenants.len(), 2);
    let requests = server.requests();
    assert!(
        requests[0].starts_with("get /v1/tenants?page_size=1000 "),
        "{}",
        requests[0]
    );
    assert!(
        requests[1].starts_with("get /v1/tenants?page_size=1000&page_token=t1 "),
        "{}",
        requests[1]
    );
}

#[tokio::test]
async fn a_server_repeating_its_page_token_does_not_loop_forever() {
    let page = response(
        "200 OK",
        &["Content-Type: application/json"],
        r#"{"items":[],"next_page_token":"same"}"#,
    );
    let server = CannedServer::start(vec![page.clone(), page]).await;
    let client = Client::new(&server.base_url).unwrap();
    let result = client.list_all_tenants().await;
    assert!(matches!(result, Err(Error::Decode { .. })), "{result:?}");
}

#[tokio::test]
async fn a_refusal_arrives_as_its_problem() {
    let refused = response(
        "412 Precondition Failed",
        &["Content-Type: application/problem+json"],
        r#"{"type":"https://logplane.dev/problems/precondition-failed","title":"Precondition Failed","status":412,"detail":"the tenant changed","request_id":"r-9"}"#,
    );
    let server = CannedServer::start(vec![refused]).await;
    let client = Client::new(&server.base_url).unwrap();
    let result = client
        .put_tenant("acme", &TenantSpec::default(), Precondition::IfAbsent)
        .await;
    let error = result.unwrap_err();
    assert_eq!(error.problem_slug(), Some("precondition-failed"));
    assert_eq!(error.problem().unwrap().request_id.as_deref(), Some("r-9"));
    assert!(server.requests()[0].contains("if-none-match: *"));
}

#[tokio::test]
async fn a_request_that_gets_no_answer_is_cut_off_by_the_timeout() {
    // No canned responses: the connection is accepted and never answered.
    let server = CannedServer::start(Vec::new()).await;
    let client = Client::builder(&server.base_url)
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = client.healthz().await.unwrap_err();
    let Error::Transport(transport) = &error else {
        panic!("expected a transport error, got {error:?}");
    };
    assert!(transport.is_timeout(), "{transport}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn unauthenticated_calls_send_no_authorization_header() {
    let ok = response(
        "200 OK",
        &["Content-Type: application/json"],
        r#"{"status":"ok"}"#,
    );
    let server = CannedServer::start(vec![ok]).await;
    let client = Client::builder(&server.base_url)
        .bearer_token("token-1")
        .build()
        .unwrap();
    client.without_credentials().healthz().await.unwrap();
    assert!(!server.requests()[0].contains("authorization"));
}
