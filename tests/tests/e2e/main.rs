//! End-to-end tests: each starts the real `logplane` binary on a fresh database of its own and
//! drives it through `logplane-client`, as an operator or a Terraform provider would. Tests that
//! touch the store run once on PostgreSQL and once on SQLite.
//!
//! PostgreSQL must run at 127.0.0.1:5432 (user `postgres`, trust auth), or wherever
//! `LOGPLANE_TEST_POSTGRES_URL` points.

mod agent_shutdown;
mod api_coverage;
mod collection;
mod graceful_shutdown;
mod json_logs;
mod quick_start;
mod refused_credentials;
mod request_heads;
mod restart;
mod revocation;
mod scheduler_failover;
mod store_down;
mod support;
