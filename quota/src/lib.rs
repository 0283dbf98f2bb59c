//! Quota admission that does not need the store: per-tenant and per-key API rate limits and the
//! query-slot arbiter's decisions, with a simulator to measure the arbiter's fairness. Pure logic
//! over a clock, so it is fast to test and to benchmark; the api crate wires it to requests.

pub mod arbiter;
pub mod rate_limit;
pub mod sim;

pub use rate_limit::{ApiRateLimiter, Budget, RateLimitStatus, RateLimited};
