//! Resharding: after any sequence of splits, merges and reshards the readwrite shards cover the
//! 128-bit key space exactly once, ids stay unique, and a reshard to N leaves exactly N.

use logplane_model::{KeyRange, ShardStatus};
use logplane_scheduler::reshard::{ShardRange, covers_key_space_once, merge, reshard, split};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Split the n-th readwrite shard, at its midpoint or at a fraction of its range.
    Split {
        pick: usize,
        at: Option<u64>,
    },
    Merge {
        pick: usize,
    },
    Reshard {
        count: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<usize>(), proptest::option::of(any::<u64>()))
            .prop_map(|(pick, at)| Op::Split { pick, at }),
        2 => any::<usize>().prop_map(|pick| Op::Merge { pick }),
        1 => (1u32..=64).prop_map(|count| Op::Reshard { count }),
    ]
}

fn readwrite(shards: &[ShardRange]) -> Vec<&ShardRange> {
    let mut rw: Vec<&ShardRange> = shards
        .iter()
        .filter(|s| s.status == ShardStatus::Readwrite)
        .collect();
    rw.sort_by_key(|s| s.range.begin);
    rw
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn readwrite_shards_always_cover_the_key_space_exactly_once(
        initial in 1u32..=8,
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let mut shards: Vec<ShardRange> = KeyRange::split_evenly(initial)
            .into_iter()
            .enumerate()
            .map(|(id, range)| ShardRange { id: id as i64, range, status: ShardStatus::Readwrite })
            .collect();
        for op in &ops {
            let rw = readwrite(&shards);
            let plan = match *op {
                Op::Split { pick, at } => {
                    let shard = rw[pick % rw.len()];
                    // A key at a fraction of the range (maybe at its very start, which is refused).
                    let key = at.map(|fraction| {
                        let span = shard.range.span();
                        shard.range.begin + (span / u128::from(u64::MAX)).saturating_mul(u128::from(fraction))
                    });
                    split(&shards, shard.id, key)
                }
                Op::Merge { pick } => merge(&shards, rw[pick % rw.len()].id),
                Op::Reshard { count } => reshard(&shards, count),
            };
            let Ok(plan) = plan else { continue };
            let before_ids: Vec<i64> = shards.iter().map(|s| s.id).collect();
            shards = plan.apply(&shards);
            prop_assert!(covers_key_space_once(&shards), "after {:?}: {:?}", op, readwrite(&shards));
            let mut ids: Vec<i64> = shards.iter().map(|s| s.id).collect();
            ids.sort_unstable();
            ids.dedup();
            prop_assert_eq!(ids.len(), shards.len(), "ids are unique");
            prop_assert!(plan.created.iter().all(|c| !before_ids.contains(&c.id)));
            if let Op::Reshard { count } = *op {
                prop_assert_eq!(readwrite(&shards).len(), count as usize);
            }
            // Parents are readonly, children cover exactly their parents' ranges.
            for child in &plan.created {
                for parent in &child.parents {
                    let parent = shards.iter().find(|s| s.id == *parent).unwrap();
                    prop_assert_eq!(parent.status, ShardStatus::Readonly);
                }
            }
        }
    }
}
