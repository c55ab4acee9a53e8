//! The stamp every benchmark message carries, and what a receiver checks with it.
//!
//! The stamp is the message text `qb1 <sender> <seq> <intended_unix_us>`: the sender's
//! number, its per-sender sequence (0, 1, 2, …) and the time the message was *meant* to
//! leave on the open-loop schedule, not the time it actually left. Latency is measured from
//! the intended time, so a generator or server that falls behind shows up in the latency
//! instead of silently lowering the offered rate (no coordinated omission). Every process of
//! the bench runs on the same machine, so wall-clock microseconds compare across them.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// The prefix that marks a benchmark message.
const PREFIX: &str = "qb1";

/// A parsed stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub sender: u32,
    pub seq: u64,
    pub intended_unix_us: u64,
}

impl Stamp {
    pub fn text(&self) -> String {
        format!("{PREFIX} {} {} {}", self.sender, self.seq, self.intended_unix_us)
    }

    pub fn parse(text: &str) -> Option<Stamp> {
        let mut parts = text.split(' ');
        if parts.next()? != PREFIX {
            return None;
        }
        let stamp = Stamp {
            sender: parts.next()?.parse().ok()?,
            seq: parts.next()?.parse().ok()?,
            intended_unix_us: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(stamp)
    }
}

/// Wall-clock microseconds since the Unix epoch.
pub fn now_unix_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// What one receipt was, against what the receiver had seen of that sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// The next one, or later than anything seen (a gap stays open until filled).
    InOrder,
    /// A sequence number below the highest seen, seen for the first time.
    Reordered,
    /// Seen before.
    Duplicate,
}

/// Per-sender sequence bookkeeping of one receiver: which sequence numbers arrived (a bitset,
/// so a gap filled late is told from a duplicate), duplicates and reorders.
#[derive(Debug, Default)]
pub struct SequenceCheck {
    senders: HashMap<u32, SenderTrack>,
    pub duplicates: u64,
    pub reorders: u64,
    pub unstamped: u64,
    /// When the last new (not duplicate) message arrived.
    pub last_new_unix_us: u64,
}

#[derive(Debug, Default)]
struct SenderTrack {
    highest: Option<u64>,
    seen: Vec<u64>,
    distinct: u64,
}

impl SequenceCheck {
    pub fn record(&mut self, stamp: &Stamp, now_unix_us: u64) -> Receipt {
        let track = self.senders.entry(stamp.sender).or_default();
        let (word, bit) = ((stamp.seq / 64) as usize, 1u64 << (stamp.seq % 64));
        if track.seen.len() <= word {
            track.seen.resize(word + 1, 0);
        }
        if track.seen[word] & bit != 0 {
            self.duplicates += 1;
            return Receipt::Duplicate;
        }
        track.seen[word] |= bit;
        track.distinct += 1;
        self.last_new_unix_us = now_unix_us;
        let receipt = match track.highest {
            Some(highest) if stamp.seq < highest => Receipt::Reordered,
            _ => Receipt::InOrder,
        };
        track.highest = Some(track.highest.map_or(stamp.seq, |highest| highest.max(stamp.seq)));
        if receipt == Receipt::Reordered {
            self.reorders += 1;
        }
        receipt
    }

    /// Distinct messages received from `sender`.
    pub fn distinct_from(&self, sender: u32) -> u64 {
        self.senders.get(&sender).map_or(0, |track| track.distinct)
    }

    /// Distinct messages received from every sender.
    pub fn distinct(&self) -> u64 {
        self.senders.values().map(|track| track.distinct).sum()
    }

    /// The senders heard from.
    pub fn senders(&self) -> impl Iterator<Item = u32> + '_ {
        self.senders.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_strangers_are_refused() {
        let stamp = Stamp { sender: 7, seq: 41, intended_unix_us: 1_700_000_000_123_456 };
        assert_eq!(Stamp::parse(&stamp.text()), Some(stamp));
        for text in ["", "hello", "qb1 7 41", "qb1 7 41 x", "qb1 7 41 5 extra", "qb2 7 41 5", "qb1 -1 0 0"] {
            assert_eq!(Stamp::parse(text), None, "{text:?}");
        }
    }

    fn stamp(sender: u32, seq: u64) -> Stamp {
        Stamp { sender, seq, intended_unix_us: 0 }
    }

    #[test]
    fn gaps_duplicates_and_reorders_are_told_apart() {
        let mut check = SequenceCheck::default();
        let receipts: Vec<Receipt> = [(1, 0), (1, 1), (2, 0), (1, 3), (1, 2), (1, 3), (2, 0), (1, 200), (1, 64)]
            .iter()
            .map(|&(sender, seq)| check.record(&stamp(sender, seq), 5))
            .collect();
        use Receipt::*;
        assert_eq!(receipts, [InOrder, InOrder, InOrder, InOrder, Reordered, Duplicate, Duplicate, InOrder, Reordered]);
        assert_eq!((check.duplicates, check.reorders), (2, 2));
        assert_eq!((check.distinct_from(1), check.distinct_from(2), check.distinct_from(3)), (6, 1, 0));
        assert_eq!(check.distinct(), 7);
        assert_eq!(check.last_new_unix_us, 5);
    }
}
