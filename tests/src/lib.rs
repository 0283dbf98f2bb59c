//! The end-to-end harness: starts the real `logplane` binary as a child process against a real
//! database and hands tests a [`logplane_client::Client`] for it. The tests themselves are in
//! `tests/e2e/`; see this crate's README for how the binary is found.

pub mod binary;
pub mod pool;
pub mod proxy;
pub mod raw_http;
pub mod server;

pub use binary::logplane_binary;
pub use pool::{OwnershipLedger, ShardLoads, SimWorker, SimWorkerConfig};
pub use proxy::TcpProxy;
pub use server::{
    BOOTSTRAP_ADMIN_KEY, LogFormat, LogplaneServer, ServerConfig, StoreLocation, scheduler_leader,
};
