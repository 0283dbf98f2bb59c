//! The two textbook placements the benchmarks compare against: rendezvous (highest random
//! weight) hashing and a consistent-hash ring with virtual nodes. Both are stateless: they need
//! no previous assignment and move little on a join or leave, but balance only statistically and
//! know nothing of capacity, load or zones. Ingest role only (one owner per shard).

use crate::ids::ShardKey;

/// A 64-bit FNV-1a hash of a string, finished with [`mix`] so that similar names spread.
pub fn hash_str(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(hash, 0)
}

/// A shard key's hash: its logstore's names and its id.
pub fn shard_hash(key: &ShardKey) -> u64 {
    let store = &key.logstore;
    let names = hash_str(&store.tenant)
        ^ hash_str(&store.project).rotate_left(21)
        ^ hash_str(&store.logstore).rotate_left(42);
    mix(names, key.shard_id as u64)
}

/// Combines two hashes into a well-distributed one (the SplitMix64 finaliser over their sum).
pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a
        .wrapping_add(b.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Rendezvous hashing: each shard goes to the worker with the highest `mix(shard, worker)`.
/// Returns, per shard, an index into `workers`.
pub fn rendezvous(shards: &[u64], workers: &[u64]) -> Vec<u32> {
    assert!(!workers.is_empty(), "rendezvous hashing needs a worker");
    shards
        .iter()
        .map(|&shard| {
            let mut best = (0u64, 0u32);
            for (at, &worker) in workers.iter().enumerate() {
                let weight = mix(shard, worker);
                if at == 0 || weight > best.0 {
                    best = (weight, at as u32);
                }
            }
            best.1
        })
        .collect()
}

/// A consistent-hash ring: each worker at `vnodes` points; a shard goes to the first point at or
/// after its hash, wrapping around.
pub struct HashRing {
    points: Vec<(u64, u32)>,
}

impl HashRing {
    pub fn new(workers: &[u64], vnodes: u32) -> Self {
        assert!(!workers.is_empty(), "a ring needs a worker");
        let mut points: Vec<(u64, u32)> = workers
            .iter()
            .enumerate()
            .flat_map(|(at, &worker)| {
                (0..vnodes).map(move |vnode| (mix(worker, u64::from(vnode)), at as u32))
            })
            .collect();
        points.sort_unstable();
        Self { points }
    }

    pub fn owner(&self, shard: u64) -> u32 {
        let at = self.points.partition_point(|&(point, _)| point < shard);
        self.points[at % self.points.len()].1
    }

    pub fn assign(&self, shards: &[u64]) -> Vec<u32> {
        shards.iter().map(|&shard| self.owner(shard)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendezvous_moves_only_the_leaving_workers_shards() {
        let shards: Vec<u64> = (0..2000).map(|i| mix(i, 1)).collect();
        let workers: Vec<u64> = (0..10).map(|i| hash_str(&format!("w{i}"))).collect();
        let before = rendezvous(&shards, &workers);
        let after = rendezvous(&shards, &workers[..9]);
        for (b, a) in before.iter().zip(&after) {
            if *b != 9 {
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn a_ring_moves_only_shards_to_the_joining_worker() {
        let shards: Vec<u64> = (0..2000).map(|i| mix(i, 2)).collect();
        let workers: Vec<u64> = (0..10).map(|i| hash_str(&format!("w{i}"))).collect();
        let before = HashRing::new(&workers[..9], 256).assign(&shards);
        let after = HashRing::new(&workers, 256).assign(&shards);
        for (b, a) in before.iter().zip(&after) {
            assert!(a == b || *a == 9);
        }
    }
}
