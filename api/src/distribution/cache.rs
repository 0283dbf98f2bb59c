//! A map with a fixed capacity that forgets its oldest entries first. Entries here are immutable
//! once computed (a rendered revision, a snapshot of one generation), so forgetting one only
//! costs computing it again.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

#[derive(Debug)]
pub struct BoundedCache<K, V> {
    capacity: usize,
    entries: HashMap<K, V>,
    /// Keys in insertion order; may hold keys already replaced, which are skipped on eviction.
    order: VecDeque<K>,
}

impl<K: Hash + Eq + Clone, V: Clone> BoundedCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        debug_assert!(capacity > 0, "a cache holds at least one entry");
        Self {
            capacity,
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// By the key or a borrowed form of it (`&str` for `String` keys), so a lookup allocates
    /// nothing.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.get(key).cloned()
    }

    pub fn insert(&mut self, key: K, value: V) {
        if self.entries.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
        }
        while self.entries.len() > self.capacity {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest_entries_beyond_its_capacity() {
        let mut cache = BoundedCache::new(2);
        cache.insert("a", 1);
        cache.insert("b", 2);
        cache.insert("a", 3);
        assert_eq!(
            cache.get(&"a"),
            Some(3),
            "replacing keeps the entry's place"
        );
        cache.insert("c", 4);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&"a"), None);
        assert_eq!((cache.get(&"b"), cache.get(&"c")), (Some(2), Some(4)));
    }
}
