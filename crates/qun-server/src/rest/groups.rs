//! Group lifecycle, lists, members, roles and restrictions (agora-chat-api.md §2 rows 1–28).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use qun_core::group::default_group_max_users;
use qun_core::limits::{self, BATCH_MAX, DETAILS_MAX_IDS};
use qun_core::rules::GroupAction;
use qun_core::{GroupId, GroupOperation, GroupSettings, MemberRole, UserName};
use qun_proto::rest::groups::{
    AdminAdded, AdminRemoved, Affiliation, CreateGroup, DisabledState, GroupCreated, GroupDetails, GroupDissolved,
    GroupSummary, JoinedGroup, MemberResult, MembersAdded, ModifyGroup, MuteAllState, MuteMembers, MutedMember,
    NewAdmin, NewOwnerResult, Usernames,
};
use qun_proto::{ApiError, ErrorCode};
use qun_store::{GroupMutation, GroupRecord, MemberPage, MembershipRecord, RequestKind};
use serde_json::Value;

use super::user_lists::{BatchResults, body_users, one_or_many, path_users};
use crate::http::{Ctx, HttpError, JsonBody};
use crate::services::Caller;
use crate::services::groups::{
    self as service, Decision, PlannedEvent, Scene, change_group, has_room, join, leave, load_scene, parse_group_id,
    user_not_found,
};
use crate::services::parse_user;
use crate::state::AppState;

type GroupPath = Path<(String, String, String)>;
type GroupUserPath = Path<(String, String, String, String)>;
type BatchDecision = Decision<BatchResults>;

// ------------------------------------------------------------------------ lifecycle

/// `POST /chatgroups`.
pub(crate) async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(body): JsonBody<CreateGroup>,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?.clone();
    let public =
        body.public.ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "group must contain public field!"))?;
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
    let settings = GroupSettings {
        name: body.groupname.unwrap_or_default(),
        description: body.description.unwrap_or_default(),
        avatar: body.avatar.unwrap_or_default(),
        public,
        approval_required: body.membersonly.unwrap_or(false),
        // Agora forces allowinvites off for public groups at creation.
        allow_invites: !public && body.allowinvites.unwrap_or(false),
        invite_need_confirm: body.invite_need_confirm.unwrap_or(true),
        max_users: match body.maxusers {
            Some(raw) => maxusers(raw)?,
            None => default_group_max_users(ctx.app.settings.plan.group_member_limit()),
        },
        custom: body.custom.unwrap_or_default(),
    };
    let group_id =
        service::create(&state, &ctx.app, &caller, service::CreateGroup { owner, settings, members }).await?;
    Ok(ctx.data(GroupCreated { groupid: group_id.to_string() }))
}

fn maxusers(raw: i64) -> Result<u32, HttpError> {
    u32::try_from(raw).map_err(|_| HttpError::new(ErrorCode::InvalidParameter, "maxusers must be a positive number"))
}

/// `GET /chatgroups/{ids}`: up to 100 ids, comma-separated.
pub(crate) async fn details(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, ids)): GroupPath,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?.clone();
    let ids: Vec<GroupId> = ids.split(',').filter(|s| !s.is_empty()).map(parse_group_id).collect::<Result<_, _>>()?;
    if ids.is_empty() || ids.len() > DETAILS_MAX_IDS {
        return Err(HttpError::new(ErrorCode::IllegalArgument, "ask for 1 to 100 group ids"));
    }
    let with_joined_time = ctx.flag_param("joined_time");
    let mut details = Vec::new();
    for id in ids {
        let scene = load_scene(&state, &ctx.app, &caller, id, &[]).await?;
        scene.authorize(GroupAction::ReadInfo, None)?;
        let members = state
            .store
            .members_page(
                ctx.app.id,
                id,
                MemberPage::After { join_order: None, limit: scene.group().member_count.max(1) },
            )
            .await?;
        let permission = scene.caller_name().map(|me| match scene.user(me).membership.as_ref() {
            Some(m) => m.role.permission().to_owned(),
            None => "none".to_owned(),
        });
        details.push(group_details(scene.group(), &members, with_joined_time, permission));
    }
    let mut envelope = ctx.envelope::<Vec<GroupDetails>, ()>(None, Vec::new());
    envelope.count = Some(details.len() as u64);
    envelope.data = Some(details);
    Ok(Json(envelope).into_response())
}

fn group_details(
    group: &GroupRecord,
    members: &[MembershipRecord],
    with_joined_time: bool,
    permission: Option<String>,
) -> GroupDetails {
    GroupDetails {
        id: group.id.to_string(),
        name: group.settings.name.clone(),
        avatar: group.settings.avatar.clone(),
        description: group.settings.description.clone(),
        membersonly: group.settings.approval_required,
        allowinvites: group.settings.allow_invites,
        invite_need_confirm: group.settings.invite_need_confirm,
        maxusers: group.settings.max_users,
        owner: group.owner.to_string(),
        created: group.created_ms,
        custom: group.settings.custom.clone(),
        mute: group.mute_all,
        affiliations_count: group.member_count,
        disabled: group.disabled,
        public: group.settings.public,
        affiliations: members.iter().map(|m| affiliation(m, with_joined_time)).collect(),
        permission,
    }
}

fn affiliation(member: &MembershipRecord, with_joined_time: bool) -> Affiliation {
    let name = Some(member.user.to_string());
    let (owner, member_name) = if member.role == MemberRole::Owner { (name, None) } else { (None, name) };
    Affiliation { owner, member: member_name, joined_time: with_joined_time.then_some(member.joined_ms) }
}

/// `PUT /chatgroups/{id}`: settings, or `{newowner}`.
pub(crate) async fn modify(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group)): GroupPath,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?.clone();
    let group_id = parse_group_id(&group)?;
    let Value::Object(fields) = &body else {
        return Err(HttpError::new(ErrorCode::JsonParse, "the body must be a JSON object"));
    };
    let unknown: Vec<&str> = fields.keys().map(String::as_str).filter(|k| !ModifyGroup::FIELDS.contains(k)).collect();
    if !unknown.is_empty() {
        return Err(HttpError::new(
            ErrorCode::InvalidParameter,
            format!("Some of [{}] are not valid fields", unknown.join(", ")),
        ));
    }
    let request: ModifyGroup =
        serde_json::from_value(body.clone()).map_err(|e| HttpError::new(ErrorCode::JsonParse, e.to_string()))?;
    if let Some(new_owner) = &request.newowner {
        let new_owner = parse_user(new_owner)?;
        transfer(&state, &ctx, &caller, group_id, new_owner).await?;
        return Ok(ctx.data(NewOwnerResult { newowner: true }));
    }
    let plan_limit = ctx.app.settings.plan.group_member_limit();
    let (changed, _) = change_group(&state, &ctx.app, &caller, group_id, &[], |scene| {
        scene.authorize(GroupAction::UpdateInfo, None)?;
        let mut settings = scene.group().settings.clone();
        let mut changed = serde_json::Map::new();
        let mut mark = |key: &str| {
            changed.insert(key.to_owned(), Value::Bool(true));
        };
        if let Some(v) = &request.groupname {
            settings.name = v.clone();
            mark("groupname");
        }
        if let Some(v) = &request.description {
            settings.description = v.clone();
            mark("description");
        }
        if let Some(v) = &request.avatar {
            settings.avatar = v.clone();
            mark("avatar");
        }
        if let Some(v) = request.maxusers {
            settings.max_users = maxusers(v).map_err(|e| e.0)?;
            if settings.max_users < scene.group().member_count {
                return Err(ApiError::new(ErrorCode::ExceedLimit, "maxusers is below the current member count"));
            }
            mark("maxusers");
        }
        if let Some(v) = request.membersonly {
            settings.approval_required = v;
            mark("membersonly");
        }
        if let Some(v) = request.allowinvites {
            settings.allow_invites = v;
            mark("allowinvites");
        }
        if let Some(v) = request.invite_need_confirm {
            settings.invite_need_confirm = v;
            mark("invite_need_confirm");
        }
        if let Some(v) = request.public {
            settings.public = v;
            mark("public");
        }
        if let Some(v) = &request.custom {
            settings.custom = v.clone();
            mark("custom");
        }
        settings.validate(plan_limit).map_err(|e| {
            let code = if matches!(e, qun_core::group::SettingsError::MaxUsersOutOfRange { .. }) {
                ErrorCode::ExceedLimit
            } else {
                ErrorCode::InvalidParameter
            };
            ApiError::new(code, e.to_string())
        })?;
        let mut decision = Decision::new(Value::Object(changed));
        if settings != scene.group().settings {
            decision.mutations.push(GroupMutation::UpdateSettings(settings));
            decision.events.push(PlannedEvent::new(GroupOperation::Update, scene.actor_label(), Vec::new()));
        }
        Ok(decision)
    })
    .await?;
    Ok(ctx.data(changed))
}

async fn transfer(
    state: &AppState,
    ctx: &Ctx,
    caller: &Caller,
    group_id: GroupId,
    new_owner: UserName,
) -> Result<(), HttpError> {
    change_group(state, &ctx.app, caller, group_id, std::slice::from_ref(&new_owner), |scene| {
        scene.require_exists(&new_owner)?;
        scene.authorize(GroupAction::TransferOwnership, Some(&new_owner))?;
        let old_owner = scene.group().owner.clone();
        let mut decision = Decision::new(());
        decision.mutations.push(GroupMutation::SetRole { user: old_owner.clone(), role: MemberRole::Member });
        decision.mutations.push(GroupMutation::SetRole { user: new_owner.clone(), role: MemberRole::Owner });
        decision.mutations.push(GroupMutation::SetOwner { user: new_owner.clone() });
        decision.events.push(PlannedEvent::new(
            GroupOperation::AssignOwner,
            old_owner.to_string(),
            vec![new_owner.clone()],
        ));
        Ok(decision)
    })
    .await?;
    Ok(())
}

/// `DELETE /chatgroups/{id}`: every member receives `destroy`.
pub(crate) async fn dissolve(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group)): GroupPath,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?.clone();
    let group_id = parse_group_id(&group)?;
    let members = state.store.member_names(ctx.app.id, group_id).await?;
    change_group(&state, &ctx.app, &caller, group_id, &members, |scene| {
        scene.authorize(GroupAction::Dissolve, None)?;
        // The member list was read before the snapshot; a join since then bumps the version
        // and the commit retries, so `destroy` reaches exactly the members at dissolution
        // unless the list changed in between, which the count check catches.
        if scene.group().member_count as usize != members.len() {
            return Err(ApiError::new(ErrorCode::Busy, "the group changed meanwhile, retry"));
        }
        let mut decision = Decision::new(());
        decision.events.push(
            PlannedEvent::new(GroupOperation::Destroy, scene.actor_label(), Vec::new()).receivers(members.clone()),
        );
        decision.mutations.push(GroupMutation::Dissolve);
        Ok(decision)
    })
    .await?;
    tracing::info!(group_id = %group_id, "group dissolved");
    Ok(ctx.data(GroupDissolved { success: true, groupid: group_id.to_string() }))
}

/// `POST /chatgroups/{id}/disable`.
pub(crate) async fn disable(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group)): GroupPath,
) -> Result<Response, HttpError> {
    set_disabled(state, ctx, group, true).await
}

/// `POST /chatgroups/{id}/enable`.
pub(crate) async fn enable(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group)): GroupPath,
) -> Result<Response, HttpError> {
    set_disabled(state, ctx, group, false).await
}

async fn set_disabled(state: AppState, ctx: Ctx, group: String, disabled: bool) -> Result<Response, HttpError> {
    set_switch(&state, &ctx, &group, GroupSwitch::Disabled, disabled).await?;
    Ok(ctx.data(DisabledState { disabled }))
}

/// The on/off states of a group that are changed by one call each way.
#[derive(Debug, Clone, Copy)]
enum GroupSwitch {
    Disabled,
    MuteAll,
}

impl GroupSwitch {
    fn is_on(self, group: &GroupRecord) -> bool {
        match self {
            GroupSwitch::Disabled => group.disabled,
            GroupSwitch::MuteAll => group.mute_all,
        }
    }

    /// The action the rules check, the mutation, and the event, for turning it `on` or off.
    fn change(self, on: bool) -> (GroupAction, GroupMutation, GroupOperation) {
        match (self, on) {
            (GroupSwitch::Disabled, true) => {
                (GroupAction::Disable, GroupMutation::SetDisabled(true), GroupOperation::DisableGroup)
            }
            (GroupSwitch::Disabled, false) => {
                (GroupAction::Enable, GroupMutation::SetDisabled(false), GroupOperation::AbleGroup)
            }
            (GroupSwitch::MuteAll, true) => {
                (GroupAction::MuteAll, GroupMutation::SetMuteAll(true), GroupOperation::BanGroup)
            }
            (GroupSwitch::MuteAll, false) => {
                (GroupAction::UnmuteAll, GroupMutation::SetMuteAll(false), GroupOperation::RemoveBanGroup)
            }
        }
    }
}

/// Turns a switch on or off; setting it to the state it has is allowed and records nothing.
async fn set_switch(state: &AppState, ctx: &Ctx, group: &str, switch: GroupSwitch, on: bool) -> Result<(), HttpError> {
    let caller = ctx.caller()?.clone();
    let group_id = parse_group_id(group)?;
    change_group(state, &ctx.app, &caller, group_id, &[], |scene| {
        let (action, mutation, operation) = switch.change(on);
        scene.authorize(action, None)?;
        let mut decision = Decision::new(());
        if switch.is_on(scene.group()) != on {
            decision.mutations.push(mutation);
            decision.events.push(PlannedEvent::new(operation, scene.actor_label(), Vec::new()));
        }
        Ok(decision)
    })
    .await?;
    Ok(())
}

// ------------------------------------------------------------------------ lists

/// `GET /chatgroups?limit=&cursor=`: every group, newest created first (app token).
pub(crate) async fn list_all(State(state): State<AppState>, ctx: Ctx) -> Result<Response, HttpError> {
    ctx.require_app_admin()?;
    list_groups(state, ctx, false).await
}

/// `GET /publicchatgroups?limit=&cursor=`: public groups, newest created first.
pub(crate) async fn list_public(State(state): State<AppState>, ctx: Ctx) -> Result<Response, HttpError> {
    ctx.caller()?;
    list_groups(state, ctx, true).await
}

async fn list_groups(state: AppState, ctx: Ctx, public_only: bool) -> Result<Response, HttpError> {
    let limit = ctx.number_param("limit", 10, 1..=1000)?;
    let before = match ctx.param("cursor").filter(|c| !c.is_empty()) {
        Some(cursor) => Some(
            GroupId::parse(cursor).map_err(|_| HttpError::new(ErrorCode::IllegalArgument, "cursor is not valid"))?,
        ),
        None => None,
    };
    let mut groups = state.store.groups_page(ctx.app.id, public_only, before, limit + 1).await?;
    let more = groups.len() > limit as usize;
    groups.truncate(limit as usize);
    let cursor = more.then(|| groups.last().map(|g| g.id.to_string())).flatten();
    let summaries: Vec<GroupSummary> = groups.iter().map(|g| group_summary(g, None)).collect();
    let mut envelope = ctx.envelope::<Vec<GroupSummary>, ()>(None, Vec::new());
    envelope.count = Some(summaries.len() as u64);
    envelope.cursor = cursor;
    envelope.data = Some(summaries);
    Ok(Json(envelope).into_response())
}

fn group_summary(group: &GroupRecord, permission: Option<String>) -> GroupSummary {
    GroupSummary {
        owner: group.owner.to_string(),
        groupid: group.id.to_string(),
        groupname: group.settings.name.clone(),
        id: group.id.to_string(),
        name: group.settings.name.clone(),
        affiliations: group.member_count,
        kind: "group".to_owned(),
        last_modified: group.modified_ms.to_string(),
        created: group.created_ms,
        public: group.settings.public,
        disabled: group.disabled,
        permission,
    }
}

/// `GET /chatgroups/user/{u}?pagenum=&pagesize=`: the user's groups, newest joined first.
pub(crate) async fn joined(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user)): GroupPath,
) -> Result<Response, HttpError> {
    let user = parse_user(&user)?;
    ctx.require_self_or_admin(&user)?;
    let page = ctx.number_param("pagenum", 0, 0..=1_000_000)?;
    let size = ctx.number_param("pagesize", 20, 1..=100)?;
    let (groups, total) = state.store.user_groups(ctx.app.id, &user, page.saturating_mul(size), size).await?;
    let entities: Vec<JoinedGroup> = groups
        .iter()
        .map(|(g, m)| JoinedGroup {
            group_id: g.id.to_string(),
            groupid: g.id.to_string(),
            groupname: g.settings.name.clone(),
            id: g.id.to_string(),
            name: g.settings.name.clone(),
            avatar: g.settings.avatar.clone(),
            owner: g.owner.to_string(),
            description: g.settings.description.clone(),
            disabled: g.disabled,
            public: g.settings.public,
            allowinvites: g.settings.allow_invites,
            membersonly: g.settings.approval_required,
            maxusers: g.settings.max_users,
            created: g.created_ms,
            permission: m.role.permission().to_owned(),
            affiliations_count: g.member_count,
        })
        .collect();
    let mut envelope = ctx.envelope::<(), JoinedGroup>(None, entities);
    envelope.total = Some(total);
    Ok(Json(envelope).into_response())
}

/// `GET /chatgroups/user/{u}/joined_count`.
pub(crate) async fn joined_count(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user)): GroupPath,
) -> Result<Response, HttpError> {
    let user = parse_user(&user)?;
    ctx.require_self_or_admin(&user)?;
    let (_, total) = state.store.user_groups(ctx.app.id, &user, 0, 1).await?;
    Ok(ctx.data(total))
}

/// `GET /users/{u}/joined_chatgroups?pagenum=&pagesize=` (legacy; also the v3 names).
pub(crate) async fn joined_legacy(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user)): GroupPath,
) -> Result<Response, HttpError> {
    let user = parse_user(&user)?;
    ctx.require_self_or_admin(&user)?;
    let (offset, size) = match (ctx.param("pagenum"), ctx.param("pagesize")) {
        (None, None) => (0, 500),
        _ => {
            let size = ctx.number_param("pagesize", 10, 1..=100)?;
            // pagenum counts from 1 in this older call.
            let page = ctx.number_param("pagenum", 1, 1..=1_000_000)?;
            ((page - 1).saturating_mul(size), size)
        }
    };
    let (groups, _) = state.store.user_groups(ctx.app.id, &user, offset, size).await?;
    let summaries: Vec<GroupSummary> =
        groups.iter().map(|(g, m)| group_summary(g, Some(m.role.permission().to_owned()))).collect();
    Ok(ctx.counted(summaries))
}

/// `GET /chatgroups/{g}/user/{u}/is_joined`.
pub(crate) async fn is_joined(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group, user)): GroupUserPath,
) -> Result<Response, HttpError> {
    let user = parse_user(&user)?;
    ctx.require_self_or_admin(&user)?;
    let group_id = parse_group_id(&group)?;
    let scene = load_scene(&state, &ctx.app, &Caller::AppAdmin, group_id, std::slice::from_ref(&user)).await?;
    Ok(ctx.data(scene.standing(&user).is_member()))
}

// ------------------------------------------------------------------------ members

/// `GET /chatgroups/{g}/users`: newest joined first; `pagenum`/`pagesize` (from 1), or
/// `limit`/`cursor` (the cursor variant).
pub(crate) async fn members(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group)): GroupPath,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?.clone();
    let group_id = parse_group_id(&group)?;
    let scene = load_scene(&state, &ctx.app, &caller, group_id, &[]).await?;
    scene.authorize(GroupAction::ReadContent, None)?;
    let with_joined_time = ctx.flag_param("joined_time");
    // easemob-websdk 4.21.1's listGroupMembers sends `version=v3` with pagenum/pagesize: the
    // page parameters win over `version=v3`, which alone means cursor mode.
    let paged = ctx.param("pagenum").is_some() || ctx.param("pagesize").is_some();
    let cursor_mode =
        ctx.param("cursor").is_some() || ctx.param("limit").is_some() || (!paged && ctx.param("version") == Some("v3"));
    let (members, cursor) = if cursor_mode {
        let limit = ctx.number_param("limit", 10, 1..=1000)?;
        let after = match ctx.param("cursor").filter(|c| !c.is_empty()) {
            Some(c) => {
                Some(c.parse::<i64>().map_err(|_| HttpError::new(ErrorCode::IllegalArgument, "cursor is not valid"))?)
            }
            None => None,
        };
        let mut page = state
            .store
            .members_page(ctx.app.id, group_id, MemberPage::After { join_order: after, limit: limit + 1 })
            .await?;
        let more = page.len() > limit as usize;
        page.truncate(limit as usize);
        let cursor = more.then(|| page.last().map(|m| m.join_order.to_string())).flatten();
        (page, cursor)
    } else {
        let size = ctx.number_param("pagesize", 10, 1..=1000)?;
        let number = ctx.number_param("pagenum", 1, 1..=1_000_000)?;
        (state.store.members_page(ctx.app.id, group_id, MemberPage::Offset { number: number - 1, size }).await?, None)
    };
    let affiliations: Vec<Affiliation> = members.iter().map(|m| affiliation(m, with_joined_time)).collect();
    let mut envelope = ctx.envelope::<Vec<Affiliation>, ()>(None, Vec::new());
    envelope.count = Some(affiliations.len() as u64);
    envelope.cursor = cursor;
    envelope.data = Some(affiliations);
    Ok(Json(envelope).into_response())
}

/// Runs a per-user batch operation: each user is decided on its own; the allowed ones commit
/// together. `apply` returns an error text for a refused user.
async fn batch<F>(
    state: &AppState,
    ctx: &Ctx,
    group_id: GroupId,
    users: &[UserName],
    apply: F,
) -> Result<BatchResults, HttpError>
where
    F: Fn(&Scene, &mut BatchDecision, &UserName) -> Result<i64, ApiError>,
{
    let caller = ctx.caller()?.clone();
    let (results, _) = change_group(state, &ctx.app, &caller, group_id, users, |scene| {
        let mut decision = Decision::new(Vec::new());
        for user in users {
            let outcome =
                if scene.user(user).exists { apply(scene, &mut decision, user) } else { Err(user_not_found(user)) };
            let outcome = outcome.map_err(|e| e.description);
            decision.output.push((user.clone(), outcome));
        }
        // A batch of one answers with the error itself, as Agora's single calls do.
        if let [(user, Err(_))] = decision.output.as_slice() {
            return Err(apply_single_error(scene, &apply, user));
        }
        Ok(decision)
    })
    .await?;
    Ok(results)
}

/// Re-runs the decision for the one user of a single call to get its full error.
fn apply_single_error<F>(scene: &Scene, apply: &F, user: &UserName) -> ApiError
where
    F: Fn(&Scene, &mut BatchDecision, &UserName) -> Result<i64, ApiError>,
{
    if !scene.user(user).exists {
        return user_not_found(user);
    }
    let mut scratch = Decision::new(Vec::new());
    apply(scene, &mut scratch, user).err().unwrap_or_else(|| ApiError::new(ErrorCode::Internal, "internal error"))
}

fn add_one(scene: &Scene, state: &AppState, decision: &mut BatchDecision, user: &UserName) -> Result<i64, ApiError> {
    scene.authorize(GroupAction::AddMember, Some(user))?;
    let adds = decision.mutations.iter().filter(|m| matches!(m, GroupMutation::AddMember { .. })).count();
    if !has_room(scene, adds) {
        return Err(ApiError::new(ErrorCode::ExceedLimit, "group member count reached the limit"));
    }
    join(scene, state, decision, user, Some(GroupOperation::DirectJoined));
    Ok(0)
}

/// `POST /chatgroups/{g}/users/{u}`: adds one member directly.
pub(crate) async fn add_member(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group, user)): GroupUserPath,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let users = path_users(&user, 1)?;
    batch(&state, &ctx, group_id, &users, |scene, decision, user| add_one(scene, &state, decision, user)).await?;
    Ok(ctx.data(MemberResult {
        result: true,
        action: Some("add_member".into()),
        user: users[0].to_string(),
        groupid: Some(group_id.to_string()),
        reason: None,
        expire: None,
    }))
}

/// `POST /chatgroups/{g}/users {usernames}`: adds up to 60 members directly.
pub(crate) async fn add_members(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group)): GroupPath,
    JsonBody(body): JsonBody<Usernames>,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let users = body_users(body, BATCH_MAX)?;
    let results =
        batch(&state, &ctx, group_id, &users, |scene, decision, user| add_one(scene, &state, decision, user)).await?;
    let added = results.iter().filter(|(_, r)| r.is_ok()).map(|(u, _)| u.to_string()).collect();
    Ok(ctx.data(MembersAdded { newmembers: added, groupid: group_id.to_string(), action: "add_member".into() }))
}

/// `DELETE /chatgroups/{g}/users/{u[,u…]}`: removes (kicks) up to 60 members.
pub(crate) async fn remove_members(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group, users)): GroupUserPath,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let single = !users.contains(',');
    let users = path_users(&users, BATCH_MAX)?;
    let results = batch(&state, &ctx, group_id, &users, |scene, decision, user| {
        scene.authorize(GroupAction::Kick, Some(user))?;
        leave(scene, decision, user, true);
        Ok(0)
    })
    .await?;
    Ok(per_user_reply(&ctx, group_id, "remove_member", results, single))
}

fn per_user_reply(ctx: &Ctx, group_id: GroupId, action: &str, results: BatchResults, single: bool) -> Response {
    let replies: Vec<MemberResult> = results
        .into_iter()
        .map(|(user, outcome)| MemberResult {
            result: outcome.is_ok(),
            action: Some(action.to_owned()),
            user: user.to_string(),
            groupid: Some(group_id.to_string()),
            reason: outcome.as_ref().err().cloned(),
            expire: None,
        })
        .collect();
    one_or_many(ctx, replies, single)
}

// ------------------------------------------------------------------------ admins

/// `GET /chatgroups/{g}/admin`.
pub(crate) async fn admins(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group)): GroupPath,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?.clone();
    let group_id = parse_group_id(&group)?;
    let scene = load_scene(&state, &ctx.app, &caller, group_id, &[]).await?;
    scene.authorize(GroupAction::ReadContent, None)?;
    let admins: Vec<String> = state
        .store
        .group_managers(ctx.app.id, group_id)
        .await?
        .into_iter()
        .filter(|m| m.role == MemberRole::Admin)
        .map(|m| m.user.to_string())
        .collect();
    Ok(ctx.counted(admins))
}

/// `POST /chatgroups/{g}/admin {newadmin}`: owner only; at most 99 admins.
pub(crate) async fn add_admin(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group)): GroupPath,
    JsonBody(body): JsonBody<NewAdmin>,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?.clone();
    let group_id = parse_group_id(&group)?;
    let user = parse_user(
        body.newadmin
            .as_deref()
            .ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "newadmin must be provided"))?,
    )?;
    change_group(&state, &ctx.app, &caller, group_id, std::slice::from_ref(&user), |scene| {
        scene.require_exists(&user)?;
        scene.authorize(GroupAction::AddAdmin, Some(&user))?;
        if scene.group().admin_count as usize >= limits::ADMINS_MAX {
            return Err(ApiError::new(ErrorCode::ExceedLimit, "the group has 99 admins already"));
        }
        let mut decision = Decision::new(());
        decision.mutations.push(GroupMutation::SetRole { user: user.clone(), role: MemberRole::Admin });
        decision.events.push(PlannedEvent::new(GroupOperation::AddAdmin, scene.actor_label(), vec![user.clone()]));
        Ok(decision)
    })
    .await?;
    Ok(ctx.data(AdminAdded { result: "success".into(), newadmin: user.to_string() }))
}

/// `DELETE /chatgroups/{g}/admin/{u}`: owner only.
pub(crate) async fn remove_admin(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group, user)): GroupUserPath,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?.clone();
    let group_id = parse_group_id(&group)?;
    let user = parse_user(&user)?;
    change_group(&state, &ctx.app, &caller, group_id, std::slice::from_ref(&user), |scene| {
        scene.require_exists(&user)?;
        scene.authorize(GroupAction::RemoveAdmin, Some(&user))?;
        let mut decision = Decision::new(());
        decision.mutations.push(GroupMutation::SetRole { user: user.clone(), role: MemberRole::Member });
        decision.events.push(PlannedEvent::new(GroupOperation::RemoveAdmin, scene.actor_label(), vec![user.clone()]));
        Ok(decision)
    })
    .await?;
    Ok(ctx.data(AdminRemoved { result: "success".into(), oldadmin: user.to_string() }))
}

// ------------------------------------------------------------------------ blocklist

/// `GET /chatgroups/{g}/blocks/users`: owner and admins.
pub(crate) async fn blocklist(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group)): GroupPath,
) -> Result<Response, HttpError> {
    let group_id = restriction_list_access(&state, &ctx, &group).await?;
    let names: Vec<String> =
        state.store.blocklist(ctx.app.id, group_id).await?.into_iter().map(|u| u.to_string()).collect();
    Ok(ctx.counted(names))
}

async fn restriction_list_access(state: &AppState, ctx: &Ctx, group: &str) -> Result<GroupId, HttpError> {
    let caller = ctx.caller()?.clone();
    let group_id = parse_group_id(group)?;
    let scene = load_scene(state, &ctx.app, &caller, group_id, &[]).await?;
    scene.authorize(GroupAction::ReadRestrictionLists, None)?;
    Ok(group_id)
}

fn block(scene: &Scene, decision: &mut BatchDecision, user: &UserName) -> Result<i64, ApiError> {
    scene.authorize(GroupAction::Block, Some(user))?;
    if scene.standing(user).is_member() {
        leave(scene, decision, user, true);
    }
    // A pending application or invitation must not be acted on after an unblock.
    for kind in [RequestKind::Application, RequestKind::Invitation] {
        decision.mutations.push(GroupMutation::DeleteRequest { user: user.clone(), kind });
    }
    decision.mutations.push(GroupMutation::Blocklist { user: user.clone() });
    Ok(0)
}

/// `POST /chatgroups/{g}/blocks/users/{u}`.
pub(crate) async fn block_one(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group, users)): GroupUserPath,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let single = !users.contains(',');
    let users = path_users(&users, BATCH_MAX)?;
    let results = batch(&state, &ctx, group_id, &users, block).await?;
    Ok(per_user_reply(&ctx, group_id, "add_blocks", results, single))
}

/// `POST /chatgroups/{g}/blocks/users {usernames}`.
pub(crate) async fn block_many(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group)): GroupPath,
    JsonBody(body): JsonBody<Usernames>,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let users = body_users(body, BATCH_MAX)?;
    let results = batch(&state, &ctx, group_id, &users, block).await?;
    Ok(per_user_reply(&ctx, group_id, "add_blocks", results, false))
}

/// `DELETE /chatgroups/{g}/blocks/users/{u[,u…]}`.
pub(crate) async fn unblock(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group, users)): GroupUserPath,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let single = !users.contains(',');
    let users = path_users(&users, BATCH_MAX)?;
    let results = batch(&state, &ctx, group_id, &users, |scene, decision, user| {
        scene.authorize(GroupAction::Unblock, Some(user))?;
        decision.mutations.push(GroupMutation::Unblocklist { user: user.clone() });
        decision.events.push(PlannedEvent::new(GroupOperation::Allow, scene.actor_label(), vec![user.clone()]));
        Ok(0)
    })
    .await?;
    Ok(per_user_reply(&ctx, group_id, "remove_blocks", results, single))
}

// ------------------------------------------------------------------------ mutes

/// `GET /chatgroups/{g}/mute`: owner and admins.
pub(crate) async fn mute_list(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group)): GroupPath,
) -> Result<Response, HttpError> {
    let group_id = restriction_list_access(&state, &ctx, &group).await?;
    let now = crate::ids::now_ms() as i64;
    let muted: Vec<MutedMember> = state
        .store
        .mute_list(ctx.app.id, group_id, now)
        .await?
        .into_iter()
        .map(|(user, until)| MutedMember { expire: if until == i64::MAX { -1 } else { until }, user: user.to_string() })
        .collect();
    Ok(ctx.data(muted))
}

/// `POST /chatgroups/{g}/mute {usernames, mute_duration}`: duration in ms, -1 = forever.
pub(crate) async fn mute(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group)): GroupPath,
    JsonBody(body): JsonBody<MuteMembers>,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let duration = body
        .mute_duration
        .ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "mute_duration must be provided"))?;
    if duration == 0 || duration < -1 {
        return Err(HttpError::new(ErrorCode::IllegalArgument, "mute_duration must be positive (ms) or -1 for ever"));
    }
    let users = body_users(Usernames { usernames: body.usernames }, BATCH_MAX)?;
    let results = batch(&state, &ctx, group_id, &users, |scene, decision, user| {
        scene.authorize(GroupAction::Mute, Some(user))?;
        let until = if duration == -1 { i64::MAX } else { scene.now_ms.saturating_add(duration) };
        decision.mutations.push(GroupMutation::SetMute { user: user.clone(), until_ms: Some(until) });
        decision.events.push(
            PlannedEvent::new(GroupOperation::AddMute, scene.actor_label(), vec![user.clone()])
                .reason(duration.to_string()),
        );
        Ok(if until == i64::MAX { -1 } else { until })
    })
    .await?;
    let replies: Vec<MemberResult> = results
        .into_iter()
        .map(|(user, outcome)| MemberResult {
            result: outcome.is_ok(),
            action: None,
            user: user.to_string(),
            groupid: None,
            expire: outcome.as_ref().ok().copied(),
            reason: outcome.err(),
        })
        .collect();
    Ok(ctx.data(replies))
}

/// `DELETE /chatgroups/{g}/mute/{u[,u…]}`.
pub(crate) async fn unmute(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group, users)): GroupUserPath,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let users = path_users(&users, BATCH_MAX)?;
    let results = batch(&state, &ctx, group_id, &users, |scene, decision, user| {
        scene.authorize(GroupAction::Unmute, Some(user))?;
        decision.mutations.push(GroupMutation::SetMute { user: user.clone(), until_ms: None });
        decision.events.push(PlannedEvent::new(GroupOperation::RemoveMute, scene.actor_label(), vec![user.clone()]));
        Ok(0)
    })
    .await?;
    let replies: Vec<MemberResult> = results
        .into_iter()
        .map(|(user, outcome)| MemberResult {
            result: outcome.is_ok(),
            action: None,
            user: user.to_string(),
            groupid: None,
            expire: None,
            reason: outcome.err(),
        })
        .collect();
    Ok(ctx.data(replies))
}

/// `GET /sdk/chatgroups/{g}/mute/{u}`: whether the user is muted (the user or a manager).
pub(crate) async fn is_muted(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group, user)): GroupUserPath,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?.clone();
    let group_id = parse_group_id(&group)?;
    let user = parse_user(&user)?;
    let scene = load_scene(&state, &ctx.app, &caller, group_id, std::slice::from_ref(&user)).await?;
    if scene.caller_name() != Some(&user) {
        scene.authorize(GroupAction::ReadRestrictionLists, None)?;
    }
    Ok(ctx.data(scene.user(&user).muted(scene.now_ms)))
}

/// `POST /chatgroups/{g}/ban`: mute all.
pub(crate) async fn mute_all(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group)): GroupPath,
) -> Result<Response, HttpError> {
    set_mute_all(state, ctx, group, true).await
}

/// `DELETE /chatgroups/{g}/ban`: unmute all.
pub(crate) async fn unmute_all(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group)): GroupPath,
) -> Result<Response, HttpError> {
    set_mute_all(state, ctx, group, false).await
}

async fn set_mute_all(state: AppState, ctx: Ctx, group: String, on: bool) -> Result<Response, HttpError> {
    set_switch(&state, &ctx, &group, GroupSwitch::MuteAll, on).await?;
    Ok(ctx.data(MuteAllState { mute: on }))
}

// ------------------------------------------------------------------------ allowlist

/// `GET /chatgroups/{g}/white/users`: owner and admins.
pub(crate) async fn allowlist(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group)): GroupPath,
) -> Result<Response, HttpError> {
    let group_id = restriction_list_access(&state, &ctx, &group).await?;
    let names: Vec<String> =
        state.store.allowlist(ctx.app.id, group_id).await?.into_iter().map(|u| u.to_string()).collect();
    Ok(ctx.counted(names))
}

fn allowlist_change(on: bool) -> impl Fn(&Scene, &mut BatchDecision, &UserName) -> Result<i64, ApiError> {
    move |scene, decision, user| {
        scene.authorize(if on { GroupAction::AllowlistAdd } else { GroupAction::AllowlistRemove }, Some(user))?;
        decision.mutations.push(GroupMutation::SetAllowlisted { user: user.clone(), allowlisted: on });
        let operation = if on { GroupOperation::AddUserWhiteList } else { GroupOperation::RemoveUserWhiteList };
        decision.events.push(PlannedEvent::new(operation, scene.actor_label(), vec![user.clone()]));
        Ok(0)
    }
}

/// `POST /chatgroups/{g}/white/users/{u}`.
pub(crate) async fn allowlist_add_one(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group, users)): GroupUserPath,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let single = !users.contains(',');
    let users = path_users(&users, BATCH_MAX)?;
    let results = batch(&state, &ctx, group_id, &users, allowlist_change(true)).await?;
    Ok(per_user_reply(&ctx, group_id, "add_user_whitelist", results, single))
}

/// `POST /chatgroups/{g}/white/users {usernames}`.
pub(crate) async fn allowlist_add_many(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group)): GroupPath,
    JsonBody(body): JsonBody<Usernames>,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let users = body_users(body, BATCH_MAX)?;
    let results = batch(&state, &ctx, group_id, &users, allowlist_change(true)).await?;
    Ok(per_user_reply(&ctx, group_id, "add_user_whitelist", results, false))
}

/// `DELETE /chatgroups/{g}/white/users/{u[,u…]}`: always a list, as Agora answers.
pub(crate) async fn allowlist_remove(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group, users)): GroupUserPath,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let users = path_users(&users, BATCH_MAX)?;
    let results = batch(&state, &ctx, group_id, &users, allowlist_change(false)).await?;
    Ok(per_user_reply(&ctx, group_id, "remove_user_whitelist", results, false))
}

/// `GET /chatgroups/{g}/white/users/{u}`: whether the user is allowlisted (the user or a manager).
pub(crate) async fn is_allowlisted(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group, user)): GroupUserPath,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?.clone();
    let group_id = parse_group_id(&group)?;
    let user = parse_user(&user)?;
    let scene = load_scene(&state, &ctx.app, &caller, group_id, std::slice::from_ref(&user)).await?;
    if scene.caller_name() != Some(&user) {
        scene.authorize(GroupAction::ReadRestrictionLists, None)?;
    }
    Ok(ctx.data(scene.user(&user).allowlisted()))
}
