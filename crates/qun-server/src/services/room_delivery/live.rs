//! One chat room as the realtime layer holds it: who is in it and online, what waits to be
//! sent, the recent-message ring, the rate limit and the room's counters.
//!
//! Sending is pushed and batched. An accepted message is serialized once and appended to the
//! room's `pending` list (O(1), whatever the room's size); the room's flusher task takes
//! everything pending, frames it ONCE as one `CommSyncDL{queue: room, metas}` and puts the same
//! `Bytes` into every online member's bounded outbound queue (the one per-recipient step). The
//! flusher sends at once when the room was quiet, then waits a little before the next frame,
//! so a busy room sends a few larger frames rather than one frame per message per member: the
//! wait is [`WAIT_PER_MEMBER`] per online member, at most `room_flush_max` (400 ms by default).
//! A member whose outbound queue is full is cut off (slow consumer), never buffered for.
//!
//! Memory is bounded whatever the offered rate: `pending` holds at most [`PENDING_MAX`]
//! entries (normal and low messages beyond it are dropped and counted; high-priority senders
//! wait for room, so they are slowed, never dropped); the ring holds at most 200 messages;
//! frames hold at most [`FRAME_MAX_METAS`] metas and are shared by every member.
//!
//! Locking: `state` is a `parking_lot::Mutex` (no poisoning) held for bookkeeping only (never across an
//! `.await`, never while writing to members: the flusher works on an `Arc` snapshot of the
//! recipients). The runtime's maps lock may be held when taking it, never the reverse.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use qun_core::room_delivery::{Admission, EffectiveDelivery, RoomRateLimiter};
use qun_core::{RoomDelivery, RoomId, RoomPriority, UserName};
use qun_proto::msync::{self, EncodedMeta, Jid};
use qun_store::AppRecord;
use tokio::sync::{Notify, mpsc};

use super::facts::RoomFacts;
use super::presence::PresenceOp;
use crate::ids::now_ms;
use crate::lifecycle::Lifecycle;
use crate::services::delivery::Connection;
use crate::telemetry::{Kind, Metrics, RoomStats};

/// Entries waiting for the flusher at most (see the module docs).
pub(crate) const PENDING_MAX: usize = 4096;
/// Metas in one pushed frame at most; a larger flush is sent as several frames, in order.
pub(crate) const FRAME_MAX_METAS: usize = 256;
/// How long the flusher waits after a frame, per online member (up to `room_flush_max`). The
/// members' writers send the frame during the wait, and one frame to one member costs about
/// 10 µs of server CPU (queue, websocket framing, and the `send` syscall, which is most of it:
/// measured with qun-bench S4, 0.94 cores for 81k frames/s of ~3.5 KB on loopback), so waiting
/// twice that keeps a room of any size at about half a core for its frames whatever the message
/// rate: a 19,000-member room sends a frame to each member every 380 ms, a 1,000-member room
/// every 20 ms.
pub(crate) const WAIT_PER_MEMBER: Duration = Duration::from_micros(20);

/// Microseconds on a monotonic clock, for the rate limit.
fn monotonic_us() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// What happened to a message offered to the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    Delivered,
    Dropped,
}

/// One item waiting to be sent.
struct Pending {
    /// The message's or event's server id.
    id: u64,
    /// A serialized `Meta` (a message or an event).
    meta: Bytes,
    /// A message (kept in the ring), not an event.
    is_message: bool,
    /// The session that sent the message (it has it already).
    except_session: Option<u64>,
    /// The user an event is not for (the subject of memberPresence / memberAbsence).
    except_user: Option<UserName>,
}

/// A message in the ring: its id and serialized `Meta`.
#[derive(Clone)]
pub(crate) struct RingEntry {
    pub(crate) id: u64,
    pub(crate) meta: Bytes,
}

/// An online session of a member, with its user.
struct Recipient {
    user: UserName,
    session: Arc<dyn Connection>,
}

struct RoomState {
    /// Members in the room who are online, with their sessions.
    members: HashMap<UserName, Vec<Arc<dyn Connection>>>,
    /// `members` flattened for the flusher; `None` after a change (rebuilt at the next flush).
    recipients: Option<Arc<Vec<Recipient>>>,
    pending: Vec<Pending>,
    ring: VecDeque<RingEntry>,
    /// The room's own overrides (known once the room's facts were read, or set by a change).
    overrides: RoomDelivery,
    delivery: EffectiveDelivery,
    limiter: RoomRateLimiter,
    /// The same rate for memberPresence / memberAbsence notices (see `offer_event`).
    presence_limiter: RoomRateLimiter,
    /// Users whose websocket join is being committed: the join attaches them itself, after
    /// the commit, together with its ack and the ring (so they get the ring before anything
    /// newer and nothing twice).
    joining: HashSet<UserName>,
    /// Since when (monotonic µs) the room has been seen idle, while it is (see `idle_for`).
    idle_since_us: Option<u64>,
}

/// Counters of one room, exported on `/metrics`. Message counters change under the state lock,
/// so `delivered + dropped` is exactly what was offered.
#[derive(Default)]
pub(crate) struct RoomCounters {
    /// By priority: high, normal, low.
    delivered: [AtomicU64; 3],
    dropped: [AtomicU64; 3],
    events_dropped: AtomicU64,
    frames: AtomicU64,
    /// Frames a member's full (or closed) outbound queue refused; a full queue cuts the member
    /// off.
    frames_refused: AtomicU64,
}

fn priority_index(priority: RoomPriority) -> usize {
    match priority {
        RoomPriority::High => 0,
        RoomPriority::Normal => 1,
        RoomPriority::Low => 2,
    }
}

/// See the module docs.
pub(crate) struct LiveRoom {
    pub(crate) room_id: RoomId,
    pub(crate) app_id: i64,
    /// `org#app`.
    pub(crate) app_key: String,
    /// The room's queue (`<id>@conference.easemob.com`).
    pub(crate) jid: Jid,
    /// The app as last seen (its settings hold the room defaults).
    pub(crate) app: RwLock<AppRecord>,
    state: Mutex<RoomState>,
    flush_signal: Notify,
    /// Signalled when the flusher took `pending` (high-priority senders wait for room).
    space: Notify,
    closed: AtomicBool,
    counters: RoomCounters,
    pub(crate) facts: RwLock<Option<Arc<RoomFacts>>>,
    pub(crate) facts_generation: AtomicU64,
    pub(crate) facts_loading: tokio::sync::Mutex<()>,
    /// The room's presence actor (joins, leaves and expiries, committed in batches); taken
    /// away when the room closes, which ends the actor.
    presence: Mutex<Option<mpsc::Sender<PresenceOp>>>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for LiveRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveRoom").field("room_id", &self.room_id).field("app_key", &self.app_key).finish()
    }
}

impl LiveRoom {
    pub(crate) fn new(
        app: &AppRecord,
        room_id: RoomId,
        presence: mpsc::Sender<PresenceOp>,
        metrics: Arc<Metrics>,
    ) -> LiveRoom {
        let app_key = msync::app_key(&app.org, &app.name);
        let overrides = RoomDelivery::default();
        let delivery = overrides.effective(&app.settings.rooms);
        let now = monotonic_us();
        LiveRoom {
            room_id,
            app_id: app.id,
            jid: Jid::group(app_key.clone(), room_id.to_string()),
            app_key,
            app: RwLock::new(app.clone()),
            state: Mutex::new(RoomState {
                members: HashMap::new(),
                recipients: None,
                pending: Vec::new(),
                ring: VecDeque::new(),
                overrides,
                delivery,
                limiter: RoomRateLimiter::new(delivery.rate_limit_per_second, now),
                presence_limiter: RoomRateLimiter::new(delivery.rate_limit_per_second, now),
                joining: HashSet::new(),
                idle_since_us: None,
            }),
            flush_signal: Notify::new(),
            space: Notify::new(),
            closed: AtomicBool::new(false),
            counters: RoomCounters::default(),
            facts: RwLock::new(None),
            facts_generation: AtomicU64::new(0),
            facts_loading: tokio::sync::Mutex::new(()),
            presence: Mutex::new(Some(presence)),
            metrics,
        }
    }

    // -------------------------------------------------------------------- sleeping

    /// How long the room has been idle: nobody online in it, nothing pending, nobody joining,
    /// no presence op waiting and — as the caller knows — nobody away (`nobody_away`). Zero
    /// while it is not idle, which restarts the clock.
    pub(crate) fn idle_for(&self, nobody_away: bool) -> Duration {
        let ops_waiting = self.presence_sender().is_some_and(|ops| ops.capacity() < ops.max_capacity());
        let mut state = self.state();
        let idle = nobody_away
            && !ops_waiting
            && state.members.is_empty()
            && state.pending.is_empty()
            && state.joining.is_empty();
        if !idle {
            state.idle_since_us = None;
            return Duration::ZERO;
        }
        let now = monotonic_us();
        let since = *state.idle_since_us.get_or_insert(now);
        Duration::from_micros(now.saturating_sub(since))
    }

    /// Closes the room (its flusher and presence actor end) and hands back its recent messages,
    /// to be kept while it sleeps (see `RoomRuntime::sleep_idle_rooms`).
    pub(crate) fn sleep(&self) -> VecDeque<RingEntry> {
        let ring = std::mem::take(&mut self.state().ring);
        self.close();
        ring
    }

    /// The recent messages (the ring), oldest first: a room's history.
    pub(crate) fn recent(&self) -> Vec<RingEntry> {
        self.state().ring.iter().cloned().collect()
    }

    /// A room woken up takes back the recent messages it had when it went to sleep.
    pub(crate) fn wake_with_ring(&self, ring: VecDeque<RingEntry>) {
        self.state().ring = ring;
    }

    /// The room's presence actor, unless the room is closed.
    pub(crate) fn presence_sender(&self) -> Option<mpsc::Sender<PresenceOp>> {
        self.presence.lock().clone()
    }

    fn state(&self) -> parking_lot::MutexGuard<'_, RoomState> {
        self.state.lock()
    }

    // -------------------------------------------------------------------- settings

    /// The room's delivery overrides changed (or were read): applies them at once, so a ring
    /// switched off is emptied before the next join.
    pub(crate) fn set_overrides(&self, overrides: RoomDelivery) {
        let app_defaults = self.app.read().settings.rooms;
        let mut state = self.state();
        state.overrides = overrides;
        Self::apply_delivery(&mut state, overrides.effective(&app_defaults));
    }

    /// The app's defaults changed.
    pub(crate) fn set_app(&self, app: &AppRecord) {
        *self.app.write() = app.clone();
        let mut state = self.state();
        let effective = state.overrides.effective(&app.settings.rooms);
        Self::apply_delivery(&mut state, effective);
    }

    fn apply_delivery(state: &mut RoomState, delivery: EffectiveDelivery) {
        state.delivery = delivery;
        state.limiter.set_rate(delivery.rate_limit_per_second);
        state.presence_limiter.set_rate(delivery.rate_limit_per_second);
        let keep = delivery.history_size as usize;
        while state.ring.len() > keep {
            state.ring.pop_front();
        }
    }

    // -------------------------------------------------------------------- members

    /// Sets `user`'s online sessions in the room (none: the user is not online here).
    pub(crate) fn attach(&self, user: &UserName, sessions: Vec<Arc<dyn Connection>>) {
        let mut state = self.state();
        if state.joining.contains(user) {
            return;
        }
        Self::set_sessions(&mut state, user, sessions);
    }

    fn set_sessions(state: &mut RoomState, user: &UserName, sessions: Vec<Arc<dyn Connection>>) {
        if sessions.is_empty() {
            state.members.remove(user);
        } else {
            state.members.insert(user.clone(), sessions);
        }
        state.recipients = None;
    }

    /// A websocket join is about to be committed for `user`: until [`LiveRoom::greet`], they
    /// are attached by nobody else.
    pub(crate) fn begin_join(&self, user: &UserName) {
        self.state().joining.insert(user.clone());
    }

    /// The join was refused or failed: `user` is no longer joining.
    pub(crate) fn abandon_join(&self, user: &UserName) {
        self.state().joining.remove(user);
    }

    /// The join of `user` committed: attaches their `sessions` and, in the same step, lets
    /// `greet` send the joining session its ack and the ring (messages flushed before this
    /// point; everything after comes in later frames).
    pub(crate) fn greet(&self, user: &UserName, sessions: Vec<Arc<dyn Connection>>, greet: impl FnOnce(&[RingEntry])) {
        let mut state = self.state();
        state.joining.remove(user);
        Self::set_sessions(&mut state, user, sessions);
        let ring: Vec<RingEntry> = state.ring.iter().cloned().collect();
        greet(&ring);
    }

    /// Takes one session out (its connection ended).
    pub(crate) fn detach_session(&self, user: &UserName, session_id: u64) {
        let mut state = self.state();
        if let Some(sessions) = state.members.get_mut(user) {
            sessions.retain(|s| s.session_id() != session_id);
            if sessions.is_empty() {
                state.members.remove(user);
            }
            state.recipients = None;
        }
    }

    /// Takes a user out (they left the room).
    pub(crate) fn detach_user(&self, user: &UserName) {
        let mut state = self.state();
        if state.members.remove(user).is_some() {
            state.recipients = None;
        }
    }

    /// Whether `user` is in the room and online here.
    pub(crate) fn has_member(&self, user: &UserName) -> bool {
        self.state().members.contains_key(user)
    }

    pub(crate) fn members_online(&self) -> usize {
        self.state().members.len()
    }

    // -------------------------------------------------------------------- offering

    /// Offers a message of `priority` from `sender` (see `qun_core::room_delivery`: the room's
    /// rate is shared fairly between its senders): delivered to everyone in the room at the next
    /// flush, or dropped. A high-priority message is never dropped: while `pending` is full its
    /// sender waits.
    pub(crate) async fn offer_message(
        &self,
        id: u64,
        meta: Bytes,
        priority: RoomPriority,
        sender: &UserName,
        except_session: Option<u64>,
    ) -> Offered {
        let index = priority_index(priority);
        loop {
            let space = self.space.notified();
            tokio::pin!(space);
            // Registered before looking, so a flush between the look and the wait is not missed.
            space.as_mut().enable();
            {
                let mut state = self.state();
                let full = state.pending.len() >= PENDING_MAX;
                if self.closed.load(Ordering::Acquire) {
                    // The room is gone: nothing to deliver to.
                    self.counters.dropped[index].fetch_add(1, Ordering::Relaxed);
                    return Offered::Dropped;
                }
                if priority != RoomPriority::High || !full {
                    let admitted =
                        state.limiter.offer_from(priority, sender.as_str(), monotonic_us()) == Admission::Deliver;
                    if !admitted || full {
                        self.counters.dropped[index].fetch_add(1, Ordering::Relaxed);
                        return Offered::Dropped;
                    }
                    state.pending.push(Pending { id, meta, is_message: true, except_session, except_user: None });
                    self.counters.delivered[index].fetch_add(1, Ordering::Relaxed);
                    drop(state);
                    self.flush_signal.notify_one();
                    return Offered::Delivered;
                }
            }
            space.await;
        }
    }

    /// Offers an event for everyone in the room (but `except_user`). memberPresence and
    /// memberAbsence notices (`presence`) share the room's rate: in a join storm the excess
    /// notices are dropped (counted) rather than multiplied by the room's size; other events
    /// always go out.
    pub(crate) fn offer_event(&self, id: u64, meta: Bytes, except_user: Option<UserName>, presence: bool) {
        let mut state = self.state();
        let admitted =
            !presence || state.presence_limiter.offer(RoomPriority::Normal, monotonic_us()) == Admission::Deliver;
        if !admitted || state.pending.len() >= PENDING_MAX || state.members.is_empty() {
            if !state.members.is_empty() {
                self.counters.events_dropped.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        state.pending.push(Pending { id, meta, is_message: false, except_session: None, except_user });
        drop(state);
        self.flush_signal.notify_one();
    }

    /// The room was destroyed: the flusher sends what is pending (the destroy event) and stops;
    /// later offers are dropped.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.presence.lock().take();
        self.flush_signal.notify_one();
        self.space.notify_waiters();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    // -------------------------------------------------------------------- flushing

    /// The flusher: sends what is pending, then waits (see the module docs) before the next
    /// frame. Ends after the room is closed and drained.
    pub(crate) async fn run_flusher(self: Arc<Self>, flush_max: Duration, lifecycle: Lifecycle) {
        loop {
            tokio::select! {
                () = self.flush_signal.notified() => {}
                () = lifecycle.stopping() => return,
            }
            self.flush();
            if self.is_closed() {
                self.flush();
                return;
            }
            let wait = (WAIT_PER_MEMBER * self.members_online() as u32).min(flush_max);
            if wait >= Duration::from_millis(1) {
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// Sends everything pending to everyone online in the room.
    pub(crate) fn flush(&self) {
        let (items, recipients) = {
            let mut state = self.state();
            if state.pending.is_empty() {
                return;
            }
            let items = std::mem::take(&mut state.pending);
            let keep = state.delivery.history_size as usize;
            if keep > 0 {
                for item in items.iter().filter(|item| item.is_message) {
                    if state.ring.len() == keep {
                        state.ring.pop_front();
                    }
                    state.ring.push_back(RingEntry { id: item.id, meta: item.meta.clone() });
                }
            }
            let recipients = match &state.recipients {
                Some(recipients) => recipients.clone(),
                None => {
                    let flat: Vec<Recipient> = state
                        .members
                        .iter()
                        .flat_map(|(user, sessions)| {
                            sessions.iter().map(|session| Recipient { user: user.clone(), session: session.clone() })
                        })
                        .collect();
                    let flat = Arc::new(flat);
                    state.recipients = Some(flat.clone());
                    flat
                }
            };
            (items, recipients)
        };
        self.space.notify_waiters();
        for chunk in items.chunks(FRAME_MAX_METAS) {
            self.send_chunk(chunk, &recipients);
        }
    }

    fn send_chunk(&self, chunk: &[Pending], recipients: &[Recipient]) {
        let timestamp = now_ms();
        let metas: Vec<EncodedMeta> = chunk.iter().map(|p| EncodedMeta::from_serialized(p.meta.clone())).collect();
        // Serialized once for everyone; only a member with something left out gets its own.
        let shared = msync::push_batch(self.jid.clone(), &metas, timestamp);
        let except_sessions: HashSet<u64> = chunk.iter().filter_map(|p| p.except_session).collect();
        let except_users: HashSet<&UserName> = chunk.iter().filter_map(|p| p.except_user.as_ref()).collect();
        let messages = chunk.iter().filter(|p| p.is_message).count() as u64;
        let newest_message = chunk.iter().rev().find(|p| p.is_message).map(|p| p.id);
        let (mut frames, mut refused, mut delivered) = (0u64, 0u64, 0u64);
        for recipient in recipients {
            let excluded = (!except_sessions.is_empty() && except_sessions.contains(&recipient.session.session_id()))
                || (!except_users.is_empty() && except_users.contains(&recipient.user));
            let (frame, frame_messages) = if excluded {
                let own: Vec<(&Pending, EncodedMeta)> = chunk
                    .iter()
                    .zip(&metas)
                    .filter(|(p, _)| {
                        p.except_session != Some(recipient.session.session_id())
                            && p.except_user.as_ref() != Some(&recipient.user)
                    })
                    .map(|(p, meta)| (p, meta.clone()))
                    .collect();
                if own.is_empty() {
                    continue;
                }
                let own_messages = own.iter().filter(|(p, _)| p.is_message).count() as u64;
                let own: Vec<EncodedMeta> = own.into_iter().map(|(_, meta)| meta).collect();
                (msync::push_batch(self.jid.clone(), &own, timestamp), own_messages)
            } else {
                (shared.clone(), messages)
            };
            if recipient.session.push(frame) {
                frames += 1;
                delivered += frame_messages;
            } else {
                refused += 1;
            }
        }
        self.counters.frames.fetch_add(frames, Ordering::Relaxed);
        self.counters.frames_refused.fetch_add(refused, Ordering::Relaxed);
        if delivered > 0 {
            self.metrics.delivered(Kind::Room, delivered, newest_message);
        }
    }

    /// Sends one event frame to `sessions` right away (events for named users, who may not be
    /// in the room).
    pub(crate) fn send_direct(&self, meta: &Bytes, sessions: &[Arc<dyn Connection>]) {
        if sessions.is_empty() {
            return;
        }
        let frame = msync::push_batch(self.jid.clone(), &[EncodedMeta::from_serialized(meta.clone())], now_ms());
        for session in sessions {
            session.push(frame.clone());
        }
    }

    /// A pushed frame of ring entries (for a joiner), without those `skip` says it has.
    pub(crate) fn ring_frame(&self, ring: &[RingEntry], skip: impl Fn(u64) -> bool) -> Option<Bytes> {
        let metas: Vec<EncodedMeta> = ring
            .iter()
            .filter(|entry| !skip(entry.id))
            .map(|entry| EncodedMeta::from_serialized(entry.meta.clone()))
            .collect();
        (!metas.is_empty()).then(|| msync::push_batch(self.jid.clone(), &metas, now_ms()))
    }

    // -------------------------------------------------------------------- counters

    pub(crate) fn stats(&self) -> RoomStats {
        let (members_online, history) = {
            let state = self.state();
            (state.members.len() as u64, state.ring.len() as u64)
        };
        let read = |counters: &[AtomicU64; 3]| {
            [
                counters[0].load(Ordering::Relaxed),
                counters[1].load(Ordering::Relaxed),
                counters[2].load(Ordering::Relaxed),
            ]
        };
        // Read under the state lock, where they change, so delivered + dropped is consistent.
        let (delivered, dropped) = {
            let _state = self.state();
            (read(&self.counters.delivered), read(&self.counters.dropped))
        };
        RoomStats {
            app_key: self.app_key.clone(),
            room_id: self.room_id,
            members_online,
            delivered,
            dropped,
            events_dropped: self.counters.events_dropped.load(Ordering::Relaxed),
            frames: self.counters.frames.load(Ordering::Relaxed),
            frames_refused: self.counters.frames_refused.load(Ordering::Relaxed),
            history,
        }
    }
}

#[cfg(test)]
mod tests {
    use qun_proto::msync::{CommSyncDl, Message as _, Meta};
    use qun_store::AppSettings;

    use super::*;

    fn app() -> AppRecord {
        AppRecord {
            id: 1,
            uuid: "uuid".into(),
            org: "o".into(),
            name: "a".into(),
            client_id: "c".into(),
            client_secret_hash: Vec::new(),
            settings: AppSettings::default(),
            created_ms: 0,
        }
    }

    fn room() -> LiveRoom {
        LiveRoom::new(&app(), RoomId(9), mpsc::channel(1).0, Arc::new(Metrics::new("test")))
    }

    fn user(name: &str) -> UserName {
        UserName::parse(name).unwrap()
    }

    /// A connection as the gateway's session behaves towards the runtime: a bounded queue
    /// (as large as a session's); full, it refuses and stays cut off.
    struct TestConnection {
        id: u64,
        outbound: mpsc::Sender<Bytes>,
        sent: Mutex<HashSet<u64>>,
        cut_off: AtomicBool,
    }

    impl TestConnection {
        fn sent(&self, id: u64) {
            self.sent.lock().insert(id);
        }

        /// As the runtime holds it.
        fn held(self: &Arc<Self>) -> Vec<Arc<dyn Connection>> {
            vec![self.clone()]
        }
    }

    impl Connection for TestConnection {
        fn session_id(&self) -> u64 {
            self.id
        }

        fn push(&self, frame: Bytes) -> bool {
            if self.cut_off.load(Ordering::Relaxed) || self.outbound.try_send(frame).is_err() {
                self.cut_off.store(true, Ordering::Relaxed);
                return false;
            }
            true
        }

        fn has_sent(&self, id: u64) -> bool {
            self.sent.lock().contains(&id)
        }
    }

    /// A connection of its own (the name is for reading the tests).
    fn session(_name: &str) -> (Arc<TestConnection>, mpsc::Receiver<Bytes>) {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let (outbound, receiver) = mpsc::channel(1024);
        let connection = TestConnection {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            outbound,
            sent: Mutex::new(HashSet::new()),
            cut_off: AtomicBool::new(false),
        };
        (Arc::new(connection), receiver)
    }

    fn meta(id: u64) -> Bytes {
        Bytes::from(Meta { id: Some(id), ..Default::default() }.encode_to_vec())
    }

    /// The ids of the metas in each frame waiting in `outbound`.
    fn frames(outbound: &mut mpsc::Receiver<Bytes>) -> Vec<Vec<u64>> {
        let mut frames = Vec::new();
        while let Ok(frame) = outbound.try_recv() {
            let body: CommSyncDl = msync::decode_msync(frame).unwrap().decode_payload().unwrap();
            assert_eq!(body.is_last, Some(true));
            frames.push(body.metas.iter().map(|m| m.id.unwrap()).collect());
        }
        frames
    }

    #[tokio::test]
    async fn one_frame_for_everyone_and_the_sender_left_out() {
        let live = room();
        let (ann, mut ann_out) = session("ann");
        let (bob, mut bob_out) = session("bob");
        let (carol, mut carol_out) = session("carol");
        live.attach(&user("ann"), ann.held());
        live.attach(&user("bob"), bob.held());
        live.attach(&user("carol"), carol.held());
        assert_eq!(
            live.offer_message(1, meta(1), RoomPriority::Normal, &user("ann"), Some(ann.id)).await,
            Offered::Delivered
        );
        assert_eq!(live.offer_message(2, meta(2), RoomPriority::Normal, &user("ann"), None).await, Offered::Delivered);
        live.offer_event(3, meta(3), Some(user("carol")), true);
        live.flush();
        // One frame each; the same bytes for everyone with nothing left out.
        assert_eq!(frames(&mut ann_out), [vec![2, 3]]);
        assert_eq!(frames(&mut carol_out), [vec![1, 2]]);
        // The same bytes for everyone with nothing left out.
        let (dave, mut dave_out) = session("dave");
        let (erin, mut erin_out) = session("erin");
        live.attach(&user("dave"), dave.held());
        live.attach(&user("erin"), erin.held());
        live.offer_message(4, meta(4), RoomPriority::Normal, &user("ann"), None).await;
        live.flush();
        let (a, b) = (dave_out.try_recv().unwrap(), erin_out.try_recv().unwrap());
        assert_eq!(a.as_ptr(), b.as_ptr(), "serialized once, shared");
        let stats = live.stats();
        assert_eq!((stats.delivered, stats.dropped), ([0, 3, 0], [0, 0, 0]));
        assert_eq!(stats.members_online, 5);
        assert_eq!(frames(&mut bob_out), [vec![1, 2, 3], vec![4]]);
    }

    #[tokio::test]
    async fn the_ring_keeps_the_newest_messages_only() {
        let live = room();
        live.set_overrides(RoomDelivery { history_size: Some(3), ..Default::default() });
        for id in 1..=5 {
            live.offer_message(id, meta(id), RoomPriority::High, &user("ann"), None).await;
            live.offer_event(100 + id, meta(100 + id), None, false);
        }
        live.flush();
        let (joiner, mut out) = session("joiner");
        joiner.sent(4);
        live.begin_join(&user("joiner"));
        live.greet(&user("joiner"), joiner.held(), |ring| {
            assert_eq!(ring.iter().map(|e| e.id).collect::<Vec<_>>(), [3, 4, 5], "messages, not events");
            joiner.push(live.ring_frame(ring, |id| joiner.has_sent(id)).unwrap());
        });
        assert_eq!(frames(&mut out), [vec![3, 5]], "without what the joiner sent itself");
        assert!(live.has_member(&user("joiner")));
        // Switched off: emptied at once.
        live.set_overrides(RoomDelivery { history_enabled: Some(false), ..Default::default() });
        live.greet(&user("joiner"), joiner.held(), |ring| assert!(ring.is_empty()));
    }

    #[tokio::test]
    async fn a_member_that_does_not_read_is_cut_off() {
        let live = room();
        let (slow, _never_read) = session("slow");
        live.attach(&user("slow"), slow.held());
        // More frames than a session's outbound queue holds (1,024).
        for id in 0..1100 {
            live.offer_event(id, meta(id), None, false);
            live.flush();
        }
        assert!(slow.cut_off.load(Ordering::Relaxed), "refused once its queue was full");
        assert!(live.stats().frames_refused >= 5);
    }

    #[tokio::test]
    async fn pending_is_bounded_high_priority_waits_and_nothing_is_lost_from_the_count() {
        let live = Arc::new(room());
        let (reader, _out) = session("reader");
        live.attach(&user("reader"), reader.held());
        live.set_overrides(RoomDelivery { rate_limit_per_second: Some(100_000), ..Default::default() });
        for id in 0..PENDING_MAX as u64 {
            assert_eq!(
                live.offer_message(id, meta(id), RoomPriority::Normal, &user("ann"), None).await,
                Offered::Delivered
            );
        }
        assert_eq!(live.offer_message(1, meta(1), RoomPriority::Low, &user("ann"), None).await, Offered::Dropped);
        // High priority waits for the flusher rather than being dropped.
        let waiting = tokio::spawn({
            let live = live.clone();
            async move { live.offer_message(7, meta(7), RoomPriority::High, &user("ann"), None).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        live.flush();
        assert_eq!(waiting.await.unwrap(), Offered::Delivered);
        let stats = live.stats();
        assert_eq!(stats.delivered, [1, PENDING_MAX as u64, 0]);
        assert_eq!(stats.dropped, [0, 0, 1]);
        assert_eq!(stats.offered(), PENDING_MAX as u64 + 2);
    }
}
