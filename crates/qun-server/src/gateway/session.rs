//! One logged-in websocket connection as the rest of the server sees it: who it is, and a
//! bounded outbound queue of finished frames.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use qun_core::UserName;
use qun_store::QueueKey;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use qun_core::GroupId;

use super::cursors::CursorBook;
use super::queues::queue_jid;
use crate::services::delivery::{Connection, Origin, SessionId};

/// Frames a session may have waiting to be written before it counts as a slow consumer and is
/// disconnected. Notices are coalesced (one per queue until the client pulls), so only a
/// client that stops reading fills this.
pub(crate) const OUTBOUND_QUEUE_FRAMES: usize = 1024;

static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1);

/// Where a member stands in a group, as a pull needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupView {
    /// The group sequence at which the user joined: they read nothing before it.
    pub(crate) floor: i64,
    /// The member blocked the group's messages for themself.
    pub(crate) shielded: bool,
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
        };
        (session, receiver)
    }

    /// Keeps what the app said about this login (see [`Session::login_info`]).
    pub(crate) fn with_login_info(mut self, login_info: Option<String>) -> Session {
        self.login_info = login_info;
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
        let mut notices = self.notices.lock();
        if !notices.notified.insert(queue.clone()) {
            return;
        }
        if notices.pulling.as_ref() == Some(queue) {
            notices.deferred = true;
        } else {
            self.send(qun_proto::msync::notice(queue_jid(&self.app_key, queue)));
        }
    }

    /// The client is pulling `queue`: a new message after this point deserves a new notice.
    /// Called before the pull reads the store, so nothing committed after it goes unnoticed;
    /// the answer goes out through [`Session::answer_pull`].
    pub fn pulling(&self, queue: &QueueKey) {
        let mut notices = self.notices.lock();
        notices.notified.remove(queue);
        notices.pulling = Some(queue.clone());
        notices.deferred = false;
    }

    /// Sends the answer to the pull of `queue`, then the notice that came meanwhile, if any.
    pub fn answer_pull(&self, queue: &QueueKey, answer: Bytes) {
        let mut notices = self.notices.lock();
        self.send(answer);
        if notices.pulling.as_ref() == Some(queue) {
            notices.pulling = None;
            if std::mem::take(&mut notices.deferred) {
                self.send(qun_proto::msync::notice(queue_jid(&self.app_key, queue)));
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
mod tests {
    use super::*;

    fn session() -> (Session, mpsc::Receiver<Bytes>) {
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
        Session::new(app, UserName::parse("ann").unwrap(), "d".to_owned(), "r".to_owned())
    }

    fn frames(receiver: &mut mpsc::Receiver<Bytes>) -> Vec<Bytes> {
        std::iter::from_fn(|| receiver.try_recv().ok()).collect()
    }

    #[test]
    fn a_notice_during_a_pull_of_its_queue_follows_the_answer() {
        let (session, mut outbound) = session();
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

        // A pull with nothing new meanwhile: the answer alone.
        session.pulling(&group);
        session.answer_pull(&group, Bytes::from_static(b"drained"));
        assert_eq!(frames(&mut outbound), [Bytes::from_static(b"drained")]);
    }
}
