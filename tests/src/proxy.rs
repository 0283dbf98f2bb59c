//! A TCP proxy that a test can take down and bring back, to play a database outage without
//! touching the database server that other tests share.
//!
//! Down means what a crashed or partitioned database looks like from the client: every open
//! connection is cut and new connections are refused (nothing listens on the port). Up again
//! listens on the same port, so the server under test needs no new configuration.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Mutex;
use tokio::task::{JoinHandle, JoinSet};

pub struct TcpProxy {
    listen: SocketAddr,
    upstream: SocketAddr,
    /// The accept loop while the proxy is up. It owns every forwarding task, so aborting it
    /// cuts every connection at once.
    accept_task: Mutex<Option<JoinHandle<()>>>,
}

impl TcpProxy {
    /// Starts a proxy on a free loopback port, forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> TcpProxy {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)));
        let listen = listener.local_addr().expect("proxy address");
        TcpProxy {
            listen,
            upstream,
            accept_task: Mutex::new(Some(tokio::spawn(accept_loop(listener, upstream)))),
        }
    }

    pub fn port(&self) -> u16 {
        self.listen.port()
    }

    /// Cuts every connection and stops listening. Returns once the port refuses connections.
    pub async fn go_down(&self) {
        let Some(task) = self.accept_task.lock().await.take() else {
            return;
        };
        task.abort();
        // The task owned the listener and the connections; they are closed once it is gone.
        let _ = task.await;
    }

    /// Listens again on the same port and forwards new connections.
    pub async fn come_up(&self) {
        let mut slot = self.accept_task.lock().await;
        if slot.is_some() {
            return;
        }
        let listener = bind(self.listen);
        *slot = Some(tokio::spawn(accept_loop(listener, self.upstream)));
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some(task) = self.accept_task.get_mut().take() {
            task.abort();
        }
    }
}

/// Binds with `SO_REUSEADDR`, so the port can be taken again right after going down even while
/// the connections just cut linger in TIME_WAIT.
fn bind(address: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("proxy socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket
        .bind(address)
        .unwrap_or_else(|e| panic!("proxy cannot bind {address}: {e}"));
    socket.listen(128).expect("proxy listen")
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr) {
    // Dropping this set (when the loop is aborted) aborts every forwarding task in it.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                connections.spawn(forward(client, upstream));
            }
            // Reap finished connections so the set does not grow for the proxy's lifetime.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn forward(mut client: TcpStream, upstream: SocketAddr) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}
