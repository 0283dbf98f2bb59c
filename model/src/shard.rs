//! Shards: the hash ranges of a logstore that workers ingest and serve.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::timestamp::Timestamp;
use crate::worker::ShardWorker;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShardStatus {
    /// Accepts writes and serves queries.
    Readwrite,
    /// Split or merged away: serves queries over the data it holds, accepts no writes.
    Readonly,
}

impl ShardStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ShardStatus::Readwrite => "readwrite",
            ShardStatus::Readonly => "readonly",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "readwrite" => Some(ShardStatus::Readwrite),
            "readonly" => Some(ShardStatus::Readonly),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Shard {
    /// 0, 1, … in creation order within the logstore.
    pub id: i64,
    /// 32 lowercase hex digits.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub inclusive_begin_key: String,
    /// 32 lowercase hex digits; `ffffffffffffffffffffffffffffffff` marks the end of the key space.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub exclusive_end_key: String,
    pub status: ShardStatus,
    pub created_at: Timestamp,
    /// The worker accepting its writes (`readwrite` shards), by the scheduler's acknowledged
    /// record; null while it has none (just created, its owner's lease expired, or no ingest
    /// worker has room).
    pub ingest_owner: Option<ShardWorker>,
    /// The workers serving its queries.
    pub query_replicas: Vec<ShardWorker>,
}
