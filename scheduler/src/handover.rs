//! Make-before-break handover of a shard's ingest ownership, as a small pure state machine.
//!
//! The control plane records, per shard, the *acknowledged* owner: the one worker allowed to
//! write. Changing it goes through three steps, each driven by a worker's report:
//!
//! 1. `Assign(B)` while `A` owns: `B` is told `Pending` (open the shard, get ready, do not write);
//!    `A` stays `Active`.
//! 2. `Ready(B)`: `A` is told `Releasing` (stop accepting writes, flush, report); `B` still waits.
//! 3. `Released(A)`: `B` becomes the acknowledged owner (the epoch goes up) and is told `Active`.
//!
//! So the record always names exactly one owner once the shard has had one, and a worker only
//! starts writing after the previous one reported it stopped: no moment with two writers, and the
//! owner is never dropped before its successor is ready (the pause between 2 and 3 is one
//! heartbeat round trip, not a loss of ownership).
//!
//! Failures: a lost incoming worker cancels the handover (the owner is told `Active` again if it
//! was releasing); a lost owner counts as released, because a worker whose lease expired stops
//! writing — the lease is the fence. Reports carry the handover's number, so a stale `Ready` or
//! `Released` from an earlier, cancelled handover is ignored. A new target asked for while the
//! owner is releasing is remembered and started when the current handover completes.

use crate::ids::WorkerId;

/// What a worker is told about one shard in its heartbeat answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerShardState {
    /// Prepare to own the shard; do not accept writes. Report `ready` with this handover number.
    Pending { handover: u64 },
    /// Accept writes; `epoch` fences writes of earlier owners in the data plane.
    Active { epoch: u64 },
    /// Stop accepting writes, flush, and report `released` with this handover number.
    Releasing { handover: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnershipEvent {
    /// The scheduler wants this worker to own the shard (from a placement).
    Assign(WorkerId),
    /// The worker reported the shard ready (step 2).
    Ready { worker: WorkerId, handover: u64 },
    /// The worker reported it stopped writing and flushed (step 3).
    Released { worker: WorkerId, handover: u64 },
    /// The worker's lease expired: it is gone and writes nothing.
    Lost(WorkerId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoverPhase {
    /// The incoming worker is preparing.
    Preparing,
    /// The incoming worker is ready; the owner was told to release.
    Releasing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    pub number: u64,
    pub to: WorkerId,
    pub phase: HandoverPhase,
}

/// Whether an event changed the state (the caller persists and publishes only then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Changed,
    /// A stale or irrelevant event: a report for another handover, a loss of an uninvolved worker.
    Ignored,
}

/// One shard's ingest ownership as the control plane records it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IngestOwnership {
    owner: Option<WorkerId>,
    /// The owner's lease expired; it will be replaced as soon as the incoming worker is ready.
    owner_lost: bool,
    epoch: u64,
    handover: Option<Handover>,
    /// A target asked for while the owner was releasing, started after the handover completes.
    next_target: Option<WorkerId>,
    /// The number of the last handover started; numbers are never reused.
    last_handover: u64,
}

/// Everything [`IngestOwnership`] holds, with public fields, for storing it between rounds and
/// rebuilding it after a leader change. Persist every field: a handover in flight, a queued
/// target and the lost flag are all part of the safety argument.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnershipRecord {
    pub owner: Option<WorkerId>,
    pub owner_lost: bool,
    pub epoch: u64,
    pub handover: Option<Handover>,
    pub next_target: Option<WorkerId>,
    pub last_handover: u64,
}

impl IngestOwnership {
    /// Rebuilds the state stored with [`IngestOwnership::record`]. A record that could not have
    /// been produced by the state machine (a handover numbered above `last_handover`, a lost flag
    /// without an owner) is repaired towards safety: numbers move up, a lost flag needs an owner.
    pub fn from_record(record: OwnershipRecord) -> Self {
        let last_handover = record
            .handover
            .as_ref()
            .map_or(record.last_handover, |h| h.number.max(record.last_handover));
        Self {
            owner_lost: record.owner_lost && record.owner.is_some(),
            owner: record.owner,
            epoch: record.epoch,
            handover: record.handover,
            next_target: record.next_target,
            last_handover,
        }
    }

    /// The whole state, for storing.
    pub fn record(&self) -> OwnershipRecord {
        OwnershipRecord {
            owner: self.owner.clone(),
            owner_lost: self.owner_lost,
            epoch: self.epoch,
            handover: self.handover.clone(),
            next_target: self.next_target.clone(),
            last_handover: self.last_handover,
        }
    }

    /// Whether the owner's lease expired; it is told nothing and replaced when a successor is
    /// ready.
    pub fn owner_lost(&self) -> bool {
        self.owner_lost
    }

    /// The worker this shard is on its way to: the queued target, else the incoming worker of
    /// the handover in flight, else the owner. What placement should see as the previous
    /// desired ingest owner.
    pub fn desired_owner(&self) -> Option<&WorkerId> {
        self.next_target
            .as_ref()
            .or(self.handover.as_ref().map(|h| &h.to))
            .or(self.owner.as_ref())
    }

    /// A shard nobody owns yet (just created).
    pub fn unowned() -> Self {
        Self::default()
    }

    /// A shard as stored: its owner and epoch, no handover in flight.
    pub fn owned_by(owner: WorkerId, epoch: u64, last_handover: u64) -> Self {
        Self {
            owner: Some(owner),
            epoch,
            last_handover,
            ..Self::default()
        }
    }

    /// The acknowledged owner, the only worker allowed to write.
    pub fn owner(&self) -> Option<&WorkerId> {
        self.owner.as_ref()
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn handover(&self) -> Option<&Handover> {
        self.handover.as_ref()
    }

    pub fn last_handover(&self) -> u64 {
        self.last_handover
    }

    /// No handover in flight and nothing queued.
    pub fn is_settled(&self) -> bool {
        self.handover.is_none() && self.next_target.is_none()
    }

    pub fn apply(&mut self, event: &OwnershipEvent) -> Applied {
        let before = self.clone();
        match event {
            OwnershipEvent::Assign(worker) => self.assign(worker),
            OwnershipEvent::Ready { worker, handover } => self.ready(worker, *handover),
            OwnershipEvent::Released { worker, handover } => self.released(worker, *handover),
            OwnershipEvent::Lost(worker) => self.lost(worker),
        }
        // The record never goes back to naming no owner: that would be a moment without one.
        debug_assert!(before.owner.is_none() || self.owner.is_some());
        debug_assert!(self.epoch >= before.epoch);
        if *self == before {
            Applied::Ignored
        } else {
            Applied::Changed
        }
    }

    /// What each involved worker is told. The owner and the incoming worker at most; a lost owner
    /// is told nothing (it is gone).
    pub fn instructions(&self) -> Vec<(WorkerId, WorkerShardState)> {
        let mut out = Vec::with_capacity(2);
        if let Some(owner) = &self.owner
            && !self.owner_lost
        {
            let state = match &self.handover {
                Some(h) if h.phase == HandoverPhase::Releasing => {
                    WorkerShardState::Releasing { handover: h.number }
                }
                _ => WorkerShardState::Active { epoch: self.epoch },
            };
            out.push((owner.clone(), state));
        }
        if let Some(h) = &self.handover {
            out.push((
                h.to.clone(),
                WorkerShardState::Pending { handover: h.number },
            ));
        }
        out
    }

    fn start(&mut self, to: &WorkerId) {
        self.last_handover += 1;
        self.handover = Some(Handover {
            number: self.last_handover,
            to: to.clone(),
            phase: HandoverPhase::Preparing,
        });
    }

    fn assign(&mut self, worker: &WorkerId) {
        match &self.handover {
            Some(h) if h.phase == HandoverPhase::Releasing => {
                // The owner may already have stopped; finish this handover first.
                self.next_target = (h.to != *worker).then(|| worker.clone());
            }
            Some(h) if h.to == *worker => {}
            _ if self.owner.as_ref() == Some(worker) && !self.owner_lost => {
                // Back to the current owner: cancel a preparing handover.
                self.handover = None;
            }
            _ => self.start(worker),
        }
    }

    fn ready(&mut self, worker: &WorkerId, number: u64) {
        let Some(h) = &mut self.handover else {
            return;
        };
        if h.to != *worker || h.number != number || h.phase != HandoverPhase::Preparing {
            return;
        }
        if self.owner.is_none() || self.owner_lost {
            // Nobody to release: the incoming worker takes over at once.
            self.complete();
        } else {
            h.phase = HandoverPhase::Releasing;
        }
    }

    fn released(&mut self, worker: &WorkerId, number: u64) {
        let Some(h) = &self.handover else {
            return;
        };
        if h.number != number || h.phase != HandoverPhase::Releasing {
            return;
        }
        if self.owner.as_ref() == Some(worker) {
            self.complete();
        }
    }

    fn lost(&mut self, worker: &WorkerId) {
        if self.handover.as_ref().is_some_and(|h| h.to == *worker) {
            // The incoming worker is gone: the owner keeps the shard (told `Active` again if it
            // was releasing), and the scheduler picks another target.
            self.handover = None;
            self.next_target = None;
            return;
        }
        if self.owner.as_ref() == Some(worker) && !self.owner_lost {
            self.owner_lost = true;
            if self
                .handover
                .as_ref()
                .is_some_and(|h| h.phase == HandoverPhase::Releasing)
            {
                // It was releasing; its lease ending is as good as its report.
                self.complete();
            }
        }
    }

    fn complete(&mut self) {
        let h = self
            .handover
            .take()
            .expect("completing a handover in flight");
        self.owner = Some(h.to);
        self.owner_lost = false;
        self.epoch += 1;
        if let Some(next) = self.next_target.take()
            && self.owner.as_ref() != Some(&next)
        {
            self.start(&next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(id: &str) -> WorkerId {
        WorkerId::new(id)
    }

    fn active(state: &IngestOwnership) -> Vec<WorkerId> {
        state
            .instructions()
            .into_iter()
            .filter(|(_, s)| matches!(s, WorkerShardState::Active { .. }))
            .map(|(w, _)| w)
            .collect()
    }

    #[test]
    fn a_planned_handover_keeps_the_owner_until_the_successor_is_ready_and_it_released() {
        let mut shard = IngestOwnership::owned_by(w("a"), 7, 0);
        shard.apply(&OwnershipEvent::Assign(w("b")));
        assert_eq!(active(&shard), [w("a")]);
        assert_eq!(
            shard.instructions()[1],
            (w("b"), WorkerShardState::Pending { handover: 1 })
        );
        shard.apply(&OwnershipEvent::Ready {
            worker: w("b"),
            handover: 1,
        });
        assert_eq!(shard.owner(), Some(&w("a")));
        assert_eq!(
            shard.instructions()[0],
            (w("a"), WorkerShardState::Releasing { handover: 1 })
        );
        assert!(active(&shard).is_empty());
        shard.apply(&OwnershipEvent::Released {
            worker: w("a"),
            handover: 1,
        });
        assert_eq!(shard.owner(), Some(&w("b")));
        assert_eq!(shard.epoch(), 8);
        assert_eq!(
            shard.instructions(),
            [(w("b"), WorkerShardState::Active { epoch: 8 })]
        );
        assert!(shard.is_settled());
    }

    #[test]
    fn a_new_shard_gets_its_first_owner_when_it_is_ready() {
        let mut shard = IngestOwnership::unowned();
        shard.apply(&OwnershipEvent::Assign(w("a")));
        assert_eq!(shard.owner(), None);
        shard.apply(&OwnershipEvent::Ready {
            worker: w("a"),
            handover: 1,
        });
        assert_eq!(shard.owner(), Some(&w("a")));
        assert_eq!(shard.epoch(), 1);
    }

    #[test]
    fn a_stale_release_from_a_cancelled_handover_is_ignored() {
        let mut shard = IngestOwnership::owned_by(w("a"), 1, 0);
        shard.apply(&OwnershipEvent::Assign(w("b")));
        shard.apply(&OwnershipEvent::Ready {
            worker: w("b"),
            handover: 1,
        });
        // b dies while a is releasing: a is told to carry on.
        shard.apply(&OwnershipEvent::Lost(w("b")));
        assert_eq!(active(&shard), [w("a")]);
        shard.apply(&OwnershipEvent::Assign(w("c")));
        shard.apply(&OwnershipEvent::Ready {
            worker: w("c"),
            handover: 2,
        });
        // a's report for handover 1 arrives late: it must not hand the shard to c while a may
        // be writing again.
        let applied = shard.apply(&OwnershipEvent::Released {
            worker: w("a"),
            handover: 1,
        });
        assert_eq!(applied, Applied::Ignored);
        assert_eq!(shard.owner(), Some(&w("a")));
    }

    #[test]
    fn a_lost_owner_is_replaced_as_soon_as_the_successor_is_ready() {
        let mut shard = IngestOwnership::owned_by(w("a"), 3, 0);
        shard.apply(&OwnershipEvent::Lost(w("a")));
        // Still the acknowledged owner on record, though it is told nothing.
        assert_eq!(shard.owner(), Some(&w("a")));
        assert!(shard.instructions().is_empty());
        shard.apply(&OwnershipEvent::Assign(w("b")));
        shard.apply(&OwnershipEvent::Ready {
            worker: w("b"),
            handover: 1,
        });
        assert_eq!(shard.owner(), Some(&w("b")));
        assert_eq!(shard.epoch(), 4);
    }

    #[test]
    fn a_stored_record_rebuilds_the_same_state_mid_handover() {
        let mut shard = IngestOwnership::owned_by(w("a"), 2, 4);
        shard.apply(&OwnershipEvent::Assign(w("b")));
        shard.apply(&OwnershipEvent::Ready {
            worker: w("b"),
            handover: 5,
        });
        shard.apply(&OwnershipEvent::Assign(w("c")));
        let rebuilt = IngestOwnership::from_record(shard.record());
        assert_eq!(rebuilt, shard);
        assert_eq!(rebuilt.desired_owner(), Some(&w("c")));
        let mut lost = IngestOwnership::owned_by(w("a"), 1, 0);
        lost.apply(&OwnershipEvent::Lost(w("a")));
        assert!(IngestOwnership::from_record(lost.record()).owner_lost());
    }

    #[test]
    fn a_retarget_during_release_waits_for_the_release() {
        let mut shard = IngestOwnership::owned_by(w("a"), 0, 0);
        shard.apply(&OwnershipEvent::Assign(w("b")));
        shard.apply(&OwnershipEvent::Ready {
            worker: w("b"),
            handover: 1,
        });
        shard.apply(&OwnershipEvent::Assign(w("c")));
        assert_eq!(shard.handover().unwrap().to, w("b"));
        shard.apply(&OwnershipEvent::Released {
            worker: w("a"),
            handover: 1,
        });
        assert_eq!(shard.owner(), Some(&w("b")));
        assert_eq!(shard.handover().unwrap().to, w("c"));
        assert_eq!(shard.handover().unwrap().number, 2);
    }
}
