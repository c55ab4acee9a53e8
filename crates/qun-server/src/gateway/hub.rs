//! The hub: which sessions are online, which sessions are in which group, and the fan-out of
//! group messages (pushed to caught-up sessions) and of "queue has new data" hints.
//!
//! The hub holds hints and pushes only: the database is the truth, and a session that misses
//! one still gets everything at its next pull or login. So the hub never blocks and never
//! buffers without limit: a session whose outbound queue fills up is not pushed to (it pulls
//! at its own pace), and one that does not even take notices is cut off (it resyncs by cursor
//! when it reconnects).
//!
//! Each group keeps the list of its members' online sessions, maintained at login, logout,
//! join and leave, so a flush of the group's messages walks one list: no lookup per member.
//! Committed group messages wait in the group's outbox for the group flusher
//! (`group_flusher.rs`), which sends them at the group's pace.
//!
//! Locking: one `parking_lot::RwLock` (no poisoning: a panic elsewhere cannot wedge the hub) around the maps, held for map work only, never across an
//! `.await`. Fan-out takes the read lock; logins, logouts and membership changes the write
//! lock.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::RwLock;
use qun_core::{GroupId, UserName};
use qun_proto::msync::KickReason;
use qun_store::QueueKey;

use super::group_flusher::{self, Flushed, GroupKey, Outboxes};
use super::session::{QueuePush, Session};
use crate::services::delivery::{CommittedMessage, Connection, Delivery};

type AppId = i64;

/// Per-user maps are nested by app so that lookups borrow the user name: the fan-out looks up
/// every member of a group per message and must not allocate per member.
#[derive(Default)]
struct HubMaps {
    /// Online sessions per user.
    sessions: HashMap<AppId, HashMap<UserName, Vec<Arc<Session>>>>,
    /// The online sessions of each group's members (only groups with one appear).
    group_sessions: HashMap<(AppId, GroupId), Vec<Arc<Session>>>,
    /// The groups each online user is a member of (to clean up at logout).
    user_groups: HashMap<AppId, HashMap<UserName, HashSet<GroupId>>>,
}

impl HubMaps {
    fn sessions_of(&self, app_id: AppId, user: &UserName) -> Option<&Vec<Arc<Session>>> {
        self.sessions.get(&app_id)?.get(user)
    }

    fn is_online(&self, app_id: AppId, user: &UserName) -> bool {
        self.sessions_of(app_id, user).is_some()
    }

    fn groups_of_mut(&mut self, app_id: AppId, user: &UserName) -> &mut HashSet<GroupId> {
        self.user_groups.entry(app_id).or_default().entry(user.clone()).or_default()
    }

    /// Adds `user`'s sessions to the groups of `groups` they were not in yet.
    fn join_groups(&mut self, app_id: AppId, user: &UserName, groups: &[GroupId]) {
        let joined = self.groups_of_mut(app_id, user);
        let fresh: Vec<GroupId> = groups.iter().copied().filter(|g| joined.insert(*g)).collect();
        let sessions = self.sessions_of(app_id, user).cloned().unwrap_or_default();
        for group in fresh {
            self.group_sessions.entry((app_id, group)).or_default().extend(sessions.iter().cloned());
        }
    }

    /// Takes `user`'s sessions (or only `session`) out of `group`'s list.
    fn leave_group(&mut self, app_id: AppId, group: GroupId, user: &UserName, session: Option<u64>) {
        let key = (app_id, group);
        if let Some(sessions) = self.group_sessions.get_mut(&key) {
            sessions.retain(|s| &s.user != user || session.is_some_and(|id| s.id != id));
            if sessions.is_empty() {
                self.group_sessions.remove(&key);
            }
        }
    }
}

/// See the module docs. Cheap to share behind an `Arc`.
#[derive(Default)]
pub struct Hub {
    maps: RwLock<HubMaps>,
    /// Committed group messages waiting for their group's next flush (`group_flusher.rs`).
    pub(crate) outboxes: Outboxes,
    /// Logins pass through here in the middle of their registration (see
    /// [`Hub::hold_registrations`]); uncontended but in tests.
    registration_gate: tokio::sync::RwLock<()>,
    /// Counts the group news handed to the hub (messages, updates, membership and standing
    /// changes): a login compares it before and after it reads the user's queues, to know
    /// whether a group's news may have passed its session by before the session was in the
    /// group's list (see `login::register`).
    group_news: AtomicU64,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let maps = self.maps.read();
        f.debug_struct("Hub").field("users_online", &maps.sessions.values().map(HashMap::len).sum::<usize>()).finish()
    }
}

impl Hub {
    /// Registers a logged-in session whose user is a member of `groups`. Returns the user's
    /// sessions that were there before, oldest first (for the device limit).
    pub fn register(&self, session: Arc<Session>, groups: &[GroupId]) -> Vec<Arc<Session>> {
        let mut maps = self.maps.write();
        let user_sessions = maps.sessions.entry(session.app_id).or_default().entry(session.user.clone()).or_default();
        let others = user_sessions.clone();
        user_sessions.push(session.clone());
        // A further session of a user already online joins the groups the user is in.
        let known: Vec<GroupId> = maps
            .user_groups
            .get(&session.app_id)
            .and_then(|users| users.get(&session.user))
            .map(|groups| groups.iter().copied().collect())
            .unwrap_or_default();
        for group in known {
            maps.group_sessions.entry((session.app_id, group)).or_default().push(session.clone());
        }
        maps.join_groups(session.app_id, &session.user, groups);
        others
    }

    /// Adds groups to the memberships of a user who is online (at login, once the session is
    /// registered and the user's groups were read).
    pub fn add_memberships(&self, app_id: AppId, user: &UserName, groups: &[GroupId]) {
        let mut maps = self.maps.write();
        if maps.is_online(app_id, user) {
            maps.join_groups(app_id, user, groups);
        }
    }

    /// Removes a session; the last session of a user takes the user out of their groups.
    pub fn unregister(&self, session: &Session) {
        let mut maps = self.maps.write();
        let app_id = session.app_id;
        let Some(app_sessions) = maps.sessions.get_mut(&app_id) else { return };
        let Some(sessions) = app_sessions.get_mut(&session.user) else { return };
        sessions.retain(|s| s.id != session.id);
        let last = sessions.is_empty();
        if last {
            app_sessions.remove(&session.user);
        }
        let users = maps.user_groups.get_mut(&app_id);
        let groups: Vec<GroupId> = match users {
            Some(users) if last => users.remove(&session.user).map(|g| g.into_iter().collect()).unwrap_or_default(),
            Some(users) => users.get(&session.user).map(|g| g.iter().copied().collect()).unwrap_or_default(),
            None => Vec::new(),
        };
        for group in groups {
            maps.leave_group(app_id, group, &session.user, Some(session.id));
        }
    }

    /// The user's online sessions.
    pub fn sessions_of(&self, app_id: AppId, user: &UserName) -> Vec<Arc<Session>> {
        self.maps.read().sessions_of(app_id, user).cloned().unwrap_or_default()
    }

    /// Whether `user` (online) is a member of `group`, as far as the hub knows.
    pub fn is_member(&self, app_id: AppId, user: &UserName, group: GroupId) -> bool {
        let maps = self.maps.read();
        maps.user_groups.get(&app_id).and_then(|users| users.get(user)).is_some_and(|groups| groups.contains(&group))
    }

    /// A test seam: while the returned guard lives, every login stops in the middle of its
    /// registration (registered with the hub, not yet with its chat rooms), so a test can show
    /// that no login is answered before its session is registered everywhere (issue 13.9).
    #[doc(hidden)]
    pub async fn hold_registrations(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.registration_gate.write().await
    }

    /// How much group news the hub was handed so far (see the field of that name).
    pub(super) fn group_news(&self) -> u64 {
        self.group_news.load(Ordering::SeqCst)
    }

    /// Counted before the news reaches any session: a login that reads the count unchanged
    /// after it joined its groups' lists knows that later news finds its session there.
    fn count_group_news(&self) {
        self.group_news.fetch_add(1, Ordering::SeqCst);
    }

    /// Where a login's registration waits while [`Hub::hold_registrations`] is held.
    pub(super) async fn registration_checkpoint(&self) {
        drop(self.registration_gate.read().await);
    }

    /// Sends what the group's outbox holds to the group's online sessions: one frame for all
    /// (and one asking for an acknowledgement); each session decides under its own lock what
    /// of it is for it (see [`Session::push`]). Called by the group flusher only.
    pub(crate) fn flush_group(&self, key: GroupKey) -> Flushed {
        let maps = self.maps.read();
        let sessions = maps.group_sessions.get(&key).map_or(&[][..], Vec::as_slice);
        let messages = self.outboxes.take(key, group_flusher::pace(sessions.len()));
        let Some(first) = sessions.first().filter(|_| !messages.is_empty()) else { return Flushed::default() };
        let frames = QueuePush::new(&first.app_key, QueueKey::Group(key.1), &messages);
        let now = Instant::now();
        let pushed = sessions.iter().map(|session| session.push(&frames, now)).sum();
        Flushed { pushed, newest: messages.last().map(|message| message.id) }
    }

    /// Number of online sessions (for metrics and tests).
    pub fn session_count(&self) -> usize {
        self.maps.read().sessions.values().flat_map(HashMap::values).map(Vec::len).sum()
    }

    /// Every online session, as of now (the cursor writer saves what they acknowledged).
    pub fn sessions(&self) -> Vec<Arc<Session>> {
        self.maps.read().sessions.values().flat_map(HashMap::values).flatten().cloned().collect()
    }
}

/// The hub is where delivery ends on this node: hints become NOTICEs to the sessions here.
impl Delivery for Hub {
    fn connections_of(&self, app_id: AppId, user: &UserName) -> Vec<Arc<dyn Connection>> {
        let maps = self.maps.read();
        maps.sessions_of(app_id, user)
            .map(|sessions| sessions.iter().map(|s| s.clone() as Arc<dyn Connection>).collect())
            .unwrap_or_default()
    }

    /// Tells every online member's sessions that the group's queue has new data, but the
    /// session `except` (one that has the news already: its own send).
    fn group_updated(&self, app_id: AppId, group: GroupId, except: Option<u64>) {
        self.count_group_news();
        let maps = self.maps.read();
        let Some(sessions) = maps.group_sessions.get(&(app_id, group)) else { return };
        let queue = QueueKey::Group(group);
        for session in sessions.iter().filter(|s| Some(s.id) != except) {
            session.notify(&queue);
        }
    }

    /// Into the group's outbox: the group flusher sends it at the group's pace.
    fn group_messages(&self, app_id: AppId, group: GroupId, messages: &[CommittedMessage]) {
        self.count_group_news();
        self.outboxes.add((app_id, group), messages);
    }

    /// Pushed at once to both users' sessions (a 1:1 conversation has a few readers, so no
    /// pace): each side's queue is named after the other side, and each session takes what
    /// follows its read position (see [`Session::push`]: the sending connection passes over
    /// its own message, a session behind is told to pull).
    fn chat_messages(&self, app_id: AppId, conversation: (&UserName, &UserName), messages: &[CommittedMessage]) -> u64 {
        let (low, high) = conversation;
        let maps = self.maps.read();
        let now = Instant::now();
        let mut pushed = 0;
        // A user writing to themself is one reader, not two.
        let sides = if low == high { 1 } else { 2 };
        for (reader, other) in [(low, high), (high, low)].into_iter().take(sides) {
            let Some(sessions) = maps.sessions_of(app_id, reader) else { continue };
            let Some(first) = sessions.first() else { continue };
            let frames = QueuePush::new(&first.app_key, QueueKey::Chat(other.clone()), messages);
            pushed += sessions.iter().map(|session| session.push(&frames, now)).sum::<u64>();
        }
        pushed
    }

    /// Tells `user`'s sessions (but `except`) that `queue` has new data.
    fn queue_updated(&self, app_id: AppId, user: &UserName, queue: &QueueKey, except: Option<u64>) {
        let maps = self.maps.read();
        if let Some(sessions) = maps.sessions_of(app_id, user) {
            for session in sessions.iter().filter(|s| Some(s.id) != except) {
                session.notify(queue);
            }
        }
    }

    /// Users joined or left a group: keeps the online-member sets true.
    fn membership_changed(&self, app_id: AppId, group: GroupId, joined: &[UserName], left: &[UserName]) {
        self.count_group_news();
        let mut maps = self.maps.write();
        for user in joined.iter().chain(left) {
            for session in maps.sessions_of(app_id, user).into_iter().flatten() {
                session.forget_group_view(group);
            }
        }
        for user in joined {
            if maps.is_online(app_id, user) {
                maps.join_groups(app_id, user, &[group]);
            }
        }
        for user in left {
            if let Some(groups) = maps.user_groups.get_mut(&app_id).and_then(|users| users.get_mut(user)) {
                groups.remove(&group);
            }
            maps.leave_group(app_id, group, user, None);
        }
    }

    /// A member's standing changed without joining or leaving (shield): their sessions read
    /// it again.
    fn standing_changed(&self, app_id: AppId, group: GroupId, user: &UserName) {
        self.count_group_news();
        for session in Hub::sessions_of(self, app_id, user) {
            session.forget_group_view(group);
        }
    }

    /// The group is gone: forget it.
    fn group_dissolved(&self, app_id: AppId, group: GroupId) {
        self.count_group_news();
        let mut maps = self.maps.write();
        if let Some(sessions) = maps.group_sessions.remove(&(app_id, group)) {
            for session in sessions {
                if let Some(groups) = maps.user_groups.get_mut(&app_id).and_then(|users| users.get_mut(&session.user)) {
                    groups.remove(&group);
                }
            }
        }
    }

    fn kick_user(&self, app_id: AppId, user: &UserName, reason: KickReason) {
        for session in self.sessions_of(app_id, user) {
            super::uplink::kick(&session, reason, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn session(user: &str, device: &str) -> Arc<Session> {
        Arc::new(crate::gateway::session::tests::session_of(user, device).0)
    }

    fn listed(hub: &Hub, group: GroupId) -> Vec<u64> {
        let maps = hub.maps.read();
        let mut ids: Vec<u64> = maps.group_sessions.get(&(1, group)).into_iter().flatten().map(|s| s.id).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn a_conversations_messages_reach_both_users_under_the_other_ones_name() {
        let hub = Hub::default();
        let (ann, bob) = (session("ann", "phone"), session("bob", "phone"));
        let ann_tablet = session("ann", "tablet");
        for session in [&ann, &bob, &ann_tablet] {
            hub.register((*session).clone(), &[]);
        }
        let (to_ann, to_bob) = (QueueKey::Chat(bob.user.clone()), QueueKey::Chat(ann.user.clone()));
        ann.cursors.load([(to_ann.clone(), Some(0))]);
        ann_tablet.cursors.load([(to_ann.clone(), Some(0))]);
        bob.cursors.load([(to_bob.clone(), Some(0))]);
        // Ann's phone sends 1: her tablet and Bob get it, her phone passes over it.
        let message = CommittedMessage { seq: 1, id: 100, meta: Bytes::new(), origin: Some(ann.id) };
        assert_eq!(hub.chat_messages(1, (&ann.user, &bob.user), &[message]), 2, "pushed to her tablet and to Bob");
        assert_eq!(ann.cursors.read_from(&to_ann), Some(Some(1)));
        assert!(!ann.cursors.awaiting_acknowledgement(), "her own message: nothing to acknowledge");
        for reader in [&ann_tablet, &bob] {
            assert!(reader.cursors.awaiting_acknowledgement(), "{} was pushed 1", reader.device);
        }
        assert_eq!(ann_tablet.cursors.read_from(&to_ann), Some(Some(1)));
        assert_eq!(bob.cursors.read_from(&to_bob), Some(Some(1)));
    }

    #[test]
    fn each_group_lists_its_members_online_sessions() {
        let hub = Hub::default();
        let (g1, g2) = (GroupId(1), GroupId(2));
        let ann = UserName::parse("ann").unwrap();
        let ann_phone = session("ann", "phone");
        hub.register(ann_phone.clone(), &[]);
        hub.add_memberships(1, &ann, &[g1]);
        assert_eq!(listed(&hub, g1), [ann_phone.id]);
        // A second device of a user already online joins the user's groups at once.
        let ann_tablet = session("ann", "tablet");
        hub.register(ann_tablet.clone(), &[]);
        hub.add_memberships(1, &ann, &[g1]);
        assert_eq!(listed(&hub, g1), [ann_phone.id, ann_tablet.id]);
        // Joining brings every session of the user; leaving takes them all out.
        let bob = session("bob", "phone");
        hub.register(bob.clone(), &[]);
        hub.membership_changed(1, g2, &[ann.clone(), bob.user.clone()], &[]);
        assert_eq!(listed(&hub, g2), [ann_phone.id, ann_tablet.id, bob.id]);
        hub.membership_changed(1, g2, &[], std::slice::from_ref(&ann));
        assert_eq!(listed(&hub, g2), [bob.id]);
        assert!(!hub.is_member(1, &ann, g2) && hub.is_member(1, &ann, g1));
        // A logout takes that session out; the last one takes the user out.
        hub.unregister(&ann_phone);
        assert_eq!(listed(&hub, g1), [ann_tablet.id]);
        assert!(hub.is_member(1, &ann, g1));
        hub.unregister(&ann_tablet);
        assert!(listed(&hub, g1).is_empty() && !hub.is_member(1, &ann, g1));
        hub.group_dissolved(1, g2);
        assert!(listed(&hub, g2).is_empty() && !hub.is_member(1, &bob.user, g2));
    }
}
