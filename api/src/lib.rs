//! The `logplane` server: HTTP API, authentication, OpenAPI document and the wiring of the store.

pub mod app;
pub mod auth;
pub mod cli;
pub mod connections;
pub mod distribution;
pub mod extract;
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod scheduling;
pub mod server;
pub mod telemetry;
