//! A request's head (request line and headers) is bounded: hyper buffers at most 8 KiB of a
//! connection's incoming bytes (`api/src/connections.rs`), so a larger head is refused with 431
//! before anything reads it, and a head within the bound is served.

use logplane_e2e::{LogplaneServer, ServerConfig};
use logplane_store::Backend;
use logplane_store::testing::TestDatabase;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::location;

/// The status of `GET /healthz` sent with one header of `padding` bytes.
async fn status_with_padding(port: u16, padding: usize) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Padding: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(padding)
    );
    // The server may refuse before it has read the whole head; what it answers is the point.
    let _ = stream.write_all(head.as_bytes()).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.read_to_end(&mut response),
    )
    .await
    .expect("the server answered in time");
    let text = String::from_utf8_lossy(&response);
    let status_line = text.lines().next().unwrap_or_default();
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

#[tokio::test]
async fn heads_over_8_kib_are_refused_with_431() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let server = LogplaneServer::start(&ServerConfig::new(location(&database))).await;
    assert_eq!(status_with_padding(server.port(), 6_000).await, 200);
    assert_eq!(status_with_padding(server.port(), 9_000).await, 431);
    // The refusal closed only that connection: the server still serves.
    assert_eq!(status_with_padding(server.port(), 100).await, 200);
}
