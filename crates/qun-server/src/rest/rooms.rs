//! Chat rooms over REST (agora-chat-api.md §3, and the SDK's variants in sdk-behaviour.md §3):
//! super admins, lifecycle and lists, and custom attributes here; members, admins, the
//! blocklist, allowlist, mutes, mute-all, the announcement and details are the calls rooms
//! share with groups (`rest::venue`), routed for [`Room`], whose [`RestVenue`] impl closes this
//! file.
//!
//! Changes go through `services::rooms::change_room`; attribute changes, which need the room's
//! current attributes, through `change_room_with`. Each change's events are published by the
//! service for the realtime layer; handlers only answer the request.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use qun_core::limits;
use qun_core::room::{AttributePlan, plan_attribute_removal, plan_attribute_set};
use qun_core::rules::{Denial, RoomAction};
use qun_core::{RoomId, RoomOperation, RoomSettings, UserName};
use qun_proto::rest::rooms::{
    CreateRoom, JoinedRoom, JoinedRoomDetail, ModifyRoom, RoomAttributeKeys, RoomAttributesResult, RoomCreated,
    RoomDestroyed, RoomDetails, RoomMemberResult, RoomMembersAdded, RoomModified, RoomSummary, SetRoomAttributes,
    SuperAdminAdded, SuperAdminBody, SuperAdminRemoved,
};
use qun_proto::rest::venue::{Affiliation, InChatroom, SharedDetails};
use qun_proto::{ApiError, ErrorCode};
use qun_store::{MemberPage, RoomAttributeRecord, RoomMemberRecord, RoomMutation, RoomRecord, StoreError};

use super::paging::{self, Page};
use super::venue::input::{founders, maxusers, modification, required};
use super::venue::{
    BatchDecision, Counted, MemberRows, RestVenue, UserCall, UserOutcome, UserSegment, VenueAction, VenueCall,
    VenueList, VenueScene, venue_service,
};
use crate::http::{Ctx, HttpError, JsonBody};
use crate::services::rooms::{
    self as service, PlannedRoomEvent, RoomDecision, RoomScene, change_room, change_room_with, enter, has_room_for,
    leave, load_room_scene, parse_room_id, settings_error,
};
use crate::services::user_not_found;
use crate::services::{parse_user, store_error};
use crate::state::AppState;

/// Members listed in a room's details at most (newest first; `affiliations_count` has them all).
const DETAILS_MAX_AFFILIATIONS: u32 = 1000;

// ------------------------------------------------------------------------ super admins

/// `POST /chatrooms/super_admin {superadmin}` (app token).
pub(crate) async fn super_admin_add(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(body): JsonBody<SuperAdminBody>,
) -> Result<Response, HttpError> {
    ctx.require_app_admin()?;
    let user = parse_user(&required("superadmin", body.superadmin)?)?;
    match state.store.add_room_super_admin(ctx.app.id, &user, crate::ids::now_ms() as i64).await {
        Ok(_) => Ok(ctx.data(SuperAdminAdded { result: "success".into(), resource: String::new() })),
        Err(StoreError::NotFound) => Err(user_not_found(&user).into()),
        Err(other) => Err(other.into()),
    }
}

/// `GET /chatrooms/super_admin?pagenum=&pagesize=` (app token): newest first.
pub(crate) async fn super_admin_list(State(state): State<AppState>, ctx: Ctx) -> Result<Response, HttpError> {
    ctx.require_app_admin()?;
    let (offset, size) = paging::numbered_page(&ctx, 10, 1000)?;
    let (names, total) = state.store.room_super_admins(ctx.app.id, offset, size).await?;
    let names: Vec<String> = names.into_iter().map(String::from).collect();
    Ok(paging::listed(&ctx, names, None, Some(total)))
}

/// `DELETE /chatrooms/super_admin/{u}` (app token).
pub(crate) async fn super_admin_remove(
    State(state): State<AppState>,
    ctx: Ctx,
    UserSegment(user): UserSegment,
) -> Result<Response, HttpError> {
    ctx.require_app_admin()?;
    let user = parse_user(&user)?;
    if !state.store.remove_room_super_admin(ctx.app.id, &user).await? {
        return Err(HttpError::new(ErrorCode::ResourceNotFound, format!("user {user} is not a chatroom super admin")));
    }
    Ok(ctx.data(SuperAdminRemoved { new_super_admin: user.to_string(), resource: String::new() }))
}

// ------------------------------------------------------------------------ lifecycle

/// `POST /chatrooms`: `name` and `description` required; from a client, super admins only.
pub(crate) async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(body): JsonBody<CreateRoom>,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?;
    let name = required("name", body.name)?;
    let description = required("description", body.description)?;
    let (owner, members) = founders(caller, body.owner.as_deref(), body.members)?;
    let max_users = body.maxusers.map(maxusers).transpose()?;
    let request =
        service::CreateRoom { owner, name, description, max_users, custom: body.custom.unwrap_or_default(), members };
    let room_id = service::create(&state, &ctx.app, caller, request).await?;
    Ok(ctx.data(RoomCreated { id: room_id.to_string() }))
}

/// `GET /chatrooms?limit=&cursor=` (newest created first), or `?pagenum=&pagesize=` as the
/// SDK's `getChatRooms` asks. Any authenticated caller: rooms are public.
pub(crate) async fn list(State(state): State<AppState>, ctx: Ctx) -> Result<Response, HttpError> {
    ctx.caller()?;
    let paged = ctx.param("pagenum").is_some() || ctx.param("pagesize").is_some();
    let (rooms, cursor) = if paged {
        let (offset, size) = paging::numbered_page(&ctx, 10, 1000)?;
        (state.store.rooms_page(ctx.app.id, None, offset, size).await?, None)
    } else {
        let limit = ctx.number_param("limit", 10, 1..=100)?;
        let before = paging::cursor_param(&ctx, |cursor| RoomId::parse(cursor).ok())?;
        let rooms = state.store.rooms_page(ctx.app.id, before, 0, limit + 1).await?;
        paging::cut(rooms, limit, |room| room.id.to_string())
    };
    let summaries: Vec<RoomSummary> = rooms
        .iter()
        .map(|room| RoomSummary {
            id: room.id.to_string(),
            name: room.settings.name.clone(),
            owner: room.owner.to_string(),
            affiliations_count: room.member_count,
            disabled: false,
        })
        .collect();
    Ok(paging::listed(&ctx, summaries, cursor, None))
}

/// `PUT /chatrooms/{id}`: only `name` (or the SDK's `groupname`), `description` and `maxusers`.
pub(crate) async fn modify(
    VenueCall { state, ctx, id: room_id }: VenueCall<Room>,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?;
    let request: ModifyRoom = modification(body, ModifyRoom::FIELDS)?;
    let max_users = request.maxusers.map(maxusers).transpose()?;
    let plan_limit = ctx.app.settings.plan.room_member_limit();
    let changed = change_room(&state, &ctx.app, caller, room_id, &[], |scene| {
        scene.authorize(RoomAction::UpdateInfo, None)?;
        let mut settings = scene.room().settings.clone();
        let mut changed = RoomModified::default();
        if let Some(name) = &request.name {
            settings.name = name.clone();
            changed.groupname = true;
        }
        if let Some(description) = &request.description {
            settings.description = description.clone();
            changed.description = true;
        }
        if let Some(max_users) = max_users {
            if max_users < scene.room().member_count {
                return Err(ApiError::new(ErrorCode::ExceedLimit, "maxusers is below the current member count"));
            }
            settings.max_users = max_users;
            changed.maxusers = true;
        }
        settings.validate(plan_limit).map_err(settings_error)?;
        let mut decision = RoomDecision::new(changed);
        scene.update_settings(&mut decision, settings);
        Ok(decision)
    })
    .await?;
    Ok(ctx.data(changed))
}

/// `DELETE /chatrooms/{id}[?version=v3]`: the owner (or the app); everyone in it hears `destroy`.
pub(crate) async fn destroy(VenueCall { state, ctx, id: room_id }: VenueCall<Room>) -> Result<Response, HttpError> {
    change_room(&state, &ctx.app, ctx.caller()?, room_id, &[], |scene| {
        scene.authorize(RoomAction::Destroy, None)?;
        Ok(RoomDecision {
            mutations: vec![RoomMutation::Destroy],
            events: vec![PlannedRoomEvent::new(RoomOperation::Destroy, scene.actor_label(), Vec::new())],
            output: (),
        })
    })
    .await?;
    tracing::info!(room_id = %room_id, "chatroom destroyed");
    Ok(ctx.data(RoomDestroyed { success: true, id: room_id.to_string() }))
}

// ------------------------------------------------------------------------ custom attributes

/// `PUT /metadata/chatroom/{id}/user/{u}`: sets `{u}`'s keys; others' keys are refused. With
/// `/forced` (`FORCED`), may overwrite others' keys (owner and admins).
pub(crate) async fn set_attributes<const FORCED: bool>(
    call: VenueCall<Room>,
    UserSegment(user): UserSegment,
    JsonBody(body): JsonBody<SetRoomAttributes>,
) -> Result<Response, HttpError> {
    let setter = attribute_owner(&call.ctx, &user)?;
    let changes = required("metaData", body.metadata)?;
    if changes.is_empty() || changes.len() > limits::ROOM_ATTRS_PER_CALL {
        return Err(HttpError::new(ErrorCode::MetadataError, "set 1 to 10 attributes at a time"));
    }
    let auto_delete = match body.auto_delete.as_deref() {
        None | Some("DELETE") => true,
        Some("NO_DELETE") => false,
        Some(other) => {
            return Err(HttpError::new(
                ErrorCode::InvalidParameter,
                format!("autoDelete must be DELETE or NO_DELETE, not {other:?}"),
            ));
        }
    };
    change_attributes(&call, &setter, FORCED, AttributeCall::Set { changes, auto_delete }).await
}

/// `DELETE /metadata/chatroom/{id}/user/{u} {keys}`: removes `{u}`'s own keys. With `/forced`
/// (`FORCED`), any keys (owner and admins).
pub(crate) async fn remove_attributes<const FORCED: bool>(
    call: VenueCall<Room>,
    UserSegment(user): UserSegment,
    JsonBody(body): JsonBody<RoomAttributeKeys>,
) -> Result<Response, HttpError> {
    let remover = attribute_owner(&call.ctx, &user)?;
    let mut keys = required("keys", body.keys)?;
    keys.sort();
    keys.dedup();
    if keys.is_empty() || keys.len() > limits::ROOM_ATTRS_PER_CALL {
        return Err(HttpError::new(ErrorCode::MetadataError, "remove 1 to 10 attributes at a time"));
    }
    change_attributes(&call, &remover, FORCED, AttributeCall::Remove { keys }).await
}

/// What a custom attribute call asks: to set keys, or to remove them.
enum AttributeCall {
    Set { changes: BTreeMap<String, String>, auto_delete: bool },
    Remove { keys: Vec<String> },
}

impl AttributeCall {
    /// The action the rules check, and the event the accepted keys make.
    fn action_and_event(&self, forced: bool) -> (RoomAction, RoomOperation) {
        match self {
            AttributeCall::Set { .. } => (RoomAction::SetAttributes { forced }, RoomOperation::SetMetadata),
            AttributeCall::Remove { .. } => (RoomAction::RemoveAttributes { forced }, RoomOperation::DeleteMetadata),
        }
    }

    /// Key by key, whether `acting` may, given who set each key now.
    fn plan(&self, owners: &BTreeMap<String, UserName>, acting: &UserName, forced: bool) -> AttributePlan {
        match self {
            AttributeCall::Set { changes, .. } => plan_attribute_set(owners, acting, changes, forced),
            AttributeCall::Remove { keys } => plan_attribute_removal(owners, acting, keys, forced),
        }
    }

    fn mutation(&self, acting: &UserName, accepted: &BTreeMap<String, String>) -> RoomMutation {
        match self {
            AttributeCall::Set { auto_delete, .. } => RoomMutation::SetAttributes {
                owner: acting.clone(),
                auto_delete: *auto_delete,
                attributes: accepted.clone().into_iter().collect(),
            },
            AttributeCall::Remove { .. } => RoomMutation::DeleteAttributes { keys: accepted.keys().cloned().collect() },
        }
    }
}

/// Changes custom attributes as `acting`: once the rules allow the call, its plan decides key
/// by key, and the keys it accepts are changed and told, in one event, to everyone in the
/// room. The reply says key by key.
async fn change_attributes(
    call: &VenueCall<Room>,
    acting: &UserName,
    forced: bool,
    asked: AttributeCall,
) -> Result<Response, HttpError> {
    let (state, app) = (&call.state, &call.ctx.app);
    let (action, operation) = asked.action_and_event(forced);
    let result = change_room_with(
        state,
        app,
        call.ctx.caller()?,
        call.id,
        &[],
        || current_attributes(state, app.id, call.id),
        |scene, current| {
            scene.authorize(action, None)?;
            let plan = asked.plan(&owners(current), acting, forced);
            let mut decision = RoomDecision::new(attribute_result(&plan));
            if !plan.accepted.is_empty() {
                decision.mutations.push(asked.mutation(acting, &plan.accepted));
                let event = PlannedRoomEvent::new(operation, acting.to_string(), Vec::new());
                decision.events.push(event.attributes(plan.accepted));
            }
            Ok(decision)
        },
    )
    .await?;
    Ok(call.ctx.data(result))
}

/// `POST /metadata/chatroom/{id} {keys}` → `{k: v}`: the keys named, or all (members).
pub(crate) async fn attributes(
    call: VenueCall<Room>,
    JsonBody(body): JsonBody<RoomAttributeKeys>,
) -> Result<Response, HttpError> {
    call.readable(VenueAction::ReadContent).await?;
    let VenueCall { state, ctx, id: room_id } = call;
    let keys = body.keys.unwrap_or_default();
    let found = state.store.room_attributes(ctx.app.id, room_id, &keys).await?;
    let values: BTreeMap<String, String> = found.into_iter().map(|a| (a.key, a.value)).collect();
    Ok(ctx.data(values))
}

/// Whom an attribute call acts as: a user acts as themself only; the app as whoever the path
/// names (Agora's server SDK uses `admin`).
fn attribute_owner(ctx: &Ctx, user: &str) -> Result<UserName, HttpError> {
    ctx.caller()?;
    let acting_as = parse_user(user)?;
    ctx.require_self_or_admin(&acting_as)?;
    Ok(acting_as)
}

async fn current_attributes(
    state: &AppState,
    app_id: i64,
    room_id: RoomId,
) -> Result<Vec<RoomAttributeRecord>, ApiError> {
    state.store.room_attributes(app_id, room_id, &[]).await.map_err(store_error)
}

fn owners(current: &[RoomAttributeRecord]) -> BTreeMap<String, UserName> {
    current.iter().map(|a| (a.key.clone(), a.owner.clone())).collect()
}

fn attribute_result(plan: &AttributePlan) -> RoomAttributesResult {
    RoomAttributesResult {
        success_keys: plan.accepted.keys().cloned().collect(),
        error_keys: plan.refused.iter().map(|(key, refusal)| (key.clone(), refusal.to_string())).collect(),
    }
}

// ------------------------------------------------------------------------ the venue

/// Chat rooms as a [`RestVenue`]: the calls they share with groups are routed with `::<Room>`.
#[derive(Debug)]
pub(crate) enum Room {}

venue_service! {
    Room {
        id: RoomId,
        parse: parse_room_id,
        load: load_room_scene,
        change: change_room,
        scene: RoomScene,
        record: room,
        decision: RoomDecision,
        event: PlannedRoomEvent,
        mutation: RoomMutation,
        operation: RoomOperation,
        action: RoomAction,
        settings: RoomSettings,
        set_admin: |user, admin| RoomMutation::SetAdmin { user, admin },
        allowlisted: |scene: &RoomScene, user| scene.user(user).allowlisted,
    }
}

impl RestVenue for Room {
    const COLLECTION: &'static str = "chatrooms";
    const ID_PARAM: &'static str = "room";
    const NOUN: &'static str = "chatroom";

    async fn names(call: &VenueCall<Room>, list: VenueList) -> Result<Vec<UserName>, HttpError> {
        let (store, app_id, room_id) = (&call.state.store, call.ctx.app.id, call.id);
        let names = match list {
            VenueList::Admins => store.room_admins(app_id, room_id).await,
            VenueList::Blocklist => store.room_blocklist(app_id, room_id).await,
            VenueList::Allowlist => store.room_allowlist(app_id, room_id).await,
        };
        Ok(names?)
    }

    async fn mutes(call: &VenueCall<Room>, now: i64) -> Result<Vec<(UserName, i64)>, HttpError> {
        Ok(call.state.store.room_mute_list(call.ctx.app.id, call.id, now).await?)
    }

    const MEMBERS_LIMIT: u32 = 50;
    const MEMBERS_PAGE_SIZE: u32 = 1000;

    /// The SDK's `getChatRoomMembers` asks with `cursor`/`limit` (or `version=v3`);
    /// `listChatRoomMembers` with pages.
    fn member_cursor_mode(ctx: &Ctx) -> bool {
        ["cursor", "limit"].iter().any(|name| ctx.param(name).is_some()) || ctx.param("version") == Some("v3")
    }

    /// The owner is listed as the owner whether or not in the room's snapshot.
    async fn member_page(call: &VenueCall<Room>, scene: &RoomScene, page: MemberPage) -> Result<MemberRows, HttpError> {
        let members = call.state.store.room_members_page(call.ctx.app.id, call.id, page).await?;
        let with_joined_time = call.ctx.flag_param("joined_time");
        Ok(members.iter().map(|m| (m.join_order, affiliation(scene.room(), m, with_joined_time))).collect())
    }

    type Details = RoomDetails;

    type Joined = JoinedRoom;
    const JOINED_PAGE_SIZE: (u32, u32) = (1000, 1000);

    /// With the details too when the call asks `detail=true`.
    async fn joined(call: &UserCall, (offset, size): Page) -> Result<Counted<JoinedRoom>, HttpError> {
        let with_detail = call.ctx.flag_param("detail");
        let (rooms, total) = call.state.store.user_rooms(call.ctx.app.id, &call.user, offset, size).await?;
        let joined = rooms
            .iter()
            .map(|(room, _)| JoinedRoom {
                id: room.id.to_string(),
                name: room.settings.name.clone(),
                detail: with_detail.then(|| JoinedRoomDetail {
                    description: room.settings.description.clone(),
                    owner: room.owner.to_string(),
                    maxusers: room.settings.max_users,
                    created: room.created_ms,
                    affiliations_count: room.member_count,
                    mute: room.mute_all,
                }),
            })
            .collect();
        Ok((joined, Some(total)))
    }

    /// With the newest 1,000 members at most.
    async fn details(state: &AppState, ctx: &Ctx, room_id: RoomId) -> Result<RoomDetails, HttpError> {
        let scene = load_room_scene(state, &ctx.app, ctx.caller()?, room_id, &[]).await?;
        scene.authorize(RoomAction::ReadInfo, None)?;
        let limit = scene.room().member_count.clamp(1, DETAILS_MAX_AFFILIATIONS);
        let page = MemberPage::After { join_order: None, limit };
        let members = state.store.room_members_page(ctx.app.id, room_id, page).await?;
        Ok(room_details(scene.room(), &members, ctx.flag_param("joined_time")))
    }

    fn add(scene: &RoomScene, state: &AppState, decision: &mut BatchDecision<Room>, user: &UserName) -> UserOutcome {
        let entering = decision.mutations.iter().filter(|m| matches!(m, RoomMutation::AddMember { .. })).count();
        if !has_room_for(scene, entering) {
            return Err(ApiError::new(ErrorCode::ExceedLimit, "the chatroom is full (maxusers)"));
        }
        enter(state, decision, user, "");
        Ok(0)
    }

    /// The owner and admins stand by role; only someone in the room can be taken out of it.
    fn kick(scene: &RoomScene, decision: &mut BatchDecision<Room>, user: &UserName) -> UserOutcome {
        if !scene.present(user) {
            return Err(scene.denial(Denial::TargetNotMember, Some(user)));
        }
        leave(scene, decision, user, true);
        Ok(0)
    }

    const REMOVE_MAX: usize = limits::ROOM_REMOVE_MEMBERS_MAX;

    /// Blocking takes the user out of the room (they hear `removeMember`) and off the admins
    /// and the allowlist; their mute stays. An outsider may be blocked before they come in.
    fn block(scene: &RoomScene, decision: &mut BatchDecision<Room>, user: &UserName) -> UserOutcome {
        let standing = scene.user(user);
        if standing.present() {
            leave(scene, decision, user, true);
        }
        if standing.admin {
            decision.mutations.push(RoomMutation::SetAdmin { user: user.clone(), admin: false });
        }
        if standing.allowlisted {
            decision.mutations.push(RoomMutation::SetAllowlisted { user: user.clone(), allowlisted: false });
        }
        decision.mutations.push(RoomMutation::Blocklist { user: user.clone() });
        Ok(0)
    }

    type ListKey = InChatroom;

    fn list_key(room_id: RoomId) -> InChatroom {
        InChatroom { chatroomid: room_id.to_string() }
    }

    type MemberOutcome = RoomMemberResult;

    /// `{result, action, id, user, reason?}`: rooms name themselves `id` here.
    fn member_outcome(room_id: RoomId, action: &str, user: &UserName, refusal: Option<String>) -> RoomMemberResult {
        RoomMemberResult {
            result: refusal.is_none(),
            action: action.to_owned(),
            id: room_id.to_string(),
            user: user.to_string(),
            reason: refusal,
        }
    }

    type MembersAdded = RoomMembersAdded;

    fn members_added(room_id: RoomId, added: Vec<String>) -> RoomMembersAdded {
        RoomMembersAdded { newmembers: added, action: "add_member".into(), id: room_id.to_string() }
    }
}

fn room_details(room: &RoomRecord, members: &[RoomMemberRecord], with_joined_time: bool) -> RoomDetails {
    RoomDetails {
        id: room.id.to_string(),
        name: room.settings.name.clone(),
        shared: SharedDetails {
            description: room.settings.description.clone(),
            membersonly: false,
            allowinvites: false,
            invite_need_confirm: false,
            maxusers: room.settings.max_users,
            owner: room.owner.to_string(),
            created: room.created_ms,
            custom: room.settings.custom.clone(),
            mute: room.mute_all,
            affiliations_count: room.member_count,
        },
        affiliations: members.iter().map(|m| affiliation(room, m, with_joined_time)).collect(),
        public: true,
    }
}

/// `{"owner": u}` for the owner, `{"member": u}` for everyone else in the room.
fn affiliation(room: &RoomRecord, member: &RoomMemberRecord, with_joined_time: bool) -> Affiliation {
    let name = Some(member.user.to_string());
    let (owner, member_name) = if member.user == room.owner { (name, None) } else { (None, name) };
    Affiliation { owner, member: member_name, joined_time: with_joined_time.then_some(member.joined_ms) }
}
