//! The ids of the items shown lately, so that what the server delivers again after a
//! reconnection (it redelivers what was not acknowledged, under the same ids) is not shown
//! twice.

use std::collections::{HashSet, VecDeque};

/// The last `capacity` ids seen, oldest forgotten first.
#[derive(Debug)]
pub(crate) struct RecentIds {
    order: VecDeque<u64>,
    seen: HashSet<u64>,
    capacity: usize,
}

impl RecentIds {
    pub(crate) fn new(capacity: usize) -> RecentIds {
        RecentIds { order: VecDeque::with_capacity(capacity), seen: HashSet::with_capacity(capacity), capacity }
    }

    /// Remembers `id`; true if it was not among the recent ones.
    pub(crate) fn first_time(&mut self, id: u64) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_counts_once_until_it_is_forgotten() {
        let mut recent = RecentIds::new(3);
        assert!(recent.first_time(1));
        assert!(!recent.first_time(1));
        assert!(recent.first_time(2) && recent.first_time(3));
        assert!(!recent.first_time(1), "still among the last three");
        assert!(recent.first_time(4));
        assert!(recent.first_time(1), "forgotten: the oldest of four");
        assert!(!recent.first_time(4));
    }
}
