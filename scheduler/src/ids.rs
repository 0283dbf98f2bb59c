//! Identities of workers, zones and shards. They are cheap to clone (reference counted) because an
//! assignment of a million shards copies them into its moves and lookups.

use std::fmt;
use std::sync::Arc;

/// A worker's id, as it registered (`PUT /v1/workers/{worker}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(Arc<str>);

impl WorkerId {
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A failure domain (availability zone). Query replicas of a shard are spread across zones.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ZoneId(Arc<str>);

impl ZoneId {
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ZoneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The logstore a shard belongs to. Shared by all its shards through an `Arc`, so a shard key is
/// two words and comparing two keys of one logstore compares a pointer first.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogstoreRef {
    pub tenant: String,
    pub project: String,
    pub logstore: String,
}

impl LogstoreRef {
    pub fn new(
        tenant: impl Into<String>,
        project: impl Into<String>,
        logstore: impl Into<String>,
    ) -> Arc<Self> {
        Arc::new(Self {
            tenant: tenant.into(),
            project: project.into(),
            logstore: logstore.into(),
        })
    }
}

/// The stable key of a shard: its logstore and its id within the logstore. Keys order by tenant,
/// project, logstore, then shard id — the order the store lists shards in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardKey {
    pub logstore: Arc<LogstoreRef>,
    pub shard_id: i64,
}

impl ShardKey {
    pub fn new(logstore: &Arc<LogstoreRef>, shard_id: i64) -> Self {
        Self {
            logstore: Arc::clone(logstore),
            shard_id,
        }
    }
}

impl fmt::Display for ShardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = &self.logstore;
        write!(
            f,
            "{}/{}/{}/{}",
            store.tenant, store.project, store.logstore, self.shard_id
        )
    }
}
