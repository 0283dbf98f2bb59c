//! Quota admission that does not need the store: per-tenant and per-key API rate limits (and,
//! as the quota issue proceeds, the query-slot arbiter). Pure logic over a clock, so it is fast to
//! test and to benchmark; the api crate wires it to requests.

pub mod arbiter;
pub mod rate_limit;

pub use rate_limit::{ApiRateLimiter, Budget, RateLimitStatus, RateLimited};
