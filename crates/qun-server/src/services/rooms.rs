//! Chat room operations. Every change follows one path, [`change_room`]: read a snapshot of the
//! room and the users involved, decide with `qun_core::rules::authorize_room`, and commit the
//! mutations in one transaction guarded by the room's version (re-deciding on conflict) — the
//! groups' path, with one difference:
//!
//! Rooms have no offline store, so room events are never stored. A committed change's events,
//! their receivers resolved from Agora's chat room table (agora-chat-api.md §5), go with the
//! change to the room runtime (`state.rooms`, `RoomRuntime::committed`), which delivers them
//! live to whoever is online in the room. A change that
//! fails commits nothing and sends nothing.
//!
//! Presence (who is in the room) is held apart from roles: see `qun_core::room`.

use std::collections::BTreeMap;

use qun_core::room::default_room_max_users;
use qun_core::rules::{self, RoomAction, Subject};
use qun_core::{
    RoomAudience, RoomAudienceRule, RoomEvent, RoomFlags, RoomId, RoomOperation, RoomSettings, Standing, UserName,
    limits,
};
use qun_proto::{ApiError, ErrorCode};
use qun_store::{AppRecord, NewRoom, RoomChange, RoomMutation, RoomRecord, RoomSnapshot, StoreError, UserInRoom};

use crate::ids::now_ms;
use crate::services::venue::{self, CountChange, Venue};
use crate::services::{Caller, Services, VenueKind, denial_error_in, store_error, user_not_found};

// ------------------------------------------------------------------------ the events

/// A committed room event on its way to the users who must hear of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomEventNotice {
    pub app_id: i64,
    /// Server id (snowflake), for the msync meta.
    pub id: u64,
    pub audience: RoomAudience,
    pub event: RoomEvent,
}

// ------------------------------------------------------------------------ the change path

/// The shared scene ([`venue::Scene`]) of a chat room.
pub type RoomScene = venue::Scene<RoomVenue>;
/// The shared decision ([`venue::Decision`]) of a room change.
pub type RoomDecision<T> = venue::Decision<RoomVenue, T>;

/// Chat rooms, for the shared change path: events are not stored; the committed change and
/// its events go to the room runtime, which follows it in memory and delivers them live.
#[derive(Debug)]
pub enum RoomVenue {}

impl Venue for RoomVenue {
    const KIND: VenueKind = VenueKind::Room;
    type Id = RoomId;
    type Snapshot = RoomSnapshot;
    type User = UserInRoom;
    type Mutation = RoomMutation;
    type Event = PlannedRoomEvent;
    type Applied = ();

    fn count_change(mutation: &RoomMutation) -> CountChange {
        match mutation {
            RoomMutation::AddMember { .. } => CountChange::Joined,
            RoomMutation::RemoveMember { .. } => CountChange::Left,
            RoomMutation::Destroy => CountChange::Emptied,
            _ => CountChange::Same,
        }
    }

    fn snapshot_user<'s>(snapshot: &'s RoomSnapshot, name: &UserName) -> Option<&'s UserInRoom> {
        snapshot.user(name)
    }

    fn version(snapshot: &RoomSnapshot) -> i64 {
        snapshot.room.version
    }

    fn not_found(id: RoomId) -> ApiError {
        room_not_found(id)
    }

    fn unchanged(_scene: &RoomScene) {}

    async fn current_version(state: &Services, app: &AppRecord, id: RoomId) -> Result<Option<i64>, ApiError> {
        let rooms = state.store.rooms(app.id, &[id]).await.map_err(store_error)?;
        Ok(rooms.first().map(|room| room.version))
    }

    async fn load_for_change(
        state: &Services,
        app: &AppRecord,
        caller: &Caller,
        id: RoomId,
        users: &[UserName],
    ) -> Result<RoomScene, ApiError> {
        load_room_scene(state, app, caller, id, users).await
    }

    async fn commit<T>(
        state: &Services,
        app: &AppRecord,
        scene: &RoomScene,
        decision: RoomDecision<T>,
    ) -> Result<Option<(T, ())>, ApiError> {
        let notices = resolve_events(state, app, scene, &decision);
        let room_id = scene.room_id();
        let change = RoomChange { mutations: decision.mutations, now_ms: scene.now_ms };
        match state.store.apply_room_change(app.id, room_id, scene.version(), &change).await {
            Ok(_) => {
                // The realtime layer follows the change and delivers its events.
                state.rooms.committed(state, app, room_id, &change.mutations, &notices);
                Ok(Some((decision.output, ())))
            }
            Err(StoreError::Conflict) => Ok(None),
            Err(StoreError::NotFound) => Err(room_not_found(room_id)),
            Err(other) => Err(store_error(other)),
        }
    }
}

impl RoomScene {
    pub fn room(&self) -> &RoomRecord {
        &self.snapshot.room
    }

    pub fn room_id(&self) -> RoomId {
        self.snapshot.room.id
    }

    /// In the room now.
    pub fn present(&self, name: &UserName) -> bool {
        self.user(name).present()
    }

    /// Asks the rules; a denial comes back as the error the client sees.
    pub fn authorize(&self, action: RoomAction, target: Option<&UserName>) -> Result<(), ApiError> {
        let target_standing = target.map(|t| self.standing(t));
        rules::authorize_room(self.rules_caller(), action, target_standing, self.room().flags())
            .map_err(|denial| self.denial(denial, target))
    }

    /// A denial about `target` in this room, as the client sees it.
    pub fn denial(&self, denial: rules::Denial, target: Option<&UserName>) -> ApiError {
        denial_error_in(VenueKind::Room, denial, &self.room_id().to_string(), &self.actor_label(), target)
    }
}

/// An event the operation wants to emit; receivers are resolved by its operation's rule.
#[derive(Debug, Clone)]
pub struct PlannedRoomEvent {
    pub operation: RoomOperation,
    pub from: String,
    pub to: Vec<UserName>,
    pub reason: String,
    pub attributes: BTreeMap<String, String>,
    /// A joiner's own words for memberPresence (see [`RoomEvent::ext`]).
    pub ext: String,
}

impl PlannedRoomEvent {
    pub fn new(operation: RoomOperation, from: impl Into<String>, to: Vec<UserName>) -> Self {
        PlannedRoomEvent {
            operation,
            from: from.into(),
            to,
            reason: String::new(),
            attributes: BTreeMap::new(),
            ext: String::new(),
        }
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    pub fn attributes(mut self, attributes: BTreeMap<String, String>) -> Self {
        self.attributes = attributes;
        self
    }

    pub fn ext(mut self, ext: impl Into<String>) -> Self {
        self.ext = ext.into();
        self
    }
}

/// Reads, decides and commits one room operation (see [`venue::change`]); returns the
/// decision's output.
///
/// `users` are the users `decide` will look at besides the caller.
pub async fn change_room<T>(
    state: &Services,
    app: &AppRecord,
    caller: &Caller,
    room_id: RoomId,
    users: &[UserName],
    decide: impl Fn(&RoomScene) -> Result<RoomDecision<T>, ApiError>,
) -> Result<T, ApiError> {
    Ok(venue::change(state, app, caller, room_id, users, decide).await?.0)
}

/// [`change_room`] for decisions that also need facts read outside the room snapshot (the
/// room's custom attributes): see [`venue::change_with`].
pub async fn change_room_with<Facts, T, FactsRead>(
    state: &Services,
    app: &AppRecord,
    caller: &Caller,
    room_id: RoomId,
    users: &[UserName],
    read_facts: impl Fn() -> FactsRead,
    decide: impl Fn(&RoomScene, &Facts) -> Result<RoomDecision<T>, ApiError>,
) -> Result<T, ApiError>
where
    FactsRead: std::future::Future<Output = Result<Facts, ApiError>>,
{
    venue::change_with(state, app, caller, room_id, users, read_facts, decide).await
}

/// A read-only look at a room: the snapshot for the caller and `users`.
pub async fn load_room_scene(
    state: &Services,
    app: &AppRecord,
    caller: &Caller,
    room_id: RoomId,
    users: &[UserName],
) -> Result<RoomScene, ApiError> {
    let mut asked: Vec<UserName> = users.to_vec();
    if let Caller::User(name) = caller
        && !asked.contains(name)
    {
        asked.push(name.clone());
    }
    let snapshot = state
        .store
        .room_snapshot(app.id, room_id, &asked)
        .await
        .map_err(store_error)?
        .ok_or_else(|| room_not_found(room_id))?;
    Ok(RoomScene::new(snapshot, now_ms() as i64, caller))
}

/// Turns planned events into notices with resolved receivers.
fn resolve_events<T>(
    state: &Services,
    app: &AppRecord,
    scene: &RoomScene,
    decision: &RoomDecision<T>,
) -> Vec<RoomEventNotice> {
    let member_count = venue::member_count_after::<RoomVenue>(scene.room().member_count, &decision.mutations);
    let room_name = decision
        .mutations
        .iter()
        .rev()
        .find_map(|m| match m {
            RoomMutation::UpdateSettings(settings) => Some(settings.name.clone()),
            _ => None,
        })
        .unwrap_or_else(|| scene.room().settings.name.clone());
    decision
        .events
        .iter()
        .filter_map(|planned| {
            let audience = room_audience(scene, planned)?;
            Some(RoomEventNotice {
                app_id: app.id,
                id: state.ids.next(),
                audience,
                event: RoomEvent {
                    operation: planned.operation,
                    room_id: scene.room_id(),
                    room_name: room_name.clone(),
                    from: planned.from.clone(),
                    to: planned.to.clone(),
                    reason: planned.reason.clone(),
                    attributes: planned.attributes.clone(),
                    ext: planned.ext.clone(),
                    member_count,
                    timestamp_ms: scene.now_ms,
                },
            })
        })
        .collect()
}

/// The receivers of one event, by its operation's rule (agora-chat-api.md §5, chat rooms).
/// `None` when nobody is to receive it.
pub fn room_audience(scene: &RoomScene, planned: &PlannedRoomEvent) -> Option<RoomAudience> {
    match planned.operation.audience_rule() {
        RoomAudienceRule::Members => Some(RoomAudience::Members { except: None }),
        RoomAudienceRule::MembersExceptActor => Some(RoomAudience::Members { except: scene.caller_name().cloned() }),
        RoomAudienceRule::MembersExceptSubject => Some(RoomAudience::Members { except: planned.to.first().cloned() }),
        RoomAudienceRule::Subjects => (!planned.to.is_empty()).then(|| RoomAudience::Users(planned.to.clone())),
    }
}

pub fn room_not_found(room_id: RoomId) -> ApiError {
    room_not_found_raw(&room_id.to_string())
}

fn room_not_found_raw(raw: &str) -> ApiError {
    ApiError::new(ErrorCode::GroupNotFound, format!("chatroom {raw} does not exist!"))
}

pub fn parse_room_id(raw: &str) -> Result<RoomId, ApiError> {
    RoomId::parse(raw.trim()).map_err(|_| room_not_found_raw(raw))
}

// ------------------------------------------------------------------------ entering and leaving

/// Mutations and events for `user` entering the room (the REST add, the websocket join):
/// the others hear `memberPresence`.
pub fn enter(state: &Services, decision: &mut RoomDecision<impl Sized>, user: &UserName, ext: &str) {
    decision.mutations.push(RoomMutation::AddMember { user: user.clone(), join_order: state.ids.next() as i64 });
    decision.events.push(PlannedRoomEvent::new(RoomOperation::Presence, user.to_string(), vec![user.clone()]).ext(ext));
}

/// Mutations and events for `user` leaving the room (kicked or blocked when `kicked`; also the
/// websocket leave and an expired absence): the user hears `removeMember` if kicked, the others
/// `memberAbsence`; the attributes they set with autoDelete go, and everyone hears that too.
/// `user` must be present.
pub fn leave(scene: &RoomScene, decision: &mut RoomDecision<impl Sized>, user: &UserName, kicked: bool) {
    decision.mutations.push(RoomMutation::RemoveMember { user: user.clone() });
    if kicked {
        decision.events.push(PlannedRoomEvent::new(RoomOperation::Kick, scene.actor_label(), vec![user.clone()]));
    }
    decision.events.push(PlannedRoomEvent::new(RoomOperation::Absence, user.to_string(), vec![user.clone()]));
    let keys = &scene.user(user).auto_delete_keys;
    if !keys.is_empty() {
        decision.mutations.push(RoomMutation::DeleteAttributes { keys: keys.clone() });
        let removed = keys.iter().map(|key| (key.clone(), String::new())).collect();
        decision.events.push(
            PlannedRoomEvent::new(RoomOperation::DeleteMetadata, user.to_string(), Vec::new()).attributes(removed),
        );
    }
}

/// Room left for more members, given how many the decision adds already.
pub fn has_room_for(scene: &RoomScene, decision_adds: usize) -> bool {
    (scene.room().member_count as usize + decision_adds) < scene.room().settings.max_users as usize
}

// ------------------------------------------------------------------------ create

/// A create request, its fields parsed. `max_users: None` takes the default.
#[derive(Debug)]
pub struct CreateRoom {
    pub owner: UserName,
    pub name: String,
    pub description: String,
    pub max_users: Option<u32>,
    pub custom: String,
    pub members: Vec<UserName>,
}

/// Creates a room with its owner and first members in it. From a client, only a chatroom
/// super admin may, and only a room they own. No events: nobody is in the room to hear them.
pub async fn create(
    state: &Services,
    app: &AppRecord,
    caller: &Caller,
    request: CreateRoom,
) -> Result<RoomId, ApiError> {
    let rules_caller = match caller {
        Caller::AppAdmin => rules::Caller::AppAdmin,
        Caller::User(name) => {
            if name != &request.owner {
                return Err(ApiError::new(ErrorCode::ForbiddenOp, "a user may only create chatrooms they own"));
            }
            rules::Caller::User(Subject::plain(Standing::Outsider))
        }
    };
    let super_admin = match caller {
        Caller::AppAdmin => false,
        Caller::User(name) => state.store.is_room_super_admin(app.id, name).await.map_err(store_error)?,
    };
    rules::authorize_room(rules_caller, RoomAction::Create { super_admin }, None, RoomFlags::default())
        .map_err(|denial| denial_error_in(VenueKind::Room, denial, "", caller_label(caller).as_str(), None))?;

    let plan_limit = app.settings.plan.room_member_limit();
    let settings = RoomSettings {
        name: request.name,
        description: request.description,
        max_users: request.max_users.unwrap_or_else(|| default_room_max_users(plan_limit)),
        custom: request.custom,
    };
    settings.validate(plan_limit).map_err(settings_error)?;
    let mut members: Vec<UserName> = Vec::new();
    for member in request.members {
        if member != request.owner && !members.contains(&member) {
            members.push(member);
        }
    }
    if members.len() + 1 > settings.max_users as usize {
        return Err(ApiError::new(ErrorCode::ExceedLimit, "members size is greater than max user size !"));
    }
    for name in std::iter::once(&request.owner).chain(&members) {
        if state.store.user(app.id, name).await.map_err(store_error)?.is_none() {
            return Err(user_not_found(name));
        }
    }
    let now = now_ms() as i64;
    let room_id = RoomId(state.ids.next());
    let mutations = std::iter::once(&request.owner)
        .chain(&members)
        .map(|user| RoomMutation::AddMember { user: user.clone(), join_order: state.ids.next() as i64 })
        .collect();
    let room = NewRoom { id: room_id, owner: request.owner.clone(), settings, created_ms: now };
    let change = RoomChange { mutations, now_ms: now };
    state.store.create_room(app.id, &room, &change).await.map_err(store_error)?;
    state.rooms.committed(state, app, room_id, &change.mutations, &[]);
    tracing::info!(room_id = %room_id, owner = %request.owner, members = members.len() + 1, "chatroom created");
    Ok(room_id)
}

fn caller_label(caller: &Caller) -> String {
    match caller {
        Caller::AppAdmin => "admin".to_owned(),
        Caller::User(name) => name.to_string(),
    }
}

/// A settings error as the client sees it: a size over the plan is a limit, the rest bad input.
pub fn settings_error(error: qun_core::room::RoomSettingsError) -> ApiError {
    let code = match error {
        qun_core::room::RoomSettingsError::MaxUsersOutOfRange { .. } => ErrorCode::ExceedLimit,
        _ => ErrorCode::InvalidParameter,
    };
    ApiError::new(code, error.to_string())
}

/// Checks an announcement against its limit (the groups' 512 characters).
pub fn check_announcement(text: &str) -> Result<(), ApiError> {
    if limits::chars(text) > limits::ANNOUNCEMENT_MAX_CHARS {
        return Err(ApiError::new(ErrorCode::InvalidParameter, "announcement is longer than 512 characters"));
    }
    Ok(())
}
