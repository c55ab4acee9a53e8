//! The hub: which sessions are online, which users are in which group, and the fan-out of
//! "queue has new data" hints to them.
//!
//! The hub holds hints only: the database is the truth, and a session that misses a hint
//! still gets everything at its next pull or login. So the hub never blocks and never
//! buffers without limit: a session whose outbound queue is full is cut off (it resyncs by
//! cursor when it reconnects).
//!
//! Locking: one `parking_lot::RwLock` (no poisoning: a panic elsewhere cannot wedge the hub) around the maps, held for map work only, never across an
//! `.await`. Fan-out takes the read lock; logins, logouts and membership changes the write
//! lock.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::RwLock;
use qun_core::{GroupId, UserName};
use qun_proto::msync::KickReason;
use qun_store::QueueKey;

use super::session::Session;
use crate::services::delivery::{Connection, Delivery};

type AppId = i64;

/// Per-user maps are nested by app so that lookups borrow the user name: the fan-out looks up
/// every member of a group per message and must not allocate per member.
#[derive(Default)]
struct HubMaps {
    /// Online sessions per user.
    sessions: HashMap<AppId, HashMap<UserName, Vec<Arc<Session>>>>,
    /// Online members per group (only users with at least one session appear).
    group_members: HashMap<(AppId, GroupId), HashSet<UserName>>,
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

    /// Adds `user` to the online members of `groups` they were not in yet.
    fn join_groups(&mut self, app_id: AppId, user: &UserName, groups: &[GroupId]) {
        let joined = self.groups_of_mut(app_id, user);
        let fresh: Vec<GroupId> = groups.iter().copied().filter(|g| joined.insert(*g)).collect();
        for group in fresh {
            self.group_members.entry((app_id, group)).or_default().insert(user.clone());
        }
    }
}

/// See the module docs. Cheap to share behind an `Arc`.
#[derive(Default)]
pub struct Hub {
    maps: RwLock<HubMaps>,
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
        if !sessions.is_empty() {
            return;
        }
        app_sessions.remove(&session.user);
        let groups = maps.user_groups.get_mut(&app_id).and_then(|users| users.remove(&session.user));
        for group in groups.unwrap_or_default() {
            let group_key = (session.app_id, group);
            if let Some(members) = maps.group_members.get_mut(&group_key) {
                members.remove(&session.user);
                if members.is_empty() {
                    maps.group_members.remove(&group_key);
                }
            }
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
        let maps = self.maps.read();
        let Some(members) = maps.group_members.get(&(app_id, group)) else { return };
        let queue = QueueKey::Group(group);
        for member in members {
            if let Some(sessions) = maps.sessions_of(app_id, member) {
                for session in sessions.iter().filter(|s| Some(s.id) != except) {
                    session.notify(&queue);
                }
            }
        }
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
            if let Some(members) = maps.group_members.get_mut(&(app_id, group)) {
                members.remove(user);
            }
        }
    }

    /// A member's standing changed without joining or leaving (shield): their sessions read
    /// it again.
    fn standing_changed(&self, app_id: AppId, group: GroupId, user: &UserName) {
        for session in Hub::sessions_of(self, app_id, user) {
            session.forget_group_view(group);
        }
    }

    /// The group is gone: forget it.
    fn group_dissolved(&self, app_id: AppId, group: GroupId) {
        let mut maps = self.maps.write();
        if let Some(members) = maps.group_members.remove(&(app_id, group)) {
            for user in members {
                if let Some(groups) = maps.user_groups.get_mut(&app_id).and_then(|users| users.get_mut(&user)) {
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
