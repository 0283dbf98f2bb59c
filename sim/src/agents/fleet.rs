//! Simulated agents: each enrolled with its own credential, syncing the way
//! `docs/agent-protocol.md` describes — long-polling with the hash it has, or (the baseline)
//! polling on a fixed interval — and reporting what it applied. What they receive is counted
//! here, so the scenario can tell when a change reached every one of them.
//!
//! They speak HTTP directly rather than through `logplane-client`: an agent needs only the
//! bundle's hash (its `ETag`) and the size of the body, and parsing ten thousand bundles would
//! spend the cores the server under test shares with the simulator.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use logplane_model::{AgentSyncRequest, SyncState, SyncStatus};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, ETAG, IF_NONE_MATCH, RETRY_AFTER};
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
    /// Shared by the whole fleet: one connection pool, a socket per waiting agent.
    pub http: reqwest::Client,
    /// `…/v1/agents/{id}/sync`.
    pub sync_url: String,
    /// `Bearer <the agent's own token>`.
    pub authorization: String,
    /// Its position in the fleet, which spreads polling agents over the interval.
    pub index: usize,
    pub fleet_size: usize,
    /// How long the agent takes to apply a new bundle before its next call reports it.
    pub apply: Duration,
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
        let call = sync(&agent, &request, hash.as_deref(), wait);
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
            Ok(Answer::Changed {
                hash: new_hash,
                bytes,
            }) => {
                tally.receive();
                tally.changed.fetch_add(1, Ordering::Relaxed);
                tally.changed_bytes.fetch_add(bytes, Ordering::Relaxed);
                hash = Some(new_hash);
                if !agent.apply.is_zero() {
                    tokio::time::sleep(agent.apply).await;
                }
            }
            Ok(Answer::Unchanged { bytes }) => {
                tally.unchanged.fetch_add(1, Ordering::Relaxed);
                tally.changed_bytes.fetch_add(bytes, Ordering::Relaxed);
            }
            Err(pause) => {
                tally.errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(pause).await;
            }
        }
    }
}

enum Answer {
    /// 200: a new bundle, its hash (the `ETag`) and its size.
    Changed { hash: String, bytes: u64 },
    /// 304, with whatever body came along (none, per the protocol).
    Unchanged { bytes: u64 },
}

/// One sync call; on failure, how long to wait before the next.
async fn sync(
    agent: &Agent,
    request: &AgentSyncRequest,
    known_hash: Option<&str>,
    wait: Duration,
) -> Result<Answer, Duration> {
    const PAUSE: Duration = Duration::from_secs(1);
    let mut call = agent
        .http
        .post(&agent.sync_url)
        .query(&[("wait_ms", wait.as_millis().to_string())])
        .header(AUTHORIZATION, &agent.authorization)
        .json(request)
        .timeout(wait + Duration::from_secs(30));
    if let Some(hash) = known_hash {
        call = call.header(IF_NONE_MATCH, format!("\"{hash}\""));
    }
    let response = call.send().await.map_err(|_| PAUSE)?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok()?.parse().ok())
        .map(Duration::from_secs);
    let etag = response
        .headers()
        .get(ETAG)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.trim_matches('"').to_string());
    let body = response.bytes().await.map_err(|_| PAUSE)?;
    match (status, etag) {
        (StatusCode::OK, Some(hash)) => Ok(Answer::Changed {
            hash,
            bytes: body.len() as u64,
        }),
        (StatusCode::NOT_MODIFIED, _) => match retry_after {
            // The server could not hold the call: not an answer about the bundle.
            Some(pause) => Err(pause),
            None => Ok(Answer::Unchanged {
                bytes: body.len() as u64,
            }),
        },
        _ => Err(retry_after.unwrap_or(PAUSE)),
    }
}
