//! Server ids: 64-bit, unique across nodes, increasing in time (snowflake-style).
//!
//! Layout: 41 bits of milliseconds since 2024-01-01, 10 bits of node id, 12 bits of counter.
//! The generator never goes backwards: if the clock does, or more than 4,096 ids are asked for
//! in one millisecond, it borrows from the next millisecond.

use std::sync::atomic::{AtomicU64, Ordering};

const EPOCH_MS: u64 = 1_704_067_200_000; // 2024-01-01T00:00:00Z
const NODE_BITS: u32 = 10;
const COUNTER_BITS: u32 = 12;

/// Generates server ids; cheap to share (`&self`, lock-free).
#[derive(Debug)]
pub struct IdGenerator {
    node: u64,
    last: AtomicU64,
}

impl IdGenerator {
    pub fn new(node: u16) -> Self {
        IdGenerator { node: u64::from(node) & ((1 << NODE_BITS) - 1), last: AtomicU64::new(0) }
    }

    pub fn next(&self) -> u64 {
        let floor = (now_ms().saturating_sub(EPOCH_MS) << (NODE_BITS + COUNTER_BITS)) | (self.node << COUNTER_BITS);
        let mut previous = self.last.load(Ordering::Relaxed);
        loop {
            // Same node bits, counter + 1; or the clock's floor if that is later.
            let candidate = floor.max(previous + 1);
            match self.last.compare_exchange_weak(previous, candidate, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return candidate,
                Err(actual) => previous = actual,
            }
        }
    }
}

/// The smallest id generated at `unix_ms` (ids compare like their times).
pub fn id_floor_at(unix_ms: u64) -> u64 {
    unix_ms.saturating_sub(EPOCH_MS) << (NODE_BITS + COUNTER_BITS)
}

/// When id `id` was generated, ms since the Unix epoch (to the millisecond, borrowing aside).
pub fn id_time_ms(id: u64) -> u64 {
    (id >> (NODE_BITS + COUNTER_BITS)) + EPOCH_MS
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_and_are_unique_across_threads() {
        let generator = std::sync::Arc::new(IdGenerator::new(3));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let generator = generator.clone();
                std::thread::spawn(move || (0..10_000).map(|_| generator.next()).collect::<Vec<_>>())
            })
            .collect();
        let mut all = Vec::new();
        for handle in handles {
            let ids = handle.join().unwrap();
            assert!(ids.windows(2).all(|w| w[0] < w[1]));
            all.extend(ids);
        }
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count);
        assert!(all[0] < i64::MAX as u64);
    }

    #[test]
    fn an_id_tells_when_it_was_made() {
        let before = now_ms();
        let id = IdGenerator::new(5).next();
        let made = id_time_ms(id);
        assert!(made >= before && made <= now_ms(), "{before} <= {made}");
        assert_eq!(id_time_ms(id_floor_at(made)), made);
    }
}
