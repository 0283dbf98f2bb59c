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
use std::sync::{Arc, Mutex, MutexGuard};
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
        self.forget(&mut self.lock_senders(), &sender);
    }

    /// Forgets the tenant's sender when no call holds a receiver; true when it did. Checked
    /// under the lock that subscribing takes, so no call subscribes to a sender being dropped.
    fn nobody_waits(&self, sender: &watch::Sender<Arc<Snapshot>>) -> bool {
        let mut senders = self.lock_senders();
        if sender.receiver_count() > 0 {
            return false;
        }
        self.forget(&mut senders, sender);
        true
    }

    fn lock_senders(&self) -> MutexGuard<'_, HashMap<String, watch::Sender<Arc<Snapshot>>>> {
        self.senders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes `sender` from `senders`, unless the tenant's entry is already another's.
    fn forget(
        &self,
        senders: &mut HashMap<String, watch::Sender<Arc<Snapshot>>>,
        sender: &watch::Sender<Arc<Snapshot>>,
    ) {
        if senders
            .get(&self.tenant)
            .is_some_and(|kept| kept.same_channel(sender))
        {
            senders.remove(&self.tenant);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distribution::snapshot::tests::{first_revision_everywhere, second_revision_at};
    use crate::distribution::store_with_an_agent;

    #[test]
    fn only_newer_snapshots_that_change_bundles_wake_the_waiting_calls() {
        let snapshot = |distribution| Arc::new(Snapshot::new(distribution));
        let (sender, mut waiting) = watch::channel(snapshot(first_revision_everywhere(1)));
        waiting.borrow_and_update();

        // A revision stored at 0 %: published, so later calls compute from it, but nobody woken.
        publish(&sender, snapshot(second_revision_at(2, 0)));
        assert!(!waiting.has_changed().unwrap());
        assert_eq!(waiting.borrow().generation, 2);

        // An older snapshot (a slow read) is ignored, whatever it holds.
        publish(&sender, snapshot(second_revision_at(1, 50)));
        assert!(!waiting.has_changed().unwrap());
        assert_eq!(waiting.borrow().generation, 2);

        publish(&sender, snapshot(second_revision_at(3, 50)));
        assert!(waiting.has_changed().unwrap());
        assert_eq!(waiting.borrow_and_update().generation, 3);
    }

    /// The task following a tenant ends when its last waiting call goes, and the next call
    /// starts another.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tenant_is_followed_while_calls_wait() {
        let (_database, store, ctx) = store_with_an_agent().await;
        let published = Published::new(Arc::new(Snapshots::new()));
        let followed = |published: &Published| published.senders.lock().unwrap().len();
        for _ in 0..3 {
            let first = published.subscribe(&store, &ctx, "acme", 0).await.unwrap();
            let second = published.subscribe(&store, &ctx, "acme", 0).await.unwrap();
            assert!(first.same_channel(&second), "one task per tenant");
            assert_eq!(followed(&published), 1);
            drop((first, second));
            // A generous bound that only a task that never ends reaches.
            tokio::time::timeout(Duration::from_secs(60), async {
                while followed(&published) > 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await
            .expect("the task ends with its last waiting call");
        }
    }
}
