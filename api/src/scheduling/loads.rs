//! Shard loads as the leader uses them: the rates workers report, smoothed over time so one
//! noisy heartbeat does not move shards, and how long each shard has stayed above the auto-split
//! limit. Kept in the leader's memory only: a new leader starts smoothing and timing afresh,
//! which can only delay a split, never cause one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use logplane_model::{ShardRef, ShardStatus};
use logplane_store::PoolSnapshot;

use super::catalog::Catalog;

#[derive(Debug, Clone, Copy)]
struct Smoothed {
    bytes: f64,
    events: f64,
    observed_at: Instant,
    /// When a worker last reported the shard.
    reported_at: Instant,
    /// Since when the smoothed byte rate has stayed above the auto-split limit.
    above_since: Option<Instant>,
}

/// Auto-split: a readwrite shard whose smoothed ingest rate stays above `shard_bytes_per_sec`
/// for `window` is split (when its logstore enables it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoSplitPolicy {
    pub shard_bytes_per_sec: u64,
    pub window: Duration,
}

impl Default for AutoSplitPolicy {
    fn default() -> Self {
        Self {
            shard_bytes_per_sec: 5 * 1024 * 1024,
            window: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct LoadTracker {
    shards: HashMap<ShardRef, Smoothed>,
}

/// Per catalog index: smoothed bytes/s and events/s.
pub(crate) struct Loads {
    pub bytes: Vec<u64>,
    pub events: Vec<u64>,
    /// Whether any worker has reported any load: placement balances by load only then.
    pub any_reported: bool,
}

impl LoadTracker {
    /// Folds the latest reports into the smoothed loads. With several reports of one shard (its
    /// old and new owner around a handover) the larger counts: at most one of them is writing,
    /// and it saw the traffic.
    ///
    /// A shard nobody reports keeps its load for `hold`, then counts as idle. Nobody reports a
    /// shard while it changes hands (the old owner has released it, the new one is not yet
    /// active) or after its owner died: its traffic is waiting for an owner, not gone. Letting
    /// it decay would make every move shrink the load of the shard moved, and the next
    /// reconciliation move shards back: skewed loads would never settle.
    pub fn observe(
        &mut self,
        snapshot: &PoolSnapshot,
        catalog: &Catalog,
        smoothing: Duration,
        hold: Duration,
        now: Instant,
    ) -> Loads {
        let mut reported: HashMap<usize, (u64, u64)> = HashMap::new();
        for worker in snapshot.workers.iter().filter(|w| w.live) {
            for load in &worker.shard_load {
                if let Some(&at) = catalog.index.get(&load.shard()) {
                    let entry = reported.entry(at).or_default();
                    entry.0 = entry
                        .0
                        .max(u64::try_from(load.ingest_bytes_per_sec).unwrap_or(0));
                    entry.1 = entry
                        .1
                        .max(u64::try_from(load.ingest_events_per_sec).unwrap_or(0));
                }
            }
        }
        let any_reported = !reported.is_empty();
        let mut next: HashMap<ShardRef, Smoothed> = HashMap::with_capacity(catalog.len());
        let mut bytes = Vec::with_capacity(catalog.len());
        let mut events = Vec::with_capacity(catalog.len());
        for (at, shard) in catalog.shards.iter().enumerate() {
            let report = reported.get(&at).copied();
            let (new_bytes, new_events) = report.unwrap_or((0, 0));
            let smoothed = match self.shards.get(&shard.shard) {
                None => Smoothed {
                    bytes: new_bytes as f64,
                    events: new_events as f64,
                    observed_at: now,
                    reported_at: now,
                    above_since: None,
                },
                Some(previous)
                    if report.is_none()
                        && now.saturating_duration_since(previous.reported_at) < hold =>
                {
                    Smoothed {
                        observed_at: now,
                        ..*previous
                    }
                }
                Some(previous) => {
                    // An exponential moving average in time, so reconciling more often (on
                    // wake-ups) does not make it react faster.
                    let elapsed = now.saturating_duration_since(previous.observed_at);
                    let weight = if smoothing.is_zero() {
                        1.0
                    } else {
                        1.0 - (-elapsed.as_secs_f64() / smoothing.as_secs_f64()).exp()
                    };
                    Smoothed {
                        bytes: previous.bytes + weight * (new_bytes as f64 - previous.bytes),
                        events: previous.events + weight * (new_events as f64 - previous.events),
                        observed_at: now,
                        reported_at: if report.is_some() {
                            now
                        } else {
                            previous.reported_at
                        },
                        above_since: previous.above_since,
                    }
                }
            };
            bytes.push(smoothed.bytes.round() as u64);
            events.push(smoothed.events.round() as u64);
            next.insert(shard.shard.clone(), smoothed);
        }
        self.shards = next;
        Loads {
            bytes,
            events,
            any_reported,
        }
    }

    /// The readwrite shards of auto-splitting logstores that stayed above the limit for the
    /// window, at most one per logstore (a split changes the logstore; the next one waits for
    /// the next reconciliation).
    pub fn split_candidates(
        &mut self,
        catalog: &Catalog,
        loads: &Loads,
        policy: &AutoSplitPolicy,
        now: Instant,
    ) -> Vec<ShardRef> {
        let mut candidates: Vec<ShardRef> = Vec::new();
        for (at, shard) in catalog.shards.iter().enumerate() {
            let Some(tracked) = self.shards.get_mut(&shard.shard) else {
                continue;
            };
            let eligible = shard.status == ShardStatus::Readwrite && shard.auto_split.enabled;
            if !eligible || loads.bytes[at] <= policy.shard_bytes_per_sec {
                tracked.above_since = None;
                continue;
            }
            let since = *tracked.above_since.get_or_insert(now);
            let same_logstore = |other: &ShardRef| {
                other.tenant == shard.shard.tenant
                    && other.project == shard.shard.project
                    && other.logstore == shard.shard.logstore
            };
            if now.saturating_duration_since(since) >= policy.window
                && !candidates.iter().any(same_logstore)
            {
                candidates.push(shard.shard.clone());
            }
        }
        candidates
    }

    /// Forgets a shard's timing after it was split (it is readonly now).
    pub fn forget(&mut self, shard: &ShardRef) {
        if let Some(tracked) = self.shards.get_mut(shard) {
            tracked.above_since = None;
        }
    }
}
