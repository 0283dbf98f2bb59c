//! Logs, metrics and the per-request middleware that feeds both.

pub mod logging;
pub mod metrics;
pub mod request;
