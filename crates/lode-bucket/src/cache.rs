//! A byte-bounded cache of object ranges (block payloads, block prefixes,
//! filters): least recently used ranges leave first. Objects in Lode's
//! bucket are immutable once written, so an entry never goes stale.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// (object key, offset, length).
pub type RangeKey = (Arc<str>, u64, u64);

#[derive(Default)]
struct State {
    map: HashMap<RangeKey, (Bytes, u64)>,
    /// Use tick → key, oldest first.
    order: BTreeMap<u64, RangeKey>,
    tick: u64,
    bytes: usize,
}

/// Shared by every reader of one bucket.
pub struct RangeCache {
    capacity: usize,
    state: Mutex<State>,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

impl RangeCache {
    pub fn new(capacity: usize) -> RangeCache {
        RangeCache {
            capacity,
            state: Mutex::new(State::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn get(&self, key: &RangeKey) -> Option<Bytes> {
        let mut s = self.state.lock();
        s.tick += 1;
        let tick = s.tick;
        let Some((b, used)) = s.map.get_mut(key) else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let (b, old) = (b.clone(), std::mem::replace(used, tick));
        s.order.remove(&old);
        s.order.insert(tick, key.clone());
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(b)
    }

    /// Keeps `value`; a range larger than the whole cache is not kept.
    pub fn insert(&self, key: RangeKey, value: Bytes) {
        if value.len() > self.capacity {
            return;
        }
        let mut s = self.state.lock();
        s.tick += 1;
        let tick = s.tick;
        if let Some((old, used)) = s.map.insert(key.clone(), (value.clone(), tick)) {
            s.bytes -= old.len();
            s.order.remove(&used);
        }
        s.bytes += value.len();
        s.order.insert(tick, key);
        while s.bytes > self.capacity {
            let Some((_, k)) = s.order.pop_first() else {
                break;
            };
            if let Some((b, _)) = s.map.remove(&k) {
                s.bytes -= b.len();
            }
        }
    }

    /// The bound, in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.state.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str, off: u64) -> RangeKey {
        (Arc::from(k), off, 10)
    }

    #[test]
    fn evicts_least_recently_used_within_its_bound() {
        let c = RangeCache::new(25);
        c.insert(key("a", 0), Bytes::from(vec![1; 10]));
        c.insert(key("a", 10), Bytes::from(vec![2; 10]));
        // Touch the first, so the second is the oldest.
        assert_eq!(c.get(&key("a", 0)).unwrap()[0], 1);
        c.insert(key("b", 0), Bytes::from(vec![3; 10]));
        assert!(c.bytes() <= 25);
        assert!(c.get(&key("a", 10)).is_none(), "least recently used left");
        assert!(c.get(&key("a", 0)).is_some());
        assert!(c.get(&key("b", 0)).is_some());
    }

    #[test]
    fn a_range_larger_than_the_cache_is_not_kept() {
        let c = RangeCache::new(5);
        c.insert(key("a", 0), Bytes::from(vec![1; 10]));
        assert_eq!(c.bytes(), 0);
        assert!(c.get(&key("a", 0)).is_none());
    }

    #[test]
    fn replacing_a_key_keeps_the_byte_count_right() {
        let c = RangeCache::new(100);
        c.insert(key("a", 0), Bytes::from(vec![1; 10]));
        c.insert(key("a", 0), Bytes::from(vec![1; 30]));
        assert_eq!(c.bytes(), 30);
    }
}
