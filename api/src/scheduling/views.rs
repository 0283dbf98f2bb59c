//! What each worker is told: its assignment (ingest instructions and query replicas, in key
//! order) and its share of each hosted tenant's ingest limit.

use std::collections::{BTreeMap, HashMap};

use logplane_model::{AssignedShard, AssignedState, TenantLimitShare, WorkerRole};
use logplane_scheduler::handover::WorkerShardState;
use logplane_scheduler::limits::{TenantLimit, limit_shares, tenant_traffic};
use logplane_scheduler::{Assignment, Role, WorkerId};
use logplane_store::{PlacementRow, PoolSnapshot};

use super::catalog::Catalog;
use super::loads::Loads;
use super::ownership::IngestInstruction;

fn entry(
    catalog: &Catalog,
    at: usize,
    role: WorkerRole,
    state: AssignedState,
    handover: Option<i64>,
    epoch: Option<i64>,
) -> AssignedShard {
    let shard = &catalog.shards[at];
    AssignedShard {
        tenant: shard.shard.tenant.clone(),
        project: shard.shard.project.clone(),
        logstore: shard.shard.logstore.clone(),
        shard_id: shard.shard.shard_id,
        inclusive_begin_key: shard.range.begin_hex(),
        exclusive_end_key: shard.range.end_hex(),
        role,
        state,
        handover,
        epoch,
    }
}

fn number(value: u64) -> Option<i64> {
    Some(i64::try_from(value).unwrap_or(i64::MAX))
}

/// Every registered worker's assignment, in key order (ingest before query for one shard).
/// Workers with nothing get an empty list, so each has a published version.
pub(crate) fn assignments(
    snapshot: &PoolSnapshot,
    catalog: &Catalog,
    instructions: &[IngestInstruction],
    rows: &[PlacementRow],
) -> HashMap<String, Vec<AssignedShard>> {
    let mut by_worker: HashMap<String, Vec<AssignedShard>> = snapshot
        .workers
        .iter()
        .map(|worker| (worker.id.clone(), Vec::new()))
        .collect();
    let mut ingest_by_shard: HashMap<usize, Vec<&IngestInstruction>> = HashMap::new();
    for instruction in instructions {
        ingest_by_shard
            .entry(instruction.shard)
            .or_default()
            .push(instruction);
    }
    for (at, row) in rows.iter().enumerate() {
        for instruction in ingest_by_shard.get(&at).into_iter().flatten() {
            let (state, handover, epoch) = match instruction.state {
                WorkerShardState::Pending { handover } => {
                    (AssignedState::Pending, number(handover), None)
                }
                WorkerShardState::Active { epoch } => (AssignedState::Active, None, number(epoch)),
                WorkerShardState::Releasing { handover } => {
                    (AssignedState::Releasing, number(handover), None)
                }
            };
            if let Some(list) = by_worker.get_mut(&instruction.worker) {
                list.push(entry(
                    catalog,
                    at,
                    WorkerRole::Ingest,
                    state,
                    handover,
                    epoch,
                ));
            }
        }
        for replica in &row.query_replicas {
            if let Some(list) = by_worker.get_mut(replica) {
                list.push(entry(
                    catalog,
                    at,
                    WorkerRole::Query,
                    AssignedState::Active,
                    None,
                    None,
                ));
            }
        }
    }
    by_worker
}

/// Each worker's share of the ingest limits of the tenants whose shards it owns (acknowledged,
/// not lost), by the tenant's traffic on those shards. The shares of a tenant sum to its limit.
pub(crate) fn limit_shares_by_worker(
    snapshot: &PoolSnapshot,
    catalog: &Catalog,
    rows: &[PlacementRow],
    loads: &Loads,
) -> HashMap<String, Vec<TenantLimitShare>> {
    let owners = rows.iter().enumerate().filter_map(|(at, row)| {
        let owner = row.owner.as_deref()?;
        (catalog.is_readwrite(at) && !row.owner_lost).then(|| {
            (
                catalog.specs.shards()[at].key.clone(),
                Role::Ingest,
                WorkerId::new(owner),
            )
        })
    });
    let acknowledged = Assignment::from_records(&catalog.specs, owners);
    let mut by_worker: HashMap<String, BTreeMap<String, TenantLimitShare>> = HashMap::new();
    for (tenant, traffic) in tenant_traffic(&acknowledged, &loads.bytes, &loads.events) {
        let (bytes, events) = snapshot
            .tenant_limits
            .get(&tenant)
            .copied()
            .unwrap_or(snapshot.default_limits);
        let limit = TenantLimit {
            ingest_bytes_per_sec: u64::try_from(bytes).unwrap_or(0),
            ingest_events_per_sec: u64::try_from(events).unwrap_or(0),
        };
        for share in limit_shares(limit, &traffic) {
            by_worker
                .entry(share.worker.as_str().to_string())
                .or_default()
                .insert(
                    tenant.clone(),
                    TenantLimitShare {
                        tenant: tenant.clone(),
                        ingest_bytes_per_sec: i64::try_from(share.limit.ingest_bytes_per_sec)
                            .unwrap_or(i64::MAX),
                        ingest_events_per_sec: i64::try_from(share.limit.ingest_events_per_sec)
                            .unwrap_or(i64::MAX),
                    },
                );
        }
    }
    by_worker
        .into_iter()
        .map(|(worker, shares)| (worker, shares.into_values().collect()))
        .collect()
}
