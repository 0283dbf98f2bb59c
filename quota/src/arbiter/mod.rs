//! The query-slot arbiter's decisions, as pure functions: how a new request is tagged for
//! weighted fair queuing, and which waiting requests to grant when slots are free. The store
//! keeps the state (so every replica sees one arbiter, and a failover loses nothing) and calls
//! these inside the transaction that holds the arbiter's lock; the simulator calls them on an
//! in-memory state. See `quota/README.md` for the algorithm and its guarantees.

mod dispatch;
mod headroom;
mod tags;

pub use dispatch::{Caps, Dispatch, Holdings, Waiting, dispatch};
pub use headroom::{
    ACTIVE_DEMAND, DEFAULT_QUANTILE, Headroom, HeadroomRule, RecentDemand, TenantLoad, slots_wanted,
};
pub use tags::{TAG_SCALE, Tags, settle_cost, tag_request};
