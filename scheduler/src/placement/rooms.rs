//! Workers with room left for query replicas, grouped by zone: where the next replica goes.

use std::cmp::Reverse;
use std::collections::binary_heap::PeekMut;
use std::collections::{BTreeSet, BinaryHeap};

use super::context::Context;
use super::quota::Quota;
use super::zone_plan::MAX_PLANNED_ZONES;
use crate::assignment::ReplicaSet;

/// A worker with room, ordered for a max-heap: most room first; among equals a pseudo-random
/// but deterministic order that changes with the room left. With a fixed order (say by number)
/// replicas would pair the same workers over and over — w0 with w1, w2 with w3 — so a failed
/// worker's shards would all be re-replicated from, and onto, the same few peers; shuffling the
/// ties spreads each worker's partners across the zone (a wide "scatter width").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct RoomEntry {
    room: u32,
    shuffle: u64,
    worker: u32,
}

impl RoomEntry {
    pub(crate) fn new(worker: u32, room: u32) -> Self {
        Self {
            room,
            shuffle: crate::baseline::mix(u64::from(worker), u64::from(room)),
            worker,
        }
    }
}

/// Workers below target, grouped by zone, for picking where a replica goes.
pub(crate) struct Rooms {
    /// Per zone: its workers with room, most room first.
    by_zone: Vec<BinaryHeap<RoomEntry>>,
    pub zone_room: Vec<u64>,
    /// Zones with room, most room first; kept only with many zones. With a few, ordering
    /// `zone_room` on demand is cheaper than updating a tree on every replica placed.
    zones: Option<BTreeSet<(Reverse<u64>, u32)>>,
}

impl Rooms {
    pub(crate) fn new(context: &Context<'_>, quotas: &[Quota], count: &[u32]) -> Self {
        let mut by_zone = vec![BinaryHeap::new(); context.zone_count];
        let mut zone_room = vec![0u64; context.zone_count];
        for (worker, quota) in quotas.iter().enumerate() {
            let room = quota.target.saturating_sub(count[worker]);
            if room > 0 {
                let zone = context.zone_of[worker] as usize;
                by_zone[zone].push(RoomEntry::new(worker as u32, room));
                zone_room[zone] += u64::from(room);
            }
        }
        let zones = (context.zone_count > MAX_PLANNED_ZONES).then(|| {
            zone_room
                .iter()
                .enumerate()
                .filter(|(_, room)| **room > 0)
                .map(|(zone, &room)| (Reverse(room), zone as u32))
                .collect()
        });
        Self {
            by_zone,
            zone_room,
            zones,
        }
    }

    /// The first zone with room that `wanted` accepts, most room first (lowest number among
    /// equals).
    fn next_zone(&self, wanted: impl Fn(u32) -> bool) -> Option<u32> {
        match &self.zones {
            Some(zones) => zones.iter().map(|&(_, zone)| zone).find(|&z| wanted(z)),
            None => (0..self.zone_room.len() as u32)
                .filter(|&z| self.zone_room[z as usize] > 0 && wanted(z))
                .min_by_key(|&z| (Reverse(self.zone_room[z as usize]), z)),
        }
    }

    /// A worker for one more replica of a shard whose replicas are `set`: in a zone the shard
    /// does not use yet if any has room, else in any zone; never a worker already in `set`.
    pub(crate) fn take(&mut self, context: &Context<'_>, set: &ReplicaSet) -> Option<u32> {
        let used_zones: Vec<u32> = set
            .as_slice()
            .iter()
            .map(|&w| context.zone_of[w as usize])
            .collect();
        // Walk the zones lazily, most room first: with a zone per rack there may be hundreds,
        // and the first one or two nearly always have a worker that fits.
        let mut tried: Vec<u32> = Vec::new();
        for prefer_unused in [true, false] {
            while let Some(zone) =
                self.next_zone(|z| used_zones.contains(&z) != prefer_unused && !tried.contains(&z))
            {
                if let Some(worker) = self.take_in_zone(zone, set) {
                    return Some(worker);
                }
                tried.push(zone);
            }
        }
        None
    }

    pub(crate) fn workers_with_room(&self) -> Vec<u32> {
        let mut workers: Vec<u32> = self
            .by_zone
            .iter()
            .flat_map(|heap| heap.iter().map(|entry| entry.worker))
            .collect();
        workers.sort_unstable();
        workers
    }

    /// Uses one unit of a given worker's room.
    pub(crate) fn consume(&mut self, worker: u32) {
        for zone in 0..self.by_zone.len() {
            let heap = &mut self.by_zone[zone];
            let Some(room) = heap.iter().find(|e| e.worker == worker).map(|e| e.room) else {
                continue;
            };
            heap.retain(|e| e.worker != worker);
            if room > 1 {
                heap.push(RoomEntry::new(worker, room - 1));
            }
            self.zone_used(zone as u32);
            return;
        }
    }

    pub(crate) fn take_in_zone(&mut self, zone: u32, set: &ReplicaSet) -> Option<u32> {
        let heap = &mut self.by_zone[zone as usize];
        let mut skipped = Vec::new();
        let mut found = None;
        while let Some(mut top) = heap.peek_mut() {
            let entry = *top;
            if set.contains(entry.worker) {
                skipped.push(PeekMut::pop(top));
                continue;
            }
            // Lower the room in place: one sift instead of a pop and a push.
            if entry.room > 1 {
                *top = RoomEntry::new(entry.worker, entry.room - 1);
            } else {
                PeekMut::pop(top);
            }
            found = Some(entry.worker);
            break;
        }
        heap.extend(skipped);
        if found.is_some() {
            self.zone_used(zone);
        }
        found
    }

    fn zone_used(&mut self, zone: u32) {
        let before = self.zone_room[zone as usize];
        self.zone_room[zone as usize] = before - 1;
        if let Some(zones) = &mut self.zones {
            zones.remove(&(Reverse(before), zone));
            if before > 1 {
                zones.insert((Reverse(before - 1), zone));
            }
        }
    }
}
