//! Counts per key in fixed-length windows, in a table of fixed capacity: the failed-login
//! throttle (`auth::LoginThrottle`) and the group creation limit count with it, and limits
//! per client address group addresses with [`address_key`].
//!
//! A count is *reserved* before the work it limits and then kept or released
//! ([`Reservation`]), so parallel requests cannot all pass a check made before any of them
//! counted. The table is sharded (a `parking_lot::Mutex` per shard, held for one map
//! operation, never across an `.await`) and bounded: a full shard first forgets the windows
//! that are over, then the one that started first, so neither memory nor the cost of a count
//! grows with the keys an attacker makes up.
//!
//! In memory and per node: a cluster multiplies every allowance by its node count.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;
use std::time::Duration;

use parking_lot::Mutex;

/// See the module docs.
#[derive(Debug)]
pub struct WindowCounter<K> {
    window_ms: u64,
    shard_capacity: usize,
    shards: Box<[Mutex<HashMap<K, Window>>]>,
    /// Picks a key's shard; seeded per process, so an attacker cannot aim at one shard.
    shard_hasher: RandomState,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start_ms: u64,
    count: u32,
}

/// Shards of a full-size table: enough that concurrent requests rarely share a lock, few
/// enough that a full shard's clean-up (a scan of one shard) stays short.
const SHARDS: usize = 64;

impl<K: Hash + Eq + Clone> WindowCounter<K> {
    /// A table holding at most `capacity` keys (at least one per shard), each counting in
    /// windows of `window` from its first count.
    pub fn new(capacity: usize, window: Duration) -> Self {
        let shard_count = capacity.clamp(1, SHARDS);
        WindowCounter {
            window_ms: window.as_millis() as u64,
            shard_capacity: capacity.div_ceil(shard_count).max(1),
            shards: (0..shard_count).map(|_| Mutex::new(HashMap::new())).collect(),
            shard_hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &K) -> &Mutex<HashMap<K, Window>> {
        &self.shards[self.shard_hasher.hash_one(key) as usize % self.shards.len()]
    }

    /// Counts one for `key` at `now_ms`, unless its window already holds `limit`: `None`
    /// then. The count is released when the reservation is dropped, unless it is kept.
    pub fn reserve(&self, key: &K, limit: u32, now_ms: u64) -> Option<Reservation<'_, K>> {
        let mut shard = self.shard(key).lock();
        let start_ms = match shard.get_mut(key) {
            Some(window) => {
                if now_ms.saturating_sub(window.start_ms) >= self.window_ms {
                    *window = Window { start_ms: now_ms, count: 0 };
                }
                if window.count >= limit {
                    return None;
                }
                window.count += 1;
                window.start_ms
            }
            None => {
                if limit == 0 {
                    return None;
                }
                if shard.len() >= self.shard_capacity {
                    self.make_room(&mut shard, now_ms);
                }
                shard.insert(key.clone(), Window { start_ms: now_ms, count: 1 });
                now_ms
            }
        };
        Some(Reservation { counter: self, key: key.clone(), start_ms, settled: false })
    }

    /// Forgets the windows that are over; if none was, the one that started first.
    fn make_room(&self, shard: &mut HashMap<K, Window>, now_ms: u64) {
        shard.retain(|_, window| now_ms.saturating_sub(window.start_ms) < self.window_ms);
        if shard.len() < self.shard_capacity {
            return;
        }
        let oldest = shard.iter().min_by_key(|(_, window)| window.start_ms).map(|(key, _)| key.clone());
        if let Some(oldest) = oldest {
            shard.remove(&oldest);
        }
    }

    /// Takes back one count of the window that started at `start_ms` (a newer window has
    /// its own counts); a key left with none is dropped.
    fn release(&self, key: &K, start_ms: u64) {
        let mut shard = self.shard(key).lock();
        if let Some(window) = shard.get_mut(key)
            && window.start_ms == start_ms
        {
            window.count = window.count.saturating_sub(1);
            if window.count == 0 {
                shard.remove(key);
            }
        }
    }

    fn forget(&self, key: &K) {
        self.shard(key).lock().remove(key);
    }

    /// Keys held now (windows over included, until they are cleaned up).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys the table holds.
    pub fn capacity(&self) -> usize {
        self.shard_capacity * self.shards.len()
    }
}

/// One count taken by [`WindowCounter::reserve`]. Dropped, it is given back (the work it
/// stood for did not happen, or does not count); [`Reservation::keep`] makes it stay.
#[derive(Debug)]
pub struct Reservation<'a, K: Hash + Eq + Clone> {
    counter: &'a WindowCounter<K>,
    key: K,
    start_ms: u64,
    settled: bool,
}

impl<K: Hash + Eq + Clone> Reservation<'_, K> {
    /// The count stays for the rest of its window.
    pub fn keep(mut self) {
        self.settled = true;
    }

    /// The key's whole window goes: its earlier counts too.
    pub fn forget_key(mut self) {
        self.settled = true;
        self.counter.forget(&self.key);
    }
}

impl<K: Hash + Eq + Clone> Drop for Reservation<'_, K> {
    fn drop(&mut self) {
        if !self.settled {
            self.counter.release(&self.key, self.start_ms);
        }
    }
}

/// The client address as per-address limits count it: an IPv4 address (also when mapped
/// into IPv6), or an IPv6 address's /64 — one host or subscriber usually holds a whole /64,
/// so counting single IPv6 addresses would give one attacker billions of allowances.
pub fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn reservations_count_until_the_limit_and_a_new_window_starts_afresh() {
        let counter = WindowCounter::new(100, MINUTE);
        for _ in 0..3 {
            counter.reserve(&"alice", 3, 1_000).expect("under the limit").keep();
        }
        assert!(counter.reserve(&"alice", 3, 60_999).is_none(), "the window holds 3");
        assert!(counter.reserve(&"bob", 3, 30_000).is_some(), "another key counts apart");
        counter.reserve(&"alice", 3, 61_000).expect("a new window").keep();
        assert!(counter.reserve(&"alice", 1, 61_001).is_none(), "the new window counted one");
    }

    #[test]
    fn a_dropped_reservation_is_given_back_and_forget_clears_the_window() {
        let counter = WindowCounter::new(100, MINUTE);
        counter.reserve(&"alice", 2, 0).expect("first").keep();
        let held = counter.reserve(&"alice", 2, 0).expect("second");
        assert!(counter.reserve(&"alice", 2, 0).is_none(), "a reservation counts while held");
        drop(held);
        let last = counter.reserve(&"alice", 2, 0).expect("given back");
        last.forget_key();
        assert!(counter.is_empty());
        // A release of an old window's count leaves the new window alone.
        let old = counter.reserve(&"bob", 1, 0).expect("old window");
        counter.reserve(&"bob", 1, 60_000).expect("new window").keep();
        drop(old);
        assert!(counter.reserve(&"bob", 1, 60_001).is_none(), "the new window still holds its count");
        assert!(counter.reserve(&"carol", 0, 0).is_none(), "a limit of 0 admits nothing");
        assert_eq!(counter.len(), 1, "refusals hold no key");
    }

    #[test]
    fn the_table_stays_within_its_capacity_and_forgets_the_oldest_first() {
        let counter = WindowCounter::new(SHARDS * 4, MINUTE);
        assert_eq!(counter.capacity(), SHARDS * 4);
        for i in 0..200_000u64 {
            counter.reserve(&i, 10, i / 10).expect("fresh key").keep();
            if i % 1_000 == 0 {
                assert!(counter.len() <= counter.capacity(), "{} keys after {i}", counter.len());
            }
        }
        assert_eq!(counter.len(), counter.capacity());
        // The newest keys are the ones still counted.
        assert!(counter.reserve(&199_999, 1, 20_000).is_none());
        assert!(counter.reserve(&0, 1, 20_000).is_some(), "the oldest key was forgotten");
        let small = WindowCounter::<u32>::new(0, MINUTE);
        small.reserve(&1, 5, 0).expect("one key fits").keep();
        small.reserve(&2, 5, 0).expect("and replaces the oldest").keep();
        assert_eq!(small.len(), 1);
    }

    #[test]
    fn addresses_count_as_ipv4_or_ipv6_slash_64() {
        let key = |text: &str| address_key(text.parse().unwrap()).to_string();
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2:ffff::1"), key("2001:db8:1:2::9"));
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("::1"), "::");
    }
}
