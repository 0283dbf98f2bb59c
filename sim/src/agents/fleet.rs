//! Simulated agents: each enrolled with its own credential, syncing the way
//! `docs/agent-protocol.md` describes — long-polling with the hash it has, or (the baseline)
//! polling on a fixed interval — and reporting what it applied. What they receive is counted
//! here, so the scenario can tell when a change reached every one of them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use logplane_client::{BundleUpdate, Client};
use logplane_model::{AgentSyncRequest, SyncState, SyncStatus};
use tokio::sync::watch;
use tokio::time::Instant;

/// How the fleet syncs right now; every agent follows a change at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No calls.
    Idle,
    /// Call again as soon as a call ends, each waiting up to this long for a change.
    LongPoll {
        wait: Duration,
    },
    /// One call without waiting every `interval`, agents spread evenly over it.
    Poll {
        interval: Duration,
    },
    Stop,
}

/// What the fleet has received, shared by every agent.
#[derive(Default)]
pub struct Tally {
    /// Bundles received (200) and their JSON size.
    pub changed: AtomicU64,
    pub changed_bytes: AtomicU64,
    /// Answers that the agent's bundle is current (304).
    pub unchanged: AtomicU64,
    pub errors: AtomicU64,
    /// The change the scenario made last; a bundle received now is counted as its receipt.
    pub round: AtomicUsize,
    receipts: Mutex<Vec<(usize, Instant)>>,
}

impl Tally {
    /// Zeroes the answer counters (not the receipts).
    pub fn reset_counters(&self) {
        for counter in [
            &self.changed,
            &self.changed_bytes,
            &self.unchanged,
            &self.errors,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }

    fn receive(&self) {
        let round = self.round.load(Ordering::Acquire);
        self.receipts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((round, Instant::now()));
    }

    /// When each agent received the bundle of `round`, in no order.
    pub fn receipts_of(&self, round: usize) -> Vec<Instant> {
        self.receipts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .filter(|(r, _)| *r == round)
            .map(|(_, at)| *at)
            .collect()
    }
}

pub struct Agent {
    pub id: String,
    /// Holds the agent's own token; shares the connection pool with the whole fleet.
    pub client: Client,
    /// Its position in the fleet, which spreads polling agents over the interval.
    pub index: usize,
    pub fleet_size: usize,
}

/// Runs one agent until the mode says stop.
pub async fn run(agent: Agent, mut mode: watch::Receiver<Mode>, tally: &Tally) {
    let mut seq: i64 = 0;
    let mut hash: Option<String> = None;
    let mut next_poll: Option<Instant> = None;
    loop {
        let current = *mode.borrow_and_update();
        let wait = match current {
            Mode::Stop => return,
            Mode::Idle => {
                next_poll = None;
                if mode.changed().await.is_err() {
                    return;
                }
                continue;
            }
            Mode::LongPoll { wait } => {
                next_poll = None;
                wait
            }
            Mode::Poll { interval } => {
                let due = *next_poll.get_or_insert_with(|| {
                    Instant::now()
                        + interval.mul_f64(agent.index as f64 / agent.fleet_size.max(1) as f64)
                });
                tokio::select! {
                    _ = tokio::time::sleep_until(due) => {}
                    changed = mode.changed() => {
                        if changed.is_err() { return; }
                        continue;
                    }
                }
                next_poll = Some(due + interval);
                Duration::ZERO
            }
        };
        seq += 1;
        let request = AgentSyncRequest {
            seq,
            status: hash.as_ref().map(|hash| SyncStatus {
                hash: hash.clone(),
                state: SyncState::Applied,
                message: String::new(),
            }),
            attributes: None,
        };
        let call = agent
            .client
            .sync_agent(&agent.id, &request, hash.as_deref(), wait);
        let answer = tokio::select! {
            answer = call => answer,
            changed = mode.changed() => {
                // The mode changed mid-call: drop the call (the server sees the connection
                // close) and follow the new mode.
                if changed.is_err() { return; }
                continue;
            }
        };
        match answer {
            Ok(sync) => match sync.update {
                BundleUpdate::Changed(bundle) => {
                    tally.receive();
                    tally.changed.fetch_add(1, Ordering::Relaxed);
                    // The rendered files are the config bytes; the envelope is a few dozen more.
                    let size: usize = bundle.files.iter().map(|file| file.body.len()).sum();
                    tally
                        .changed_bytes
                        .fetch_add(size as u64, Ordering::Relaxed);
                    hash = Some(bundle.hash);
                }
                BundleUpdate::Unchanged { .. } => {
                    tally.unchanged.fetch_add(1, Ordering::Relaxed);
                }
            },
            Err(error) => {
                tally.errors.fetch_add(1, Ordering::Relaxed);
                let pause = error.retry_after().unwrap_or(Duration::from_secs(1));
                tokio::time::sleep(pause).await;
            }
        }
    }
}
