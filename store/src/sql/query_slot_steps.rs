//! The arbiter's steps, many to a transaction.
//!
//! Every decision of the query-slot arbiter holds the one `query_arbiter` row, so decisions run
//! one at a time across the cluster, and each used to pay for a transaction of its own: the lock,
//! a dozen statements, a commit. Under a few dozen frontends, waiting for that lock set the pace
//! (374 acquire+release pairs a second on PostgreSQL with 32 frontends, against 1,623 batched,
//! on one machine). Here a replica's steps queue
//! ([`BatchQueue`]) and whoever finds no batch in progress runs every step queued so far in one
//! transaction: one lock, one expiry pass, one dispatch and one commit for the lot. With no
//! contention a step runs at once, alone.
//!
//! A batch changes no decision's rules. Steps run in the order they queued, each sees the ones
//! before it, and the dispatch that ends the batch grants in start-tag order over everything
//! waiting, as the dispatch after each step did. Requests tagged in one batch share the virtual
//! time of its start, as if they had arrived together.

use std::time::Duration;

use logplane_model::{QuerySlotRequest, Timestamp};

use super::batching::each_alone_if_together_fails;
use super::query_slot_cache::BatchCache;
use super::query_slots::Enqueued;
use super::{SqlStore, commit, retrying};
use crate::context::SlotAdmission;
use crate::error::{StoreError, StoreResult};

/// The most steps in one transaction. Each adds one to three statements under the arbiter lock
/// (with the tenants and projects it names read once per batch), so a batch this size holds the
/// lock for milliseconds, and the waiters behind it are not kept long.
pub(super) const MAX_ARBITER_BATCH: usize = 64;

/// A frontend's request for a slot, validated and authorized.
pub(super) struct SlotRequest {
    /// The key that asks; only it may renew or release the slot.
    pub(super) holder: String,
    pub(super) tenant: String,
    pub(super) project: String,
    pub(super) request: QuerySlotRequest,
    pub(super) max_wait: Duration,
}

/// One decision for the arbiter.
pub(super) enum ArbiterStep {
    /// Tag and queue a request (granted by the batch's dispatch if it can be).
    Enqueue(SlotRequest),
    /// Remove a slot or queued request; of `holder` only, when one is given.
    Remove { id: String, holder: Option<String> },
    /// End a wait: remove the request unless it was granted in the meantime.
    GiveUp { id: String },
    /// Only expire what lapsed and grant what that frees.
    Dispatch,
}

/// What a step did.
pub(super) enum StepOutcome {
    Enqueued(Enqueued),
    Removed(bool),
    GaveUp(SlotAdmission),
    /// Grants made by the batch that carried the step.
    Dispatched(usize),
}

impl SqlStore {
    /// Runs `step` in the next batch of this replica's arbiter steps.
    pub(super) async fn arbiter_step(&self, step: ArbiterStep) -> StoreResult<StepOutcome> {
        let store = self.clone();
        self.arbiter_steps
            .submit(step, move |steps| run_steps(store.clone(), steps))
            .await
    }
}

/// Runs `steps` in one transaction, retried whole when it loses a race; if it fails otherwise,
/// each step alone, so a step that breaks the batch fails by itself.
async fn run_steps(store: SqlStore, steps: Vec<ArbiterStep>) -> Vec<StoreResult<StepOutcome>> {
    let store = &store;
    let steps = &steps;
    each_alone_if_together_fails(steps.len(), "arbiter step", |range| {
        retrying(move || steps_once(store, &steps[range.clone()]))
    })
    .await
}

async fn steps_once(
    store: &SqlStore,
    steps: &[ArbiterStep],
) -> StoreResult<Vec<StoreResult<StepOutcome>>> {
    // The queue holds the write turn for the whole batch (SQLite; it shares the store's turn).
    let mut tx = store.begin_write_in_turn().await?;
    let virtual_time = store.lock_arbiter(&mut tx).await?;
    let now = Timestamp::now().unix_micros();
    let mut cache = BatchCache::default();
    store.expire_slots(&mut tx, now, &mut cache).await?;
    let mut outcomes = Vec::with_capacity(steps.len());
    for step in steps {
        outcomes.push(match step {
            ArbiterStep::Enqueue(request) => store
                .enqueue_in_tx(&mut tx, virtual_time, now, &mut cache, request)
                .await?
                .map(StepOutcome::Enqueued),
            ArbiterStep::Remove { id, holder } => Ok(StepOutcome::Removed(
                store
                    .delete_slot(&mut tx, id, holder.as_deref(), now, &mut cache)
                    .await?,
            )),
            ArbiterStep::GiveUp { id } => Ok(StepOutcome::GaveUp(
                store.give_up_in_tx(&mut tx, id, now, &mut cache).await?,
            )),
            ArbiterStep::Dispatch => Ok(StepOutcome::Dispatched(0)),
        });
    }
    cache.write_tenants(store, &mut tx).await?;
    let granted = store
        .dispatch_in_tx(&mut tx, virtual_time, now, &mut cache)
        .await?;
    for (step, outcome) in steps.iter().zip(outcomes.iter_mut()) {
        let answer = match (step, &*outcome) {
            (_, Ok(StepOutcome::Dispatched(_))) => StepOutcome::Dispatched(granted.len()),
            (
                ArbiterStep::Enqueue(SlotRequest { max_wait, .. }),
                Ok(StepOutcome::Enqueued(Enqueued::Waiting(id))),
            ) => {
                if granted.contains(id) {
                    StepOutcome::Enqueued(Enqueued::Granted(id.clone()))
                } else if max_wait.is_zero() {
                    // Not granted and not allowed to wait: it leaves, charged nothing, as if it
                    // had never come.
                    store
                        .remove_slots(&mut tx, "id = $1", &[id], now, &mut cache)
                        .await?;
                    StepOutcome::Enqueued(Enqueued::Refused(SlotAdmission::TimedOut))
                } else {
                    continue;
                }
            }
            _ => continue,
        };
        *outcome = Ok(answer);
    }
    cache.write_tenants(store, &mut tx).await?;
    commit(tx).await?;
    if !granted.is_empty() {
        store.slot_grants.notify_waiters();
    }
    Ok(outcomes)
}

/// The outcome of a step that cannot be of another kind.
pub(super) fn unexpected(outcome: &StepOutcome) -> StoreError {
    let kind = match outcome {
        StepOutcome::Enqueued(_) => "an enqueue",
        StepOutcome::Removed(_) => "a removal",
        StepOutcome::GaveUp(_) => "a give-up",
        StepOutcome::Dispatched(_) => "a dispatch",
    };
    StoreError::internal(format!("an arbiter step answered as {kind}"))
}
