//! The handover state machine against simulated workers: heartbeats deliver each worker its
//! current instruction, reports travel back in any order and arrive late, workers crash and their
//! leases expire, and the scheduler retargets at any moment. At every step: at most one worker
//! writes, a writing worker is the recorded owner, and once a shard had an owner it always has one.

use logplane_scheduler::WorkerId;
use logplane_scheduler::handover::{IngestOwnership, OwnershipEvent, WorkerShardState};
use proptest::prelude::*;

const WORKERS: usize = 4;

#[derive(Debug, Clone)]
enum Action {
    Assign(usize),
    Heartbeat(usize),
    Deliver(usize),
    Crash(usize),
    Expire(usize),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        2 => (0..WORKERS).prop_map(Action::Assign),
        5 => (0..WORKERS).prop_map(Action::Heartbeat),
        4 => any::<usize>().prop_map(Action::Deliver),
        1 => (0..WORKERS).prop_map(Action::Crash),
        1 => (0..WORKERS).prop_map(Action::Expire),
    ]
}

#[derive(Debug, Clone, Default)]
struct SimWorker {
    crashed: bool,
    expired: bool,
    writing: bool,
}

fn id(worker: usize) -> WorkerId {
    WorkerId::new(format!("w{worker}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_two_writers_and_never_no_owner_once_owned(
        start_owned in any::<bool>(),
        actions in proptest::collection::vec(action(), 1..80),
    ) {
        let mut shard = if start_owned {
            IngestOwnership::owned_by(id(0), 1, 0)
        } else {
            IngestOwnership::unowned()
        };
        let mut workers = vec![SimWorker::default(); WORKERS];
        if start_owned {
            workers[0].writing = true;
        }
        let mut in_flight: Vec<OwnershipEvent> = Vec::new();
        let mut had_owner = shard.owner().is_some();
        let mut last_epoch = shard.epoch();

        for action in &actions {
            match *action {
                Action::Assign(w) if !workers[w].crashed => {
                    shard.apply(&OwnershipEvent::Assign(id(w)));
                }
                Action::Heartbeat(w) if !workers[w].crashed => {
                    let instruction = shard
                        .instructions()
                        .into_iter()
                        .find(|(worker, _)| *worker == id(w))
                        .map(|(_, state)| state);
                    match instruction {
                        Some(WorkerShardState::Active { .. }) => workers[w].writing = true,
                        Some(WorkerShardState::Pending { handover }) => {
                            workers[w].writing = false;
                            in_flight.push(OwnershipEvent::Ready { worker: id(w), handover });
                        }
                        Some(WorkerShardState::Releasing { handover }) => {
                            // Stops writing before it reports.
                            workers[w].writing = false;
                            in_flight.push(OwnershipEvent::Released { worker: id(w), handover });
                        }
                        None => workers[w].writing = false,
                    }
                }
                Action::Deliver(pick) if !in_flight.is_empty() => {
                    let event = in_flight.remove(pick % in_flight.len());
                    shard.apply(&event);
                }
                Action::Crash(w) => {
                    workers[w].crashed = true;
                    workers[w].writing = false;
                }
                Action::Expire(w) if workers[w].crashed && !workers[w].expired => {
                    // The lease runs out only after the crash: a live worker keeps its lease.
                    workers[w].expired = true;
                    shard.apply(&OwnershipEvent::Lost(id(w)));
                }
                _ => {}
            }

            let writers: Vec<usize> = (0..WORKERS).filter(|&w| workers[w].writing).collect();
            prop_assert!(writers.len() <= 1, "two writers {:?} after {:?}", writers, action);
            if let Some(&writer) = writers.first() {
                prop_assert_eq!(shard.owner(), Some(&id(writer)), "a writer that is not the owner");
            }
            if had_owner {
                prop_assert!(shard.owner().is_some(), "the shard lost its owner after {:?}", action);
            }
            had_owner |= shard.owner().is_some();
            prop_assert!(shard.epoch() >= last_epoch);
            last_epoch = shard.epoch();
            // Active or releasing: at most one worker is told it holds the shard.
            let told_to_hold = shard
                .instructions()
                .iter()
                .filter(|(_, s)| !matches!(s, WorkerShardState::Pending { .. }))
                .count();
            prop_assert!(told_to_hold <= 1, "more than one worker told it holds the shard");
        }
    }
}
