//! The recent timeline of active groups, in memory: the entries pulls ask for most (the
//! newest ones), already serialized, so that a message delivered to 5,000 members is read
//! from the database zero times instead of 5,000.
//!
//! Filled after each commit by the path that committed (messages: the writer's caller;
//! events: `publish_change`). It is a cache: an entry another node committed, or one that
//! arrived out of order beyond the window, leaves a gap, and a read that would need the gap
//! is answered `None` so the caller reads the database. Bounded per group and in groups.
//!
//! Locking: one `parking_lot::Mutex` (no poisoning) per group inside a `RwLock` map; held for copying a few
//! `Bytes` handles, never across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use qun_core::{GroupId, UserName};

/// Entries kept per group: more than a pull batch and the offline window need.
const ENTRIES_PER_GROUP: usize = 512;
/// Groups kept; the least recently written is dropped beyond this.
const GROUPS_KEPT: usize = 4096;

/// One timeline entry, ready to send.
#[derive(Debug, Clone)]
pub struct RecentEntry {
    pub seq: i64,
    pub id: u64,
    /// The member who must not receive it.
    pub except: Option<UserName>,
    pub is_message: bool,
    /// The serialized msync `Meta`.
    pub meta: Bytes,
}

#[derive(Debug, Default)]
struct GroupWindow {
    entries: BTreeMap<i64, RecentEntry>,
    last_write: u64,
}

impl GroupWindow {
    /// The first sequence from which the window is complete up to its newest entry.
    fn complete_from(&self) -> Option<i64> {
        let mut expected = *self.entries.keys().next_back()?;
        for seq in self.entries.keys().rev() {
            if *seq != expected {
                return Some(expected + 1);
            }
            expected -= 1;
        }
        Some(expected + 1)
    }
}

type SharedWindow = Arc<Mutex<GroupWindow>>;

/// See the module docs.
#[derive(Debug, Default)]
pub struct RecentTimelines {
    groups: RwLock<HashMap<(i64, GroupId), SharedWindow>>,
    clock: AtomicU64,
}

impl RecentTimelines {
    /// Records a committed entry.
    pub fn insert(&self, app_id: i64, group: GroupId, entry: RecentEntry) {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        let window = self.window(app_id, group);
        let mut window = window.lock();
        window.last_write = now;
        window.entries.insert(entry.seq, entry);
        while window.entries.len() > ENTRIES_PER_GROUP {
            window.entries.pop_first();
        }
    }

    /// Entries with sequence in `(after, newest]`, at most `limit`, oldest first, and the
    /// newest sequence known; `None` when the window does not hold all of them.
    pub fn read(&self, app_id: i64, group: GroupId, after: i64, limit: usize) -> Option<(Vec<RecentEntry>, i64)> {
        let window = self.groups.read().get(&(app_id, group)).cloned()?;
        let window = window.lock();
        let newest = *window.entries.keys().next_back()?;
        if after + 1 < window.complete_from()? {
            return None;
        }
        let entries = window.entries.range(after + 1..).take(limit).map(|(_, e)| e.clone()).collect();
        Some((entries, newest))
    }

    /// The newest sequence of the group if the window has any entry.
    pub fn newest(&self, app_id: i64, group: GroupId) -> Option<i64> {
        let window = self.groups.read().get(&(app_id, group)).cloned()?;
        window.lock().entries.keys().next_back().copied()
    }

    /// Replaces an entry the window holds (an edited message); one it does not hold stays out.
    pub fn replace(&self, app_id: i64, group: GroupId, entry: RecentEntry) {
        let Some(window) = self.groups.read().get(&(app_id, group)).cloned() else { return };
        let mut window = window.lock();
        if let Some(held) = window.entries.get_mut(&entry.seq) {
            *held = entry;
        }
    }

    /// Forgets one entry (a recalled message): reads that would need it go to the database,
    /// which no longer returns it.
    pub fn remove(&self, app_id: i64, group: GroupId, seq: i64) {
        if let Some(window) = self.groups.read().get(&(app_id, group)).cloned() {
            window.lock().entries.remove(&seq);
        }
    }

    /// Forgets a group (dissolved).
    pub fn forget(&self, app_id: i64, group: GroupId) {
        self.groups.write().remove(&(app_id, group));
    }

    fn window(&self, app_id: i64, group: GroupId) -> SharedWindow {
        if let Some(window) = self.groups.read().get(&(app_id, group)) {
            return window.clone();
        }
        let mut groups = self.groups.write();
        if groups.len() >= GROUPS_KEPT && !groups.contains_key(&(app_id, group)) {
            let oldest = groups.iter().min_by_key(|(_, window)| window.lock().last_write).map(|(key, _)| *key);
            if let Some(oldest) = oldest {
                groups.remove(&oldest);
            }
        }
        groups.entry((app_id, group)).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64) -> RecentEntry {
        RecentEntry { seq, id: seq as u64 * 10, except: None, is_message: true, meta: Bytes::from(vec![seq as u8]) }
    }

    fn seqs(read: Option<(Vec<RecentEntry>, i64)>) -> Option<Vec<i64>> {
        read.map(|(entries, _)| entries.iter().map(|e| e.seq).collect())
    }

    #[test]
    fn reads_inside_the_window_and_refuses_gaps() {
        let recent = RecentTimelines::default();
        let group = GroupId(1);
        assert!(recent.read(1, group, 0, 10).is_none(), "nothing known yet");
        for seq in 5..=8 {
            recent.insert(1, group, entry(seq));
        }
        assert_eq!(seqs(recent.read(1, group, 4, 10)), Some(vec![5, 6, 7, 8]));
        assert_eq!(seqs(recent.read(1, group, 6, 1)), Some(vec![7]));
        assert_eq!(seqs(recent.read(1, group, 8, 10)), Some(vec![]));
        assert!(recent.read(1, group, 3, 10).is_none(), "seq 4 is not in the window");
        // An entry arriving after a gap: only what follows the gap is complete.
        recent.insert(1, group, entry(10));
        assert!(recent.read(1, group, 8, 10).is_none());
        recent.insert(1, group, entry(9));
        assert_eq!(seqs(recent.read(1, group, 8, 10)), Some(vec![9, 10]));
        assert_eq!(recent.newest(1, group), Some(10));
        // Other apps and groups are separate.
        assert!(recent.read(2, group, 8, 10).is_none());
        recent.forget(1, group);
        assert!(recent.read(1, group, 8, 10).is_none());
    }

    #[test]
    fn the_window_is_bounded() {
        let recent = RecentTimelines::default();
        for seq in 1..=(ENTRIES_PER_GROUP as i64 + 10) {
            recent.insert(1, GroupId(1), entry(seq));
        }
        assert!(recent.read(1, GroupId(1), 0, 10).is_none());
        assert_eq!(seqs(recent.read(1, GroupId(1), 11, 1)), Some(vec![12]));
    }
}
