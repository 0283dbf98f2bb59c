//! Per tenant, the snapshot waiting calls compute from, replaced only when a change of the
//! tenant's distribution changes some bundle.
//!
//! Without it every change of a tenant's generation would wake each of its waiting agents to
//! read the new snapshot and compute its bundle: ten thousand wake-ups for a revision stored at
//! 0 %, and, for a change that does reach them, ten thousand calls queued ahead of the one read
//! that all of them wait for. Here one task per tenant with waiting calls follows the store's
//! generations, reads each new snapshot, and wakes the waiting calls only when its [`Effect`]
//! differs, with the snapshot already read.
//!
//! [`Effect`]: super::snapshot::Effect

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use logplane_store::{Ctx, Store, StoreResult};
use tokio::sync::watch;

use super::loading::Snapshots;
use super::snapshot::Snapshot;

/// How long the task waits before reading again after a failed read.
const RETRY_READ_AFTER: Duration = Duration::from_secs(1);

type Senders = Arc<Mutex<HashMap<String, watch::Sender<Arc<Snapshot>>>>>;

pub struct Published {
    senders: Senders,
    snapshots: Arc<Snapshots>,
}

impl Published {
    pub fn new(snapshots: Arc<Snapshots>) -> Self {
        Self {
            senders: Arc::default(),
            snapshots,
        }
    }

    fn existing(&self, tenant: &str) -> Option<watch::Receiver<Arc<Snapshot>>> {
        let senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        senders.get(tenant).map(watch::Sender::subscribe)
    }

    /// The tenant's published snapshot, starting the task that follows the tenant if none is
    /// running. `ctx` is the caller's: the task reads with it for as long as any call waits.
    pub async fn subscribe(
        &self,
        store: &Arc<dyn Store>,
        ctx: &Ctx,
        tenant: &str,
        minimum: i64,
    ) -> StoreResult<watch::Receiver<Arc<Snapshot>>> {
        if let Some(receiver) = self.existing(tenant) {
            return Ok(receiver);
        }
        // Watched before the first read, so no change after that read goes unseen.
        let changes = store.watch_distribution(tenant);
        let snapshot = self
            .snapshots
            .get(store.as_ref(), ctx, tenant, minimum)
            .await?;
        let mut senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = senders.get(tenant) {
            return Ok(sender.subscribe());
        }
        let (sender, receiver) = watch::channel(snapshot);
        senders.insert(tenant.to_string(), sender.clone());
        let follower = Follower {
            senders: self.senders.clone(),
            snapshots: self.snapshots.clone(),
            store: store.clone(),
            ctx: ctx.clone(),
            tenant: tenant.to_string(),
        };
        tokio::spawn(follower.follow(changes, sender));
        Ok(receiver)
    }
}

/// The task following one tenant's generations.
struct Follower {
    senders: Senders,
    snapshots: Arc<Snapshots>,
    store: Arc<dyn Store>,
    ctx: Ctx,
    tenant: String,
}

impl Follower {
    async fn follow(self, mut changes: watch::Receiver<i64>, sender: watch::Sender<Arc<Snapshot>>) {
        loop {
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        // The store never drops the channel; stop following rather than spin.
                        break;
                    }
                }
                () = sender.closed() => {
                    if self.nobody_waits(&sender) {
                        return;
                    }
                    continue;
                }
            }
            loop {
                let minimum = *changes.borrow_and_update();
                match self
                    .snapshots
                    .get(self.store.as_ref(), &self.ctx, &self.tenant, minimum)
                    .await
                {
                    Ok(snapshot) => {
                        publish(&sender, snapshot);
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(%error, tenant = %self.tenant, "could not read the distribution of a tenant with waiting agents; reading again");
                        tokio::time::sleep(RETRY_READ_AFTER).await;
                        if sender.is_closed() && self.nobody_waits(&sender) {
                            return;
                        }
                    }
                }
            }
        }
        // Calls still waiting see the sender go and follow the store's generations themselves.
        let mut senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        if senders
            .get(&self.tenant)
            .is_some_and(|kept| kept.same_channel(&sender))
        {
            senders.remove(&self.tenant);
        }
    }

    /// Forgets the tenant's sender when no call holds a receiver; true when it did. Checked
    /// under the lock that subscribing takes, so no call subscribes to a sender being dropped.
    fn nobody_waits(&self, sender: &watch::Sender<Arc<Snapshot>>) -> bool {
        let mut senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        if sender.receiver_count() > 0 {
            return false;
        }
        if senders
            .get(&self.tenant)
            .is_some_and(|kept| kept.same_channel(sender))
        {
            senders.remove(&self.tenant);
        }
        true
    }
}

/// Makes `snapshot` the published one when it is newer; wakes the receivers only when it
/// changes some bundle.
fn publish(sender: &watch::Sender<Arc<Snapshot>>, snapshot: Arc<Snapshot>) {
    sender.send_if_modified(|current| {
        if snapshot.generation <= current.generation {
            return false;
        }
        let changes_bundles = snapshot.effect != current.effect;
        *current = snapshot;
        changes_bundles
    });
}
