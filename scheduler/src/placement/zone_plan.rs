//! Which zones the missing query replicas go to, decided for all of them at once.
//!
//! Placing replicas one shard at a time in the zone with the most room is myopic: the last shards
//! find room only in zones they already use, and spread breaks although a better order would have
//! kept it. Deciding the zones first is a small transportation problem: shards that use the same
//! zones and miss the same number of replicas are one *kind*; a kind can send to a zone at most
//! as many replicas as spreading allows (one per shard, or `ceil(replicas / zones)` when there are
//! fewer zones than replicas); a zone takes at most its room. A maximum flow through that graph
//! places as many replicas as possible without breaking spread, and dealing each kind's zones
//! round robin to its shards gives no shard a zone twice. Within a zone the shard has no worker
//! yet, so any worker with room will do.
//!
//! The graph has a node per kind and per zone, so this is used only with few zones
//! ([`MAX_PLANNED_ZONES`]); with many zones, greedy placement rarely runs out of spread anyway.

use std::collections::{BTreeMap, VecDeque};

/// The most zones the plan handles; beyond, replicas are placed greedily.
pub(crate) const MAX_PLANNED_ZONES: usize = 8;

/// A shard missing replicas: how many, how many it wants in all, and its replicas per zone.
pub(crate) struct Missing {
    pub shard: usize,
    pub missing: u8,
    pub wanted: u8,
    pub per_zone: Vec<u8>,
}

/// Returns, per shard (in the order given), the zones its missing replicas should go to; shards
/// may get fewer zones than they miss when spread-respecting room runs out.
pub(crate) fn plan(
    missing: &[Missing],
    zone_room: &[u64],
    zones_available: usize,
) -> Vec<Vec<u32>> {
    let zones = zone_room.len();
    // A kind's key packs its replicas per zone (4 bits each, at most MAX_PLANNED_ZONES zones),
    // the missing and the wanted count into one integer: no allocation per shard.
    let mut kinds: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (at, m) in missing.iter().enumerate() {
        let mut key = (u64::from(m.wanted) << 40) | (u64::from(m.missing) << 32);
        for (zone, &count) in m.per_zone.iter().enumerate() {
            key |= u64::from(count.min(15)) << (4 * zone);
        }
        kinds.entry(key).or_default().push(at);
    }
    let kinds: Vec<(&Missing, Vec<usize>)> = kinds
        .into_values()
        .map(|shards| (&missing[shards[0]], shards))
        .collect();

    // Nodes: source, kinds, zones, sink.
    let source = 0;
    let kind_node = |k: usize| 1 + k;
    let zone_node = |z: usize| 1 + kinds.len() + z;
    let sink = 1 + kinds.len() + zones;
    let mut flow = Flow::new(sink + 1);
    for (k, (example, shards)) in kinds.iter().enumerate() {
        let count = shards.len() as u64;
        flow.add(source, kind_node(k), count * u64::from(example.missing));
        let per_zone_limit = u64::from(example.wanted).div_ceil(zones_available.max(1) as u64);
        for (z, (&room, &used)) in zone_room.iter().zip(&example.per_zone).enumerate() {
            let allowed = per_zone_limit.saturating_sub(u64::from(used));
            if allowed > 0 && room > 0 {
                flow.add(kind_node(k), zone_node(z), count * allowed);
            }
        }
    }
    for (z, &room) in zone_room.iter().enumerate() {
        flow.add(zone_node(z), sink, room);
    }
    flow.max_flow(source, sink);

    let mut out: Vec<Vec<u32>> = vec![Vec::new(); missing.len()];
    for (k, (_, shards)) in kinds.iter().enumerate() {
        // Deal the kind's zones round robin: a zone sent at most once per shard (times the
        // per-zone limit) never lands twice on one shard beyond that limit.
        let mut dealt = 0usize;
        for z in 0..zones {
            let sent = flow.sent(kind_node(k), zone_node(z));
            for _ in 0..sent {
                out[shards[dealt % shards.len()]].push(z as u32);
                dealt += 1;
            }
        }
    }
    out
}

/// Edmonds–Karp on a dense matrix: the graphs here have a few dozen nodes.
struct Flow {
    capacity: Vec<Vec<u64>>,
    flow: Vec<Vec<i128>>,
}

impl Flow {
    fn new(nodes: usize) -> Self {
        Self {
            capacity: vec![vec![0; nodes]; nodes],
            flow: vec![vec![0; nodes]; nodes],
        }
    }

    fn add(&mut self, from: usize, to: usize, capacity: u64) {
        self.capacity[from][to] += capacity;
    }

    fn sent(&self, from: usize, to: usize) -> u64 {
        self.flow[from][to].max(0) as u64
    }

    fn residual(&self, from: usize, to: usize) -> i128 {
        i128::from(self.capacity[from][to]) - self.flow[from][to]
    }

    fn max_flow(&mut self, source: usize, sink: usize) {
        let nodes = self.capacity.len();
        loop {
            let mut parent = vec![usize::MAX; nodes];
            parent[source] = source;
            let mut queue = VecDeque::from([source]);
            while let Some(node) = queue.pop_front() {
                if node == sink {
                    break;
                }
                let reachable: Vec<usize> = (0..nodes)
                    .filter(|&next| parent[next] == usize::MAX && self.residual(node, next) > 0)
                    .collect();
                for next in reachable {
                    parent[next] = node;
                    queue.push_back(next);
                }
            }
            if parent[sink] == usize::MAX {
                return;
            }
            let mut bottleneck = i128::MAX;
            let mut node = sink;
            while node != source {
                let prev = parent[node];
                bottleneck = bottleneck.min(self.residual(prev, node));
                node = prev;
            }
            let mut node = sink;
            while node != source {
                let prev = parent[node];
                self.flow[prev][node] += bottleneck;
                self.flow[node][prev] -= bottleneck;
                node = prev;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_keeps_spread_where_greedy_would_not() {
        // Zone 0 has room for one, zone 1 for one. Shard a already uses zone 0, shard b nothing.
        // Greedy in key order could give b zone 1 and leave a only zone 0; the plan does not.
        let missing = [
            Missing {
                shard: 0,
                missing: 1,
                wanted: 2,
                per_zone: vec![1, 0],
            },
            Missing {
                shard: 1,
                missing: 1,
                wanted: 2,
                per_zone: vec![0, 0],
            },
        ];
        let zones = plan(&missing, &[1, 1], 2);
        assert_eq!(zones, [vec![1], vec![0]]);
    }
}
