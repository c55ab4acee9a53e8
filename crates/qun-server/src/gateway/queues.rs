//! A user's queues as msync shows them: naming (queue key ↔ JID), the UNREAD summary, and
//! serving pulls (read after the device's cursor, acknowledge by key).
//!
//! Queues: one per group the user is in (`<group>@conference.easemob.com`), one per 1:1 peer
//! (`<peer>@easemob.com`), and the user's personal events (`~events@easemob.com`: a name no
//! user can have, so it never collides with a peer).

use bytes::Bytes;
use qun_core::{GroupId, PersonalItem, UserName};
use qun_proto::msync::{self, EncodedMeta, Jid, Message, Meta};
use qun_store::{Conversation, QueueHead, QueueKey, StoredEvent, TimelineEntry, TimelineItem};

use super::session::{GroupView, Session};
use crate::ids::{id_floor_at, now_ms};
use crate::services::recent::RecentEntry;
use crate::state::AppState;
use crate::telemetry::Kind;

/// The JID name of the personal-events queue.
pub(crate) const PERSONAL_QUEUE_NAME: &str = "~events";
/// Group messages waiting for a member: the newest 200 at most (older ones stay in history).
pub(crate) const GROUP_OFFLINE_LIMIT: i64 = 200;
/// 1:1 messages waiting per conversation.
pub(crate) const CHAT_OFFLINE_LIMIT: i64 = 500;
/// Personal events older than this are not delivered to a device that never synced.
pub(crate) const PERSONAL_EVENTS_MAX_AGE_MS: u64 = 7 * 24 * 3600 * 1000;
/// Metas per pull batch.
pub(crate) const PULL_BATCH: u32 = 100;

/// The JID naming a queue on the wire.
pub(crate) fn queue_jid(app_key: &str, queue: &QueueKey) -> Jid {
    match queue {
        QueueKey::Group(group) => Jid::group(app_key, group.to_string()),
        QueueKey::Chat(peer) => Jid::user(app_key, peer.as_str()),
        QueueKey::Personal => Jid::user(app_key, PERSONAL_QUEUE_NAME),
    }
}

/// The queue a JID names for `user`, if it is one of theirs to pull.
pub(crate) fn queue_of(jid: &Jid, user: &UserName) -> Option<QueueKey> {
    let name = jid.name.as_deref()?;
    if jid.is_conference() {
        return GroupId::parse(name).ok().map(QueueKey::Group);
    }
    if name == PERSONAL_QUEUE_NAME {
        return Some(QueueKey::Personal);
    }
    let peer = UserName::parse(name).ok()?;
    (&peer != user).then_some(QueueKey::Chat(peer))
}

/// Where a device starts reading a queue: after its cursor, but never before the user's
/// floor (join point) nor before the newest `limit` entries.
pub(crate) fn start_seq(cursor: Option<i64>, floor: i64, last_seq: i64, limit: i64) -> i64 {
    let newest_window = (last_seq - limit).max(0);
    cursor.unwrap_or(newest_window).max(floor).max(newest_window)
}

/// Where a device that never synced its personal queue starts: a week ago.
fn personal_start(cursor: Option<i64>) -> i64 {
    cursor.unwrap_or_else(|| id_floor_at(now_ms().saturating_sub(PERSONAL_EVENTS_MAX_AGE_MS)) as i64)
}

/// The UNREAD summary: every queue with something after the device's position. `read_at_login`:
/// the queues as the login read them, still valid (see [`Session::keep_login_queues`]), so the
/// store is not read again.
pub(crate) async fn unread_frame(
    state: &AppState,
    session: &Session,
    read_at_login: Option<Vec<QueueHead>>,
) -> Result<Bytes, qun_store::StoreError> {
    let mut heads = match read_at_login {
        Some(heads) => heads,
        None => state.store.user_queues(session.app_id, &session.user, &session.device).await?,
    };
    // Personal events first: the client pulls queues in this order, and "you were added to
    // group G" reads better before G's messages.
    heads.sort_by_key(|head| head.queue != QueueKey::Personal);
    let unread = heads
        .iter()
        .filter_map(|head| {
            pending_count(head).map(|n| msync::MetaQueue::new(queue_jid(&session.app_key, &head.queue), n))
        })
        .collect();
    Ok(msync::unread(unread, now_ms()))
}

fn pending_count(head: &QueueHead) -> Option<u32> {
    let n = match head.queue {
        // A member who shielded the group gets no unread count for it.
        QueueKey::Group(_) if head.shielded => 0,
        QueueKey::Group(_) => {
            head.last_seq - start_seq(head.cursor, head.floor_seq, head.last_seq, GROUP_OFFLINE_LIMIT)
        }
        QueueKey::Chat(_) => head.last_seq - start_seq(head.cursor, head.floor_seq, head.last_seq, CHAT_OFFLINE_LIMIT),
        // Event ids are not counts: say "something" when there is anything.
        QueueKey::Personal => i64::from(head.last_seq > personal_start(head.cursor)),
    };
    (n > 0).then_some(n as u32)
}

/// Serves `CommSyncUL{queue, key}`: acknowledges up to `key`, then answers the next batch.
///
/// A batch with metas always says `isLast: false`, so the client acknowledges it with the
/// next pull; only an empty batch says `isLast: true`. Entries the user must not see (their
/// own "to the others" events, messages of a shielded group, this connection's own sends)
/// are skipped, and the cursor moves past them.
///
/// The hot path (a member of an active group pulling what just arrived) touches no database:
/// the cursor is in the session's book, the member's standing in its group views, and the
/// entries in the recent-timeline cache.
pub(crate) async fn pull(
    state: &AppState,
    session: &Session,
    queue: QueueKey,
    ack: Option<u64>,
) -> Result<Bytes, qun_store::StoreError> {
    let told = session.pulling(&queue);
    if let Some(key) = ack {
        session.cursors.acknowledge(&queue, key as i64);
    }
    // The answer to a push's ask (or to the last batch) in a 1:1 conversation: everything this
    // connection was sent is acknowledged, and it was told of nothing since. Every message
    // committed to the conversation while the session is online reaches it (pushed, passed
    // over, or as a notice), so there is nothing to read: no database.
    let acknowledged_all = ack.is_some_and(|key| session.cursors.acknowledged_all_sent(&queue, key as i64));
    if matches!(queue, QueueKey::Chat(_)) && !told && acknowledged_all {
        state.metrics.pulls.inc();
        return Ok(msync::pull_batch(queue_jid(&session.app_key, &queue), &[], None, true, now_ms()));
    }
    let cursor = match session.cursors.read_from(&queue) {
        Some(position) => position,
        None => {
            let stored = state.store.cursor(session.app_id, &session.user, &session.device, &queue).await?;
            session.cursors.learned(&queue, stored);
            stored
        }
    };
    let Batch { metas, consumed, messages } = match &queue {
        QueueKey::Group(group) => group_batch(state, session, *group, cursor).await?,
        QueueKey::Chat(peer) => chat_batch(state, session, peer, cursor).await?,
        QueueKey::Personal => {
            let after = personal_start(cursor);
            let events = state.store.user_events(session.app_id, &session.user, after as u64, PULL_BATCH).await?;
            // Leaving out what this connection sent itself: a conversation ack synced to the
            // sender's other devices (services::receipts).
            let metas = events
                .iter()
                .filter(|stored| !session.has_sent(stored.id))
                .map(|stored| EncodedMeta::new(&personal_meta(&session.app_key, stored)))
                .collect();
            Batch { metas, consumed: events.last().map(|e| e.id as i64), messages: Messages::default() }
        }
    };
    state.metrics.pulls.inc();
    let jid = queue_jid(&session.app_key, &queue);
    if metas.is_empty() {
        // Everything read was invisible to this user: move past it ourselves.
        if let Some(seq) = consumed {
            session.cursors.acknowledge(&queue, seq);
        }
        return Ok(msync::pull_batch(jid, &[], None, true, now_ms()));
    }
    if let Some(seq) = consumed {
        session.cursors.sent_through(&queue, seq);
    }
    if messages.count > 0 {
        let kind = if matches!(queue, QueueKey::Group(_)) { Kind::Group } else { Kind::Chat };
        state.metrics.delivered(kind, messages.count, messages.newest);
    }
    Ok(msync::pull_batch(jid, &metas, consumed.map(|seq| seq as u64), false, now_ms()))
}

/// The messages of a batch, for the metrics.
#[derive(Debug, Default)]
struct Messages {
    count: u64,
    /// The newest message's id.
    newest: Option<u64>,
}

impl Messages {
    fn add(&mut self, id: u64) {
        self.count += 1;
        self.newest = Some(self.newest.map_or(id, |newest| newest.max(id)));
    }
}

/// The next batch of a queue: its metas, the last sequence it consumed, and its messages.
struct Batch {
    metas: Vec<EncodedMeta>,
    consumed: Option<i64>,
    messages: Messages,
}

impl Batch {
    fn empty() -> Batch {
        Batch { metas: Vec::new(), consumed: None, messages: Messages::default() }
    }
}

/// The next batch of a group queue.
async fn group_batch(
    state: &AppState,
    session: &Session,
    group: GroupId,
    cursor: Option<i64>,
) -> Result<Batch, qun_store::StoreError> {
    let (app_id, user) = (session.app_id, &session.user);
    if !state.hub.is_member(app_id, user, group) {
        return Ok(Batch::empty());
    }
    let (view, known_last) = match session.group_view(group) {
        Some(view) => (view, state.recent.newest(app_id, group)),
        None => {
            let snapshot = state.store.group_snapshot(app_id, group, std::slice::from_ref(user), 0).await?;
            let Some((membership, last_seq)) =
                snapshot.and_then(|s| s.users[0].membership.clone().map(|m| (m, s.group.last_seq)))
            else {
                return Ok(Batch::empty());
            };
            let view = GroupView { floor: membership.cursor_seq, shielded: membership.shielded };
            session.remember_group_view(group, view);
            (view, Some(last_seq))
        }
    };
    let last_seq = match known_last {
        Some(last) => last,
        None => state.store.groups(app_id, &[group]).await?.first().map_or(0, |g| g.last_seq),
    };
    let mut after = start_seq(cursor, view.floor, last_seq, GROUP_OFFLINE_LIMIT);
    let mut metas = Vec::new();
    let mut consumed = None;
    let mut messages = Messages::default();
    while metas.is_empty() {
        let entries = match state.recent.read(app_id, group, after, PULL_BATCH as usize) {
            Some((entries, _)) => entries,
            None => state
                .store
                .group_timeline(app_id, group, after, PULL_BATCH)
                .await?
                .iter()
                .map(|entry| recent_entry(&session.app_key, entry))
                .collect(),
        };
        let Some(last) = entries.last() else { break };
        after = last.seq;
        consumed = Some(last.seq);
        for entry in entries {
            let hidden = entry.except.as_ref() == Some(user)
                || (entry.is_message && (view.shielded || session.has_sent(entry.id)));
            if !hidden {
                if entry.is_message {
                    messages.add(entry.id);
                }
                metas.push(EncodedMeta::from_serialized(entry.meta));
            }
        }
    }
    Ok(Batch { metas, consumed, messages })
}

/// The next batch of a 1:1 queue.
async fn chat_batch(
    state: &AppState,
    session: &Session,
    peer: &UserName,
    cursor: Option<i64>,
) -> Result<Batch, qun_store::StoreError> {
    let conversation = Conversation::chat(session.user.clone(), peer.clone());
    let newest = state.store.history(session.app_id, &conversation, None, 1).await?.first().map_or(0, |e| e.seq);
    let after = start_seq(cursor, 0, newest, CHAT_OFFLINE_LIMIT);
    let entries = state.store.chat_timeline(session.app_id, &conversation, after, PULL_BATCH).await?;
    let mut messages = Messages::default();
    let metas = entries
        .iter()
        .filter(|entry| !session.has_sent(entry.id))
        .map(|entry| recent_entry(&session.app_key, entry))
        .map(|entry| {
            messages.add(entry.id);
            EncodedMeta::from_serialized(entry.meta)
        })
        .collect();
    Ok(Batch { metas, consumed: entries.last().map(|e| e.seq), messages })
}

/// A stored timeline entry in the form the cache keeps: ready-to-send bytes.
pub(crate) fn recent_entry(app_key: &str, entry: &TimelineEntry) -> RecentEntry {
    let (is_message, meta) = match &entry.item {
        TimelineItem::Message(bytes) => (true, Bytes::copy_from_slice(bytes)),
        TimelineItem::Event(event) => {
            (false, Bytes::from(msync::group_event_meta(app_key, entry.id, event).encode_to_vec()))
        }
    };
    RecentEntry { seq: entry.seq, id: entry.id, except: entry.except.clone(), is_message, meta }
}

/// An item of the personal queue as the SDK expects it: a group event, a receipt or a contact
/// event.
fn personal_meta(app_key: &str, stored: &StoredEvent) -> Meta {
    match &stored.item {
        PersonalItem::GroupEvent(event) => msync::group_event_meta(app_key, stored.id, event),
        PersonalItem::Receipt(receipt) => msync::receipt_meta(app_key, stored.id, receipt),
        PersonalItem::Contact(event) => msync::contact_event_meta(app_key, stored.id, event),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_starts_after_the_cursor_within_the_newest_window() {
        // A new device: the newest 200.
        assert_eq!(start_seq(None, 0, 250, 200), 50);
        // A cursor inside the window is kept; one before it is moved up.
        assert_eq!(start_seq(Some(120), 0, 250, 200), 120);
        assert_eq!(start_seq(Some(10), 0, 250, 200), 50);
        // Never before the join point.
        assert_eq!(start_seq(None, 240, 250, 200), 240);
        assert_eq!(start_seq(Some(0), 0, 3, 200), 0);
    }

    #[test]
    fn queue_names_round_trip() {
        let me = UserName::parse("alice").unwrap();
        for queue in [QueueKey::Group(GroupId(42)), QueueKey::Chat(UserName::parse("bob").unwrap()), QueueKey::Personal]
        {
            assert_eq!(queue_of(&queue_jid("o#a", &queue), &me), Some(queue.clone()));
        }
        // One's own JID is not a 1:1 queue.
        assert_eq!(queue_of(&Jid::user("o#a", "alice"), &me), None);
    }
}
