//! One logged-in websocket connection as the rest of the server sees it: who it is, and a
//! bounded outbound queue of finished frames.

use std::collections::HashSet;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use qun_core::{GroupId, UserName};
use qun_proto::msync::{self, EncodedMeta, Jid};
use qun_store::{QueueHead, QueueKey};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::cursors::CursorBook;
use super::queues::{CHAT_OFFLINE_LIMIT, GROUP_OFFLINE_LIMIT, queue_jid, start_seq};
use crate::services::delivery::{CommittedMessage, Connection, Origin, SessionId};

/// Frames a session may have waiting to be written before it counts as a slow consumer and is
/// disconnected. Notices are coalesced (one per queue until the client pulls), so only a
/// client that stops reading fills this.
pub(crate) const OUTBOUND_QUEUE_FRAMES: usize = 1024;
/// Group messages are pushed only while at least this many frames of the outbound queue are
/// free; a session behind that is told to pull instead (at its own pace), and is cut off only
/// if it does not even take its notices.
const PUSH_HEADROOM: usize = OUTBOUND_QUEUE_FRAMES / 2;

static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1);

/// Where a member stands in a group, as a pull needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupView {
    /// The group sequence at which the user joined: they read nothing before it.
    pub(crate) floor: i64,
    /// The member blocked the group's messages for themself.
    pub(crate) shielded: bool,
}

/// Messages just committed to one queue, as every session reading that queue gets them
/// pushed: one frame with all of them shared by all (`isLast: true`, which the SDK does not
/// answer), and the same with `isLast: false` and `nextKey` (which the SDK answers with a pull
/// acknowledging it), built once for those who are asked for an acknowledgement. A session
/// that must not get all of them (its own messages, a shielded group, some read already) gets
/// its own frame. A group's flush is one of these for all its members; a 1:1 commit is one
/// per side (each side's queue is named after the other).
pub(crate) struct QueuePush<'a> {
    queue: QueueKey,
    jid: Jid,
    messages: &'a [CommittedMessage],
    shared: OnceLock<Bytes>,
    shared_asking: OnceLock<Bytes>,
}

impl<'a> QueuePush<'a> {
    pub(crate) fn new(app_key: &str, queue: QueueKey, messages: &'a [CommittedMessage]) -> QueuePush<'a> {
        let jid = queue_jid(app_key, &queue);
        QueuePush { queue, jid, messages, shared: OnceLock::new(), shared_asking: OnceLock::new() }
    }

    /// The frame of the messages at `indices` (all of them: the shared one), asking for an
    /// acknowledgement up to `key` or not.
    fn frame(&self, indices: &[usize], ask: bool, key: i64) -> Bytes {
        let build = || {
            let metas: Vec<EncodedMeta> =
                indices.iter().map(|&i| EncodedMeta::from_serialized(self.messages[i].meta.clone())).collect();
            let now = crate::ids::now_ms();
            if ask {
                msync::pull_batch(self.jid.clone(), &metas, Some(key as u64), false, now)
            } else {
                msync::push_batch(self.jid.clone(), &metas, now)
            }
        };
        if indices.len() < self.messages.len() {
            return build();
        }
        let shared = if ask { &self.shared_asking } else { &self.shared };
        shared.get_or_init(build).clone()
    }
}

/// Why a session was closed by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    SlowConsumer,
    /// Too many devices: the oldest session is replaced.
    ReplacedByNewDevice,
    PasswordChanged,
    UserRemoved,
    Shutdown,
}

impl CloseReason {
    /// Whether the client was sent a kick frame saying why (see `uplink::kick`).
    pub fn is_kick(self) -> bool {
        matches!(self, CloseReason::ReplacedByNewDevice | CloseReason::PasswordChanged | CloseReason::UserRemoved)
    }
}

/// See the module docs.
#[derive(Debug)]
pub struct Session {
    /// Unique in this process.
    pub id: u64,
    pub app_id: i64,
    pub app: qun_store::AppRecord,
    /// `org#app`, as the JIDs carry it.
    pub app_key: String,
    pub user: UserName,
    /// The device's stable id (the SDK's `deviceUuid`): delivery cursors are kept per device.
    pub device: String,
    /// The connection's resource, adopted by the SDK at login.
    pub resource: String,
    /// What the app said about this login (`Provision.reason`, the SDK's `loginInfoCustomExt`):
    /// handed to the connection this login replaces.
    pub(crate) login_info: Option<String>,
    outbound: mpsc::Sender<Bytes>,
    /// Which queues were noticed, and the pull being served. `parking_lot::Mutex` (no poisoning): set
    /// operations only, never across `.await`.
    notices: Mutex<Notices>,
    closing: CancellationToken,
    close_reason: Mutex<Option<CloseReason>>,
    /// The device's delivery cursors (acknowledged in memory, saved in the background).
    pub(crate) cursors: CursorBook,
    /// Where this user stands in the groups pulled so far (join point, shield), so that a pull
    /// needs no database read. Forgotten when the user's membership in the group changes.
    group_views: Mutex<std::collections::HashMap<GroupId, GroupView>>,
    /// Ids of messages this connection sent itself: it has them already (the ack carried the
    /// id), so its pulls skip them while its user's other devices receive them.
    sent_ids: Mutex<std::collections::VecDeque<u64>>,
    /// Woken when group pushes start a tail to ask an acknowledgement for later.
    ask_later: tokio::sync::Notify,
    /// Counts the NOTICE frames this session sends (the server's `qun_notices`; a counter of
    /// its own, counting nothing, until [`Session::counting_notices_in`]).
    notices_sent: Counter,
}

/// The notice state of a session.
#[derive(Debug, Default)]
struct Notices {
    /// Queues this session was told about and has not pulled since: a second notice would
    /// tell it nothing new.
    notified: HashSet<QueueKey>,
    /// The queue whose pull is being served (a session's frames are handled one at a time).
    pulling: Option<QueueKey>,
    /// A notice for `pulling` came while the pull was served; it goes out after the answer.
    deferred: bool,
    /// The user's queues as the login read them (see [`Session::keep_login_queues`]), until
    /// the first frame the client sends after the login or the first news of a queue.
    login_queues: Option<Vec<QueueHead>>,
}

/// How many of its own recent sends a session remembers. A burst larger than this between
/// two pulls would echo the oldest back; the SDK then drops them by id.
const SENT_IDS_REMEMBERED: usize = 512;

impl Session {
    pub fn new(
        app: qun_store::AppRecord,
        user: UserName,
        device: String,
        resource: String,
    ) -> (Session, mpsc::Receiver<Bytes>) {
        let (outbound, receiver) = mpsc::channel(OUTBOUND_QUEUE_FRAMES);
        let session = Session {
            id: NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed),
            app_id: app.id,
            app_key: qun_proto::msync::app_key(&app.org, &app.name),
            app,
            user,
            device,
            resource,
            login_info: None,
            outbound,
            notices: Mutex::new(Notices::default()),
            closing: CancellationToken::new(),
            close_reason: Mutex::new(None),
            sent_ids: Mutex::new(std::collections::VecDeque::new()),
            cursors: CursorBook::default(),
            group_views: Mutex::new(std::collections::HashMap::new()),
            ask_later: tokio::sync::Notify::new(),
            notices_sent: Counter::default(),
        };
        (session, receiver)
    }

    /// Keeps what the app said about this login (see [`Session::login_info`]).
    pub(crate) fn with_login_info(mut self, login_info: Option<String>) -> Session {
        self.login_info = login_info;
        self
    }

    /// Counts the NOTICE frames this session sends in `counter` (the server's metric).
    pub(crate) fn counting_notices_in(mut self, counter: Counter) -> Session {
        self.notices_sent = counter;
        self
    }

    /// Queues a frame for writing. A full queue closes the session (slow consumer).
    pub fn send(&self, frame: Bytes) -> bool {
        match self.outbound.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(user = %self.user, session = self.id, "slow consumer disconnected");
                self.close(CloseReason::SlowConsumer);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Tells the session `queue` has new data, unless it was told already and has not
    /// pulled since.
    ///
    /// While a pull of that queue is being served the notice waits for the answer: the SDK
    /// ignores a notice for a queue it is pulling, so a notice that overtook a "drained"
    /// answer (read before the new data was committed) would leave the data undelivered.
    pub fn notify(&self, queue: &QueueKey) {
        self.notify_locked(&mut self.notices.lock(), queue);
    }

    fn notify_locked(&self, notices: &mut Notices, queue: &QueueKey) {
        notices.login_queues = None;
        if !notices.notified.insert(queue.clone()) {
            return;
        }
        if notices.pulling.as_ref() == Some(queue) {
            notices.deferred = true;
        } else {
            self.send_notice(queue);
        }
    }

    fn send_notice(&self, queue: &QueueKey) {
        self.notices_sent.inc();
        self.send(qun_proto::msync::notice(queue_jid(&self.app_key, queue)));
    }

    /// New messages of one of this session's queues (a group's, or a 1:1 conversation's):
    /// those that follow what this session has read are pushed, in one frame, if it is neither
    /// pulling the queue nor told to (so nothing is sent twice and nothing overtakes what it is
    /// being sent); a session behind gets a notice instead, and what it read already (a pull
    /// that came first) is skipped. Its own messages and, if it shielded the group, everyone's
    /// are passed over. Returns how many messages were pushed.
    ///
    /// The check and the push happen under the notice lock, which a pull takes before it
    /// reads: a pull that starts after a push reads after it, and a push that finds a pull
    /// under way becomes a notice after its answer.
    pub(crate) fn push(&self, push: &QueuePush<'_>, now: Instant) -> u64 {
        let mut notices = self.notices.lock();
        notices.login_queues = None;
        let queue = &push.queue;
        let free = notices.pulling.as_ref() != Some(queue) && !notices.notified.contains(queue);
        // Where the user stands and how far back a reader who was away is served: a group's
        // join point and shield are learned at its first pull; a 1:1 conversation has neither.
        // Personal events are numbered by id, not in sequence: they are always pulled.
        let standing = match queue {
            QueueKey::Group(group) => self.group_view(*group).map(|view| (view, GROUP_OFFLINE_LIMIT)),
            QueueKey::Chat(_) => Some((GroupView { floor: 0, shielded: false }, CHAT_OFFLINE_LIMIT)),
            QueueKey::Personal => None,
        };
        let known = standing.zip(self.cursors.read_from(queue));
        let (Some(((view, limit), start)), true) = (known, free && self.outbound.capacity() >= PUSH_HEADROOM) else {
            self.notify_locked(&mut notices, queue);
            return 0;
        };
        let mut position = start;
        let (mut selected, mut last_selected, mut behind) = (Vec::new(), None, false);
        for (index, message) in push.messages.iter().enumerate() {
            if position >= Some(message.seq) {
                continue;
            }
            if start_seq(position, view.floor, message.seq - 1, limit) != message.seq - 1 {
                behind = true;
                break;
            }
            if Some(self.id) != message.origin && !view.shielded {
                selected.push(index);
                last_selected = Some(message.seq);
            }
            position = Some(message.seq);
        }
        if let Some(last) = last_selected {
            let asks = self.cursors.pushed(queue, last, now);
            if asks.new_tail {
                self.ask_later.notify_one();
            }
            let key = position.unwrap_or(last);
            if position > Some(last) {
                self.cursors.pass(queue, key);
            }
            self.send(push.frame(&selected, asks.ask, key));
        } else if let Some(passed) = position.filter(|_| position > start) {
            self.cursors.pass(queue, passed);
        }
        if behind {
            self.notify_locked(&mut notices, queue);
        }
        selected.len() as u64
    }

    /// Asks the client to acknowledge the group messages pushed to it that are due an ask (see
    /// [`CursorBook::asks_due`]; all of them when `all`: the connection is closing): an empty
    /// batch with `isLast: false` and the last pushed sequence as `nextKey`, which the SDK
    /// answers with a pull acknowledging it. Returns when to call again for pushes not due yet.
    pub(crate) fn ask_for_acknowledgements(&self, now: Instant, all: bool) -> Option<Instant> {
        let notices = self.notices.lock();
        let (due, again) = self.cursors.asks_due(now, all);
        for (queue, seq) in due {
            if notices.pulling.as_ref() != Some(&queue) {
                let jid = queue_jid(&self.app_key, &queue);
                self.send(msync::pull_batch(jid, &[], Some(seq as u64), false, crate::ids::now_ms()));
            }
        }
        again
    }

    /// Completes when pushes started a tail that must be asked about later (see
    /// [`Session::ask_for_acknowledgements`]).
    pub(crate) fn ask_later(&self) -> tokio::sync::futures::Notified<'_> {
        self.ask_later.notified()
    }

    /// The client is pulling `queue`: a new message after this point deserves a new notice.
    /// Called before the pull reads the store, so nothing committed after it goes unnoticed;
    /// the answer goes out through [`Session::answer_pull`]. Returns whether the session was
    /// told of news in `queue` since its last pull (a notice, sent or held back).
    pub fn pulling(&self, queue: &QueueKey) -> bool {
        let mut notices = self.notices.lock();
        notices.login_queues = None;
        let told = notices.notified.remove(queue);
        notices.pulling = Some(queue.clone());
        notices.deferred = false;
        told
    }

    /// Sends the answer to the pull of `queue`, then the notice that came meanwhile, if any.
    pub fn answer_pull(&self, queue: &QueueKey, answer: Bytes) {
        let mut notices = self.notices.lock();
        self.send(answer);
        if notices.pulling.as_ref() == Some(queue) {
            notices.pulling = None;
            if std::mem::take(&mut notices.deferred) {
                self.send_notice(queue);
            }
        }
    }

    pub(crate) fn group_view(&self, group: GroupId) -> Option<GroupView> {
        self.group_views.lock().get(&group).copied()
    }

    pub(crate) fn remember_group_view(&self, group: GroupId, view: GroupView) {
        self.group_views.lock().insert(group, view);
    }

    /// The user's membership in `group` changed: read it again at the next pull.
    pub fn forget_group_view(&self, group: GroupId) {
        self.group_views.lock().remove(&group);
        self.notices.lock().login_queues = None;
    }

    /// Keeps the user's queues as the login read them for the client's first UNREAD, which
    /// the SDK sends right after the login reply: the summary then needs no second read of
    /// the store. Valid only while nothing happened to the queues since the read, so any news
    /// of a queue (a notice, a push, a membership change) and any pull drop it, as does the
    /// first frame the client sends (see [`Session::take_login_queues`]); the summary may
    /// then over-report (cursors acknowledged meanwhile), never under-report. The login makes
    /// sure no group's news passed the session by before it was in its groups' lists.
    pub(crate) fn keep_login_queues(&self, queues: Vec<QueueHead>) {
        self.notices.lock().login_queues = Some(queues);
    }

    /// The queues kept by [`Session::keep_login_queues`], if still valid; called for every
    /// frame the client sends, so they are gone after the first.
    pub(crate) fn take_login_queues(&self) -> Option<Vec<QueueHead>> {
        self.notices.lock().login_queues.take()
    }

    /// Remembers a message this connection sent.
    pub fn sent(&self, id: u64) {
        let mut ids = self.sent_ids.lock();
        if ids.len() == SENT_IDS_REMEMBERED {
            ids.pop_front();
        }
        ids.push_back(id);
    }

    /// Whether this connection sent the message with this id.
    pub fn has_sent(&self, id: u64) -> bool {
        self.sent_ids.lock().contains(&id)
    }

    /// Asks the connection to close.
    pub fn close(&self, reason: CloseReason) {
        self.close_reason.lock().get_or_insert(reason);
        self.closing.cancel();
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        *self.close_reason.lock()
    }

    /// Completes when the session is asked to close.
    pub fn closed(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.closing.cancelled()
    }
}

/// What the chat room runtime needs of a connection.
impl Connection for Session {
    fn session_id(&self) -> SessionId {
        self.id
    }

    fn push(&self, frame: Bytes) -> bool {
        self.send(frame)
    }

    fn has_sent(&self, id: u64) -> bool {
        Session::has_sent(self, id)
    }
}

/// What the send paths need of the connection a message came from.
impl Origin for Session {
    fn resource(&self) -> &str {
        &self.resource
    }

    fn sent(&self, id: u64) {
        Session::sent(self, id);
    }

    fn caught_up_with_own(&self, queue: &QueueKey, seq: i64) -> bool {
        let caught_up = self.cursors.position(queue) == Some(Some(seq - 1));
        if caught_up {
            self.cursors.acknowledge(queue, seq);
        }
        caught_up
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A session of `user` on `device` in a test app, with its outbound queue.
    pub(crate) fn session_of(user: &str, device: &str) -> (Session, mpsc::Receiver<Bytes>) {
        let app = qun_store::AppRecord {
            id: 1,
            uuid: "u".to_owned(),
            org: "o".to_owned(),
            name: "a".to_owned(),
            client_id: "c".to_owned(),
            client_secret_hash: Vec::new(),
            settings: Default::default(),
            created_ms: 0,
        };
        Session::new(app, UserName::parse(user).unwrap(), device.to_owned(), "r".to_owned())
    }

    fn session() -> (Session, mpsc::Receiver<Bytes>) {
        session_of("ann", "d")
    }

    fn frames(receiver: &mut mpsc::Receiver<Bytes>) -> Vec<Bytes> {
        std::iter::from_fn(|| receiver.try_recv().ok()).collect()
    }

    #[test]
    fn a_notice_during_a_pull_of_its_queue_follows_the_answer() {
        let (session, mut outbound) = session();
        let counted = Counter::default();
        let session = session.counting_notices_in(counted.clone());
        let (personal, group) = (QueueKey::Personal, QueueKey::Group(GroupId(9)));
        let notice = |queue: &QueueKey| qun_proto::msync::notice(queue_jid(&session.app_key, queue));

        // Not pulling: at once, and once until the next pull.
        session.notify(&personal);
        session.notify(&personal);
        assert_eq!(frames(&mut outbound), [notice(&personal)]);

        // While its pull is served: after the answer (the SDK ignores a notice for a queue it
        // is pulling); another queue's notice is not held back.
        session.pulling(&personal);
        session.notify(&personal);
        session.notify(&group);
        assert_eq!(frames(&mut outbound), [notice(&group)]);
        session.answer_pull(&personal, Bytes::from_static(b"answer"));
        assert_eq!(frames(&mut outbound), [Bytes::from_static(b"answer"), notice(&personal)]);
        assert_eq!(counted.get(), 3, "every notice sent is counted, a held-back one when it goes");

        // A pull with nothing new meanwhile: the answer alone.
        session.pulling(&group);
        session.answer_pull(&group, Bytes::from_static(b"drained"));
        assert_eq!(frames(&mut outbound), [Bytes::from_static(b"drained")]);
    }

    #[test]
    fn the_queues_read_at_login_serve_one_frame_and_only_until_news() {
        let heads =
            || vec![QueueHead { queue: QueueKey::Personal, last_seq: 3, floor_seq: 0, cursor: None, shielded: false }];
        let (first, _outbound) = session();
        first.keep_login_queues(heads());
        assert_eq!(first.take_login_queues(), Some(heads()));
        assert_eq!(first.take_login_queues(), None, "the first frame takes them");

        let group = GroupId(9);
        let kept_after = |happen: &dyn Fn(&Session)| {
            let (session, _outbound) = session();
            session.remember_group_view(group, GroupView { floor: 0, shielded: false });
            session.keep_login_queues(heads());
            happen(&session);
            session.take_login_queues().is_some()
        };
        assert!(!kept_after(&|s| s.notify(&QueueKey::Personal)), "a notice drops them");
        let push = |s: &Session| {
            s.push(&QueuePush::new("o#a", QueueKey::Group(group), &[committed(1, None)]), Instant::now());
        };
        assert!(!kept_after(&push), "a push drops them");
        assert!(
            !kept_after(&|s| {
                s.pulling(&QueueKey::Personal);
            }),
            "a pull drops them"
        );
        assert!(!kept_after(&|s| s.forget_group_view(group)), "a membership change drops them");
        assert!(kept_after(&|s| s.sent(5)), "a send of its own does not");
    }

    fn committed(seq: i64, origin: Option<SessionId>) -> CommittedMessage {
        use qun_proto::msync::Message;
        let meta = qun_proto::msync::Meta { id: Some(seq as u64 * 100), ..Default::default() };
        CommittedMessage { seq, id: seq as u64 * 100, meta: Bytes::from(meta.encode_to_vec()), origin }
    }

    /// What a frame is: a notice, or a pushed batch (its `isLast` and `nextKey`).
    fn kind(frame: &Bytes) -> String {
        let msync = qun_proto::msync::decode_msync(frame.clone()).unwrap();
        match msync.known_command() {
            Some(qun_proto::msync::Command::Notice) => "notice".to_owned(),
            _ => {
                let dl: qun_proto::msync::CommSyncDl = msync.decode_payload().unwrap();
                format!("push{} last={:?} key={:?}", dl.metas.len(), dl.is_last, dl.next_key)
            }
        }
    }

    fn kinds(receiver: &mut mpsc::Receiver<Bytes>) -> Vec<String> {
        frames(receiver).iter().map(kind).collect()
    }

    #[test]
    fn caught_up_sessions_are_pushed_the_others_told_to_pull() {
        let (session, mut outbound) = session();
        let group = GroupId(9);
        let queue = QueueKey::Group(group);
        let now = Instant::now();
        // Nothing known of the group yet: a notice.
        let messages = [committed(5, None)];
        assert_eq!(session.push(&QueuePush::new("o#a", QueueKey::Group(group), &messages), now), 0);
        assert_eq!(kinds(&mut outbound), ["notice"]);
        // Read up to 4: 5 is pushed, asking for an acknowledgement (the first after a quiet spell).
        session.pulling(&queue);
        session.answer_pull(&queue, Bytes::from_static(b"answer"));
        frames(&mut outbound);
        session.remember_group_view(group, GroupView { floor: 0, shielded: false });
        session.cursors.acknowledge(&queue, 4);
        assert_eq!(session.push(&QueuePush::new("o#a", QueueKey::Group(group), &messages), now), 1);
        assert_eq!(kinds(&mut outbound), ["push1 last=Some(false) key=Some(5)"]);
        assert_eq!(session.cursors.read_from(&queue), Some(Some(5)));
        // 6 and its own 7 right after (steady traffic, asked just now): 6 pushed, 7 passed over.
        let messages = [committed(6, None), committed(7, Some(session.id))];
        assert_eq!(session.push(&QueuePush::new("o#a", QueueKey::Group(group), &messages), now), 1);
        assert_eq!(kinds(&mut outbound), ["push1 last=Some(true) key=None"]);
        assert_eq!(session.cursors.read_from(&queue), Some(Some(7)));
        // A gap (8 went elsewhere): 9 is not pushed, the session pulls.
        let messages = [committed(9, None)];
        assert_eq!(session.push(&QueuePush::new("o#a", QueueKey::Group(group), &messages), now), 0);
        assert_eq!(kinds(&mut outbound), ["notice"]);
        // While it pulls, nothing is pushed; the notice follows the answer.
        session.pulling(&queue);
        session.cursors.sent_through(&queue, 9);
        let messages = [committed(10, None)];
        assert_eq!(session.push(&QueuePush::new("o#a", QueueKey::Group(group), &messages), now), 0);
        assert!(frames(&mut outbound).is_empty());
        session.answer_pull(&queue, Bytes::from_static(b"answer"));
        assert_eq!(
            frames(&mut outbound),
            [Bytes::from_static(b"answer"), qun_proto::msync::notice(queue_jid(&session.app_key, &queue))]
        );
    }

    #[test]
    fn a_conversation_is_pushed_once_its_position_is_known_and_personal_events_are_pulled() {
        let (session, mut outbound) = session();
        let chat = QueueKey::Chat(UserName::parse("bob").unwrap());
        let now = Instant::now();
        // Position unknown (never read this conversation): told to pull.
        let messages = [committed(1, None)];
        assert_eq!(session.push(&QueuePush::new("o#a", chat.clone(), &messages), now), 0);
        assert_eq!(kinds(&mut outbound), ["notice"]);
        // Known, never acknowledged: the first message is next, so it is pushed (no group view
        // is needed for a conversation).
        session.pulling(&chat);
        session.answer_pull(&chat, Bytes::from_static(b"drained"));
        frames(&mut outbound);
        session.cursors.load([(chat.clone(), None)]);
        assert_eq!(session.push(&QueuePush::new("o#a", chat.clone(), &messages), now), 1);
        assert_eq!(kinds(&mut outbound), ["push1 last=Some(false) key=Some(1)"]);
        // Its own next message is passed over; the peer's after it pushed.
        let messages = [committed(2, Some(session.id)), committed(3, None)];
        assert_eq!(session.push(&QueuePush::new("o#a", chat.clone(), &messages), now), 1);
        assert_eq!(session.cursors.read_from(&chat), Some(Some(3)));
        // A conversation far behind (more than its offline window) pulls.
        let far = [committed(CHAT_OFFLINE_LIMIT + 10, None)];
        session.cursors.load([(chat.clone(), None)]);
        frames(&mut outbound);
        assert_eq!(session.push(&QueuePush::new("o#a", chat.clone(), &far), now), 0);
        assert_eq!(kinds(&mut outbound), ["notice"]);
        // Personal events are never pushed.
        session.cursors.load([(QueueKey::Personal, Some(0))]);
        assert_eq!(session.push(&QueuePush::new("o#a", QueueKey::Personal, &[committed(1, None)]), now), 0);
        assert_eq!(kinds(&mut outbound), ["notice"]);
    }

    #[test]
    fn shielded_groups_are_passed_over_and_full_queues_pull() {
        let (session, mut outbound) = session();
        let group = GroupId(9);
        let queue = QueueKey::Group(group);
        let now = Instant::now();
        session.remember_group_view(group, GroupView { floor: 0, shielded: true });
        session.cursors.load([(queue.clone(), Some(4))]);
        let messages = [committed(5, None), committed(6, None)];
        assert_eq!(session.push(&QueuePush::new("o#a", QueueKey::Group(group), &messages), now), 0);
        assert!(frames(&mut outbound).is_empty());
        // Nothing was outstanding: passed over means acknowledged.
        assert_eq!(session.cursors.position(&queue), Some(Some(6)));

        session.remember_group_view(group, GroupView { floor: 0, shielded: false });
        for _ in 0..(OUTBOUND_QUEUE_FRAMES - PUSH_HEADROOM + 1) {
            session.send(Bytes::from_static(b"backlog"));
        }
        let messages = [committed(7, None)];
        assert_eq!(session.push(&QueuePush::new("o#a", QueueKey::Group(group), &messages), now), 0);
        let last = frames(&mut outbound).pop().unwrap();
        assert_eq!(kind(&last), "notice");
        assert_eq!(session.close_reason(), None, "a slow session pulls, it is not cut off");
    }

    #[test]
    fn pushes_are_asked_about_when_quiet_or_at_the_interval() {
        use super::super::cursors::{ACK_QUIET, ACK_REQUEST_INTERVAL};
        let (session, mut outbound) = session();
        let group = GroupId(9);
        let queue = QueueKey::Group(group);
        let start = Instant::now();
        session.remember_group_view(group, GroupView { floor: 0, shielded: false });
        session.cursors.load([(queue.clone(), Some(0))]);
        for seq in 1..=3 {
            session.push(&QueuePush::new("o#a", QueueKey::Group(group), &[committed(seq, None)]), start);
        }
        // 1 follows a quiet spell: asked; 2 and 3 are steady traffic, asked a moment ago: a tail.
        assert_eq!(
            kinds(&mut outbound),
            ["push1 last=Some(false) key=Some(1)", "push1 last=Some(true) key=None", "push1 last=Some(true) key=None"]
        );
        // The tail is not due while pushes keep coming.
        let busy = start + ACK_QUIET / 2;
        session.push(&QueuePush::new("o#a", QueueKey::Group(group), &[committed(4, None)]), busy);
        assert!(session.ask_for_acknowledgements(busy, false).is_some());
        assert!(frames(&mut outbound).len() == 1, "only the push of 4");
        // Quiet: asked up to 4.
        let quiet = busy + ACK_QUIET;
        assert_eq!(session.ask_for_acknowledgements(quiet, false), None);
        assert_eq!(kinds(&mut outbound), ["push0 last=Some(false) key=Some(4)"]);
        assert!(session.cursors.awaiting_acknowledgement());
        session.cursors.acknowledge(&queue, 4);
        assert!(!session.cursors.awaiting_acknowledgement());
        // After a quiet spell a push asks; under steady traffic (a push every 250 ms here) one
        // push per interval does.
        let later = quiet + ACK_REQUEST_INTERVAL;
        for (i, seq) in (5..=9).enumerate() {
            session.push(
                &QueuePush::new("o#a", QueueKey::Group(group), &[committed(seq, None)]),
                later + ACK_QUIET * i as u32,
            );
        }
        assert_eq!(
            kinds(&mut outbound),
            [
                "push1 last=Some(false) key=Some(5)",
                "push1 last=Some(true) key=None",
                "push1 last=Some(true) key=None",
                "push1 last=Some(true) key=None",
                "push1 last=Some(false) key=Some(9)"
            ]
        );
    }

    #[test]
    fn a_flush_is_one_frame_per_session_with_what_is_for_it() {
        let (sender, mut sender_out) = session();
        let (reader, mut reader_out) = session();
        let (ahead, mut ahead_out) = session();
        let group = GroupId(9);
        let queue = QueueKey::Group(group);
        let now = Instant::now();
        for s in [&sender, &reader, &ahead] {
            s.remember_group_view(group, GroupView { floor: 0, shielded: false });
            s.cursors.load([(queue.clone(), Some(4))]);
        }
        // `ahead` pulled 5 before the flush.
        ahead.cursors.sent_through(&queue, 5);
        let messages = [committed(5, None), committed(6, Some(sender.id)), committed(7, None)];
        let push = QueuePush::new("o#a", QueueKey::Group(group), &messages);
        assert_eq!(reader.push(&push, now), 3);
        assert_eq!(kinds(&mut reader_out), ["push3 last=Some(false) key=Some(7)"]);
        assert_eq!(sender.push(&push, now), 2);
        assert_eq!(kinds(&mut sender_out), ["push2 last=Some(false) key=Some(7)"]);
        assert_eq!(ahead.push(&push, now), 2);
        assert_eq!(kinds(&mut ahead_out), ["push2 last=Some(false) key=Some(7)"]);
        for s in [&sender, &reader, &ahead] {
            assert_eq!(s.cursors.read_from(&queue), Some(Some(7)));
        }
    }
}
