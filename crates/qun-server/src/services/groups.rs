//! Group operations. Every change follows one path, [`change_group`]: read a snapshot of the
//! group and the users involved, decide with `qun_core::rules`, and commit the mutations and
//! their events in one transaction guarded by the group's version (re-deciding on conflict).

use std::collections::BTreeSet;

use qun_core::rules::{self, GroupAction};
use qun_core::{Audience, AudienceRule, GroupEvent, GroupId, GroupOperation, GroupSettings, MemberRole, UserName};
use qun_proto::{ApiError, ErrorCode};
use qun_store::{
    AppRecord, AppliedChange, EventRecord, GroupChange, GroupMutation, GroupRecord, GroupSnapshot, NewGroup,
    StoreError, UserInGroup,
};

use crate::ids::now_ms;
use crate::services::recent::RecentEntry;
use crate::services::venue::{self, CountChange, Venue};
use crate::services::{Caller, Services, VenueKind, denial_error, store_error, user_not_found};

/// The shared scene ([`venue::Scene`]) of a group.
pub type Scene = venue::Scene<GroupVenue>;
/// The shared decision ([`venue::Decision`]) of a group change.
pub type Decision<T> = venue::Decision<GroupVenue, T>;

/// Groups, for the shared change path: events are stored with the change and hinted to the
/// sessions they concern after it.
#[derive(Debug)]
pub enum GroupVenue {}

impl Venue for GroupVenue {
    const KIND: VenueKind = VenueKind::Group;
    type Id = GroupId;
    type Snapshot = GroupSnapshot;
    type User = UserInGroup;
    type Mutation = GroupMutation;
    type Event = PlannedEvent;
    type Applied = AppliedChange;

    fn count_change(mutation: &GroupMutation) -> CountChange {
        match mutation {
            GroupMutation::AddMember { .. } => CountChange::Joined,
            GroupMutation::RemoveMember { .. } => CountChange::Left,
            GroupMutation::Dissolve => CountChange::Emptied,
            _ => CountChange::Same,
        }
    }

    fn snapshot_user<'s>(snapshot: &'s GroupSnapshot, name: &UserName) -> Option<&'s UserInGroup> {
        snapshot.user(name)
    }

    fn version(snapshot: &GroupSnapshot) -> i64 {
        snapshot.group.version
    }

    fn not_found(id: GroupId) -> ApiError {
        group_not_found(id)
    }

    fn unchanged(scene: &Scene) -> AppliedChange {
        AppliedChange { version: scene.version(), timeline_seqs: Vec::new() }
    }

    async fn current_version(state: &Services, app: &AppRecord, id: GroupId) -> Result<Option<i64>, ApiError> {
        let groups = state.store.groups(app.id, &[id]).await.map_err(store_error)?;
        Ok(groups.first().map(|group| group.version))
    }

    async fn load_for_change(
        state: &Services,
        app: &AppRecord,
        caller: &Caller,
        id: GroupId,
        users: &[UserName],
    ) -> Result<Scene, ApiError> {
        let mut scene = load_scene(state, app, caller, id, users).await?;
        let managers = state.store.group_managers(app.id, id).await.map_err(store_error)?;
        scene.managers = managers.into_iter().map(|m| m.user).collect();
        Ok(scene)
    }

    async fn commit<T>(
        state: &Services,
        app: &AppRecord,
        scene: &Scene,
        decision: Decision<T>,
    ) -> Result<Option<(T, AppliedChange)>, ApiError> {
        check_join_caps(state, app, added_members(&decision.mutations)).await?;
        let change = GroupChange {
            events: resolve_events(state, scene, &decision),
            mutations: decision.mutations,
            now_ms: scene.now_ms,
        };
        let group_id = scene.group_id();
        match state.store.apply_group_change(app.id, group_id, scene.version(), &change).await {
            Ok(applied) => {
                publish_change(state, app, group_id, &change, &applied);
                Ok(Some((decision.output, applied)))
            }
            Err(StoreError::Conflict) => Ok(None),
            Err(StoreError::NotFound) => Err(group_not_found(group_id)),
            Err(other) => Err(store_error(other)),
        }
    }
}

impl Scene {
    pub fn group(&self) -> &GroupRecord {
        &self.snapshot.group
    }

    pub fn group_id(&self) -> GroupId {
        self.snapshot.group.id
    }

    /// Asks the rules; a denial comes back as the error the client sees.
    pub fn authorize(&self, action: GroupAction, target: Option<&UserName>) -> Result<(), ApiError> {
        let target_standing = target.map(|t| self.standing(t));
        rules::authorize(self.rules_caller(), action, target_standing, self.group().flags())
            .map_err(|denial| denial_error(denial, &self.group_id().to_string(), &self.actor_label(), target))
    }
}

/// An event the operation wants to emit; receivers are resolved by its operation's rule.
#[derive(Debug, Clone)]
pub struct PlannedEvent {
    pub operation: GroupOperation,
    pub from: String,
    pub to: Vec<UserName>,
    pub reason: String,
    /// For `AudienceRule::Inviter` and `EveryMemberIndividually`: the explicit receivers.
    pub receivers: Vec<UserName>,
}

impl PlannedEvent {
    pub fn new(operation: GroupOperation, from: impl Into<String>, to: Vec<UserName>) -> Self {
        PlannedEvent { operation, from: from.into(), to, reason: String::new(), receivers: Vec::new() }
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    pub fn receivers(mut self, receivers: Vec<UserName>) -> Self {
        self.receivers = receivers;
        self
    }
}

/// Reads, decides and commits one group operation (see [`venue::change`]).
///
/// `users` are the users `decide` will look at besides the caller.
pub async fn change_group<T>(
    state: &Services,
    app: &AppRecord,
    caller: &Caller,
    group_id: GroupId,
    users: &[UserName],
    decide: impl Fn(&Scene) -> Result<Decision<T>, ApiError>,
) -> Result<(T, AppliedChange), ApiError> {
    venue::change(state, app, caller, group_id, users, decide).await
}

/// [`change_group`] for decisions that also need facts read outside the group snapshot (a
/// pending request, a file's owner, members' current attributes): see [`venue::change_with`].
pub async fn change_group_with<Facts, T, FactsRead>(
    state: &Services,
    app: &AppRecord,
    caller: &Caller,
    group_id: GroupId,
    users: &[UserName],
    read_facts: impl Fn() -> FactsRead,
    decide: impl Fn(&Scene, &Facts) -> Result<Decision<T>, ApiError>,
) -> Result<T, ApiError>
where
    FactsRead: std::future::Future<Output = Result<Facts, ApiError>>,
{
    venue::change_with(state, app, caller, group_id, users, read_facts, decide).await
}

/// The users a change makes members.
fn added_members(mutations: &[GroupMutation]) -> impl Iterator<Item = &UserName> {
    mutations.iter().filter_map(|mutation| match mutation {
        GroupMutation::AddMember { user, .. } => Some(user),
        _ => None,
    })
}

/// Refuses a change that would make a user a member of more groups than the app's plan allows
/// (Agora's "groups a user may join"; owned groups count): one user cannot be made to carry
/// tens of thousands of groups, nor create them. Checked before the commit, so concurrent
/// joins may pass the cap by a few; the cap bounds the growth, not the exact count.
async fn check_join_caps(
    state: &Services,
    app: &AppRecord,
    users: impl Iterator<Item = &UserName>,
) -> Result<(), ApiError> {
    let cap = u64::from(app.settings.plan.groups_joined_limit());
    for user in users {
        let (_, joined) = state.store.user_groups(app.id, user, 0, 0).await.map_err(store_error)?;
        if joined >= cap {
            return Err(ApiError::new(ErrorCode::ExceedLimit, format!("user {user} has joined too many groups!")));
        }
    }
    Ok(())
}

/// Tells the hub what a committed change means for online sessions: who joined or left the
/// group, and which queues have new events (group-wide ones also go to the recent-timeline
/// cache, serialized once).
pub fn publish_change(
    state: &Services,
    app: &AppRecord,
    group_id: GroupId,
    change: &GroupChange,
    applied: &AppliedChange,
) {
    let app_id = app.id;
    let mut joined = Vec::new();
    let mut left = Vec::new();
    let mut dissolved = false;
    for mutation in &change.mutations {
        match mutation {
            GroupMutation::AddMember { user, .. } => joined.push(user.clone()),
            GroupMutation::RemoveMember { user } => left.push(user.clone()),
            GroupMutation::Dissolve => dissolved = true,
            GroupMutation::SetShielded { user, .. } => state.delivery.standing_changed(app_id, group_id, user),
            _ => {}
        }
    }
    if !joined.is_empty() || !left.is_empty() {
        state.delivery.membership_changed(app_id, group_id, &joined, &left);
    }
    let app_key = qun_proto::msync::app_key(&app.org, &app.name);
    let mut group_wide = change.events.iter().filter(|e| matches!(e.audience, Audience::Group { .. }));
    for (event, seq) in group_wide.by_ref().zip(&applied.timeline_seqs) {
        let Audience::Group { except } = &event.audience else { continue };
        let meta = qun_proto::msync::group_event_meta(&app_key, event.id, &event.event);
        let entry = RecentEntry {
            seq: *seq,
            id: event.id,
            except: except.clone(),
            is_message: false,
            meta: qun_proto::msync::Message::encode_to_vec(&meta).into(),
        };
        state.recent.insert(app_id, group_id, entry);
    }
    for event in &change.events {
        if let Audience::Users(users) = &event.audience {
            for user in users {
                state.delivery.queue_updated(app_id, user, &qun_store::QueueKey::Personal, None);
            }
        }
    }
    if !applied.timeline_seqs.is_empty() && !dissolved {
        state.delivery.group_updated(app_id, group_id, None);
    }
    if dissolved {
        state.delivery.group_dissolved(app_id, group_id);
        state.recent.forget(app_id, group_id);
    }
}

/// A read-only look at a group: the snapshot for the caller and `users`.
pub async fn load_scene(
    state: &Services,
    app: &AppRecord,
    caller: &Caller,
    group_id: GroupId,
    users: &[UserName],
) -> Result<Scene, ApiError> {
    let mut asked: Vec<UserName> = users.to_vec();
    if let Caller::User(name) = caller {
        asked.push(name.clone());
    }
    let now = now_ms() as i64;
    let snapshot = state
        .store
        .group_snapshot(app.id, group_id, &asked, now)
        .await
        .map_err(store_error)?
        .ok_or_else(|| group_not_found(group_id))?;
    // Reads and sends never need the owner and admins; changes load them (for receivers).
    Ok(Scene::new(snapshot, now, caller))
}

/// Turns planned events into stored records with resolved receivers.
fn resolve_events<T>(state: &Services, scene: &Scene, decision: &Decision<T>) -> Vec<EventRecord> {
    let member_count = venue::member_count_after::<GroupVenue>(scene.group().member_count, &decision.mutations);
    let group_name = decision
        .mutations
        .iter()
        .rev()
        .find_map(|m| match m {
            GroupMutation::UpdateSettings(settings) => Some(settings.name.clone()),
            _ => None,
        })
        .unwrap_or_else(|| scene.group().settings.name.clone());
    let mut records = Vec::new();
    for planned in &decision.events {
        let Some(audience) = audience(scene, planned) else { continue };
        records.push(EventRecord {
            id: state.ids.next(),
            audience,
            event: GroupEvent {
                operation: planned.operation,
                group_id: scene.group_id(),
                group_name: group_name.clone(),
                from: planned.from.clone(),
                to: planned.to.clone(),
                reason: planned.reason.clone(),
                member_count,
                timestamp_ms: scene.now_ms,
            },
        });
    }
    records
}

/// The receivers of one event, by its operation's rule (agora-chat-api.md §5). `None` when
/// nobody is to receive it (e.g. `create` by the app administrator).
pub fn audience(scene: &Scene, planned: &PlannedEvent) -> Option<Audience> {
    let actor = scene.caller_name().cloned();
    let users = |set: BTreeSet<UserName>| (!set.is_empty()).then(|| Audience::Users(set.into_iter().collect()));
    let subjects: BTreeSet<UserName> = planned.to.iter().cloned().collect();
    let managers: BTreeSet<UserName> = scene.managers.iter().cloned().collect();
    match planned.operation.audience_rule() {
        AudienceRule::Actor => users(actor.into_iter().collect()),
        AudienceRule::EveryMemberIndividually | AudienceRule::Inviter => {
            users(planned.receivers.iter().cloned().collect())
        }
        AudienceRule::Members => Some(Audience::Group { except: None }),
        AudienceRule::MembersExceptActor => Some(Audience::Group { except: actor }),
        AudienceRule::MembersExceptSubject => Some(Audience::Group { except: planned.to.first().cloned() }),
        AudienceRule::OwnerAndAdmins => users(managers),
        AudienceRule::Subjects => users(subjects),
        AudienceRule::OldAndNewOwner => {
            users(subjects.into_iter().chain(std::iter::once(scene.group().owner.clone())).collect())
        }
        AudienceRule::OwnerAdminsAndSubjects => users(managers.union(&subjects).cloned().collect()),
        AudienceRule::OwnerAdminsAndSubjectsExceptActor => {
            let mut set: BTreeSet<UserName> = managers.union(&subjects).cloned().collect();
            if let Some(actor) = &actor {
                set.remove(actor);
            }
            users(set)
        }
    }
}

pub fn group_not_found(group_id: GroupId) -> ApiError {
    group_not_found_raw(&group_id.to_string())
}

pub fn parse_group_id(raw: &str) -> Result<GroupId, ApiError> {
    GroupId::parse(raw.trim()).map_err(|_| group_not_found_raw(raw))
}

/// Agora's answer for a group id that names no group, as the client wrote it.
fn group_not_found_raw(raw: &str) -> ApiError {
    ApiError::new(ErrorCode::GroupNotFound, format!("grpID {raw} does not exist!"))
}

// ------------------------------------------------------------------------ create

/// A validated create request.
#[derive(Debug)]
pub struct CreateGroup {
    pub owner: UserName,
    pub settings: GroupSettings,
    pub members: Vec<UserName>,
}

/// Creates a group with its owner and initial members (who join directly, as Agora does).
pub async fn create(
    state: &Services,
    app: &AppRecord,
    caller: &Caller,
    request: CreateGroup,
) -> Result<GroupId, ApiError> {
    if let Caller::User(name) = caller
        && name != &request.owner
    {
        return Err(ApiError::new(ErrorCode::ForbiddenOp, "a user may only create groups they own"));
    }
    // A user token creates at most so many groups a minute (the app token is not limited);
    // counted before the creation, given back if it fails.
    let creation_count = match caller {
        Caller::User(name) => {
            let limit = state.config.max_groups_created_per_minute;
            let counted = state.group_creations.reserve(&(app.id, name.clone()), limit, now_ms());
            Some(counted.ok_or_else(|| {
                ApiError::new(ErrorCode::ReachLimit, format!("a user may create at most {limit} groups a minute"))
            })?)
        }
        Caller::AppAdmin => None,
    };
    request.settings.validate(app.settings.plan.group_member_limit()).map_err(|e| {
        ApiError::new(
            if matches!(e, qun_core::group::SettingsError::MaxUsersOutOfRange { .. }) {
                ErrorCode::ExceedLimit
            } else {
                ErrorCode::InvalidParameter
            },
            e.to_string(),
        )
    })?;
    let mut members: Vec<UserName> = Vec::new();
    for member in request.members {
        if member != request.owner && !members.contains(&member) {
            members.push(member);
        }
    }
    if members.len() + 1 > request.settings.max_users as usize {
        return Err(ApiError::new(ErrorCode::ExceedLimit, "members size is greater than max user size !"));
    }
    // Every named user must exist.
    for name in std::iter::once(&request.owner).chain(&members) {
        if state.store.user(app.id, name).await.map_err(store_error)?.is_none() {
            return Err(user_not_found(name));
        }
    }
    let now = now_ms() as i64;
    let group_id = GroupId(state.ids.next());
    let mut mutations = vec![GroupMutation::AddMember {
        user: request.owner.clone(),
        role: MemberRole::Owner,
        join_order: state.ids.next() as i64,
    }];
    let mut events = Vec::new();
    let base = GroupEvent {
        operation: GroupOperation::Create,
        group_id,
        group_name: request.settings.name.clone(),
        from: request.owner.to_string(),
        to: Vec::new(),
        reason: String::new(),
        member_count: members.len() as u32 + 1,
        timestamp_ms: now,
    };
    events.push(EventRecord {
        id: state.ids.next(),
        audience: Audience::Users(vec![request.owner.clone()]),
        event: base.clone(),
    });
    for member in &members {
        mutations.push(GroupMutation::AddMember {
            user: member.clone(),
            role: MemberRole::Member,
            join_order: state.ids.next() as i64,
        });
        events.push(EventRecord {
            id: state.ids.next(),
            audience: Audience::Users(vec![member.clone()]),
            event: GroupEvent { operation: GroupOperation::DirectJoined, to: vec![member.clone()], ..base.clone() },
        });
    }
    check_join_caps(state, app, added_members(&mutations)).await?;
    let new = NewGroup { id: group_id, owner: request.owner.clone(), settings: request.settings, created_ms: now };
    let change = GroupChange { mutations, events, now_ms: now };
    let applied = state.store.create_group(app.id, &new, &change).await.map_err(store_error)?;
    if let Some(counted) = creation_count {
        counted.keep();
    }
    publish_change(state, app, group_id, &change, &applied);
    tracing::info!(group_id = %group_id, owner = %request.owner, members = members.len() + 1, "group created");
    Ok(group_id)
}

// ------------------------------------------------------------------------ joining

/// Events and mutations for `user` joining the group: the others hear `memberPresence`;
/// the new member hears `joined_event` (`directJoined`, `acceptRequest`) from the actor,
/// unless they joined on their own (`None`).
pub fn join(
    scene: &Scene,
    state: &Services,
    decision: &mut Decision<impl Sized>,
    user: &UserName,
    joined_event: Option<GroupOperation>,
) {
    decision.mutations.push(GroupMutation::AddMember {
        user: user.clone(),
        role: MemberRole::Member,
        join_order: state.ids.next() as i64,
    });
    if let Some(operation) = joined_event {
        decision.events.push(PlannedEvent::new(operation, scene.actor_label(), vec![user.clone()]));
    }
    decision.events.push(PlannedEvent::new(GroupOperation::Presence, user.to_string(), vec![user.clone()]));
}

/// Events and mutations for `user` leaving (quit, kick or block).
pub fn leave(scene: &Scene, decision: &mut Decision<impl Sized>, user: &UserName, kicked: bool) {
    decision.mutations.push(GroupMutation::RemoveMember { user: user.clone() });
    if kicked {
        decision.events.push(PlannedEvent::new(GroupOperation::Kick, scene.actor_label(), vec![user.clone()]));
    }
    decision.events.push(PlannedEvent::new(GroupOperation::Absence, user.to_string(), vec![user.clone()]));
}

/// Room left in the group for `adding` more members, given what the decision adds already.
pub fn has_room(scene: &Scene, decision_adds: usize) -> bool {
    (scene.group().member_count as usize + decision_adds) < scene.group().settings.max_users as usize
}
