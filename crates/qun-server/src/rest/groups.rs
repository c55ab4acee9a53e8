//! Groups over REST (agora-chat-api.md §2 rows 1–28): lifecycle and lists here; members,
//! roles, restrictions, the announcement and details are the calls groups share with chat
//! rooms (`rest::venue`), routed for [`Group`], whose [`RestVenue`] impl closes this file.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use qun_core::group::default_group_max_users;
use qun_core::limits::BATCH_MAX;
use qun_core::rules::GroupAction;
use qun_core::{GroupId, GroupOperation, GroupSettings, MemberRole, UserName};
use qun_proto::rest::groups::{
    CreateGroup, DisabledState, GroupCreated, GroupDetails, GroupDissolved, GroupSummary, JoinedGroup, MembersAdded,
    ModifyGroup, NewOwnerResult,
};
use qun_proto::rest::venue::{Affiliation, InGroup, MemberResult, SharedDetails};
use qun_proto::{ApiError, ErrorCode};
use qun_store::{GroupMutation, GroupRecord, MemberPage, MembershipRecord, RequestKind};
use serde_json::Value;

use super::paging::{self, Page};
use super::venue::input::{founders, maxusers, modification, self_or_app};
use super::venue::{
    BatchDecision, Counted, MemberRows, RestVenue, UserCall, UserOutcome, UserSegment, VenueCall, VenueList,
    VenueScene, venue_service,
};
use crate::http::{Ctx, HttpError, JsonBody};
use crate::services::groups::{
    self as service, Decision, PlannedEvent, Scene, change_group, has_room, join, leave, load_scene, parse_group_id,
};
use crate::services::{Caller, parse_user};
use crate::state::AppState;

// ------------------------------------------------------------------------ lifecycle

/// `POST /chatgroups`.
pub(crate) async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(body): JsonBody<CreateGroup>,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?;
    let public =
        body.public.ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "group must contain public field!"))?;
    let (owner, members) = founders(caller, body.owner.as_deref(), body.members)?;
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
    let group_id = service::create(&state, &ctx.app, caller, service::CreateGroup { owner, settings, members }).await?;
    Ok(ctx.data(GroupCreated { groupid: group_id.to_string() }))
}

/// `PUT /chatgroups/{id}`: settings, or `{newowner}`.
pub(crate) async fn modify(
    VenueCall { state, ctx, id: group_id }: VenueCall<Group>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?;
    let request: ModifyGroup = modification(body, ModifyGroup::FIELDS)?;
    if let Some(new_owner) = &request.newowner {
        let new_owner = parse_user(new_owner)?;
        transfer(&state, &ctx, caller, group_id, new_owner).await?;
        return Ok(ctx.data(NewOwnerResult { newowner: true }));
    }
    let plan_limit = ctx.app.settings.plan.group_member_limit();
    let (changed, _) = change_group(&state, &ctx.app, caller, group_id, &[], |scene| {
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
        scene.update_settings(&mut decision, settings);
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
pub(crate) async fn dissolve(VenueCall { state, ctx, id: group_id }: VenueCall<Group>) -> Result<Response, HttpError> {
    let caller = ctx.caller()?;
    let members = state.store.member_names(ctx.app.id, group_id).await?;
    change_group(&state, &ctx.app, caller, group_id, &members, |scene| {
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

/// `POST /chatgroups/{id}/disable` (`DISABLED`) and `/enable`: the app administrator. Setting
/// the state the group has is allowed and records nothing.
pub(crate) async fn set_disabled<const DISABLED: bool>(
    VenueCall { state, ctx, id: group_id }: VenueCall<Group>,
) -> Result<Response, HttpError> {
    let (action, operation) = if DISABLED {
        (GroupAction::Disable, GroupOperation::DisableGroup)
    } else {
        (GroupAction::Enable, GroupOperation::AbleGroup)
    };
    change_group(&state, &ctx.app, ctx.caller()?, group_id, &[], |scene| {
        scene.authorize(action, None)?;
        let mut decision = Decision::new(());
        if scene.group().disabled != DISABLED {
            decision.mutations.push(GroupMutation::SetDisabled(DISABLED));
            decision.events.push(PlannedEvent::new(operation, scene.actor_label(), Vec::new()));
        }
        Ok(decision)
    })
    .await?;
    Ok(ctx.data(DisabledState { disabled: DISABLED }))
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
    let before = paging::cursor_param(&ctx, |cursor| GroupId::parse(cursor).ok())?;
    let groups = state.store.groups_page(ctx.app.id, public_only, before, limit + 1).await?;
    let (groups, cursor) = paging::cut(groups, limit, |group| group.id.to_string());
    let summaries: Vec<GroupSummary> = groups.iter().map(|g| group_summary(g, None)).collect();
    Ok(paging::listed(&ctx, summaries, cursor, None))
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
pub(crate) async fn joined(UserCall { state, ctx, user }: UserCall) -> Result<Response, HttpError> {
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
pub(crate) async fn joined_count(UserCall { state, ctx, user }: UserCall) -> Result<Response, HttpError> {
    let (_, total) = state.store.user_groups(ctx.app.id, &user, 0, 1).await?;
    Ok(ctx.data(total))
}

/// `GET /chatgroups/{g}/user/{u}/is_joined`.
pub(crate) async fn is_joined(
    VenueCall { state, ctx, id: group_id }: VenueCall<Group>,
    UserSegment(user): UserSegment,
) -> Result<Response, HttpError> {
    let user = self_or_app(&ctx, &user)?;
    let scene = load_scene(&state, &ctx.app, &Caller::AppAdmin, group_id, std::slice::from_ref(&user)).await?;
    Ok(ctx.data(scene.standing(&user).is_member()))
}

// ------------------------------------------------------------------------ the venue

/// Groups as a [`RestVenue`]: the calls they share with chat rooms are routed with `::<Group>`.
#[derive(Debug)]
pub(crate) enum Group {}

venue_service! {
    Group {
        id: GroupId,
        parse: parse_group_id,
        load: load_scene,
        change: change_group.0,
        scene: Scene,
        record: group,
        decision: Decision,
        event: PlannedEvent,
        mutation: GroupMutation,
        operation: GroupOperation,
        action: GroupAction,
        settings: GroupSettings,
        set_admin: |user, admin| GroupMutation::SetRole {
            user,
            role: if admin { MemberRole::Admin } else { MemberRole::Member },
        },
        allowlisted: |scene: &Scene, user| scene.user(user).allowlisted(),
    }
}

impl RestVenue for Group {
    const COLLECTION: &'static str = "chatgroups";
    const ID_PARAM: &'static str = "group";
    const NOUN: &'static str = "group";

    async fn names(call: &VenueCall<Group>, list: VenueList) -> Result<Vec<UserName>, HttpError> {
        let (state, app_id, group_id) = (&call.state, call.ctx.app.id, call.id);
        Ok(match list {
            VenueList::Admins => {
                let managers = state.store.group_managers(app_id, group_id).await?;
                managers.into_iter().filter(|m| m.role == MemberRole::Admin).map(|m| m.user).collect()
            }
            VenueList::Blocklist => state.store.blocklist(app_id, group_id).await?,
            VenueList::Allowlist => state.store.allowlist(app_id, group_id).await?,
        })
    }

    async fn mutes(call: &VenueCall<Group>, now: i64) -> Result<Vec<(UserName, i64)>, HttpError> {
        Ok(call.state.store.mute_list(call.ctx.app.id, call.id, now).await?)
    }

    const MEMBERS_LIMIT: u32 = 10;
    const MEMBERS_PAGE_SIZE: u32 = 10;

    /// easemob-websdk 4.21.1's listGroupMembers sends `version=v3` with pagenum/pagesize: the
    /// page parameters win over `version=v3`, which alone means cursor mode.
    fn member_cursor_mode(ctx: &Ctx) -> bool {
        let paged = ctx.param("pagenum").is_some() || ctx.param("pagesize").is_some();
        ctx.param("cursor").is_some() || ctx.param("limit").is_some() || (!paged && ctx.param("version") == Some("v3"))
    }

    async fn member_page(call: &VenueCall<Group>, _: &Scene, page: MemberPage) -> Result<MemberRows, HttpError> {
        let members = call.state.store.members_page(call.ctx.app.id, call.id, page).await?;
        let with_joined_time = call.ctx.flag_param("joined_time");
        Ok(members.iter().map(|m| (m.join_order, affiliation(m, with_joined_time))).collect())
    }

    type Details = GroupDetails;

    type Joined = GroupSummary;
    /// The older call (`/users/{u}/joined_chatgroups`); pagenum counts from 1 here.
    const JOINED_PAGE_SIZE: (u32, u32) = (10, 100);

    /// With the caller's role in each; no total.
    async fn joined(call: &UserCall, (offset, size): Page) -> Result<Counted<GroupSummary>, HttpError> {
        let (groups, _) = call.state.store.user_groups(call.ctx.app.id, &call.user, offset, size).await?;
        let summaries = groups.iter().map(|(g, m)| group_summary(g, Some(m.role.permission().to_owned()))).collect();
        Ok((summaries, None))
    }

    /// With every member, and the caller's role when the caller is a user.
    async fn details(state: &AppState, ctx: &Ctx, group_id: GroupId) -> Result<GroupDetails, HttpError> {
        let scene = load_scene(state, &ctx.app, ctx.caller()?, group_id, &[]).await?;
        scene.authorize(GroupAction::ReadInfo, None)?;
        let everyone = MemberPage::After { join_order: None, limit: scene.group().member_count.max(1) };
        let members = state.store.members_page(ctx.app.id, group_id, everyone).await?;
        let permission = scene.caller_name().map(|me| match scene.user(me).membership.as_ref() {
            Some(m) => m.role.permission().to_owned(),
            None => "none".to_owned(),
        });
        Ok(group_details(scene.group(), &members, ctx.flag_param("joined_time"), permission))
    }

    fn add(scene: &Scene, state: &AppState, decision: &mut BatchDecision<Group>, user: &UserName) -> UserOutcome {
        let adds = decision.mutations.iter().filter(|m| matches!(m, GroupMutation::AddMember { .. })).count();
        if !has_room(scene, adds) {
            return Err(ApiError::new(ErrorCode::ExceedLimit, "group member count reached the limit"));
        }
        join(scene, state, decision, user, Some(GroupOperation::DirectJoined));
        Ok(0)
    }

    fn kick(scene: &Scene, decision: &mut BatchDecision<Group>, user: &UserName) -> UserOutcome {
        leave(scene, decision, user, true);
        Ok(0)
    }

    const REMOVE_MAX: usize = BATCH_MAX;

    /// A member leaves; a pending application or invitation goes, so that nothing acts on it
    /// after an unblock.
    fn block(scene: &Scene, decision: &mut BatchDecision<Group>, user: &UserName) -> UserOutcome {
        if scene.standing(user).is_member() {
            leave(scene, decision, user, true);
        }
        for kind in [RequestKind::Application, RequestKind::Invitation] {
            decision.mutations.push(GroupMutation::DeleteRequest { user: user.clone(), kind });
        }
        decision.mutations.push(GroupMutation::Blocklist { user: user.clone() });
        Ok(0)
    }

    type ListKey = InGroup;

    fn list_key(group_id: GroupId) -> InGroup {
        InGroup { groupid: group_id.to_string() }
    }

    type MemberOutcome = MemberResult<InGroup>;

    /// `{result, action, user, groupid, reason?}`.
    fn member_outcome(group_id: GroupId, action: &str, user: &UserName, refusal: Option<String>) -> MemberResult {
        MemberResult {
            result: refusal.is_none(),
            action: Some(action.to_owned()),
            user: user.to_string(),
            venue: Some(Group::list_key(group_id)),
            reason: refusal,
            expire: None,
        }
    }

    type MembersAdded = MembersAdded;

    fn members_added(group_id: GroupId, added: Vec<String>) -> MembersAdded {
        MembersAdded { newmembers: added, groupid: group_id.to_string(), action: "add_member".into() }
    }
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
        shared: SharedDetails {
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
        },
        disabled: group.disabled,
        public: group.settings.public,
        affiliations: members.iter().map(|m| affiliation(m, with_joined_time)).collect(),
        permission,
    }
}

/// `{"owner": u}` for the owner, `{"member": u}` for admins and members.
fn affiliation(member: &MembershipRecord, with_joined_time: bool) -> Affiliation {
    let name = Some(member.user.to_string());
    let (owner, member_name) = if member.role == MemberRole::Owner { (name, None) } else { (None, name) };
    Affiliation { owner, member: member_name, joined_time: with_joined_time.then_some(member.joined_ms) }
}
