//! Group messages leave in paced batches, as chat room messages do.
//!
//! The message writer hands each commit's group messages to the hub
//! ([`Delivery::group_messages`](crate::services::delivery::Delivery::group_messages)), which
//! only appends them to the group's outbox here: a sender's ack never waits for a fan-out. One
//! task, the group flusher, sends each outbox as **one frame per session** (see
//! `Session::push_group`): at once when the group was quiet, else when the group's pace has
//! passed since its last flush — [`PACE_PER_SESSION`] per online session of the group, at most
//! [`PACE_MAX`]. So a busy 5,000-member group gets a frame every 150 ms whatever its message
//! rate, each member's frame carrying everything since the last one, and a quiet group's
//! message leaves at once. Latency is traded for CPU exactly as for rooms (one frame to one
//! member costs about 10 µs on loopback, most of it the `send`).
//!
//! Order: the writer appends in commit order, and the flusher flushes an outbox's messages in
//! the order they came, one flush at a time; a group's next flush is always later than its
//! last. An outbox nobody wrote to for a pace is forgotten.
//!
//! Locking: one `parking_lot::Mutex` around the outboxes, held to append or take, never across
//! an `.await` or a fan-out.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use qun_core::GroupId;
use tokio::sync::mpsc;

use super::hub::Hub;
use crate::lifecycle::Lifecycle;
use crate::services::delivery::CommittedMessage;
use crate::telemetry::{Kind, Metrics};

/// How long a group waits between two flushes, per online session of the group: about three
/// times what one frame to one session costs (≈ 10 µs on loopback, most of it the `send`), so
/// a busy group's flushes take about a third of a core (BENCHMARKS.md, issue 12: 20 µs gave
/// 1.7 µs of CPU per delivery at 100 msg/s into 5,000, 30 µs 1.4 µs, p99 still under 400 ms).
pub(crate) const PACE_PER_SESSION: Duration = Duration::from_micros(30);
/// The longest wait between two flushes of a group (the latency a busy big group adds).
pub(crate) const PACE_MAX: Duration = Duration::from_millis(200);

pub(crate) type GroupKey = (i64, GroupId);

#[derive(Debug, Default)]
struct Outbox {
    pending: Vec<CommittedMessage>,
    /// The earliest moment of the next flush (the last flush plus the pace).
    next_flush: Option<Instant>,
    /// A flush is due (the flusher was told).
    scheduled: bool,
}

/// The outboxes of the groups with recent messages (see the module docs).
#[derive(Debug)]
pub(crate) struct Outboxes {
    outboxes: Mutex<HashMap<GroupKey, Outbox>>,
    due: mpsc::UnboundedSender<(Instant, GroupKey)>,
    /// Taken by the flusher when it starts.
    receiver: Mutex<Option<mpsc::UnboundedReceiver<(Instant, GroupKey)>>>,
}

impl Default for Outboxes {
    fn default() -> Outboxes {
        let (due, receiver) = mpsc::unbounded_channel();
        Outboxes { outboxes: Mutex::default(), due, receiver: Mutex::new(Some(receiver)) }
    }
}

impl Outboxes {
    /// Appends committed messages (in sequence order) to the group's outbox, and tells the
    /// flusher when its flush is due if it was not told yet.
    pub(crate) fn add(&self, key: GroupKey, messages: &[CommittedMessage]) {
        let mut outboxes = self.outboxes.lock();
        let outbox = outboxes.entry(key).or_default();
        outbox.pending.extend_from_slice(messages);
        if !outbox.scheduled {
            outbox.scheduled = true;
            let now = Instant::now();
            let _ = self.due.send((outbox.next_flush.map_or(now, |at| at.max(now)), key));
        }
    }

    /// Takes what the group's outbox holds for a flush now; the next flush may come `pace`
    /// later. An outbox with nothing pending whose pace has passed is forgotten.
    pub(crate) fn take(&self, key: GroupKey, pace: Duration) -> Vec<CommittedMessage> {
        let mut outboxes = self.outboxes.lock();
        let Some(outbox) = outboxes.get_mut(&key) else { return Vec::new() };
        let now = Instant::now();
        if outbox.pending.is_empty() {
            if !outbox.scheduled && outbox.next_flush.is_none_or(|at| at <= now) {
                outboxes.remove(&key);
            }
            return Vec::new();
        }
        outbox.scheduled = false;
        outbox.next_flush = Some(now + pace);
        // Come back once the pace has passed, to forget the outbox if nothing came.
        let _ = self.due.send((now + pace, key));
        std::mem::take(&mut outbox.pending)
    }

    fn receiver(&self) -> Option<mpsc::UnboundedReceiver<(Instant, GroupKey)>> {
        self.receiver.lock().take()
    }
}

/// The pace of a group with `sessions` online sessions.
pub(crate) fn pace(sessions: usize) -> Duration {
    PACE_PER_SESSION.saturating_mul(sessions as u32).min(PACE_MAX)
}

/// The group flusher (see the module docs): flushes each group's outbox when it is due. Ends
/// when the server stops, after one last flush of everything pending (what it cannot deliver
/// is stored, and read at the next login).
pub(crate) async fn run(hub: Arc<Hub>, metrics: Arc<Metrics>, lifecycle: Lifecycle) {
    let Some(mut requests) = hub.outboxes.receiver() else {
        tracing::error!("a second group flusher was started");
        return;
    };
    let mut due: BTreeMap<(Instant, u64), GroupKey> = BTreeMap::new();
    let mut order = 0u64;
    loop {
        let next = due.first_key_value().map(|((at, _), _)| *at);
        tokio::select! {
            request = requests.recv() => {
                let Some((at, key)) = request else { break };
                order += 1;
                due.insert((at, order), key);
            }
            () = tokio::time::sleep_until(next.unwrap_or_else(Instant::now).into()), if next.is_some() => {
                let now = Instant::now();
                while let Some(entry) = due.first_entry() {
                    if entry.key().0 > now {
                        break;
                    }
                    let key = entry.remove();
                    flush(&hub, &metrics, key);
                }
            }
            () = lifecycle.stopping() => {
                for key in due.into_values() {
                    flush(&hub, &metrics, key);
                }
                break;
            }
        }
    }
}

fn flush(hub: &Hub, metrics: &Metrics, key: GroupKey) {
    let flushed = hub.flush_group(key);
    if flushed.pushed > 0 {
        metrics.group_pushes.inc_by(flushed.pushed);
        metrics.delivered(Kind::Group, flushed.pushed, flushed.newest);
    }
}

/// What one flush of a group did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flushed {
    /// Messages pushed, counted per session.
    pub(crate) pushed: u64,
    /// The newest message's id.
    pub(crate) newest: Option<u64>,
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn message(seq: i64) -> CommittedMessage {
        CommittedMessage { seq, id: seq as u64, meta: Bytes::new(), origin: None }
    }

    #[test]
    fn an_outbox_is_due_at_once_when_quiet_then_after_its_pace() {
        let outboxes = Outboxes::default();
        let mut due = outboxes.receiver().unwrap();
        let key = (1, GroupId(7));
        let before = Instant::now();
        outboxes.add(key, &[message(1)]);
        outboxes.add(key, &[message(2), message(3)]);
        let (at, told) = due.try_recv().unwrap();
        assert_eq!(told, key);
        assert!(at >= before && at <= Instant::now(), "quiet: due at once");
        assert!(due.try_recv().is_err(), "told once until the flush");

        let pace = Duration::from_millis(100);
        let taken: Vec<i64> = outboxes.take(key, pace).iter().map(|m| m.seq).collect();
        assert_eq!(taken, [1, 2, 3]);
        let (expiry, _) = due.try_recv().unwrap();
        outboxes.add(key, &[message(4)]);
        let (at, _) = due.try_recv().unwrap();
        assert!(at >= expiry, "the next flush waits for the pace");
        assert_eq!(outboxes.take(key, pace).len(), 1);
        // Nothing pending and the pace not over: kept; over: forgotten.
        assert!(outboxes.take(key, pace).is_empty());
        assert!(outboxes.outboxes.lock().contains_key(&key));
        outboxes.outboxes.lock().get_mut(&key).unwrap().next_flush = Some(Instant::now());
        assert!(outboxes.take(key, pace).is_empty());
        assert!(!outboxes.outboxes.lock().contains_key(&key));
    }

    #[test]
    fn the_pace_grows_with_the_sessions_up_to_a_cap() {
        assert_eq!(pace(0), Duration::ZERO);
        assert_eq!(pace(5_000), Duration::from_millis(150));
        assert_eq!(pace(1_000_000), PACE_MAX);
    }
}
