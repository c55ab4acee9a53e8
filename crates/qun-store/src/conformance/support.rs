//! What the behaviours share: names, records and the store calls that set a scene.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use qun_core::{
    Audience, GroupEvent, GroupId, GroupOperation, GroupSettings, MemberRole, RoomId, RoomSettings, UserName,
};

use crate::prelude::*;
use crate::{
    AppSettings, AppendOutcome, AppliedChange, Conversation, EventRecord, GroupChange, GroupMutation, GroupRecord,
    MemberPage, NewApp, NewGroup, NewMessage, NewRoom, NewUser, QueueHead, QueueKey, RequestKind, RequestRecord,
    RoomChange, RoomMutation, RoomRecord, SharedFileRecord, StoreResult, TimelineEntry, TokenRecord,
};

pub(super) const NOW: i64 = 1_700_000_000_000;

pub(super) fn user(name: &str) -> UserName {
    UserName::parse(name).expect("valid user name")
}

pub(super) fn users(names: &[&str]) -> Vec<UserName> {
    names.iter().map(|name| user(name)).collect()
}

pub(super) fn chat(a: &str, b: &str) -> Conversation {
    Conversation::chat(user(a), user(b))
}

/// Message `id` with payload `m<id>`, created at `NOW + id`.
pub(super) fn message(id: u64, conversation: &Conversation, sender: &str, client_id: Option<u64>) -> NewMessage {
    NewMessage {
        id,
        conversation: conversation.clone(),
        sender: user(sender),
        client_id,
        payload: format!("m{id}").into_bytes(),
        created_ms: NOW + id as i64,
    }
}

pub(super) async fn append(
    store: &dyn Store,
    app_id: i64,
    messages: Vec<NewMessage>,
) -> Vec<StoreResult<AppendOutcome>> {
    let results = store.append_messages(app_id, &messages).await.expect("append_messages");
    assert_eq!(results.len(), messages.len(), "one result per message");
    results
}

/// The sequence of each message, all of which must have been stored.
pub(super) fn stored_seqs(results: Vec<StoreResult<AppendOutcome>>) -> Vec<i64> {
    results
        .into_iter()
        .map(|result| match result {
            Ok(AppendOutcome::Stored { seq }) => seq,
            other => panic!("not stored: {other:?}"),
        })
        .collect()
}

pub(super) fn seqs_and_ids(entries: &[TimelineEntry]) -> Vec<(i64, u64)> {
    entries.iter().map(|e| (e.seq, e.id)).collect()
}

pub(super) async fn chat_entries(store: &dyn Store, app_id: i64, conversation: &Conversation) -> Vec<(i64, u64)> {
    seqs_and_ids(&store.chat_timeline(app_id, conversation, 0, 100).await.expect("chat_timeline"))
}

pub(super) fn queue_keys(queues: &[QueueHead]) -> Vec<QueueKey> {
    queues.iter().map(|q| q.queue.clone()).collect()
}

pub(super) fn names<'a>(users: impl IntoIterator<Item = &'a UserName>) -> Vec<String> {
    users.into_iter().map(|name| name.as_str().to_owned()).collect()
}

pub(super) fn new_app(name: &str) -> NewApp {
    NewApp {
        uuid: format!("uuid-{name}"),
        org: "qun".into(),
        name: name.into(),
        client_id: format!("client-{name}"),
        client_secret_hash: vec![1, 2, 3],
        settings: AppSettings { open_registration: false, ..AppSettings::default() },
        created_ms: NOW,
    }
}

pub(super) async fn app(store: &dyn Store) -> i64 {
    store.ensure_app(&new_app("conformance")).await.expect("ensure_app").id
}

pub(super) fn new_user(name: &str) -> NewUser {
    NewUser {
        name: user(name),
        uuid: format!("uuid-{name}"),
        password_hash: "hash".into(),
        nickname: format!("nick {name}"),
        created_ms: NOW,
    }
}

pub(super) async fn register(store: &dyn Store, app_id: i64, names: &[&str]) {
    let new: Vec<_> = names.iter().map(|name| new_user(name)).collect();
    for result in store.create_users(app_id, &new).await.expect("create_users") {
        result.expect("a new user");
    }
}

pub(super) fn token(app_id: i64, hash: &[u8], user_name: Option<&str>, expires_ms: Option<i64>) -> TokenRecord {
    TokenRecord { hash: hash.to_vec(), app_id, user: user_name.map(user), created_ms: NOW, expires_ms }
}

pub(super) async fn insert_token(store: &dyn Store, token: TokenRecord) {
    store.insert_token(&token).await.expect("insert_token");
}

pub(super) fn settings(name: &str, public: bool) -> GroupSettings {
    GroupSettings {
        name: name.into(),
        description: String::new(),
        avatar: String::new(),
        public,
        approval_required: false,
        allow_invites: false,
        invite_need_confirm: true,
        max_users: 200,
        custom: String::new(),
    }
}

pub(super) fn add(name: &str, role: MemberRole, join_order: i64) -> GroupMutation {
    GroupMutation::AddMember { user: user(name), role, join_order }
}

pub(super) fn request(
    name: &str,
    kind: RequestKind,
    inviter: Option<&str>,
    message: &str,
    created_ms: i64,
) -> RequestRecord {
    RequestRecord { user: user(name), kind, inviter: inviter.map(user), message: message.into(), created_ms }
}

pub(super) fn file(file_id: &str, created_ms: i64) -> SharedFileRecord {
    SharedFileRecord {
        file_id: file_id.into(),
        name: format!("{file_id}.txt"),
        owner: user("owner"),
        size: 42,
        created_ms,
    }
}

pub(super) fn event(operation: GroupOperation, group_id: GroupId, to: &[&str]) -> GroupEvent {
    GroupEvent {
        operation,
        group_id,
        group_name: "group".into(),
        from: "owner".into(),
        to: users(to),
        reason: String::new(),
        member_count: 2,
        timestamp_ms: NOW,
    }
}

pub(super) fn to_group(id: u64, event: GroupEvent, except: Option<&str>) -> EventRecord {
    EventRecord { id, audience: Audience::Group { except: except.map(user) }, event }
}

pub(super) fn to_users(id: u64, event: GroupEvent, names: &[&str]) -> EventRecord {
    EventRecord { id, audience: Audience::Users(users(names)), event }
}

pub(super) fn change(mutations: Vec<GroupMutation>, events: Vec<EventRecord>) -> GroupChange {
    GroupChange { mutations, events, now_ms: NOW }
}

/// Creates group `id` with the given mutations (its members) and returns its id.
pub(super) async fn create_group_with(
    store: &dyn Store,
    app_id: i64,
    id: u64,
    public: bool,
    mutations: Vec<GroupMutation>,
) -> GroupId {
    let owner = mutations
        .iter()
        .find_map(|m| match m {
            GroupMutation::AddMember { user, role: MemberRole::Owner, .. } => Some(user.clone()),
            _ => None,
        })
        .expect("an owner");
    let group =
        NewGroup { id: GroupId(id), owner, settings: settings(&format!("group {id}"), public), created_ms: NOW };
    store.create_group(app_id, &group, &change(mutations, vec![])).await.expect("create_group");
    group.id
}

/// Creates public group `id` owned by `owner` (join_order 1), `members` joining after.
pub(super) async fn create_group(store: &dyn Store, app_id: i64, id: u64, owner: &str, members: &[&str]) -> GroupId {
    let mut mutations = vec![add(owner, MemberRole::Owner, 1)];
    mutations.extend(members.iter().zip(2..).map(|(name, join_order)| add(name, MemberRole::Member, join_order)));
    create_group_with(store, app_id, id, true, mutations).await
}

pub(super) async fn group_record(store: &dyn Store, app_id: i64, group_id: GroupId) -> GroupRecord {
    store.group_snapshot(app_id, group_id, &[], NOW).await.expect("group_snapshot").expect("the group exists").group
}

pub(super) async fn member_names(store: &dyn Store, app_id: i64, group_id: GroupId) -> Vec<String> {
    names(store.member_names(app_id, group_id).await.expect("member_names").iter())
}

/// Applies mutations at the group's current version.
pub(super) async fn apply(
    store: &dyn Store,
    app_id: i64,
    group_id: GroupId,
    mutations: Vec<GroupMutation>,
) -> AppliedChange {
    apply_with_events(store, app_id, group_id, mutations, vec![]).await
}

pub(super) async fn apply_with_events(
    store: &dyn Store,
    app_id: i64,
    group_id: GroupId,
    mutations: Vec<GroupMutation>,
    events: Vec<EventRecord>,
) -> AppliedChange {
    let version = group_record(store, app_id, group_id).await.version;
    let applied = store.apply_group_change(app_id, group_id, version, &change(mutations, events)).await;
    let applied = applied.expect("apply_group_change");
    assert_eq!(applied.version, version + 1);
    applied
}

// Chat room helpers.

pub(super) fn room_settings(name: &str) -> RoomSettings {
    RoomSettings { name: name.into(), description: "about".into(), max_users: 1000, custom: String::new() }
}

pub(super) fn room_add(name: &str, join_order: i64) -> RoomMutation {
    RoomMutation::AddMember { user: user(name), join_order }
}

pub(super) fn room_change(mutations: Vec<RoomMutation>) -> RoomChange {
    RoomChange { mutations, now_ms: NOW }
}

pub(super) fn set_room_attributes(owner: &str, auto_delete: bool, pairs: &[(&str, &str)]) -> RoomMutation {
    RoomMutation::SetAttributes {
        owner: user(owner),
        auto_delete,
        attributes: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

/// Creates room `id` owned by `owner` (in the room, join_order 1), `members` joining after.
pub(super) async fn create_room(store: &dyn Store, app_id: i64, id: u64, owner: &str, members: &[&str]) -> RoomId {
    let mut mutations = vec![room_add(owner, 1)];
    mutations.extend(members.iter().zip(2..).map(|(name, join_order)| room_add(name, join_order)));
    let room =
        NewRoom { id: RoomId(id), owner: user(owner), settings: room_settings(&format!("room {id}")), created_ms: NOW };
    store.create_room(app_id, &room, &room_change(mutations)).await.expect("create_room");
    room.id
}

pub(super) async fn room_record(store: &dyn Store, app_id: i64, room_id: RoomId) -> RoomRecord {
    store.room_snapshot(app_id, room_id, &[]).await.expect("room_snapshot").expect("the room exists").room
}

pub(super) async fn room_member_names(store: &dyn Store, app_id: i64, room_id: RoomId) -> Vec<String> {
    let members = store.room_members_page(app_id, room_id, MemberPage::Offset { number: 0, size: 1000 }).await;
    names(members.expect("room_members_page").iter().map(|m| &m.user))
}

/// Applies mutations at the room's current version.
pub(super) async fn apply_room(store: &dyn Store, app_id: i64, room_id: RoomId, mutations: Vec<RoomMutation>) -> i64 {
    let version = room_record(store, app_id, room_id).await.version;
    let applied = store.apply_room_change(app_id, room_id, version, &room_change(mutations)).await;
    let applied = applied.expect("apply_room_change");
    assert_eq!(applied, version + 1);
    applied
}

/// Runs two futures concurrently on the current task (the store must interleave them).
pub(super) async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut a_output, mut b_output) = (None, None);
    std::future::poll_fn(|context| {
        if a_output.is_none()
            && let Poll::Ready(output) = a.as_mut().poll(context)
        {
            a_output = Some(output);
        }
        if b_output.is_none()
            && let Poll::Ready(output) = b.as_mut().poll(context)
        {
            b_output = Some(output);
        }
        match (a_output.take(), b_output.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (a, b) => {
                (a_output, b_output) = (a, b);
                Poll::Pending
            }
        }
    })
    .await
}
