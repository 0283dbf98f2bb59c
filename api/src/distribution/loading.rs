//! Tenants' snapshots, kept and read: one read per tenant at a time, shared by every call that
//! needs it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use logplane_store::{Ctx, Store, StoreResult};

use super::cache::BoundedCache;
use super::snapshot::Snapshot;

/// Tenants whose snapshot is kept; beyond, the least recently loaded is read again when needed.
const SNAPSHOTS_KEPT: usize = 1024;

pub struct Snapshots {
    kept: Mutex<BoundedCache<String, Arc<Snapshot>>>,
    /// One loader per tenant at a time: the first call to need a new generation reads it, the
    /// others wait for that read instead of repeating it.
    loaders: Mutex<HashMap<String, Arc<Loader>>>,
}

/// A tenant's snapshot being read. The calls waiting for it are woken all at once when it is
/// in, to run on every core: handed a lock one after another, ten thousand calls woken by one
/// change would start one at a time.
#[derive(Default)]
struct Loader {
    loading: tokio::sync::Mutex<()>,
    loaded: tokio::sync::Notify,
}

impl Snapshots {
    pub fn new() -> Self {
        Self {
            kept: Mutex::new(BoundedCache::new(SNAPSHOTS_KEPT)),
            loaders: Mutex::new(HashMap::new()),
        }
    }

    fn kept(&self, tenant: &str, minimum: i64) -> Option<Arc<Snapshot>> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.get(tenant)
            .filter(|snapshot| snapshot.generation >= minimum)
    }

    /// The tenant's snapshot at `minimum` or newer.
    pub async fn get(
        &self,
        store: &dyn Store,
        ctx: &Ctx,
        tenant: &str,
        minimum: i64,
    ) -> StoreResult<Arc<Snapshot>> {
        loop {
            if let Some(snapshot) = self.kept(tenant, minimum) {
                return Ok(snapshot);
            }
            let loader = {
                let mut loaders = self.loaders.lock().unwrap_or_else(|e| e.into_inner());
                // Loaders of tenants nobody is loading for are dropped as they go idle.
                loaders.retain(|_, loader| Arc::strong_count(loader) > 1);
                loaders.entry(tenant.to_string()).or_default().clone()
            };
            // Registered before trying the lock, so a load that ends after a failed try is
            // sure to wake this call.
            let loaded = loader.loaded.notified();
            tokio::pin!(loaded);
            loaded.as_mut().enable();
            let Ok(loading) = loader.loading.try_lock() else {
                loaded.await;
                continue;
            };
            // A load may have ended between the check and the lock.
            if let Some(snapshot) = self.kept(tenant, minimum) {
                return Ok(snapshot);
            }
            // Read after `minimum` was published, so at `minimum` or newer.
            let result = store.load_distribution(ctx, tenant).await;
            let result = result.map(|distribution| {
                let snapshot = Arc::new(Snapshot::new(distribution));
                self.kept
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(tenant.to_string(), snapshot.clone());
                snapshot
            });
            drop(loading);
            loader.loaded.notify_waiters();
            return result;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distribution::store_with_an_agent;
    use std::time::Duration;

    /// Many calls needing a tenant's snapshot at once share one read, and every one of them is
    /// answered: none is left waiting for a load that ended before it looked.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_needing_one_snapshot_share_one_read() {
        let (_database, store, ctx) = store_with_an_agent().await;
        for round in 0..20 {
            let snapshots = Arc::new(Snapshots::new());
            let calls: Vec<_> = (0..200)
                .map(|_| {
                    let (snapshots, store, ctx) = (snapshots.clone(), store.clone(), ctx.clone());
                    tokio::spawn(
                        async move { snapshots.get(store.as_ref(), &ctx, "acme", 0).await },
                    )
                })
                .collect();
            let mut read = Vec::new();
            for call in calls {
                // A generous bound that only a lost wake-up reaches.
                let answered = tokio::time::timeout(Duration::from_secs(60), call).await;
                read.push(answered.expect("every call is answered").unwrap().unwrap());
            }
            assert!(
                read.iter().all(|s| Arc::ptr_eq(s, &read[0])),
                "round {round}: the calls read the snapshot more than once"
            );
        }
    }
}
