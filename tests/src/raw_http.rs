//! A request held open halfway, written by hand over TCP, to prove what happens to a request that
//! is in flight when the server is told to stop.
//!
//! The request asks for `Expect: 100-continue`. The server answers `100 Continue` only when the
//! handler starts reading the body, after routing and authentication, so once the test has seen
//! it the request is certainly inside the handler, and stays there until the test sends the body.
//! That makes "in flight" a fact rather than a race against a sleep.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bounds each read, so a server that never answers fails the test instead of hanging it.
const READ_WITHIN: Duration = Duration::from_secs(30);

pub struct HeldRequest {
    stream: TcpStream,
    body: Vec<u8>,
}

pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

/// Sends the head of a JSON request and waits for `100 Continue`; the body is sent by
/// [`HeldRequest::finish`].
pub async fn hold_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> HeldRequest {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the server");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .await
        .expect("send the request head");
    let interim = read_head(&mut stream).await;
    assert!(
        interim.starts_with("HTTP/1.1 100"),
        "expected 100 Continue, got {interim:?}"
    );
    HeldRequest { stream, body }
}

impl HeldRequest {
    /// Sends the body and reads the whole final response (the server closes the connection).
    pub async fn finish(mut self) -> RawResponse {
        self.stream
            .write_all(&self.body)
            .await
            .expect("send the request body");
        let mut bytes = Vec::new();
        tokio::time::timeout(READ_WITHIN, self.stream.read_to_end(&mut bytes))
            .await
            .expect("the response came in time")
            .expect("read the response");
        parse_response(&bytes)
    }
}

/// Reads up to and including the blank line that ends a response head.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = tokio::time::timeout(READ_WITHIN, stream.read(&mut byte))
            .await
            .expect("the server answered in time")
            .expect("read from the server");
        assert!(read == 1, "the server closed the connection mid-head");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn parse_response(bytes: &[u8]) -> RawResponse {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(bytes)));
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    RawResponse {
        status,
        head,
        body: bytes[split + 4..].to_vec(),
    }
}
