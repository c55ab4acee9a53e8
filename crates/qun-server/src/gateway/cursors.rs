//! A session's delivery cursors, in memory, written to the store in the background.
//!
//! Every pull acknowledges the previous batch; writing that to the database on every pull
//! would be one write per member per message under load. Instead acknowledgements move the
//! cursor here, and the cursor writer (`cursor_writer.rs`) saves what is [`CursorBook::unsaved`]
//! for all sessions together: every interval (`Config::cursor_flush`) and when the session
//! ends. The cost: a server crash can forget up to one interval of acknowledgements, and those
//! messages are delivered again at the next login (with the same ids, which the SDK drops) —
//! never lost.
//!
//! Locking: `parking_lot::Mutex` (no poisoning), held for map updates only.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use qun_store::QueueKey;

/// How often at most a session that is pushed group messages is asked to acknowledge them
/// (see [`CursorBook::pushed`]): each ask costs the client one pull, so under steady traffic
/// one push a second carries the ask. What was pushed and not yet acknowledged is sent again
/// to the device's next connection (the SDK drops a repeated message by id).
pub(crate) const ACK_REQUEST_INTERVAL: Duration = Duration::from_secs(1);
/// Pushes followed by this much quiet are asked about at once, so the acknowledgement of an
/// isolated message or of a burst's end does not wait for the interval. Longer than a group's
/// longest pace between two flushes (`group_flusher::PACE_MAX`), so that steady traffic is
/// not taken for quiet (which would ask after every flush).
pub(crate) const ACK_QUIET: Duration = Duration::from_millis(250);

/// What a push means for acknowledgements (see [`CursorBook::pushed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pushed {
    pub(crate) ask: bool,
    pub(crate) new_tail: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct Cursor {
    /// Acknowledged by the client.
    acked: Option<i64>,
    /// Known to be in the store.
    stored: Option<i64>,
    /// Sent to this connection in a batch (acknowledged or not). The SDK may pull one queue
    /// twice at once (after its login's UNREAD and after a notice); it must not get the same
    /// items twice: easemob-websdk 4.21.1 dispatches a repeated group event again.
    sent: Option<i64>,
    /// The last position pushed messages were asked to be acknowledged up to, and when.
    asked: Option<(i64, Instant)>,
    /// When the last message was pushed.
    pushed_at: Option<Instant>,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct CursorBook {
    cursors: Mutex<HashMap<QueueKey, Cursor>>,
}

impl CursorBook {
    /// Positions read from the store at login.
    pub(crate) fn load(&self, stored: impl IntoIterator<Item = (QueueKey, Option<i64>)>) {
        let mut cursors = self.cursors.lock();
        for (queue, position) in stored {
            cursors.insert(queue, Cursor { acked: position, stored: position, ..Cursor::default() });
        }
    }

    /// The device's position in `queue`: `Some(None)` means "known: never acknowledged";
    /// `None` means the book does not know the queue (ask the store).
    pub(crate) fn position(&self, queue: &QueueKey) -> Option<Option<i64>> {
        self.cursors.lock().get(queue).map(|c| c.acked)
    }

    /// Where the next batch of `queue` starts: after what was acknowledged and after what was
    /// already sent on this connection. `None`: the book does not know the queue.
    pub(crate) fn read_from(&self, queue: &QueueKey) -> Option<Option<i64>> {
        self.cursors.lock().get(queue).map(|c| c.acked.max(c.sent))
    }

    /// A batch of `queue` up to `seq` was sent on this connection.
    pub(crate) fn sent_through(&self, queue: &QueueKey, seq: i64) {
        let mut cursors = self.cursors.lock();
        let cursor = cursors.entry(queue.clone()).or_default();
        cursor.sent = cursor.sent.max(Some(seq));
    }

    /// Message `seq` of `queue`, which the session has (its own) or must not see (shielded),
    /// comes next: the position moves past it — acknowledged at once if nothing sent before it
    /// awaits an acknowledgement, else with the acknowledgement of what follows.
    pub(crate) fn pass(&self, queue: &QueueKey, seq: i64) {
        let mut cursors = self.cursors.lock();
        let cursor = cursors.entry(queue.clone()).or_default();
        if cursor.sent <= cursor.acked {
            cursor.acked = cursor.acked.max(Some(seq));
        } else {
            cursor.sent = cursor.sent.max(Some(seq));
        }
    }

    /// Message `seq` of `queue` was pushed. Says whether to ask for an acknowledgement with
    /// this push (the first after a quiet spell, or none was asked for in the last
    /// [`ACK_REQUEST_INTERVAL`]), and whether this
    /// push starts a tail of unasked pushes (then [`CursorBook::asks_due`] must be called
    /// [`ACK_QUIET`] later).
    pub(crate) fn pushed(&self, queue: &QueueKey, seq: i64, now: Instant) -> Pushed {
        let mut cursors = self.cursors.lock();
        let cursor = cursors.entry(queue.clone()).or_default();
        let tail_before = cursor.sent > cursor.asked.map(|(asked, _)| asked).max(cursor.acked);
        // The first push after a quiet spell asks at once: the SDK then acknowledges as soon
        // as it has dispatched it, so an app that closes right after showing a message is not
        // sent it again at its next start. Under steady traffic one push a second asks.
        let steady = cursor.pushed_at.is_some_and(|at| now.duration_since(at) < ACK_REQUEST_INTERVAL / 2);
        cursor.sent = cursor.sent.max(Some(seq));
        cursor.pushed_at = Some(now);
        let asked_long_ago = cursor.asked.is_none_or(|(_, at)| now.duration_since(at) >= ACK_REQUEST_INTERVAL);
        if !steady || asked_long_ago {
            cursor.asked = Some((seq, now));
            return Pushed { ask: true, new_tail: false };
        }
        Pushed { ask: false, new_tail: !tail_before }
    }

    /// Queues with pushed messages neither acknowledged nor asked about that are due an ask:
    /// quiet for [`ACK_QUIET`], or last asked [`ACK_REQUEST_INTERVAL`] ago, or all of them when
    /// `all` (the session is closing). Returns them with the position to ask for, marked as
    /// asked, and when to look again for those not due yet.
    pub(crate) fn asks_due(&self, now: Instant, all: bool) -> (Vec<(QueueKey, i64)>, Option<Instant>) {
        let mut cursors = self.cursors.lock();
        let (mut due, mut again) = (Vec::new(), None::<Instant>);
        for (queue, cursor) in cursors.iter_mut() {
            // Only pushed queues are asked about (a pull's batches are acknowledged anyway).
            let (Some(sent), Some(pushed_at)) = (cursor.sent, cursor.pushed_at) else { continue };
            let asked = cursor.asked.map(|(asked, _)| asked);
            if cursor.acked >= Some(sent) || (asked >= Some(sent) && !all) {
                continue;
            }
            let quiet = now.duration_since(pushed_at) >= ACK_QUIET;
            let asked_at = cursor.asked.map_or(pushed_at, |(_, at)| at);
            if all || quiet || now.duration_since(asked_at) >= ACK_REQUEST_INTERVAL {
                cursor.asked = Some((sent, now));
                due.push((queue.clone(), sent));
            } else {
                // Still busy: look again after as long again as since the last ask (so a few
                // times a second under steady traffic), and at the interval at the latest.
                let next = (now + now.duration_since(asked_at).max(ACK_QUIET)).min(asked_at + ACK_REQUEST_INTERVAL);
                again = Some(again.map_or(next, |again| again.min(next)));
            }
        }
        (due, again)
    }

    /// Whether pushed messages await an acknowledgement.
    pub(crate) fn awaiting_acknowledgement(&self) -> bool {
        self.cursors.lock().values().any(|c| c.pushed_at.is_some() && c.sent > c.acked)
    }

    /// Records a position read from the store.
    pub(crate) fn learned(&self, queue: &QueueKey, stored: Option<i64>) {
        let mut cursors = self.cursors.lock();
        let cursor = cursors.entry(queue.clone()).or_default();
        cursor.stored = cursor.stored.max(stored);
        cursor.acked = cursor.acked.max(stored);
    }

    /// The client acknowledged up to `seq` (never moves backwards).
    pub(crate) fn acknowledge(&self, queue: &QueueKey, seq: i64) {
        let mut cursors = self.cursors.lock();
        let cursor = cursors.entry(queue.clone()).or_default();
        cursor.acked = cursor.acked.max(Some(seq));
    }

    /// Whether the client has acknowledged exactly what this connection sent it of `queue`, up
    /// to `seq` (so, with no news since, there is nothing after it to read).
    pub(crate) fn acknowledged_all_sent(&self, queue: &QueueKey, seq: i64) -> bool {
        self.cursors.lock().get(queue).is_some_and(|c| c.sent == Some(seq) && c.acked == Some(seq))
    }

    /// Takes over the positions of a connection of the same device that this one replaces
    /// (its acknowledgements may not be in the store yet).
    pub(crate) fn take_over(&self, replaced: &CursorBook) {
        let theirs: Vec<(QueueKey, i64)> = {
            let cursors = replaced.cursors.lock();
            cursors.iter().filter_map(|(queue, c)| c.acked.map(|acked| (queue.clone(), acked))).collect()
        };
        for (queue, acked) in theirs {
            self.acknowledge(&queue, acked);
        }
    }

    /// Acknowledged positions not yet in the store.
    pub(crate) fn unsaved(&self) -> Vec<(QueueKey, i64)> {
        let cursors = self.cursors.lock();
        cursors
            .iter()
            .filter_map(|(queue, c)| match (c.acked, c.stored) {
                (Some(acked), stored) if Some(acked) > stored => Some((queue.clone(), acked)),
                _ => None,
            })
            .collect()
    }

    /// `seq` of `queue` is now in the store.
    pub(crate) fn saved(&self, queue: &QueueKey, seq: i64) {
        if let Some(cursor) = self.cursors.lock().get_mut(queue) {
            cursor.stored = cursor.stored.max(Some(seq));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qun_core::GroupId;

    #[test]
    fn acknowledgements_move_forward_and_are_saved_once() {
        let book = CursorBook::default();
        let group = QueueKey::Group(GroupId(7));
        assert_eq!(book.position(&group), None);
        book.load([(group.clone(), Some(3)), (QueueKey::Personal, None)]);
        assert_eq!(book.position(&group), Some(Some(3)));
        assert_eq!(book.position(&QueueKey::Personal), Some(None));
        assert!(book.unsaved().is_empty());

        book.acknowledge(&group, 10);
        book.acknowledge(&group, 8);
        assert_eq!(book.position(&group), Some(Some(10)));
        assert_eq!(book.unsaved(), vec![(group.clone(), 10)]);
        book.saved(&group, 10);
        assert!(book.unsaved().is_empty());

        // A position learned from the store never moves an acknowledgement back.
        book.learned(&group, Some(5));
        assert_eq!(book.position(&group), Some(Some(10)));

        // A replacing connection takes over what the replaced one acknowledged.
        let successor = CursorBook::default();
        successor.load([(group.clone(), Some(3))]);
        successor.take_over(&book);
        assert_eq!(successor.position(&group), Some(Some(10)));
        assert_eq!(successor.unsaved(), vec![(group, 10)]);
    }

    #[test]
    fn what_was_sent_is_not_read_again_on_the_same_connection() {
        let book = CursorBook::default();
        let queue = QueueKey::Personal;
        book.load([(queue.clone(), None)]);
        assert_eq!(book.read_from(&queue), Some(None));
        book.sent_through(&queue, 20);
        // Not acknowledged (so not saved, and a new connection gets it again), but not read
        // again by this one.
        assert_eq!(book.position(&queue), Some(None));
        assert_eq!(book.read_from(&queue), Some(Some(20)));
        assert!(book.unsaved().is_empty());
        book.acknowledge(&queue, 20);
        book.acknowledge(&queue, 30);
        assert_eq!(book.read_from(&queue), Some(Some(30)));
        let successor = CursorBook::default();
        successor.sent_through(&queue, 40);
        let fresh = CursorBook::default();
        fresh.take_over(&successor);
        assert_eq!(fresh.read_from(&queue), None);
    }
}
