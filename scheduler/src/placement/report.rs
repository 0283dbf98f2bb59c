//! Figures about a placement, for metrics, logs and tests.

use super::PlacementConfig;
use super::context::Context;
use super::ingest::IngestOutcome;
use super::moves::{Move, MoveReason};
use super::query::QueryOutcome;
use crate::pool::Role;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlacementReport {
    pub ingest: RoleReport,
    pub query: RoleReport,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoleReport {
    /// Schedulable workers with this role and some capacity.
    pub eligible_workers: usize,
    /// Shard slots of this role: readwrite shards for ingest, replicas asked for query.
    pub slots: u64,
    pub placed: u64,
    /// Fewest and most slots held by an eligible worker in the count band (not counting the
    /// workers that hold one isolated hot shard alone).
    pub min_per_worker: u32,
    pub max_per_worker: u32,
    /// Ingest only: hot shards held alone, outside the count band (see the README).
    pub isolated_shards: usize,
    /// Relocations (a worker to another) by reason; first placements and releases not counted.
    pub moved_for_unavailable_workers: usize,
    pub moved_for_count_balance: usize,
    pub moved_for_load_balance: usize,
    /// Ingest only: the highest worker load over its fair share (1.0 is perfect balance), and
    /// whether every worker is within the load bound.
    pub max_load_ratio: f64,
    pub largest_shard_load: u64,
    pub within_load_bound: bool,
    pub load_steps: usize,
    /// Query only: shards with two replicas in a zone although there are zones enough.
    pub spread_violations: usize,
}

pub(crate) fn build(
    context: &Context<'_>,
    ingest: &IngestOutcome,
    query: &QueryOutcome,
    moves: &[Move],
    config: &PlacementConfig,
) -> PlacementReport {
    let in_band: Vec<bool> = ingest
        .eligible
        .iter()
        .zip(&ingest.isolated)
        .map(|(&eligible, &isolated)| eligible && !isolated)
        .collect();
    let mut ingest_report = counts(&ingest.eligible, &in_band, &ingest.count, ingest.slots);
    ingest_report.isolated_shards = ingest.isolated.iter().filter(|&&i| i).count();
    let mut query_report = counts(&query.eligible, &query.eligible, &query.count, query.slots);
    for (role, report) in [
        (Role::Ingest, &mut ingest_report),
        (Role::Query, &mut query_report),
    ] {
        for m in moves.iter().filter(|m| m.role == role && m.is_relocation()) {
            match m.reason {
                MoveReason::WorkerUnavailable => report.moved_for_unavailable_workers += 1,
                MoveReason::Rebalanced => report.moved_for_count_balance += 1,
                MoveReason::LoadBalanced => report.moved_for_load_balance += 1,
                MoveReason::Placed | MoveReason::Released => {}
            }
        }
    }

    let largest = ingest
        .owner
        .iter()
        .enumerate()
        .filter(|(_, owner)| **owner != crate::assignment::NO_WORKER)
        .map(|(shard, _)| context.load_of(shard))
        .max()
        .unwrap_or(0);
    ingest_report.largest_shard_load = largest;
    ingest_report.within_load_bound = true;
    ingest_report.load_steps = ingest.load.steps;
    for (worker, &fair) in ingest.fair_load.iter().enumerate() {
        if !ingest.eligible[worker] || fair <= 0.0 {
            continue;
        }
        let load = ingest.worker_load[worker] as f64;
        ingest_report.max_load_ratio = ingest_report.max_load_ratio.max(load / fair);
        let bound = (config.load_tolerance * fair).max(largest as f64 + config.load_slack * fair);
        if load > bound {
            ingest_report.within_load_bound = false;
        }
    }
    query_report.spread_violations = query.spread_violations;
    PlacementReport {
        ingest: ingest_report,
        query: query_report,
    }
}

/// Counts over the eligible workers; the spread over those `in_band`.
fn counts(eligible: &[bool], in_band: &[bool], count: &[u32], slots: u64) -> RoleReport {
    let held = |mask: &[bool]| -> Vec<u32> {
        count
            .iter()
            .zip(mask)
            .filter(|(_, m)| **m)
            .map(|(c, _)| *c)
            .collect()
    };
    let all = held(eligible);
    let band = held(in_band);
    RoleReport {
        eligible_workers: all.len(),
        slots,
        placed: all.iter().map(|&c| u64::from(c)).sum(),
        min_per_worker: band.iter().copied().min().unwrap_or(0),
        max_per_worker: band.iter().copied().max().unwrap_or(0),
        ..RoleReport::default()
    }
}
