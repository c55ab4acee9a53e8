//! Chat rooms over REST (agora-chat-api.md §3, and the SDK's variants in sdk-behaviour.md §3):
//! super admins, lifecycle and lists, announcement, custom attributes, members, admins,
//! blocklist, allowlist, mutes and mute-all.
//!
//! Changes go through `services::rooms::change_room`; attribute changes, which need the room's
//! current attributes, through `change_room_with`. Each change's events are published by the
//! service for the realtime layer; handlers only answer the request.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use qun_core::limits::{self, BATCH_MAX, DETAILS_MAX_IDS};
use qun_core::room::{plan_attribute_removal, plan_attribute_set};
use qun_core::rules::{Denial, RoomAction};
use qun_core::{RoomId, RoomOperation, UserName};
use qun_proto::rest::groups::{
    AdminAdded, AdminRemoved, Affiliation, Announcement, AnnouncementBody, IdResult, MemberResult, MuteAllState,
    MuteMembers, MutedMember, NewAdmin, Usernames,
};
use qun_proto::rest::rooms::{
    CreateRoom, JoinedRoom, JoinedRoomDetail, ModifyRoom, RoomAttributeKeys, RoomAttributesResult, RoomCreated,
    RoomDestroyed, RoomDetails, RoomListResult, RoomMemberResult, RoomMembersAdded, RoomModified, RoomSummary,
    SetRoomAttributes, SuperAdminAdded, SuperAdminBody, SuperAdminRemoved,
};
use qun_proto::{ApiError, ErrorCode};
use qun_store::{MemberPage, RoomAttributeRecord, RoomMemberRecord, RoomMutation, RoomRecord, StoreError};
use serde_json::Value;

use super::user_lists::{BatchResults, body_users, one_or_many, path_users};
use crate::http::{Ctx, HttpError, JsonBody};
use crate::services::Caller;
use crate::services::groups::user_not_found;
use crate::services::rooms::{
    self as service, PlannedRoomEvent, RoomDecision, RoomScene, change_room, change_room_with, check_announcement,
    enter, has_room_for, leave, load_room_scene, parse_room_id, settings_error,
};
use crate::services::{parse_user, store_error};
use crate::state::AppState;

type RoomPath = Path<(String, String, String)>;
type RoomUserPath = Path<(String, String, String, String)>;
type BatchDecision = RoomDecision<BatchResults>;

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
    let raw =
        body.superadmin.ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "superadmin must be provided"))?;
    let user = parse_user(&raw)?;
    match state.store.add_room_super_admin(ctx.app.id, &user, crate::ids::now_ms() as i64).await {
        Ok(_) => Ok(ctx.data(SuperAdminAdded { result: "success".into(), resource: String::new() })),
        Err(StoreError::NotFound) => Err(user_not_found(&user).into()),
        Err(other) => Err(other.into()),
    }
}

/// `GET /chatrooms/super_admin?pagenum=&pagesize=` (app token): newest first.
pub(crate) async fn super_admin_list(State(state): State<AppState>, ctx: Ctx) -> Result<Response, HttpError> {
    ctx.require_app_admin()?;
    let size = ctx.number_param("pagesize", 10, 1..=1000)?;
    let number = ctx.number_param("pagenum", 1, 1..=1_000_000)?;
    let (names, total) = state.store.room_super_admins(ctx.app.id, (number - 1).saturating_mul(size), size).await?;
    let names: Vec<String> = names.into_iter().map(String::from).collect();
    let mut envelope = ctx.envelope::<Vec<String>, ()>(None, Vec::new());
    envelope.count = Some(names.len() as u64);
    envelope.total = Some(total);
    envelope.data = Some(names);
    Ok(Json(envelope).into_response())
}

/// `DELETE /chatrooms/super_admin/{u}` (app token).
pub(crate) async fn super_admin_remove(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user)): RoomPath,
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
    let caller = ctx.caller()?.clone();
    let name = body.name.ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "name must be provided"))?;
    let description =
        body.description.ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "description must be provided"))?;
    let owner = match (&body.owner, &caller) {
        (Some(owner), _) => parse_user(owner)?,
        (None, Caller::User(me)) => me.clone(),
        (None, Caller::AppAdmin) => return Err(HttpError::new(ErrorCode::InvalidParameter, "owner must be provided")),
    };
    let members = body.members.unwrap_or_default();
    if members.len() > 100.max(BATCH_MAX) {
        return Err(HttpError::new(ErrorCode::IllegalArgument, "at most 100 members may be named at creation"));
    }
    let members = members.iter().map(|m| parse_user(m)).collect::<Result<Vec<_>, _>>()?;
    let max_users = body.maxusers.map(maxusers).transpose()?;
    let request =
        service::CreateRoom { owner, name, description, max_users, custom: body.custom.unwrap_or_default(), members };
    let room_id = service::create(&state, &ctx.app, &caller, request).await?;
    Ok(ctx.data(RoomCreated { id: room_id.to_string() }))
}

fn maxusers(raw: i64) -> Result<u32, HttpError> {
    u32::try_from(raw).map_err(|_| HttpError::new(ErrorCode::InvalidParameter, "maxusers must be a positive number"))
}

/// `GET /chatrooms?limit=&cursor=` (newest created first), or `?pagenum=&pagesize=` as the
/// SDK's `getChatRooms` asks. Any authenticated caller: rooms are public.
pub(crate) async fn list(State(state): State<AppState>, ctx: Ctx) -> Result<Response, HttpError> {
    ctx.caller()?;
    let paged = ctx.param("pagenum").is_some() || ctx.param("pagesize").is_some();
    let (rooms, cursor) = if paged {
        let size = ctx.number_param("pagesize", 10, 1..=1000)?;
        let number = ctx.number_param("pagenum", 1, 1..=1_000_000)?;
        (state.store.rooms_page(ctx.app.id, None, (number - 1).saturating_mul(size), size).await?, None)
    } else {
        let limit = ctx.number_param("limit", 10, 1..=100)?;
        let before = match ctx.param("cursor").filter(|c| !c.is_empty()) {
            Some(cursor) => Some(
                RoomId::parse(cursor).map_err(|_| HttpError::new(ErrorCode::IllegalArgument, "cursor is not valid"))?,
            ),
            None => None,
        };
        let mut rooms = state.store.rooms_page(ctx.app.id, before, 0, limit + 1).await?;
        let more = rooms.len() > limit as usize;
        rooms.truncate(limit as usize);
        let cursor = more.then(|| rooms.last().map(|r| r.id.to_string())).flatten();
        (rooms, cursor)
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
    let mut envelope = ctx.envelope::<Vec<RoomSummary>, ()>(None, Vec::new());
    envelope.count = Some(summaries.len() as u64);
    envelope.cursor = cursor;
    envelope.data = Some(summaries);
    Ok(Json(envelope).into_response())
}

/// `GET /users/{u}/joined_chatrooms?pagenum=&pagesize=&detail=true`: the rooms the user is in,
/// newest joined first; with no paging, the 500 newest.
pub(crate) async fn joined(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user)): RoomPath,
) -> Result<Response, HttpError> {
    let user = parse_user(&user)?;
    ctx.require_self_or_admin(&user)?;
    let (offset, size) = match (ctx.param("pagenum"), ctx.param("pagesize")) {
        (None, None) => (0, 500),
        _ => {
            let size = ctx.number_param("pagesize", 1000, 1..=1000)?;
            let page = ctx.number_param("pagenum", 1, 1..=1_000_000)?;
            ((page - 1).saturating_mul(size), size)
        }
    };
    let with_detail = ctx.flag_param("detail");
    let (rooms, total) = state.store.user_rooms(ctx.app.id, &user, offset, size).await?;
    let joined: Vec<JoinedRoom> = rooms
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
    let mut envelope = ctx.envelope::<Vec<JoinedRoom>, ()>(None, Vec::new());
    envelope.count = Some(joined.len() as u64);
    envelope.total = Some(total);
    envelope.data = Some(joined);
    Ok(Json(envelope).into_response())
}

/// `GET /chatrooms/{ids}`: up to 100 ids, comma-separated.
pub(crate) async fn details(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, ids)): RoomPath,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?.clone();
    let ids: Vec<RoomId> = ids.split(',').filter(|s| !s.is_empty()).map(parse_room_id).collect::<Result<_, _>>()?;
    if ids.is_empty() || ids.len() > DETAILS_MAX_IDS {
        return Err(HttpError::new(ErrorCode::IllegalArgument, "ask for 1 to 100 chatroom ids"));
    }
    let with_joined_time = ctx.flag_param("joined_time");
    let mut details = Vec::new();
    for id in ids {
        let scene = load_room_scene(&state, &ctx.app, &caller, id, &[]).await?;
        scene.authorize(RoomAction::ReadInfo, None)?;
        let limit = scene.room().member_count.clamp(1, DETAILS_MAX_AFFILIATIONS);
        let members =
            state.store.room_members_page(ctx.app.id, id, MemberPage::After { join_order: None, limit }).await?;
        details.push(room_details(scene.room(), &members, with_joined_time));
    }
    Ok(ctx.counted(details))
}

fn room_details(room: &RoomRecord, members: &[RoomMemberRecord], with_joined_time: bool) -> RoomDetails {
    RoomDetails {
        id: room.id.to_string(),
        name: room.settings.name.clone(),
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

/// `PUT /chatrooms/{id}`: only `name` (or the SDK's `groupname`), `description` and `maxusers`.
pub(crate) async fn modify(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room)): RoomPath,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?.clone();
    let room_id = parse_room_id(&room)?;
    let Value::Object(fields) = &body else {
        return Err(HttpError::new(ErrorCode::JsonParse, "the body must be a JSON object"));
    };
    let unknown: Vec<&str> = fields.keys().map(String::as_str).filter(|k| !ModifyRoom::FIELDS.contains(k)).collect();
    if !unknown.is_empty() {
        return Err(HttpError::new(
            ErrorCode::InvalidParameter,
            format!("Some of [{}] are not valid fields", unknown.join(", ")),
        ));
    }
    let request: ModifyRoom =
        serde_json::from_value(body.clone()).map_err(|e| HttpError::new(ErrorCode::JsonParse, e.to_string()))?;
    let max_users = request.maxusers.map(maxusers).transpose()?;
    let plan_limit = ctx.app.settings.plan.room_member_limit();
    let changed = change_room(&state, &ctx.app, &caller, room_id, &[], |scene| {
        scene.authorize(RoomAction::UpdateInfo, None)?;
        let mut settings = scene.room().settings.clone();
        let mut changed = RoomModified::default();
        if let Some(name) = &request.name {
            settings.name = name.clone();
            changed.groupname = Some(true);
        }
        if let Some(description) = &request.description {
            settings.description = description.clone();
            changed.description = Some(true);
        }
        if let Some(max_users) = max_users {
            if max_users < scene.room().member_count {
                return Err(ApiError::new(ErrorCode::ExceedLimit, "maxusers is below the current member count"));
            }
            settings.max_users = max_users;
            changed.maxusers = Some(true);
        }
        settings.validate(plan_limit).map_err(settings_error)?;
        let mut decision = RoomDecision::new(changed);
        if settings != scene.room().settings {
            decision.mutations.push(RoomMutation::UpdateSettings(settings));
            decision.events.push(PlannedRoomEvent::new(RoomOperation::Update, scene.actor_label(), Vec::new()));
        }
        Ok(decision)
    })
    .await?;
    Ok(ctx.data(changed))
}

/// `DELETE /chatrooms/{id}[?version=v3]`: the owner (or the app); everyone in it hears `destroy`.
pub(crate) async fn destroy(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room)): RoomPath,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?.clone();
    let room_id = parse_room_id(&room)?;
    change_room(&state, &ctx.app, &caller, room_id, &[], |scene| {
        scene.authorize(RoomAction::Destroy, None)?;
        let mut decision = RoomDecision::new(());
        decision.events.push(PlannedRoomEvent::new(RoomOperation::Destroy, scene.actor_label(), Vec::new()));
        decision.mutations.push(RoomMutation::Destroy);
        Ok(decision)
    })
    .await?;
    tracing::info!(room_id = %room_id, "chatroom destroyed");
    Ok(ctx.data(RoomDestroyed { success: true, id: room_id.to_string() }))
}

// ------------------------------------------------------------------------ announcement

/// `GET /chatrooms/{id}/announcement` → `{announcement}`: members.
pub(crate) async fn announcement(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room)): RoomPath,
) -> Result<Response, HttpError> {
    let scene = readable_scene(&state, &ctx, &room, RoomAction::ReadContent).await?;
    Ok(ctx.data(Announcement { announcement: scene.room().announcement.clone() }))
}

/// `POST /chatrooms/{id}/announcement {announcement}` → `{id, result}`; an empty text deletes it.
pub(crate) async fn set_announcement(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room)): RoomPath,
    JsonBody(body): JsonBody<AnnouncementBody>,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?.clone();
    let room_id = parse_room_id(&room)?;
    let text = body
        .announcement
        .ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "announcement must be provided"))?;
    check_announcement(&text)?;
    let operation = if text.is_empty() { RoomOperation::DeleteAnnouncement } else { RoomOperation::UpdateAnnouncement };
    change_room(&state, &ctx.app, &caller, room_id, &[], |scene| {
        scene.authorize(RoomAction::UpdateAnnouncement, None)?;
        Ok(RoomDecision {
            mutations: vec![RoomMutation::SetAnnouncement(text.clone())],
            events: vec![PlannedRoomEvent::new(operation, scene.actor_label(), Vec::new()).reason(text.clone())],
            output: (),
        })
    })
    .await?;
    Ok(ctx.data(IdResult { id: room_id.to_string(), result: true }))
}

/// The room, after checking the caller may do `action` (a read) in it.
async fn readable_scene(state: &AppState, ctx: &Ctx, room: &str, action: RoomAction) -> Result<RoomScene, HttpError> {
    let caller = ctx.caller()?.clone();
    let room_id = parse_room_id(room)?;
    let scene = load_room_scene(state, &ctx.app, &caller, room_id, &[]).await?;
    scene.authorize(action, None)?;
    Ok(scene)
}

// ------------------------------------------------------------------------ custom attributes

/// `PUT /metadata/chatroom/{id}/user/{u}`: sets `{u}`'s keys; others' keys are refused.
pub(crate) async fn set_attributes(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room, user)): RoomUserPath,
    JsonBody(body): JsonBody<SetRoomAttributes>,
) -> Result<Response, HttpError> {
    write_attributes(state, ctx, room, user, body, false).await
}

/// `PUT /metadata/chatroom/{id}/user/{u}/forced`: may overwrite others' keys (owner and admins).
pub(crate) async fn force_set_attributes(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room, user)): RoomUserPath,
    JsonBody(body): JsonBody<SetRoomAttributes>,
) -> Result<Response, HttpError> {
    write_attributes(state, ctx, room, user, body, true).await
}

async fn write_attributes(
    state: AppState,
    ctx: Ctx,
    room: String,
    user: String,
    body: SetRoomAttributes,
    forced: bool,
) -> Result<Response, HttpError> {
    let (caller, room_id, setter) = attribute_call(&ctx, &room, &user)?;
    let changes =
        body.metadata.ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "metaData must be provided"))?;
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
    let result = change_room_with(
        &state,
        &ctx.app,
        &caller,
        room_id,
        &[],
        || current_attributes(&state, ctx.app.id, room_id),
        |scene, current| {
            scene.authorize(RoomAction::SetAttributes { forced }, None)?;
            let plan = plan_attribute_set(&owners(current), &setter, &changes, forced);
            let result = attribute_result(&plan);
            let mut decision = RoomDecision::new(result);
            if !plan.accepted.is_empty() {
                decision.mutations.push(RoomMutation::SetAttributes {
                    owner: setter.clone(),
                    auto_delete,
                    attributes: plan.accepted.clone().into_iter().collect(),
                });
                decision.events.push(
                    PlannedRoomEvent::new(RoomOperation::SetMetadata, setter.to_string(), Vec::new())
                        .attributes(plan.accepted),
                );
            }
            Ok(decision)
        },
    )
    .await?;
    Ok(ctx.data(result))
}

/// `DELETE /metadata/chatroom/{id}/user/{u} {keys}`: removes `{u}`'s own keys.
pub(crate) async fn remove_attributes(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room, user)): RoomUserPath,
    JsonBody(body): JsonBody<RoomAttributeKeys>,
) -> Result<Response, HttpError> {
    delete_attributes(state, ctx, room, user, body, false).await
}

/// `DELETE /metadata/chatroom/{id}/user/{u}/forced {keys}`: removes any keys (owner and admins).
pub(crate) async fn force_remove_attributes(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room, user)): RoomUserPath,
    JsonBody(body): JsonBody<RoomAttributeKeys>,
) -> Result<Response, HttpError> {
    delete_attributes(state, ctx, room, user, body, true).await
}

async fn delete_attributes(
    state: AppState,
    ctx: Ctx,
    room: String,
    user: String,
    body: RoomAttributeKeys,
    forced: bool,
) -> Result<Response, HttpError> {
    let (caller, room_id, remover) = attribute_call(&ctx, &room, &user)?;
    let mut keys = body.keys.ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "keys must be provided"))?;
    keys.sort();
    keys.dedup();
    if keys.is_empty() || keys.len() > limits::ROOM_ATTRS_PER_CALL {
        return Err(HttpError::new(ErrorCode::MetadataError, "remove 1 to 10 attributes at a time"));
    }
    let result = change_room_with(
        &state,
        &ctx.app,
        &caller,
        room_id,
        &[],
        || current_attributes(&state, ctx.app.id, room_id),
        |scene, current| {
            scene.authorize(RoomAction::RemoveAttributes { forced }, None)?;
            let plan = plan_attribute_removal(&owners(current), &remover, &keys, forced);
            let mut decision = RoomDecision::new(attribute_result(&plan));
            if !plan.accepted.is_empty() {
                decision
                    .mutations
                    .push(RoomMutation::DeleteAttributes { keys: plan.accepted.keys().cloned().collect() });
                decision.events.push(
                    PlannedRoomEvent::new(RoomOperation::DeleteMetadata, remover.to_string(), Vec::new())
                        .attributes(plan.accepted),
                );
            }
            Ok(decision)
        },
    )
    .await?;
    Ok(ctx.data(result))
}

/// `POST /metadata/chatroom/{id} {keys}` → `{k: v}`: the keys named, or all (members).
pub(crate) async fn attributes(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room)): RoomPath,
    JsonBody(body): JsonBody<RoomAttributeKeys>,
) -> Result<Response, HttpError> {
    let scene = readable_scene(&state, &ctx, &room, RoomAction::ReadContent).await?;
    let keys = body.keys.unwrap_or_default();
    let found = state.store.room_attributes(ctx.app.id, scene.room_id(), &keys).await?;
    let values: BTreeMap<String, String> = found.into_iter().map(|a| (a.key, a.value)).collect();
    Ok(ctx.data(values))
}

/// The caller, room and attribute owner of an attribute call. A user acts as themself only; the
/// app acts as whoever the path names (Agora's server SDK uses `admin`).
fn attribute_call(ctx: &Ctx, room: &str, user: &str) -> Result<(Caller, RoomId, UserName), HttpError> {
    let caller = ctx.caller()?.clone();
    let room_id = parse_room_id(room)?;
    let acting_as = parse_user(user)?;
    ctx.require_self_or_admin(&acting_as)?;
    Ok((caller, room_id, acting_as))
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

fn attribute_result(plan: &qun_core::room::AttributePlan) -> RoomAttributesResult {
    RoomAttributesResult {
        success_keys: plan.accepted.keys().cloned().collect(),
        error_keys: plan.refused.iter().map(|(key, refusal)| (key.clone(), refusal.to_string())).collect(),
    }
}

// ------------------------------------------------------------------------ members

/// `GET /chatrooms/{id}/users`: who is in the room, newest joined first; `pagenum`/`pagesize`
/// (from 1), or `limit`/`cursor` (the SDK's `getChatRoomMembers`). Members only.
pub(crate) async fn members(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room)): RoomPath,
) -> Result<Response, HttpError> {
    let scene = readable_scene(&state, &ctx, &room, RoomAction::ReadContent).await?;
    let room_id = scene.room_id();
    let with_joined_time = ctx.flag_param("joined_time");
    let cursor_mode =
        ctx.param("cursor").is_some() || ctx.param("limit").is_some() || ctx.param("version") == Some("v3");
    let (members, cursor) = if cursor_mode {
        let limit = ctx.number_param("limit", 50, 1..=1000)?;
        let after = match ctx.param("cursor").filter(|c| !c.is_empty()) {
            Some(c) => {
                Some(c.parse::<i64>().map_err(|_| HttpError::new(ErrorCode::IllegalArgument, "cursor is not valid"))?)
            }
            None => None,
        };
        let mut page = state
            .store
            .room_members_page(ctx.app.id, room_id, MemberPage::After { join_order: after, limit: limit + 1 })
            .await?;
        let more = page.len() > limit as usize;
        page.truncate(limit as usize);
        let cursor = more.then(|| page.last().map(|m| m.join_order.to_string())).flatten();
        (page, cursor)
    } else {
        let size = ctx.number_param("pagesize", 1000, 1..=1000)?;
        let number = ctx.number_param("pagenum", 1, 1..=1_000_000)?;
        let page = MemberPage::Offset { number: number - 1, size };
        (state.store.room_members_page(ctx.app.id, room_id, page).await?, None)
    };
    let affiliations: Vec<Affiliation> =
        members.iter().map(|m| affiliation(scene.room(), m, with_joined_time)).collect();
    let mut envelope = ctx.envelope::<Vec<Affiliation>, ()>(None, Vec::new());
    envelope.count = Some(affiliations.len() as u64);
    envelope.cursor = cursor;
    envelope.data = Some(affiliations);
    Ok(Json(envelope).into_response())
}

/// Runs a per-user batch operation: each user is decided on its own; the allowed ones commit
/// together. `apply` pushes nothing for a user it refuses.
async fn batch<F>(
    state: &AppState,
    ctx: &Ctx,
    room_id: RoomId,
    users: &[UserName],
    apply: F,
) -> Result<BatchResults, HttpError>
where
    F: Fn(&RoomScene, &mut BatchDecision, &UserName) -> Result<i64, ApiError>,
{
    let caller = ctx.caller()?.clone();
    let results = change_room(state, &ctx.app, &caller, room_id, users, |scene| {
        let mut decision = RoomDecision::new(Vec::new());
        let mut first_error = None;
        for user in users {
            let outcome =
                if scene.user(user).exists { apply(scene, &mut decision, user) } else { Err(user_not_found(user)) };
            if let Err(error) = &outcome
                && first_error.is_none()
            {
                first_error = Some(error.clone());
            }
            decision.output.push((user.clone(), outcome.map_err(|e| e.description)));
        }
        // A batch of one answers with the error itself, as Agora's single calls do.
        if let (Some(error), 1) = (first_error, users.len()) {
            return Err(error);
        }
        Ok(decision)
    })
    .await?;
    Ok(results)
}

fn add_one(
    scene: &RoomScene,
    state: &AppState,
    decision: &mut BatchDecision,
    user: &UserName,
) -> Result<i64, ApiError> {
    scene.authorize(RoomAction::AddMember, Some(user))?;
    let adds = decision.mutations.iter().filter(|m| matches!(m, RoomMutation::AddMember { .. })).count();
    if !has_room_for(scene, adds) {
        return Err(ApiError::new(ErrorCode::ExceedLimit, "the chatroom is full (maxusers)"));
    }
    enter(state, decision, user, "");
    Ok(0)
}

/// `POST /chatrooms/{id}/users/{u}`: puts one user in the room.
pub(crate) async fn add_member(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room, user)): RoomUserPath,
) -> Result<Response, HttpError> {
    let room_id = parse_room_id(&room)?;
    let users = path_users(&user, 1)?;
    batch(&state, &ctx, room_id, &users, |scene, decision, user| add_one(scene, &state, decision, user)).await?;
    Ok(ctx.data(RoomMemberResult {
        result: true,
        action: "add_member".into(),
        id: room_id.to_string(),
        user: users[0].to_string(),
        reason: None,
    }))
}

/// `POST /chatrooms/{id}/users {usernames}`: puts up to 60 users in the room.
pub(crate) async fn add_members(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room)): RoomPath,
    JsonBody(body): JsonBody<Usernames>,
) -> Result<Response, HttpError> {
    let room_id = parse_room_id(&room)?;
    let users = body_users(body, BATCH_MAX)?;
    let results =
        batch(&state, &ctx, room_id, &users, |scene, decision, user| add_one(scene, &state, decision, user)).await?;
    let added = results.iter().filter(|(_, r)| r.is_ok()).map(|(u, _)| u.to_string()).collect();
    Ok(ctx.data(RoomMembersAdded { newmembers: added, action: "add_member".into(), id: room_id.to_string() }))
}

/// `DELETE /chatrooms/{id}/users/{u[,u…]}`: takes up to 100 users out of the room.
pub(crate) async fn remove_members(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room, users)): RoomUserPath,
) -> Result<Response, HttpError> {
    let room_id = parse_room_id(&room)?;
    let single = !users.contains(',');
    let users = path_users(&users, limits::ROOM_REMOVE_MEMBERS_MAX)?;
    let results = batch(&state, &ctx, room_id, &users, |scene, decision, user| {
        scene.authorize(RoomAction::Kick, Some(user))?;
        // The owner and admins stand by role; only someone in the room can be taken out of it.
        if !scene.present(user) {
            return Err(scene.denial(Denial::TargetNotMember, Some(user)));
        }
        leave(scene, decision, user, true);
        Ok(0)
    })
    .await?;
    let replies: Vec<RoomMemberResult> = results
        .into_iter()
        .map(|(user, outcome)| RoomMemberResult {
            result: outcome.is_ok(),
            action: "remove_member".into(),
            id: room_id.to_string(),
            user: user.to_string(),
            reason: outcome.err(),
        })
        .collect();
    Ok(one_or_many(&ctx, replies, single))
}

// ------------------------------------------------------------------------ admins

/// `GET /chatrooms/{id}/admin`: members.
pub(crate) async fn admins(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room)): RoomPath,
) -> Result<Response, HttpError> {
    let scene = readable_scene(&state, &ctx, &room, RoomAction::ReadContent).await?;
    let admins = state.store.room_admins(ctx.app.id, scene.room_id()).await?;
    Ok(ctx.counted(admins.into_iter().map(String::from).collect::<Vec<_>>()))
}

/// `POST /chatrooms/{id}/admin {newadmin}`: the owner; at most 99 admins.
pub(crate) async fn add_admin(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room)): RoomPath,
    JsonBody(body): JsonBody<NewAdmin>,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?.clone();
    let room_id = parse_room_id(&room)?;
    let raw = body.newadmin.ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "newadmin must be provided"))?;
    let user = parse_user(&raw)?;
    change_room(&state, &ctx.app, &caller, room_id, std::slice::from_ref(&user), |scene| {
        scene.require_exists(&user)?;
        scene.authorize(RoomAction::AddAdmin, Some(&user))?;
        if scene.room().admin_count as usize >= limits::ADMINS_MAX {
            return Err(ApiError::new(ErrorCode::ExceedLimit, "the chatroom has 99 admins already"));
        }
        let mut decision = RoomDecision::new(());
        decision.mutations.push(RoomMutation::SetAdmin { user: user.clone(), admin: true });
        decision.events.push(PlannedRoomEvent::new(RoomOperation::AddAdmin, scene.actor_label(), vec![user.clone()]));
        Ok(decision)
    })
    .await?;
    Ok(ctx.data(AdminAdded { result: "success".into(), newadmin: user.to_string() }))
}

/// `DELETE /chatrooms/{id}/admin/{u}`: the owner.
pub(crate) async fn remove_admin(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room, user)): RoomUserPath,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?.clone();
    let room_id = parse_room_id(&room)?;
    let user = parse_user(&user)?;
    change_room(&state, &ctx.app, &caller, room_id, std::slice::from_ref(&user), |scene| {
        scene.require_exists(&user)?;
        scene.authorize(RoomAction::RemoveAdmin, Some(&user))?;
        let mut decision = RoomDecision::new(());
        decision.mutations.push(RoomMutation::SetAdmin { user: user.clone(), admin: false });
        decision.events.push(PlannedRoomEvent::new(
            RoomOperation::RemoveAdmin,
            scene.actor_label(),
            vec![user.clone()],
        ));
        Ok(decision)
    })
    .await?;
    Ok(ctx.data(AdminRemoved { result: "success".into(), oldadmin: user.to_string() }))
}

// ------------------------------------------------------------------------ blocklist

/// Per-user replies of a blocklist or allowlist call (`chatroomid`); one object for a single
/// user named in the path.
fn list_reply(ctx: &Ctx, room_id: RoomId, action: &str, results: BatchResults, single: bool) -> Response {
    let replies: Vec<RoomListResult> = results
        .into_iter()
        .map(|(user, outcome)| RoomListResult {
            result: outcome.is_ok(),
            action: action.to_owned(),
            user: user.to_string(),
            chatroomid: room_id.to_string(),
            reason: outcome.err(),
        })
        .collect();
    one_or_many(ctx, replies, single)
}

/// `GET /chatrooms/{id}/blocks/users`: the owner and admins.
pub(crate) async fn blocklist(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room)): RoomPath,
) -> Result<Response, HttpError> {
    let scene = readable_scene(&state, &ctx, &room, RoomAction::ReadRestrictionLists).await?;
    let names = state.store.room_blocklist(ctx.app.id, scene.room_id()).await?;
    Ok(ctx.counted(names.into_iter().map(String::from).collect::<Vec<_>>()))
}

/// Blocking takes the user out of the room (they hear `removeMember`) and off the admins and
/// the allowlist; their mute stays. An outsider may be blocked before they come in.
fn block(scene: &RoomScene, decision: &mut BatchDecision, user: &UserName) -> Result<i64, ApiError> {
    scene.authorize(RoomAction::Block, Some(user))?;
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

/// `POST /chatrooms/{id}/blocks/users/{u}`.
pub(crate) async fn block_one(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room, users)): RoomUserPath,
) -> Result<Response, HttpError> {
    let room_id = parse_room_id(&room)?;
    let single = !users.contains(',');
    let users = path_users(&users, BATCH_MAX)?;
    let results = batch(&state, &ctx, room_id, &users, block).await?;
    Ok(list_reply(&ctx, room_id, "add_blocks", results, single))
}

/// `POST /chatrooms/{id}/blocks/users {usernames}`.
pub(crate) async fn block_many(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room)): RoomPath,
    JsonBody(body): JsonBody<Usernames>,
) -> Result<Response, HttpError> {
    let room_id = parse_room_id(&room)?;
    let users = body_users(body, BATCH_MAX)?;
    let results = batch(&state, &ctx, room_id, &users, block).await?;
    Ok(list_reply(&ctx, room_id, "add_blocks", results, false))
}

/// `DELETE /chatrooms/{id}/blocks/users/{u[,u…]}`: the user hears `unblockMember`.
pub(crate) async fn unblock(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room, users)): RoomUserPath,
) -> Result<Response, HttpError> {
    let room_id = parse_room_id(&room)?;
    let single = !users.contains(',');
    let users = path_users(&users, BATCH_MAX)?;
    let results = batch(&state, &ctx, room_id, &users, |scene, decision, user| {
        scene.authorize(RoomAction::Unblock, Some(user))?;
        decision.mutations.push(RoomMutation::Unblocklist { user: user.clone() });
        decision.events.push(PlannedRoomEvent::new(RoomOperation::Allow, scene.actor_label(), vec![user.clone()]));
        Ok(0)
    })
    .await?;
    Ok(list_reply(&ctx, room_id, "remove_blocks", results, single))
}

// ------------------------------------------------------------------------ allowlist

/// `GET /chatrooms/{id}/white/users`: the owner and admins.
pub(crate) async fn allowlist(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room)): RoomPath,
) -> Result<Response, HttpError> {
    let scene = readable_scene(&state, &ctx, &room, RoomAction::ReadRestrictionLists).await?;
    let names = state.store.room_allowlist(ctx.app.id, scene.room_id()).await?;
    Ok(ctx.counted(names.into_iter().map(String::from).collect::<Vec<_>>()))
}

fn allowlist_change(on: bool) -> impl Fn(&RoomScene, &mut BatchDecision, &UserName) -> Result<i64, ApiError> {
    move |scene, decision, user| {
        scene.authorize(if on { RoomAction::AllowlistAdd } else { RoomAction::AllowlistRemove }, Some(user))?;
        decision.mutations.push(RoomMutation::SetAllowlisted { user: user.clone(), allowlisted: on });
        let operation = if on { RoomOperation::AddUserWhiteList } else { RoomOperation::RemoveUserWhiteList };
        decision.events.push(PlannedRoomEvent::new(operation, scene.actor_label(), vec![user.clone()]));
        Ok(0)
    }
}

/// `POST /chatrooms/{id}/white/users/{u}`.
pub(crate) async fn allowlist_add_one(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room, users)): RoomUserPath,
) -> Result<Response, HttpError> {
    let room_id = parse_room_id(&room)?;
    let single = !users.contains(',');
    let users = path_users(&users, BATCH_MAX)?;
    let results = batch(&state, &ctx, room_id, &users, allowlist_change(true)).await?;
    Ok(list_reply(&ctx, room_id, "add_user_whitelist", results, single))
}

/// `POST /chatrooms/{id}/white/users {usernames}`.
pub(crate) async fn allowlist_add_many(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room)): RoomPath,
    JsonBody(body): JsonBody<Usernames>,
) -> Result<Response, HttpError> {
    let room_id = parse_room_id(&room)?;
    let users = body_users(body, BATCH_MAX)?;
    let results = batch(&state, &ctx, room_id, &users, allowlist_change(true)).await?;
    Ok(list_reply(&ctx, room_id, "add_user_whitelist", results, false))
}

/// `DELETE /chatrooms/{id}/white/users/{u[,u…]}`: always a list, as Agora answers.
pub(crate) async fn allowlist_remove(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room, users)): RoomUserPath,
) -> Result<Response, HttpError> {
    let room_id = parse_room_id(&room)?;
    let users = path_users(&users, BATCH_MAX)?;
    let results = batch(&state, &ctx, room_id, &users, allowlist_change(false)).await?;
    Ok(list_reply(&ctx, room_id, "remove_user_whitelist", results, false))
}

/// `GET /chatrooms/{id}/white/users/{u}` (`isInChatRoomAllowlist`): the user themself, or the
/// owner and admins.
pub(crate) async fn is_allowlisted(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room, user)): RoomUserPath,
) -> Result<Response, HttpError> {
    let (scene, user) = self_or_manager_scene(&state, &ctx, &room, &user).await?;
    Ok(ctx.data(scene.user(&user).allowlisted))
}

async fn self_or_manager_scene(
    state: &AppState,
    ctx: &Ctx,
    room: &str,
    user: &str,
) -> Result<(RoomScene, UserName), HttpError> {
    let caller = ctx.caller()?.clone();
    let room_id = parse_room_id(room)?;
    let user = parse_user(user)?;
    let scene = load_room_scene(state, &ctx.app, &caller, room_id, std::slice::from_ref(&user)).await?;
    if scene.caller_name() != Some(&user) {
        scene.authorize(RoomAction::ReadRestrictionLists, None)?;
    }
    Ok((scene, user))
}

// ------------------------------------------------------------------------ mutes

/// `GET /chatrooms/{id}/mute` → `[{expire, user}]` (expire -1: for ever): the owner and admins.
pub(crate) async fn mute_list(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room)): RoomPath,
) -> Result<Response, HttpError> {
    let scene = readable_scene(&state, &ctx, &room, RoomAction::ReadRestrictionLists).await?;
    let muted: Vec<MutedMember> = state
        .store
        .room_mute_list(ctx.app.id, scene.room_id(), scene.now_ms)
        .await?
        .into_iter()
        .map(|(user, until)| MutedMember { expire: if until == i64::MAX { -1 } else { until }, user: user.to_string() })
        .collect();
    Ok(ctx.data(muted))
}

/// `POST /chatrooms/{id}/mute {usernames, mute_duration}`: duration in ms, -1 = for ever.
pub(crate) async fn mute(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room)): RoomPath,
    JsonBody(body): JsonBody<MuteMembers>,
) -> Result<Response, HttpError> {
    let room_id = parse_room_id(&room)?;
    let duration = body
        .mute_duration
        .ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "mute_duration must be provided"))?;
    if duration == 0 || duration < -1 {
        return Err(HttpError::new(ErrorCode::IllegalArgument, "mute_duration must be positive (ms) or -1 for ever"));
    }
    let users = body_users(Usernames { usernames: body.usernames }, BATCH_MAX)?;
    let results = batch(&state, &ctx, room_id, &users, |scene, decision, user| {
        scene.authorize(RoomAction::Mute, Some(user))?;
        let until = if duration == -1 { i64::MAX } else { scene.now_ms.saturating_add(duration) };
        decision.mutations.push(RoomMutation::SetMute { user: user.clone(), until_ms: Some(until) });
        decision.events.push(
            PlannedRoomEvent::new(RoomOperation::AddMute, scene.actor_label(), vec![user.clone()])
                .reason(duration.to_string()),
        );
        Ok(if until == i64::MAX { -1 } else { until })
    })
    .await?;
    Ok(ctx.data(mute_replies(results, true)))
}

/// `DELETE /chatrooms/{id}/mute/{u[,u…]}`.
pub(crate) async fn unmute(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room, users)): RoomUserPath,
) -> Result<Response, HttpError> {
    let room_id = parse_room_id(&room)?;
    let users = path_users(&users, BATCH_MAX)?;
    let results = batch(&state, &ctx, room_id, &users, |scene, decision, user| {
        scene.authorize(RoomAction::Unmute, Some(user))?;
        decision.mutations.push(RoomMutation::SetMute { user: user.clone(), until_ms: None });
        decision.events.push(PlannedRoomEvent::new(RoomOperation::RemoveMute, scene.actor_label(), vec![user.clone()]));
        Ok(0)
    })
    .await?;
    Ok(ctx.data(mute_replies(results, false)))
}

/// `[{result, expire?, user, reason?}]`.
fn mute_replies(results: BatchResults, with_expiry: bool) -> Vec<MemberResult> {
    results
        .into_iter()
        .map(|(user, outcome)| MemberResult {
            result: outcome.is_ok(),
            action: None,
            user: user.to_string(),
            groupid: None,
            expire: if with_expiry { outcome.as_ref().ok().copied() } else { None },
            reason: outcome.err(),
        })
        .collect()
}

/// `GET /sdk/chatrooms/{id}/mute/{u}` (`isInChatRoomMutelist`): the user themself, or the
/// owner and admins.
pub(crate) async fn is_muted(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room, user)): RoomUserPath,
) -> Result<Response, HttpError> {
    let (scene, user) = self_or_manager_scene(&state, &ctx, &room, &user).await?;
    Ok(ctx.data(scene.user(&user).muted(scene.now_ms)))
}

/// `POST /chatrooms/{id}/ban`: mute all (the owner, admins and allowlisted members still speak).
pub(crate) async fn mute_all(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room)): RoomPath,
) -> Result<Response, HttpError> {
    set_mute_all(state, ctx, room, true).await
}

/// `DELETE /chatrooms/{id}/ban`: unmute all.
pub(crate) async fn unmute_all(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, room)): RoomPath,
) -> Result<Response, HttpError> {
    set_mute_all(state, ctx, room, false).await
}

/// Setting mute-all to the state it has is allowed and changes nothing.
async fn set_mute_all(state: AppState, ctx: Ctx, room: String, on: bool) -> Result<Response, HttpError> {
    let caller = ctx.caller()?.clone();
    let room_id = parse_room_id(&room)?;
    change_room(&state, &ctx.app, &caller, room_id, &[], |scene| {
        scene.authorize(if on { RoomAction::MuteAll } else { RoomAction::UnmuteAll }, None)?;
        let mut decision = RoomDecision::new(());
        if scene.room().mute_all != on {
            decision.mutations.push(RoomMutation::SetMuteAll(on));
            let operation = if on { RoomOperation::BanGroup } else { RoomOperation::RemoveBanGroup };
            decision.events.push(PlannedRoomEvent::new(operation, scene.actor_label(), Vec::new()));
        }
        Ok(decision)
    })
    .await?;
    Ok(ctx.data(MuteAllState { mute: on }))
}
