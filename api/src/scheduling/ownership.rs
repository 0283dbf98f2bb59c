//! The ingest side of a reconciliation: each shard's ownership driven one step by what happened
//! since the last one — leases that expired, `ready` and `released` reports, the new placement —
//! with the scheduler's `IngestOwnership` (make-before-break handover) for readwrite shards, and
//! retirement for shards that became readonly.
//!
//! The rule that keeps a shard from ever having two writers: a worker accepts writes only while
//! its own lease is valid (counted from when it sent the heartbeat), and ownership passes from a
//! worker that did not release it only once its lease expired by the database's clock — checked
//! again when the decision is written (`SchedulerWrite::dead_workers`).
//!
//! Split and merge: the children of a readonly parent get their first owner only after every
//! overlapping parent has retired (its owner released it, or its owner's lease expired), so no
//! key is ever writable on two shards at once.

use std::collections::{BTreeSet, HashMap, HashSet};

use logplane_model::{KeyRange, ShardRef};
use logplane_scheduler::handover::{
    Handover, HandoverPhase, IngestOwnership, OwnershipEvent, OwnershipRecord, WorkerShardState,
};
use logplane_scheduler::{Assignment, WorkerId};
use logplane_store::{HandoverPhaseName, PlacementRow, PoolSnapshot, StoredHandover};

use super::catalog::Catalog;

/// Stored numbers are never negative; a corrupt negative one is read as 0.
fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The scheduler's record of a stored readwrite shard's ownership.
pub(crate) fn record_of(row: &PlacementRow) -> OwnershipRecord {
    let handover = row.handover.as_ref().and_then(|h| {
        let phase = match h.phase {
            HandoverPhaseName::Preparing => HandoverPhase::Preparing,
            HandoverPhaseName::Releasing => HandoverPhase::Releasing,
            // A shard retiring is readonly; it has no handover to a successor.
            HandoverPhaseName::Retiring => return None,
        };
        Some(Handover {
            number: unsigned(h.number),
            to: WorkerId::new(h.to.as_str()),
            phase,
        })
    });
    OwnershipRecord {
        owner: row.owner.as_deref().map(WorkerId::new),
        owner_lost: row.owner_lost,
        epoch: unsigned(row.epoch),
        handover,
        next_target: row.next_target.as_deref().map(WorkerId::new),
        last_handover: unsigned(row.last_handover),
    }
}

/// Writes an ownership record back into a row, keeping its query replicas.
fn store_record(row: &mut PlacementRow, record: OwnershipRecord) {
    row.owner = record.owner.map(|w| w.as_str().to_string());
    row.owner_lost = record.owner_lost;
    row.epoch = signed(record.epoch);
    row.last_handover = signed(record.last_handover);
    row.handover = record.handover.map(|h| StoredHandover {
        number: signed(h.number),
        to: h.to.as_str().to_string(),
        phase: match h.phase {
            HandoverPhase::Preparing => HandoverPhaseName::Preparing,
            HandoverPhase::Releasing => HandoverPhaseName::Releasing,
        },
    });
    row.next_target = record.next_target.map(|w| w.as_str().to_string());
}

/// What one worker is told about one shard's ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IngestInstruction {
    pub worker: String,
    pub shard: usize,
    pub state: WorkerShardState,
}

pub(crate) struct IngestOutcome {
    /// The new ownership of every shard (query replicas still as stored), by catalog index.
    pub rows: Vec<PlacementRow>,
    pub instructions: Vec<IngestInstruction>,
    /// Workers whose expired lease a decision relied on: the write must find them still dead.
    pub dead_relied_on: BTreeSet<String>,
}

/// Reports by shard: (worker, handover number).
type Reports = HashMap<usize, Vec<(String, u64)>>;

fn collect_reports(snapshot: &PoolSnapshot, catalog: &Catalog) -> (Reports, Reports) {
    let mut ready: Reports = HashMap::new();
    let mut released: Reports = HashMap::new();
    for worker in &snapshot.workers {
        for (reports, into) in [
            (&worker.ready, &mut ready),
            (&worker.released, &mut released),
        ] {
            for report in reports {
                if let Some(&at) = catalog.index.get(&report.shard()) {
                    into.entry(at)
                        .or_default()
                        .push((worker.id.clone(), unsigned(report.handover)));
                }
            }
        }
    }
    (ready, released)
}

fn overlaps(a: &KeyRange, b: &KeyRange) -> bool {
    let before_end = |key: u128, end: Option<u128>| end.is_none_or(|end| key < end);
    before_end(a.begin, b.end) && before_end(b.begin, a.end)
}

/// One step of every shard's ingest ownership.
pub(crate) fn step(
    snapshot: &PoolSnapshot,
    catalog: &Catalog,
    stored: &[Option<PlacementRow>],
    desired: &Assignment,
) -> IngestOutcome {
    let live: HashSet<&str> = snapshot
        .workers
        .iter()
        .filter(|w| w.live)
        .map(|w| w.id.as_str())
        .collect();
    let (ready, released) = collect_reports(snapshot, catalog);
    let mut outcome = IngestOutcome {
        rows: Vec::with_capacity(catalog.len()),
        instructions: Vec::new(),
        dead_relied_on: BTreeSet::new(),
    };
    // Readonly shards first: whether a parent has retired decides whether its children may get
    // their first owner in this same step.
    let mut rows: Vec<PlacementRow> = stored
        .iter()
        .enumerate()
        .map(|(at, row)| {
            row.clone()
                .unwrap_or_else(|| PlacementRow::empty(catalog.shards[at].shard.clone()))
        })
        .collect();
    for (at, row) in rows.iter_mut().enumerate() {
        if !catalog.is_readwrite(at) {
            retire(row, at, &live, &released, &mut outcome);
        }
    }
    let unretired: Vec<(ShardRef, KeyRange)> = rows
        .iter()
        .enumerate()
        .filter(|(at, row)| !catalog.is_readwrite(*at) && !row.retired)
        .map(|(at, row)| (row.shard.clone(), catalog.shards[at].range))
        .collect();
    for (at, row) in rows.iter_mut().enumerate() {
        if !catalog.is_readwrite(at) {
            continue;
        }
        let shard = &catalog.shards[at];
        let gated = unretired.iter().any(|(parent, range)| {
            parent.tenant == shard.shard.tenant
                && parent.project == shard.shard.project
                && parent.logstore == shard.shard.logstore
                && overlaps(range, &shard.range)
        });
        let mut ownership = IngestOwnership::from_record(record_of(row));
        advance(
            &mut ownership,
            &live,
            ready.get(&at).map(Vec::as_slice).unwrap_or_default(),
            released.get(&at).map(Vec::as_slice).unwrap_or_default(),
            gated,
            desired.ingest_owner_at(at),
            &mut outcome.dead_relied_on,
        );
        for (worker, state) in ownership.instructions() {
            outcome.instructions.push(IngestInstruction {
                worker: worker.as_str().to_string(),
                shard: at,
                state,
            });
        }
        store_record(row, ownership.record());
        row.retired = false;
    }
    outcome.rows = rows;
    outcome
}

/// A readwrite shard's step: losses first (so a report cannot complete a handover with a gone
/// worker), then reports, then the placement's wish.
fn advance(
    ownership: &mut IngestOwnership,
    live: &HashSet<&str>,
    ready: &[(String, u64)],
    released: &[(String, u64)],
    gated: bool,
    desired: Option<&WorkerId>,
    dead_relied_on: &mut BTreeSet<String>,
) {
    use logplane_scheduler::handover::Applied;
    if let Some(owner) = ownership.owner().cloned()
        && !ownership.owner_lost()
        && !live.contains(owner.as_str())
        && ownership.apply(&OwnershipEvent::Lost(owner.clone())) == Applied::Changed
    {
        dead_relied_on.insert(owner.as_str().to_string());
    }
    if let Some(incoming) = ownership.handover().map(|h| h.to.clone())
        && !live.contains(incoming.as_str())
    {
        ownership.apply(&OwnershipEvent::Lost(incoming));
    }
    for (worker, number) in ready {
        // A first owner of a child waits until its parents stopped taking writes.
        if gated && ownership.owner().is_none() {
            continue;
        }
        ownership.apply(&OwnershipEvent::Ready {
            worker: WorkerId::new(worker.as_str()),
            handover: *number,
        });
    }
    for (worker, number) in released {
        ownership.apply(&OwnershipEvent::Released {
            worker: WorkerId::new(worker.as_str()),
            handover: *number,
        });
    }
    if let Some(desired) = desired {
        ownership.apply(&OwnershipEvent::Assign(desired.clone()));
    }
}

/// A readonly shard's step: its owner is told to release it (no successor: its key range
/// continues in its children); once it reports released, or its lease expired, or it had no
/// owner, the shard is retired for good.
fn retire(
    row: &mut PlacementRow,
    at: usize,
    live: &HashSet<&str>,
    released: &Reports,
    outcome: &mut IngestOutcome,
) {
    if row.retired {
        return;
    }
    let Some(owner) = row.owner.clone() else {
        finish_retirement(row);
        return;
    };
    if row.owner_lost {
        finish_retirement(row);
        return;
    }
    if !live.contains(owner.as_str()) {
        outcome.dead_relied_on.insert(owner);
        finish_retirement(row);
        return;
    }
    let retiring = row
        .handover
        .as_ref()
        .filter(|h| h.phase == HandoverPhaseName::Retiring)
        .map(|h| h.number);
    let number = match retiring {
        Some(number) => {
            let reported = released.get(&at).is_some_and(|reports| {
                reports
                    .iter()
                    .any(|(worker, n)| *worker == owner && *n == unsigned(number))
            });
            if reported {
                finish_retirement(row);
                return;
            }
            number
        }
        None => {
            // A handover in flight is cancelled: the shard takes no writes any more.
            let number = row.last_handover + 1;
            row.last_handover = number;
            row.handover = Some(StoredHandover {
                number,
                to: String::new(),
                phase: HandoverPhaseName::Retiring,
            });
            row.next_target = None;
            number
        }
    };
    outcome.instructions.push(IngestInstruction {
        worker: owner,
        shard: at,
        state: WorkerShardState::Releasing {
            handover: unsigned(number),
        },
    });
}

fn finish_retirement(row: &mut PlacementRow) {
    row.retired = true;
    row.handover = None;
    row.next_target = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(begin: u128, end: Option<u128>) -> KeyRange {
        KeyRange { begin, end }
    }

    #[test]
    fn ranges_overlap_when_they_share_a_key() {
        assert!(overlaps(&range(0, Some(10)), &range(5, None)));
        assert!(!overlaps(&range(0, Some(10)), &range(10, None)));
        assert!(overlaps(&range(0, None), &range(u128::MAX, None)));
        assert!(!overlaps(&range(20, Some(30)), &range(0, Some(20))));
    }

    #[test]
    fn a_stored_row_round_trips_through_the_scheduler_record() {
        let mut row = PlacementRow::empty(ShardRef {
            tenant: "acme".into(),
            project: "web".into(),
            logstore: "nginx".into(),
            shard_id: 3,
        });
        row.owner = Some("w1".into());
        row.epoch = 4;
        row.last_handover = 7;
        row.handover = Some(StoredHandover {
            number: 7,
            to: "w2".into(),
            phase: HandoverPhaseName::Releasing,
        });
        row.next_target = Some("w3".into());
        let mut rebuilt = row.clone();
        store_record(&mut rebuilt, record_of(&row));
        assert_eq!(rebuilt, row);
    }
}
