//! Resharding plans with SLS semantics, over one logstore's shards.
//!
//! - Split: a `readwrite` shard becomes `readonly` and two new `readwrite` children cover its
//!   range, divided at a key (the midpoint by default).
//! - Merge: a `readwrite` shard and its right neighbour (the `readwrite` shard starting where it
//!   ends) become `readonly`; one new `readwrite` child covers both.
//! - Reshard to N: split the widest ranges at their midpoints, or merge the adjacent pairs whose
//!   union is narrowest, until there are N `readwrite` shards. Every parent that changed becomes
//!   `readonly` with its final children, so the plan is one step whatever N is.
//!
//! A plan is computed, then applied (by the store, in one transaction). Readonly shards keep
//! serving queries over the data they hold; new shards take ids after the highest one.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use logplane_model::{KeyRange, ShardStatus};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRange {
    pub id: i64,
    pub range: KeyRange,
    pub status: ShardStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewShard {
    pub id: i64,
    pub range: KeyRange,
    /// The shards it was split or merged from.
    pub parents: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReshardPlan {
    /// Shards that become `readonly`.
    pub to_readonly: Vec<i64>,
    /// New `readwrite` shards, in key order.
    pub created: Vec<NewShard>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReshardError {
    NoSuchShard(i64),
    NotReadwrite(i64),
    /// The split key must lie strictly inside the shard's range.
    SplitKeyOutside {
        shard: i64,
        key: u128,
    },
    /// The shard holds a single key and cannot be split.
    TooNarrow(i64),
    /// Merging needs a `readwrite` shard starting where this one ends.
    NoRightNeighbour(i64),
    ZeroShards,
}

impl std::fmt::Display for ReshardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReshardError::NoSuchShard(id) => write!(f, "shard {id} does not exist"),
            ReshardError::NotReadwrite(id) => write!(f, "shard {id} is readonly"),
            ReshardError::SplitKeyOutside { shard, key } => write!(
                f,
                "split key {key:032x} is not strictly inside shard {shard}'s range"
            ),
            ReshardError::TooNarrow(id) => write!(f, "shard {id} holds a single key"),
            ReshardError::NoRightNeighbour(id) => {
                write!(f, "shard {id} has no readwrite right neighbour")
            }
            ReshardError::ZeroShards => write!(f, "a logstore needs at least one shard"),
        }
    }
}

impl std::error::Error for ReshardError {}

impl ReshardPlan {
    pub fn is_empty(&self) -> bool {
        self.to_readonly.is_empty() && self.created.is_empty()
    }

    /// The shards after the plan: parents turned readonly, children appended.
    pub fn apply(&self, shards: &[ShardRange]) -> Vec<ShardRange> {
        let mut out: Vec<ShardRange> = shards
            .iter()
            .map(|shard| ShardRange {
                status: if self.to_readonly.contains(&shard.id) {
                    ShardStatus::Readonly
                } else {
                    shard.status
                },
                ..shard.clone()
            })
            .collect();
        out.extend(self.created.iter().map(|child| ShardRange {
            id: child.id,
            range: child.range,
            status: ShardStatus::Readwrite,
        }));
        out
    }
}

pub fn split(
    shards: &[ShardRange],
    id: i64,
    split_key: Option<u128>,
) -> Result<ReshardPlan, ReshardError> {
    let shard = readwrite_shard(shards, id)?;
    let key = match split_key {
        Some(key) => key,
        None => shard.range.midpoint().ok_or(ReshardError::TooNarrow(id))?,
    };
    let (left, right) = shard
        .range
        .split_at(key)
        .ok_or(ReshardError::SplitKeyOutside { shard: id, key })?;
    let next = next_id(shards);
    Ok(ReshardPlan {
        to_readonly: vec![id],
        created: vec![
            NewShard {
                id: next,
                range: left,
                parents: vec![id],
            },
            NewShard {
                id: next + 1,
                range: right,
                parents: vec![id],
            },
        ],
    })
}

pub fn merge(shards: &[ShardRange], id: i64) -> Result<ReshardPlan, ReshardError> {
    let left = readwrite_shard(shards, id)?;
    let right = shards
        .iter()
        .find(|s| s.status == ShardStatus::Readwrite && Some(s.range.begin) == left.range.end)
        .ok_or(ReshardError::NoRightNeighbour(id))?;
    let range = left
        .range
        .merge_with_right(&right.range)
        .expect("the right neighbour starts where the shard ends");
    Ok(ReshardPlan {
        to_readonly: vec![left.id, right.id],
        created: vec![NewShard {
            id: next_id(shards),
            range,
            parents: vec![left.id, right.id],
        }],
    })
}

/// Plans the change to exactly `count` readwrite shards.
pub fn reshard(shards: &[ShardRange], count: u32) -> Result<ReshardPlan, ReshardError> {
    if count == 0 {
        return Err(ReshardError::ZeroShards);
    }
    let mut readwrite: Vec<&ShardRange> = shards
        .iter()
        .filter(|s| s.status == ShardStatus::Readwrite)
        .collect();
    readwrite.sort_by_key(|s| s.range.begin);
    let count = count as usize;
    let groups = if count >= readwrite.len() {
        split_widest(&readwrite, count)?
    } else {
        merge_narrowest(&readwrite, count)
    };

    let mut plan = ReshardPlan::default();
    let mut next = next_id(shards);
    for (parents, ranges) in groups {
        if parents.len() == 1 && ranges.len() == 1 {
            continue;
        }
        plan.to_readonly.extend(parents.iter().copied());
        for range in ranges {
            plan.created.push(NewShard {
                id: next,
                range,
                parents: parents.clone(),
            });
            next += 1;
        }
    }
    Ok(plan)
}

/// Parents and the ranges that replace them, in key order.
type Groups = Vec<(Vec<i64>, Vec<KeyRange>)>;

fn split_widest(readwrite: &[&ShardRange], count: usize) -> Result<Groups, ReshardError> {
    let mut pieces: Vec<Vec<KeyRange>> = readwrite.iter().map(|s| vec![s.range]).collect();
    // Widest first; among equals the one with the lowest begin, so plans are deterministic.
    let mut widest: BinaryHeap<(u128, Reverse<u128>, usize)> = readwrite
        .iter()
        .enumerate()
        .map(|(at, s)| (s.range.span(), Reverse(s.range.begin), at))
        .collect();
    for _ in readwrite.len()..count {
        let (_, Reverse(begin), at) = widest.pop().expect("at least one range");
        let position = pieces[at]
            .iter()
            .position(|r| r.begin == begin)
            .expect("the piece is listed");
        let piece = pieces[at][position];
        let key = piece
            .midpoint()
            .ok_or(ReshardError::TooNarrow(readwrite[at].id))?;
        let (left, right) = piece.split_at(key).expect("a midpoint splits");
        pieces[at].splice(position..=position, [left, right]);
        widest.push((left.span(), Reverse(left.begin), at));
        widest.push((right.span(), Reverse(right.begin), at));
    }
    Ok(readwrite
        .iter()
        .zip(pieces)
        .map(|(shard, ranges)| (vec![shard.id], ranges))
        .collect())
}

fn merge_narrowest(readwrite: &[&ShardRange], count: usize) -> Groups {
    let mut groups: Vec<(Vec<i64>, KeyRange)> =
        readwrite.iter().map(|s| (vec![s.id], s.range)).collect();
    while groups.len() > count {
        // The adjacent pair whose union is narrowest; leftmost among equals. Only pairs that
        // touch can merge (a gap would leave keys uncovered).
        let best = (0..groups.len() - 1)
            .filter_map(|at| {
                let union = groups[at].1.merge_with_right(&groups[at + 1].1)?;
                Some((union.span(), at, union))
            })
            .min_by_key(|&(span, at, _)| (span, at));
        let Some((_, at, union)) = best else {
            break;
        };
        let (right_ids, _) = groups.remove(at + 1);
        groups[at].0.extend(right_ids);
        groups[at].1 = union;
    }
    groups
        .into_iter()
        .map(|(ids, range)| (ids, vec![range]))
        .collect()
}

fn readwrite_shard(shards: &[ShardRange], id: i64) -> Result<&ShardRange, ReshardError> {
    let shard = shards
        .iter()
        .find(|s| s.id == id)
        .ok_or(ReshardError::NoSuchShard(id))?;
    if shard.status != ShardStatus::Readwrite {
        return Err(ReshardError::NotReadwrite(id));
    }
    Ok(shard)
}

fn next_id(shards: &[ShardRange]) -> i64 {
    shards.iter().map(|s| s.id + 1).max().unwrap_or(0)
}

/// Whether the `readwrite` shards cover the whole key space, each key exactly once — the
/// invariant every plan keeps.
pub fn covers_key_space_once(shards: &[ShardRange]) -> bool {
    let mut ranges: Vec<KeyRange> = shards
        .iter()
        .filter(|s| s.status == ShardStatus::Readwrite)
        .map(|s| s.range)
        .collect();
    ranges.sort();
    let Some(first) = ranges.first() else {
        return false;
    };
    first.begin == 0
        && ranges.last().is_some_and(|r| r.end.is_none())
        && ranges
            .windows(2)
            .all(|pair| pair[0].end == Some(pair[1].begin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn initial(count: u32) -> Vec<ShardRange> {
        KeyRange::split_evenly(count)
            .into_iter()
            .enumerate()
            .map(|(id, range)| ShardRange {
                id: id as i64,
                range,
                status: ShardStatus::Readwrite,
            })
            .collect()
    }

    #[test]
    fn a_split_at_the_midpoint_makes_two_children_and_a_readonly_parent() {
        let shards = initial(2);
        let plan = split(&shards, 0, None).unwrap();
        assert_eq!(plan.to_readonly, [0]);
        assert_eq!(
            plan.created[0].range.end_hex(),
            "40000000000000000000000000000000"
        );
        assert_eq!(
            plan.created[1].range.begin_hex(),
            "40000000000000000000000000000000"
        );
        assert_eq!(
            plan.created.iter().map(|c| c.id).collect::<Vec<_>>(),
            [2, 3]
        );
        let after = plan.apply(&shards);
        assert_eq!(after[0].status, ShardStatus::Readonly);
        assert!(covers_key_space_once(&after));
    }

    #[test]
    fn a_split_key_must_lie_inside_the_range() {
        let shards = initial(2);
        let middle = 1u128 << 127;
        assert_eq!(
            split(&shards, 0, Some(middle)),
            Err(ReshardError::SplitKeyOutside {
                shard: 0,
                key: middle
            })
        );
        assert_eq!(
            split(&shards, 0, Some(0)),
            Err(ReshardError::SplitKeyOutside { shard: 0, key: 0 })
        );
        assert!(split(&shards, 1, Some(middle + 1)).is_ok());
    }

    #[test]
    fn merge_takes_the_right_neighbour_and_the_last_shard_has_none() {
        let shards = initial(3);
        let plan = merge(&shards, 1).unwrap();
        assert_eq!(plan.to_readonly, [1, 2]);
        assert_eq!(plan.created[0].parents, [1, 2]);
        assert!(plan.created[0].range.end.is_none());
        assert_eq!(merge(&shards, 2), Err(ReshardError::NoRightNeighbour(2)));
        let after = plan.apply(&shards);
        assert_eq!(merge(&after, 1), Err(ReshardError::NotReadwrite(1)));
    }

    #[test]
    fn reshard_splits_the_widest_and_merges_the_narrowest() {
        let shards = initial(2);
        let after = split(&shards, 0, None).unwrap().apply(&shards);
        // readwrite: two quarters and one half. Going to 4 splits the half.
        let plan = reshard(&after, 4).unwrap();
        assert_eq!(plan.to_readonly, [1]);
        let after = plan.apply(&after);
        assert!(covers_key_space_once(&after));
        // Going to 3 merges two adjacent quarters (the leftmost narrowest pair).
        let plan = reshard(&after, 3).unwrap();
        assert_eq!(plan.to_readonly, [2, 3]);
        assert_eq!(reshard(&after, 4).unwrap(), ReshardPlan::default());
        assert_eq!(reshard(&after, 0), Err(ReshardError::ZeroShards));
    }
}
