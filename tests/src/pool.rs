//! Simulated workers for end-to-end tests, and a ledger that checks — from the workers' own
//! point of view — that no key of any logstore is ever writable on two workers, or on two
//! shards, at the same moment.
//!
//! A simulated worker follows `docs/worker-protocol.md`: it registers, long-polls heartbeats
//! against the replicas it knows (moving to the next one when a call fails), reports `ready` for
//! every shard it is told `pending` and `released` for every shard it is told `releasing` (having
//! stopped writing it first), and accepts writes for its `active` ingest shards only until its
//! lease — counted from when it sent the last answered heartbeat — runs out. When that lease
//! lapses it drops its ingest shards and asks for its whole assignment again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use logplane_client::{Client, Error, Precondition, StatusCode};
use logplane_model::{
    AssignedShard, AssignedState, HandoverReport, KeyRange, ShardLoad, ShardRef, WorkerCapacity,
    WorkerHeartbeat, WorkerRole, WorkerSpec,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What one worker believes it may write.
#[derive(Debug, Clone)]
struct Claim {
    worker: String,
    shard: ShardRef,
    range: KeyRange,
    epoch: i64,
    valid_until: Instant,
}

#[derive(Debug, Default)]
struct Ledger {
    claims: Vec<Claim>,
    violations: Vec<String>,
    /// The assignment each worker last received, ingest and query.
    assignments: HashMap<String, Vec<AssignedShard>>,
}

/// Every worker's belief about what it may write, checked whenever one changes.
#[derive(Debug, Default)]
pub struct OwnershipLedger {
    inner: Mutex<Ledger>,
}

fn overlap(a: &KeyRange, b: &KeyRange) -> bool {
    let before_end = |key: u128, end: Option<u128>| end.is_none_or(|end| key < end);
    before_end(a.begin, b.end) && before_end(b.begin, a.end)
}

fn same_logstore(a: &ShardRef, b: &ShardRef) -> bool {
    a.tenant == b.tenant && a.project == b.project && a.logstore == b.logstore
}

impl OwnershipLedger {
    fn lock(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `worker` now believes it may write exactly `writing`, until `valid_until`. Any other
    /// belief still valid over one of those keys is a violation.
    fn claim(&self, worker: &str, writing: Vec<(ShardRef, KeyRange, i64)>, valid_until: Instant) {
        let now = Instant::now();
        let mut ledger = self.lock();
        ledger
            .claims
            .retain(|c| c.worker != worker && c.valid_until > now);
        let mut found = Vec::new();
        for (at, (shard, range, epoch)) in writing.iter().enumerate() {
            for other in &ledger.claims {
                if same_logstore(&other.shard, shard) && overlap(&other.range, range) {
                    found.push(format!(
                        "{worker} may write shard {} (epoch {epoch}) while {} may still write shard {} (epoch {}) over the same keys",
                        shard.shard_id, other.worker, other.shard.shard_id, other.epoch
                    ));
                }
            }
            for (other, other_range, _) in &writing[..at] {
                if same_logstore(other, shard) && overlap(other_range, range) {
                    found.push(format!(
                        "{worker} may write shards {} and {} over the same keys",
                        other.shard_id, shard.shard_id
                    ));
                }
            }
        }
        ledger.violations.extend(found);
        for (shard, range, epoch) in writing {
            ledger.claims.push(Claim {
                worker: worker.to_string(),
                shard,
                range,
                epoch,
                valid_until,
            });
        }
    }

    /// `worker` received `assignment` (or dropped everything, when it is empty).
    fn assigned(&self, worker: &str, assignment: &[AssignedShard]) {
        self.lock()
            .assignments
            .insert(worker.to_string(), assignment.to_vec());
    }

    /// The assignment each worker last received. A stopped worker's stays: it may still
    /// believe it until its lease runs out.
    pub fn assignments(&self) -> HashMap<String, Vec<AssignedShard>> {
        self.lock().assignments.clone()
    }

    /// Every violation seen so far.
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// Who may write each shard right now.
    pub fn writers(&self) -> BTreeMap<ShardRef, String> {
        let now = Instant::now();
        self.lock()
            .claims
            .iter()
            .filter(|c| c.valid_until > now)
            .map(|c| (c.shard.clone(), c.worker.clone()))
            .collect()
    }
}

/// How a simulated worker behaves.
#[derive(Debug, Clone)]
pub struct SimWorkerConfig {
    pub id: String,
    pub zone: String,
    pub shards: i64,
    /// `wait_ms` of its heartbeats.
    pub wait_ms: u32,
    /// The replica it talks to first (an index into the clients it is given).
    pub first_replica: usize,
    /// The ingest rate (bytes/s) it reports for each active ingest shard it finds here; it
    /// reports none without.
    pub loads: Option<ShardLoads>,
}

/// Ingest rates by shard, shared by a simulated fleet and changed while it runs.
pub type ShardLoads = Arc<RwLock<HashMap<ShardRef, i64>>>;

/// A running simulated worker.
pub struct SimWorker {
    pub id: String,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl SimWorker {
    /// Starts heartbeating through `replicas` (clients holding a worker token).
    pub fn start(
        config: SimWorkerConfig,
        replicas: Vec<Client>,
        ledger: Arc<OwnershipLedger>,
    ) -> SimWorker {
        let (stop, stopped) = watch::channel(false);
        let id = config.id.clone();
        let task = tokio::spawn(run(config, replicas, ledger, stopped));
        SimWorker { id, stop, task }
    }

    /// Stops heartbeating, as a crashed or partitioned worker does. Its beliefs stay in the
    /// ledger until its lease runs out: a partitioned worker may still be writing until then.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

struct State {
    applied: i64,
    assignment: Vec<AssignedShard>,
    lease_until: Option<Instant>,
}

impl State {
    fn reports(&self, state: AssignedState) -> Vec<HandoverReport> {
        self.assignment
            .iter()
            .filter(|e| e.role == WorkerRole::Ingest && e.state == state)
            .filter_map(|e| {
                Some(HandoverReport {
                    tenant: e.tenant.clone(),
                    project: e.project.clone(),
                    logstore: e.logstore.clone(),
                    shard_id: e.shard_id,
                    handover: e.handover?,
                })
            })
            .collect()
    }

    fn shard_load(&self, loads: Option<&ShardLoads>) -> Vec<ShardLoad> {
        let Some(loads) = loads else {
            return Vec::new();
        };
        let loads = loads
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.assignment
            .iter()
            .filter(|e| e.role == WorkerRole::Ingest && e.state == AssignedState::Active)
            .filter_map(|e| {
                let bytes = *loads.get(&e.shard())?;
                Some(ShardLoad {
                    tenant: e.tenant.clone(),
                    project: e.project.clone(),
                    logstore: e.logstore.clone(),
                    shard_id: e.shard_id,
                    ingest_bytes_per_sec: bytes,
                    // Events of about 256 bytes.
                    ingest_events_per_sec: bytes / 256,
                })
            })
            .collect()
    }

    fn writing(&self) -> Vec<(ShardRef, KeyRange, i64)> {
        self.assignment
            .iter()
            .filter(|e| e.role == WorkerRole::Ingest && e.state == AssignedState::Active)
            .filter_map(|e| {
                let range = KeyRange::from_hex(&e.inclusive_begin_key, &e.exclusive_end_key)?;
                Some((e.shard(), range, e.epoch.unwrap_or(0)))
            })
            .collect()
    }
}

const RETRY_PAUSE: Duration = Duration::from_millis(50);

async fn register(config: &SimWorkerConfig, client: &Client) -> Result<(), Error> {
    let spec = WorkerSpec {
        address: format!("{}.{}.sim:7000", config.id, config.zone),
        zone: config.zone.clone(),
        roles: vec![WorkerRole::Ingest, WorkerRole::Query],
        capacity: WorkerCapacity {
            shards: config.shards,
            ingest_bytes_per_sec: 0,
            query_slots: 4,
        },
    };
    client
        .put_worker(&config.id, &spec, Precondition::Unconditional)
        .await
        .map(|_| ())
}

async fn run(
    config: SimWorkerConfig,
    replicas: Vec<Client>,
    ledger: Arc<OwnershipLedger>,
    stopped: watch::Receiver<bool>,
) {
    let mut replica = config.first_replica % replicas.len();
    let mut registered = false;
    let mut state = State {
        applied: 0,
        assignment: Vec::new(),
        lease_until: None,
    };
    while !*stopped.borrow() {
        let client = &replicas[replica];
        if !registered {
            match register(&config, client).await {
                Ok(()) => registered = true,
                Err(_) => {
                    replica = (replica + 1) % replicas.len();
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
            continue;
        }
        if state
            .lease_until
            .is_some_and(|until| Instant::now() >= until)
        {
            // Its lease lapsed: it stops writing and asks for its whole assignment again.
            state.assignment.clear();
            state.applied = 0;
            ledger.claim(&config.id, Vec::new(), Instant::now());
            ledger.assigned(&config.id, &[]);
        }
        let body = WorkerHeartbeat {
            applied_assignment_version: state.applied,
            ready: state.reports(AssignedState::Pending),
            released: state.reports(AssignedState::Releasing),
            shard_load: state.shard_load(config.loads.as_ref()),
            ..Default::default()
        };
        let sent = Instant::now();
        match client
            .heartbeat_worker(&config.id, &body, Some(config.wait_ms))
            .await
        {
            Ok(answer) => {
                let lease_until = sent + Duration::from_millis(answer.lease_ttl_ms as u64);
                state.lease_until = Some(lease_until);
                if let Some(assignment) = answer.assignment {
                    ledger.assigned(&config.id, &assignment);
                    state.assignment = assignment;
                    state.applied = answer.assignment_version;
                }
                ledger.claim(&config.id, state.writing(), lease_until);
            }
            Err(Error::Api { status, .. }) if status == StatusCode::NOT_FOUND => {
                registered = false;
            }
            Err(_) => {
                replica = (replica + 1) % replicas.len();
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: i64) -> ShardRef {
        ShardRef {
            tenant: "acme".into(),
            project: "web".into(),
            logstore: "nginx".into(),
            shard_id: id,
        }
    }

    fn range(begin: u128, end: Option<u128>) -> KeyRange {
        KeyRange { begin, end }
    }

    #[tokio::test]
    async fn two_valid_beliefs_over_one_key_are_a_violation_and_an_expired_one_is_not() {
        let ledger = OwnershipLedger::default();
        let later = Instant::now() + Duration::from_secs(60);
        ledger.claim("w-1", vec![(shard(0), range(0, Some(100)), 1)], later);
        ledger.claim("w-2", vec![(shard(1), range(100, None), 1)], later);
        assert!(
            ledger.violations().is_empty(),
            "adjacent ranges do not overlap"
        );
        ledger.claim("w-2", vec![(shard(2), range(50, Some(150)), 1)], later);
        assert_eq!(
            ledger.violations().len(),
            1,
            "a child over its parent's keys"
        );

        let ledger = OwnershipLedger::default();
        ledger.claim("w-1", vec![(shard(0), range(0, None), 1)], Instant::now());
        ledger.claim("w-2", vec![(shard(0), range(0, None), 2)], later);
        assert!(ledger.violations().is_empty(), "w-1's lease had run out");
        assert_eq!(
            ledger.writers().get(&shard(0)).map(String::as_str),
            Some("w-2")
        );
    }
}
