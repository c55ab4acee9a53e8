//! The realtime half of chat rooms: presence, delivery, history and the overload threshold.
//!
//! - **Membership is presence.** A member joins and leaves over the websocket (MUC JOIN /
//!   LEAVE, `gateway::rooms`), or is put in or taken out over REST. A member whose last
//!   connection drops (or who was put in while offline, or was in the room when the server
//!   started) leaves after the grace period (`room_grace`, 2 minutes), unless allowlisted.
//!   `room_members` stays the truth for REST; presence changes are committed in batches by
//!   each room's actor ([`presence`]).
//! - **Delivery** is live only: no offline store, no per-member storage, no database write per
//!   message. A message goes to the members online in the room right now, pushed and batched
//!   ([`live`]); the newest messages (10 by default, up to 200, switchable per app and per room)
//!   are kept in memory and sent to each (re)joiner.
//! - **Overload.** Each room admits its rate (100 messages/s by default, per app and per room)
//!   and drops above it, low priority first, then normal; high priority never
//!   (`qun_core::room_delivery`). Every drop is counted per room ([`RoomStats`], `/metrics`).
//!
//! Every committed room change (REST or websocket) comes through [`RoomRuntime::committed`]
//! right after its commit, so the in-memory view (who is online in which room, the rules'
//! facts) follows the database, and the change's events go out.
//!
//! Locking: the runtime's `maps` mutex is held for map work only, never across an `.await`; it
//! may be held while taking a room's state lock or the hub's lock, never the reverse.

mod facts;
mod live;
mod presence;
mod send;

pub use send::send_from_client;
pub(crate) use send::send_from_rest;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use qun_core::{RoomAudience, RoomId, RoomOperation, UserName};
use qun_proto::msync::{self, JoinInfo, Message};
use qun_proto::{ApiError, ErrorCode};
use qun_store::{AppRecord, RoomMutation};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use self::live::LiveRoom;
use self::presence::PresenceOp;
use crate::services::Services;
use crate::services::delivery::{Delivery, SessionId};
use crate::services::rooms::{RoomEventNotice, room_not_found};
use crate::telemetry::RoomStats;

/// The most rooms of a user a login attaches the session to.
const USER_ROOMS_READ_AT_LOGIN: u32 = 20_000;

type RoomKey = (i64, RoomId);
type UserKey = (i64, UserName);

#[derive(Default)]
struct Maps {
    /// Rooms the realtime layer knows (touched since the start, not destroyed).
    rooms: HashMap<RoomKey, Arc<LiveRoom>>,
    /// The rooms each online user is in.
    user_rooms: HashMap<UserKey, HashSet<RoomId>>,
    /// Bumped by every presence change of an online user, so that a login's read of the user's
    /// rooms can tell it raced with one (and reads again).
    epochs: HashMap<UserKey, u64>,
    /// Members who are away, with the time they leave the room.
    absent: HashMap<(RoomKey, UserName), Instant>,
    /// The recent messages of rooms put to sleep (see [`RoomRuntime::sleep_idle_rooms`]).
    sleeping_rings: HashMap<RoomKey, VecDeque<live::RingEntry>>,
    /// Users who may be in a room: everyone who was in one at start and everyone put in one
    /// since (every change passes through [`RoomRuntime::committed`]). Leaving does not take a
    /// user out; a login that reads no room of theirs does. A login of anyone else reads
    /// nothing. `None` until the start has read who is in which room (or when it could not):
    /// then every login reads.
    may_be_members: Option<HashSet<UserKey>>,
}

impl Maps {
    fn may_be_member(&self, key: &UserKey) -> bool {
        self.may_be_members.as_ref().is_none_or(|members| members.contains(key))
    }
}

/// See the module docs. One per server, shared behind an `Arc`.
pub struct RoomRuntime {
    maps: Mutex<Maps>,
    /// Where the runtime finds a user's connections (the gateway's hub, on one node).
    delivery: Arc<dyn Delivery>,
    grace: Duration,
    flush_max: Duration,
    idle: Duration,
}

impl std::fmt::Debug for RoomRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomRuntime").field("grace", &self.grace).finish()
    }
}

impl RoomRuntime {
    pub fn new(delivery: Arc<dyn Delivery>, grace: Duration, flush_max: Duration, idle: Duration) -> RoomRuntime {
        RoomRuntime { maps: Mutex::new(Maps::default()), delivery, grace, flush_max, idle }
    }

    fn maps(&self) -> parking_lot::MutexGuard<'_, Maps> {
        self.maps.lock()
    }

    /// After a (re)start: nobody is online, so every member's absence starts now; and the
    /// sweeper that ends absences starts.
    pub async fn start(&self, state: &Services) {
        match state.store.room_presences().await {
            Ok(presences) => {
                let deadline = Instant::now() + self.grace;
                let mut members = Some(HashSet::new());
                for presence in presences {
                    let app = match state.app(&presence.org, &presence.app).await {
                        Ok(Some(app)) => app,
                        Ok(None) => continue,
                        Err(error) => {
                            tracing::error!(%error, "rooms: cannot read an app; every login will read its rooms");
                            members = None;
                            continue;
                        }
                    };
                    if let Some(members) = &mut members {
                        members.insert((app.id, presence.member.user.clone()));
                    }
                    let mut maps = self.maps();
                    self.ensure(&mut maps, state, &app, presence.room_id);
                    maps.absent.insert(((app.id, presence.room_id), presence.member.user), deadline);
                }
                self.maps().may_be_members = members;
            }
            Err(error) => tracing::error!(%error, "rooms: cannot read who is in which room"),
        }
        let tick = (self.grace / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        state.lifecycle.spawn(sweep(state.clone(), tick));
    }

    /// The room's live state, made if the room had none.
    pub(crate) fn live(&self, state: &Services, app: &AppRecord, room_id: RoomId) -> Arc<LiveRoom> {
        let mut maps = self.maps();
        self.ensure(&mut maps, state, app, room_id)
    }

    fn ensure(&self, maps: &mut Maps, state: &Services, app: &AppRecord, room_id: RoomId) -> Arc<LiveRoom> {
        if let Some(live) = maps.rooms.get(&(app.id, room_id)) {
            return live.clone();
        }
        let (presence, ops) = mpsc::channel(presence::QUEUE);
        let live = Arc::new(LiveRoom::new(app, room_id, presence, state.metrics.clone()));
        if let Some(ring) = maps.sleeping_rings.remove(&(app.id, room_id)) {
            live.wake_with_ring(ring);
        }
        state.lifecycle.spawn(live.clone().run_flusher(self.flush_max, state.lifecycle.clone()));
        state.lifecycle.spawn(presence::run(state.clone(), live.clone(), ops));
        maps.rooms.insert((app.id, room_id), live.clone());
        live
    }

    /// A room's recent messages (its ring), oldest first, from the live room or the ring kept
    /// while it sleeps (reading does not wake it); none for a room nothing keeps.
    /// Each as its id and serialized `Meta`.
    pub(crate) fn recent_messages(&self, app_id: i64, room_id: RoomId) -> Vec<(u64, bytes::Bytes)> {
        let maps = self.maps();
        let ring = match maps.rooms.get(&(app_id, room_id)) {
            Some(live) => live.recent(),
            None => maps
                .sleeping_rings
                .get(&(app_id, room_id))
                .map(|ring| ring.iter().cloned().collect())
                .unwrap_or_default(),
        };
        ring.into_iter().map(|entry| (entry.id, entry.meta)).collect()
    }

    /// Whether `user` has a connection.
    pub fn is_online(&self, app_id: i64, user: &UserName) -> bool {
        !self.delivery.connections_of(app_id, user).is_empty()
    }

    fn bump(maps: &mut Maps, key: &UserKey) {
        *maps.epochs.entry(key.clone()).or_default() += 1;
    }

    // -------------------------------------------------------------------- committed changes

    /// A room change was committed: follow it in memory and send its events.
    pub(crate) fn committed(
        &self,
        state: &Services,
        app: &AppRecord,
        room_id: RoomId,
        mutations: &[RoomMutation],
        notices: &[RoomEventNotice],
    ) {
        let destroyed = mutations.iter().any(|m| matches!(m, RoomMutation::Destroy));
        let mut maps = self.maps();
        let live = if destroyed {
            match maps.rooms.get(&(app.id, room_id)) {
                Some(live) => live.clone(),
                None => {
                    // Asleep (or never awake here): only its kept ring is left to forget.
                    maps.sleeping_rings.remove(&(app.id, room_id));
                    return;
                }
            }
        } else {
            self.ensure(&mut maps, state, app, room_id)
        };
        let mut invalidate = false;
        for mutation in mutations {
            match mutation {
                RoomMutation::AddMember { user, .. } => {
                    let key = (app.id, user.clone());
                    if let Some(members) = &mut maps.may_be_members {
                        members.insert(key.clone());
                    }
                    let sessions = self.delivery.connections_of(app.id, user);
                    if sessions.is_empty() {
                        maps.absent.insert(((app.id, room_id), user.clone()), Instant::now() + self.grace);
                    } else {
                        Self::bump(&mut maps, &key);
                        maps.user_rooms.entry(key).or_default().insert(room_id);
                        maps.absent.remove(&((app.id, room_id), user.clone()));
                        live.attach(user, sessions);
                    }
                }
                RoomMutation::RemoveMember { user } => {
                    let key = (app.id, user.clone());
                    if let Some(rooms) = maps.user_rooms.get_mut(&key) {
                        rooms.remove(&room_id);
                    }
                    if self.is_online(app.id, user) {
                        // Also when the login reading this user's rooms has not filed them yet.
                        Self::bump(&mut maps, &key);
                    }
                    maps.absent.remove(&((app.id, room_id), user.clone()));
                    live.detach_user(user);
                }
                RoomMutation::SetAllowlisted { user, allowlisted: false } => {
                    invalidate = true;
                    // Off the allowlist while away: the grace period starts (if they are in
                    // the room at all; the expiry looks).
                    if !self.is_online(app.id, user) {
                        maps.absent.entry(((app.id, room_id), user.clone())).or_insert(Instant::now() + self.grace);
                    }
                }
                RoomMutation::SetDelivery(delivery) => live.set_overrides(*delivery),
                RoomMutation::SetAttributes { .. }
                | RoomMutation::DeleteAttributes { .. }
                | RoomMutation::SetAnnouncement(_)
                | RoomMutation::Destroy => {}
                RoomMutation::UpdateSettings(_)
                | RoomMutation::SetMuteAll(_)
                | RoomMutation::SetAdmin { .. }
                | RoomMutation::Blocklist { .. }
                | RoomMutation::Unblocklist { .. }
                | RoomMutation::SetMute { .. }
                | RoomMutation::SetAllowlisted { .. } => invalidate = true,
            }
        }
        if invalidate {
            live.invalidate_facts();
        }
        if destroyed {
            maps.rooms.remove(&(app.id, room_id));
            maps.sleeping_rings.remove(&(app.id, room_id));
            maps.absent.retain(|(key, _), _| key != &(app.id, room_id));
            for rooms in maps.user_rooms.values_mut() {
                rooms.remove(&room_id);
            }
        }
        drop(maps);
        for notice in notices {
            let meta =
                bytes::Bytes::from(msync::room_event_meta(&live.app_key, notice.id, &notice.event).encode_to_vec());
            match &notice.audience {
                RoomAudience::Members { except } => {
                    let presence = matches!(notice.event.operation, RoomOperation::Presence | RoomOperation::Absence);
                    live.offer_event(notice.id, meta, except.clone(), presence);
                }
                RoomAudience::Users(users) => {
                    for user in users {
                        live.send_direct(&meta, &self.delivery.connections_of(app.id, user));
                    }
                }
            }
        }
        if destroyed {
            live.close();
        }
    }

    /// The app's settings changed: its rooms take the new defaults.
    pub(crate) fn app_changed(&self, app: &AppRecord) {
        let rooms: Vec<Arc<LiveRoom>> =
            self.maps().rooms.iter().filter(|((app_id, _), _)| *app_id == app.id).map(|(_, l)| l.clone()).collect();
        for live in rooms {
            live.set_app(app);
            live.invalidate_facts();
        }
    }

    // -------------------------------------------------------------------- sessions

    /// A session of `user` logged in: it receives the rooms its user is in, and their absence ends.
    /// A user in no room costs no read (see `Maps::may_be_members`): one put in a room after
    /// the check below finds this session in the hub already, and is attached by `committed`.
    pub async fn session_online(&self, state: &Services, app: &AppRecord, user: &UserName) {
        let key = (app.id, user.clone());
        for _ in 0..8 {
            let epoch = {
                let maps = self.maps();
                if !maps.may_be_member(&key) {
                    return;
                }
                maps.epochs.get(&key).copied().unwrap_or(0)
            };
            let rooms = match state.store.user_room_ids(app.id, user, USER_ROOMS_READ_AT_LOGIN).await {
                Ok(rooms) => rooms,
                Err(error) => {
                    tracing::error!(%error, user = %user, "rooms: cannot read the user's rooms");
                    return;
                }
            };
            let mut maps = self.maps();
            if maps.epochs.get(&key).copied().unwrap_or(0) != epoch {
                // A join or leave of this user committed meanwhile: read again.
                continue;
            }
            if rooms.is_empty()
                && let Some(members) = &mut maps.may_be_members
            {
                // In no room as of the read, and no join since (the epoch): the next login of
                // this user reads nothing, until a change puts them in one.
                members.remove(&key);
            }
            let sessions = self.delivery.connections_of(app.id, user);
            for room_id in rooms {
                let live = self.ensure(&mut maps, state, app, room_id);
                live.attach(user, sessions.clone());
                maps.user_rooms.entry(key.clone()).or_default().insert(room_id);
                maps.absent.remove(&((app.id, room_id), user.clone()));
            }
            return;
        }
        tracing::warn!(user = %user, "rooms: the user's rooms kept changing during login");
    }

    /// A session of `user` ended (after it left the hub): when it was the user's last, their absence
    /// starts in every room they are in.
    pub fn session_offline(&self, app_id: i64, user: &UserName, session_id: SessionId) {
        let key = (app_id, user.clone());
        let mut maps = self.maps();
        let rooms: Vec<RoomId> = maps.user_rooms.get(&key).map(|r| r.iter().copied().collect()).unwrap_or_default();
        for room in &rooms {
            if let Some(live) = maps.rooms.get(&(app_id, *room)) {
                live.detach_session(user, session_id);
            }
        }
        if self.delivery.connections_of(app_id, user).is_empty() {
            let deadline = Instant::now() + self.grace;
            for room in rooms {
                maps.absent.insert(((app_id, room), user.clone()), deadline);
            }
            maps.user_rooms.remove(&key);
            maps.epochs.remove(&key);
        }
    }

    /// Whether a login of `user` reads their rooms (they may be in one; see `Maps::may_be_members`).
    pub fn may_be_member(&self, app_id: i64, user: &UserName) -> bool {
        self.maps().may_be_member(&(app_id, user.clone()))
    }

    /// The rooms an online user is in.
    pub fn rooms_of(&self, app_id: i64, user: &UserName) -> Vec<RoomId> {
        self.maps().user_rooms.get(&(app_id, user.clone())).map(|r| r.iter().copied().collect()).unwrap_or_default()
    }

    // -------------------------------------------------------------------- websocket join and leave

    /// Joins `user` to the room from their connection `session_id`; on success the ack (with
    /// `chatroomInfo`) and the room's recent messages have been sent to that connection.
    pub async fn join(
        &self,
        state: &Services,
        app: &AppRecord,
        user: &UserName,
        session_id: SessionId,
        room_id: RoomId,
        meta_id: u64,
        ext: String,
    ) -> Result<(), ApiError> {
        let live = self.live(state, app, room_id);
        let (reply, answer) = oneshot::channel();
        let op = PresenceOp::Join { user: user.clone(), session_id, meta_id, ext, reply };
        submit(&live, op, answer, room_id).await
    }

    /// Takes `user` out of the room.
    pub async fn leave(
        &self,
        state: &Services,
        app: &AppRecord,
        user: &UserName,
        room_id: RoomId,
    ) -> Result<(), ApiError> {
        let live = self.live(state, app, room_id);
        let (reply, answer) = oneshot::channel();
        submit(&live, PresenceOp::Leave { user: user.clone(), reply }, answer, room_id).await
    }

    /// A websocket join committed: attaches the user's sessions and greets the joiner.
    fn joined(
        &self,
        _state: &Services,
        live: &Arc<LiveRoom>,
        user: &UserName,
        session_id: u64,
        meta_id: u64,
        info: JoinInfo,
    ) {
        let key = (live.app_id, user.clone());
        let mut maps = self.maps();
        let sessions = self.delivery.connections_of(live.app_id, user);
        if sessions.is_empty() {
            // The joiner went away meanwhile: they are in the room, and away.
            live.abandon_join(user);
            maps.absent.insert(((live.app_id, live.room_id), user.clone()), Instant::now() + self.grace);
            return;
        }
        Self::bump(&mut maps, &key);
        maps.user_rooms.entry(key).or_default().insert(live.room_id);
        maps.absent.remove(&((live.app_id, live.room_id), user.clone()));
        let ack = msync::join_ack(&live.app_key, live.room_id, user.as_str(), meta_id, info, crate::ids::now_ms());
        let joiner = sessions.iter().find(|s| s.session_id() == session_id).cloned();
        live.greet(user, sessions, |ring| {
            if let Some(joiner) = &joiner {
                joiner.push(ack);
                if let Some(frame) = live.ring_frame(ring, |id| joiner.has_sent(id)) {
                    joiner.push(frame);
                }
            }
        });
    }

    /// A room that turned out not to exist is forgotten (if nobody is in it here).
    fn forget_if_gone(&self, live: &Arc<LiveRoom>) {
        if live.members_online() > 0 {
            return;
        }
        let mut maps = self.maps();
        let key = (live.app_id, live.room_id);
        maps.sleeping_rings.remove(&key);
        if maps.rooms.get(&key).is_some_and(|known| Arc::ptr_eq(known, live)) {
            maps.rooms.remove(&key);
            maps.absent.retain(|(room, _), _| room != &key);
            drop(maps);
            live.close();
        }
    }

    // -------------------------------------------------------------------- absences

    /// Members whose grace period ended by `now`, taken off the absence list.
    fn expired(&self, now: Instant) -> Vec<(Arc<LiveRoom>, UserName)> {
        let mut maps = self.maps();
        let due: Vec<(RoomKey, UserName)> =
            maps.absent.iter().filter(|(_, deadline)| **deadline <= now).map(|(key, _)| key.clone()).collect();
        let mut expired = Vec::with_capacity(due.len());
        for key in due {
            maps.absent.remove(&key);
            if let Some(live) = maps.rooms.get(&key.0) {
                expired.push((live.clone(), key.1));
            }
        }
        expired
    }

    /// Puts to sleep the rooms that nobody has been in (online or away) for `idle`: their
    /// flusher and presence actor end and their state goes; their recent messages are kept
    /// (in `sleeping_rings`) for the room's next wake-up, which any use of the room brings.
    /// Only a room nobody else holds right now is put to sleep (its map entry and its two
    /// tasks are the only holders), so no send or join in flight meets a closed room.
    fn sleep_idle_rooms(&self) {
        /// The map's entry, the flusher and the presence actor.
        const IDLE_HOLDERS: usize = 3;
        let mut maps = self.maps();
        let Maps { rooms, absent, sleeping_rings, .. } = &mut *maps;
        let away: HashSet<RoomKey> = absent.keys().map(|(room, _)| *room).collect();
        rooms.retain(|key, live| {
            let idle_for = live.idle_for(!away.contains(key));
            if idle_for < self.idle || Arc::strong_count(live) > IDLE_HOLDERS {
                return true;
            }
            let ring = live.sleep();
            if !ring.is_empty() {
                sleeping_rings.insert(*key, ring);
            }
            false
        });
    }

    /// Rooms held in memory (awake), for tests and metrics.
    pub fn rooms_awake(&self) -> usize {
        self.maps().rooms.len()
    }

    /// Members away right now (for tests and metrics).
    pub fn absent_count(&self) -> usize {
        self.maps().absent.len()
    }

    // -------------------------------------------------------------------- counters

    /// Every known room's counters, by app and room.
    pub fn stats(&self) -> Vec<RoomStats> {
        let rooms: Vec<Arc<LiveRoom>> = self.maps().rooms.values().cloned().collect();
        let mut stats: Vec<RoomStats> = rooms.iter().map(|live| live.stats()).collect();
        stats.sort_by(|a, b| (&a.app_key, a.room_id).cmp(&(&b.app_key, b.room_id)));
        stats
    }

    /// One room's counters, if the realtime layer knows the room.
    pub fn room_stats(&self, app_id: i64, room_id: RoomId) -> Option<RoomStats> {
        let live = self.maps().rooms.get(&(app_id, room_id)).cloned();
        live.map(|live| live.stats())
    }
}

/// Hands `op` to the room's actor and waits for its answer.
async fn submit(
    live: &LiveRoom,
    op: PresenceOp,
    answer: oneshot::Receiver<Result<(), ApiError>>,
    room_id: RoomId,
) -> Result<(), ApiError> {
    let Some(actor) = live.presence_sender() else { return Err(room_not_found(room_id)) };
    actor.send(op).await.map_err(|_| room_not_found(room_id))?;
    answer.await.unwrap_or_else(|_| Err(ApiError::new(ErrorCode::Internal, "internal error")))
}

/// Ends absences as their grace periods run out, and puts idle rooms to sleep.
async fn sweep(state: Services, tick: Duration) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let sleep_check_every = (state.rooms.idle / 10).clamp(tick, Duration::from_secs(10));
    let mut last_sleep_check = Instant::now();
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            () = state.lifecycle.stopping() => return,
        }
        if last_sleep_check.elapsed() >= sleep_check_every {
            last_sleep_check = Instant::now();
            state.rooms.sleep_idle_rooms();
        }
        for (live, user) in state.rooms.expired(Instant::now()) {
            if let Some(actor) = live.presence_sender() {
                let _ = actor.send(PresenceOp::Expire { user }).await;
            }
        }
    }
}
