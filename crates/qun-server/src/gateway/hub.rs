//! The hub: which sessions are online, which users are in which group, and the fan-out of
//! "queue has new data" hints to them.
//!
//! The hub holds hints only: the database is the truth, and a session that misses a hint
//! still gets everything at its next pull or login. So the hub never blocks and never
//! buffers without limit: a session whose outbound queue is full is cut off (it resyncs by
//! cursor when it reconnects).
//!
//! Locking: one `std::sync::RwLock` around the maps, held for map work only, never across an
//! `.await`. Fan-out takes the read lock; logins, logouts and membership changes the write
//! lock.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use qun_core::{GroupId, UserName};
use qun_store::QueueKey;

use super::session::Session;

type AppId = i64;

#[derive(Default)]
struct HubMaps {
    /// Online sessions per user.
    sessions: HashMap<(AppId, UserName), Vec<Arc<Session>>>,
    /// Online members per group (only users with at least one session appear).
    group_members: HashMap<(AppId, GroupId), HashSet<UserName>>,
    /// The groups each online user is a member of (to clean up at logout).
    user_groups: HashMap<(AppId, UserName), HashSet<GroupId>>,
}

/// See the module docs. Cheap to share behind an `Arc`.
#[derive(Default)]
pub struct Hub {
    maps: RwLock<HubMaps>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let maps = self.maps.read().expect("hub lock");
        f.debug_struct("Hub").field("users_online", &maps.sessions.len()).finish()
    }
}

impl Hub {
    /// Registers a logged-in session whose user is a member of `groups`. Returns the user's
    /// sessions that were there before, oldest first (for the device limit).
    pub fn register(&self, session: Arc<Session>, groups: &[GroupId]) -> Vec<Arc<Session>> {
        let mut maps = self.maps.write().expect("hub lock");
        let key = (session.app_id, session.user.clone());
        let others = maps.sessions.get(&key).cloned().unwrap_or_default();
        maps.sessions.entry(key.clone()).or_default().push(session.clone());
        let joined: &mut HashSet<GroupId> = maps.user_groups.entry(key).or_default();
        let fresh: Vec<GroupId> = groups.iter().copied().filter(|g| joined.insert(*g)).collect();
        for group in fresh {
            maps.group_members.entry((session.app_id, group)).or_default().insert(session.user.clone());
        }
        others
    }

    /// Adds groups to the memberships of a user who is online (at login, once the session is
    /// registered and the user's groups were read).
    pub fn add_memberships(&self, app_id: AppId, user: &UserName, groups: &[GroupId]) {
        let mut maps = self.maps.write().expect("hub lock");
        let key = (app_id, user.clone());
        if !maps.sessions.contains_key(&key) {
            return;
        }
        let joined: &mut HashSet<GroupId> = maps.user_groups.entry(key).or_default();
        let fresh: Vec<GroupId> = groups.iter().copied().filter(|g| joined.insert(*g)).collect();
        for group in fresh {
            maps.group_members.entry((app_id, group)).or_default().insert(user.clone());
        }
    }

    /// Removes a session; the last session of a user takes the user out of their groups.
    pub fn unregister(&self, session: &Session) {
        let mut maps = self.maps.write().expect("hub lock");
        let key = (session.app_id, session.user.clone());
        let Some(sessions) = maps.sessions.get_mut(&key) else { return };
        sessions.retain(|s| s.id != session.id);
        if !sessions.is_empty() {
            return;
        }
        maps.sessions.remove(&key);
        for group in maps.user_groups.remove(&key).unwrap_or_default() {
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
        self.maps.read().expect("hub lock").sessions.get(&(app_id, user.clone())).cloned().unwrap_or_default()
    }

    /// Users joined or left a group: keeps the online-member sets true.
    pub fn membership_changed(&self, app_id: AppId, group: GroupId, joined: &[UserName], left: &[UserName]) {
        let mut maps = self.maps.write().expect("hub lock");
        for user in joined.iter().chain(left) {
            for session in maps.sessions.get(&(app_id, user.clone())).into_iter().flatten() {
                session.forget_group_view(group);
            }
        }
        for user in joined {
            let key = (app_id, user.clone());
            if maps.sessions.contains_key(&key) {
                maps.user_groups.entry(key).or_default().insert(group);
                maps.group_members.entry((app_id, group)).or_default().insert(user.clone());
            }
        }
        for user in left {
            if let Some(groups) = maps.user_groups.get_mut(&(app_id, user.clone())) {
                groups.remove(&group);
            }
            if let Some(members) = maps.group_members.get_mut(&(app_id, group)) {
                members.remove(user);
            }
        }
    }

    /// A member's standing changed without joining or leaving (shield): their sessions read
    /// it again.
    pub fn standing_changed(&self, app_id: AppId, group: GroupId, user: &UserName) {
        for session in self.sessions_of(app_id, user) {
            session.forget_group_view(group);
        }
    }

    /// The group is gone: forget it.
    pub fn group_dissolved(&self, app_id: AppId, group: GroupId) {
        let mut maps = self.maps.write().expect("hub lock");
        if let Some(members) = maps.group_members.remove(&(app_id, group)) {
            for user in members {
                if let Some(groups) = maps.user_groups.get_mut(&(app_id, user)) {
                    groups.remove(&group);
                }
            }
        }
    }

    /// Tells every online member's sessions that the group's queue has new data, but the
    /// session `except` (one that has the news already: its own send).
    pub fn notify_group(&self, app_id: AppId, group: GroupId, except: Option<u64>) {
        let maps = self.maps.read().expect("hub lock");
        let Some(members) = maps.group_members.get(&(app_id, group)) else { return };
        let queue = QueueKey::Group(group);
        for member in members {
            if let Some(sessions) = maps.sessions.get(&(app_id, member.clone())) {
                for session in sessions.iter().filter(|s| Some(s.id) != except) {
                    session.notify(&queue);
                }
            }
        }
    }

    /// Tells `user`'s sessions (but `except`) that `queue` has new data.
    pub fn notify_user(&self, app_id: AppId, user: &UserName, queue: &QueueKey, except: Option<u64>) {
        let maps = self.maps.read().expect("hub lock");
        if let Some(sessions) = maps.sessions.get(&(app_id, user.clone())) {
            for session in sessions.iter().filter(|s| Some(s.id) != except) {
                session.notify(queue);
            }
        }
    }

    /// Whether `user` (online) is a member of `group`, as far as the hub knows.
    pub fn is_member(&self, app_id: AppId, user: &UserName, group: GroupId) -> bool {
        let maps = self.maps.read().expect("hub lock");
        maps.user_groups.get(&(app_id, user.clone())).is_some_and(|groups| groups.contains(&group))
    }

    /// Number of online sessions (for metrics and tests).
    pub fn session_count(&self) -> usize {
        self.maps.read().expect("hub lock").sessions.values().map(Vec::len).sum()
    }
}
