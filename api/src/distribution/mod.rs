//! Agents' bundles, computed on this replica. Each tenant's distribution is read once per
//! generation into a [`Snapshot`] shared by all its agents; rendered configs are cached per
//! (revision, agent type) and assembled bundles per snapshot. So when one change wakes ten
//! thousand waiting agents, the store is read once, each revision is rendered once per agent
//! type, and each agent costs a selector match, a rollout bucket per config and a cache lookup.
//!
//! A waiting agent holds its own facts (a few hundred bytes), a watch receiver and its known
//! hash; never a rendered bundle.

mod cache;
mod loading;
mod published;
mod renders;
mod snapshot;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use logplane_store::distribution::{SentSignature, SyncReport};
use logplane_store::{Ctx, Store, StoreResult};
use tokio::sync::watch;
use tokio::time::Instant;

use loading::Snapshots;
use published::Published;
use renders::Renders;
pub use snapshot::{ComputedBundle, Snapshot};

/// What a sync call that could not wait is told: poll again after this many seconds.
const RETRY_AFTER_FULL_SECONDS: u64 = 5;

/// What a sync call answers.
#[derive(Debug)]
pub enum SyncOutcome {
    /// The agent's bundle differs from the hash it sent: 200 with the bundle.
    Changed {
        bundle: Arc<ComputedBundle>,
        full_state_requested: bool,
    },
    /// Nothing changed by the end of the wait: 304. `retry_after_seconds` is set when the call
    /// could not wait (the replica holds its maximum of waiting agents, or is shutting down).
    Unchanged {
        hash: String,
        full_state_requested: bool,
        retry_after_seconds: Option<u64>,
    },
}

pub struct Distribution {
    renders: Renders,
    snapshots: Arc<Snapshots>,
    published: Published,
    /// Calls waiting now, and how many may.
    waiting: AtomicUsize,
    max_waiting: usize,
    /// Records written or waiting to be, by agent: an agent's next call usually comes before
    /// its record lands, and would otherwise queue the same record again.
    recording: Arc<Mutex<HashMap<String, SentSignature>>>,
    /// Set at shutdown: waiting calls answer at once, so the server stops without holding
    /// agents for a whole wait.
    stopping: watch::Sender<bool>,
}

/// Counts a waiting call for as long as it waits.
struct WaitingCall<'a>(&'a AtomicUsize);

impl Drop for WaitingCall<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Distribution {
    pub fn new(ingest_base_url: &str, max_waiting: usize) -> Result<Self, String> {
        let snapshots = Arc::new(Snapshots::new());
        Ok(Self {
            renders: Renders::new(ingest_base_url)?,
            snapshots: snapshots.clone(),
            published: Published::new(snapshots),
            waiting: AtomicUsize::new(0),
            max_waiting,
            recording: Arc::default(),
            stopping: watch::Sender::new(false),
        })
    }

    /// Answers every waiting call now, and every later one without waiting.
    pub fn stop_waiting(&self) {
        self.stopping.send_replace(true);
    }

    /// Calls waiting for a change now.
    pub fn waiting_calls(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Admits one more waiting call, or `None` at the limit.
    fn admit_waiter(&self) -> Option<WaitingCall<'_>> {
        let admitted = self
            .waiting
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                (now < self.max_waiting).then_some(now + 1)
            })
            .is_ok();
        admitted.then_some(WaitingCall(&self.waiting))
    }

    /// Answers a sync call whose report was recorded: at once when the agent's bundle differs
    /// from `known` (or the agent must send its full state), otherwise when a change of the
    /// tenant's distribution changes it, or `Unchanged` at the end of `wait`. Changes come from
    /// the store's generation watch (at once for changes made on this replica, at the next poll
    /// for changes made by others), through the tenant's published snapshot: a waiting call
    /// wakes only for a change that changes some bundle (`published.rs`).
    pub async fn sync(
        &self,
        store: Arc<dyn Store>,
        ctx: &Ctx,
        report: SyncReport,
        known: Option<String>,
        wait: Duration,
    ) -> StoreResult<SyncOutcome> {
        let deadline = Instant::now() + wait;
        let full_state_requested = report.full_state_requested;
        let agent = report.agent;
        let mut recorded = report.sent;
        let mut changes = store.watch_distribution(&agent.tenant);
        let mut stopping = self.stopping.subscribe();
        let mut minimum = report.generation;
        let mut published = Some(
            self.published
                .subscribe(&store, ctx, &agent.tenant, minimum)
                .await?,
        );
        let mut waiter = None;
        loop {
            minimum = minimum.max(*changes.borrow_and_update());
            let newest_published = published
                .as_mut()
                .map(|published| published.borrow_and_update().clone());
            let snapshot = match newest_published {
                Some(snapshot) if snapshot.generation >= minimum => snapshot,
                _ => {
                    self.snapshots
                        .get(store.as_ref(), ctx, &agent.tenant, minimum)
                        .await?
                }
            };
            let computed = snapshot.bundle_for(&agent, &self.renders);
            let signature = computed.sent.signature();
            if signature != recorded {
                self.record_in_background(store.clone(), ctx.clone(), &agent.id, &computed);
                recorded = signature;
            }
            if known.as_deref() != Some(computed.bundle.hash.as_str()) {
                return Ok(SyncOutcome::Changed {
                    bundle: computed,
                    full_state_requested,
                });
            }
            let unchanged = |retry_after_seconds| SyncOutcome::Unchanged {
                hash: computed.bundle.hash.clone(),
                full_state_requested,
                retry_after_seconds,
            };
            if full_state_requested || Instant::now() >= deadline {
                return Ok(unchanged(None));
            }
            if *stopping.borrow() {
                return Ok(unchanged(Some(RETRY_AFTER_FULL_SECONDS)));
            }
            if waiter.is_none() {
                waiter = self.admit_waiter();
                if waiter.is_none() {
                    return Ok(unchanged(Some(RETRY_AFTER_FULL_SECONDS)));
                }
            }
            drop(computed);
            // The published snapshot wakes this call for every change of its bundle when it
            // has the effect this call computed from. A call whose own report made it read a
            // newer snapshot than the one published is ahead of the tenant's task until that
            // task catches up, and follows every generation meanwhile.
            let in_step = published.as_ref().is_some_and(|published| {
                let current = published.borrow();
                Arc::ptr_eq(&current, &snapshot) || current.effect == snapshot.effect
            });
            drop(snapshot);
            let follow_generations = async {
                if in_step {
                    std::future::pending::<()>().await;
                }
                if changes.changed().await.is_err() {
                    // The store dropped the channel (it never does while a receiver lives);
                    // answer at the deadline rather than spin.
                    tokio::time::sleep_until(deadline).await;
                }
            };
            let follow_published = async {
                match published.as_mut() {
                    Some(receiver) => receiver.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = follow_generations => {}
                still_published = follow_published => {
                    if !still_published {
                        // The tenant's task stopped: follow the generations from here on.
                        published = None;
                    }
                }
                _ = stopping.changed() => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    /// Records what the agent is sent without holding up the answer: with thousands of agents
    /// woken at once, answering after a write each would make the last one wait for all the
    /// writes. A report that overtakes its record is matched when the record lands (the store
    /// applies a stored status to a bundle recorded later), and a lost record is made again at
    /// the agent's next call.
    fn record_in_background(
        &self,
        store: Arc<dyn Store>,
        ctx: Ctx,
        agent: &str,
        computed: &ComputedBundle,
    ) {
        let agent = agent.to_string();
        let sent = computed.sent.clone();
        let signature = sent.signature();
        {
            let mut recording = self.recording.lock().unwrap_or_else(|e| e.into_inner());
            if recording.get(&agent) == Some(&signature) {
                return;
            }
            recording.insert(agent.clone(), signature.clone());
        }
        let recording = self.recording.clone();
        tokio::spawn(async move {
            // The store writes records that come together in one transaction, so a fleet woken
            // at once costs a few transactions, not one per agent.
            if let Err(error) = store.record_agent_bundle(&ctx, &agent, sent).await {
                tracing::warn!(%error, agent = %agent, "could not record the bundle sent to an agent");
            }
            // Landed (the agent's next report reads it from the store) or lost (its next call
            // records it again): either way no longer in flight.
            let mut recording = recording.lock().unwrap_or_else(|e| e.into_inner());
            if recording.get(&agent) == Some(&signature) {
                recording.remove(&agent);
            }
        });
    }
}

/// A fresh store and an agent's context, for tests that read a tenant's (empty) distribution.
#[cfg(test)]
async fn store_with_an_agent() -> (logplane_store::testing::TestDatabase, Arc<dyn Store>, Ctx) {
    let database =
        logplane_store::testing::TestDatabase::create(logplane_store::Backend::Sqlite).await;
    let store: Arc<dyn Store> = Arc::new(database.open().await);
    let ctx = Ctx::new(
        logplane_model::Caller {
            key_id: "agent-1".into(),
            role: logplane_model::Role::Agent,
            tenant: Some("acme".into()),
        },
        None,
    );
    (database, store, ctx)
}
