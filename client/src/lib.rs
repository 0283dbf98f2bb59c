//! A typed async client for the Logplane REST API.
//!
//! Every operation of the OpenAPI document has one method on [`Client`], named after the
//! resource and the verb (`put_tenant`, `list_shards`, `create_tenant_api_key`). Bodies and
//! answers are the types of `logplane-model`, so the client and the server cannot disagree on a
//! field. Failed requests become an [`Error`]; a refusal by the server carries its RFC 9457
//! [`Problem`](logplane_model::Problem).
//!
//! ```no_run
//! # async fn example() -> Result<(), logplane_client::Error> {
//! use logplane_client::{Client, Precondition};
//! use logplane_model::TenantSpec;
//!
//! let anonymous = Client::new("http://127.0.0.1:7470")?;
//! let admin = anonymous.with_api_key("the-bootstrap-admin-key").await?;
//! let put = admin
//!     .put_tenant("acme", &TenantSpec::default(), Precondition::IfAbsent)
//!     .await?;
//! assert!(put.created);
//! # Ok(())
//! # }
//! ```

// `Error::Api` carries the whole problem document (a few hundred bytes) by value, as callers
// match on it. Errors end an HTTP round trip, which dwarfs moving them; boxing would only make
// every match clumsier.
#![allow(clippy::result_large_err)]

mod agents;
mod api_keys;
mod audit_events;
mod auth;
mod client;
mod collection_configs;
mod error;
mod logstores;
mod machine_groups;
mod operations;
mod projects;
mod query_slots;
mod quotas;
mod request;
mod shards;
mod tenants;
mod workers;

pub use agents::{AgentSync, BundleUpdate};
pub use client::{Client, ClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};
pub use error::Error;
pub use request::{PageOptions, Precondition, PutResponse};
pub use reqwest::StatusCode;

/// The result of every client call.
pub type Result<T, E = Error> = std::result::Result<T, E>;
