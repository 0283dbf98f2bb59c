//! Logplane's scheduler core: where shards run and how ownership changes hands, as pure functions
//! over a model. No I/O, no clocks: the api crate feeds it the pool, the shard catalog and the
//! reported loads, stores what it returns and tells the workers. See README.md for the
//! algorithm and its guarantees.

pub mod assignment;
pub mod baseline;
pub mod handover;
pub mod ids;
pub mod limits;
pub mod placement;
pub mod pool;
pub mod reshard;

pub use assignment::{Assignment, ShardAssignment};
pub use ids::{LogstoreRef, ShardKey, WorkerId, ZoneId};
pub use placement::{
    InputError, Move, MoveReason, Placement, PlacementConfig, PlacementInput, PlacementReport,
    RoleReport, Unplaced, place,
};
pub use pool::{
    Capacity, CatalogError, MAX_REPLICAS, Role, Roles, ShardCatalog, ShardSpec, Worker,
};
