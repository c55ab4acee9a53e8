//! The conformance suite: what every [`Store`] must do, written once and run on each backend.
//!
//! Each behaviour is a `pub async fn(&dyn Store)` here; [`store_conformance_suite!`](crate::store_conformance_suite) expands
//! one `#[tokio::test]` per behaviour for a backend (the quickwit pattern). A test gets a
//! fresh, empty store from the constructor it is given, so tests never share state.
//!
//! Not for production code: the functions panic when the store misbehaves.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use qun_core::{
    Audience, GroupEvent, GroupId, GroupOperation, GroupSettings, MemberRole, PersonalItem, Receipt, ReceiptKind,
    RoomDelivery, RoomId, RoomSettings, Standing, UserName,
};

use crate::{
    AppSettings, AppendOutcome, AppliedChange, Conversation, EventRecord, GroupChange, GroupMutation, GroupRecord,
    MemberPage, NewApp, NewGroup, NewMessage, NewRoom, NewUser, QueueHead, QueueKey, RequestKind, RequestRecord,
    RoomChange, RoomMutation, RoomRecord, SharedFileRecord, Store, StoreError, StoreResult, TimelineEntry,
    TimelineItem, TokenRecord,
};

/// Expands the conformance suite into `#[tokio::test]`s in the current module.
///
/// `$make_store` is an expression of a future that yields `Option<S>`, where `S` dereferences
/// to a `Store` (an `Arc<dyn Store>`, or a fixture that also keeps a temporary directory
/// alive). `None` skips the test (a backend that is not configured here); it is evaluated
/// afresh for each test. The calling crate needs `tokio` with the `macros` and `rt` features.
#[macro_export]
macro_rules! store_conformance_suite {
    ($make_store:expr) => {
        $crate::store_conformance_suite!(@tests $make_store;
            ensure_app_is_idempotent,
            create_users_reports_each_taken_name,
            users_page_is_in_byte_order,
            set_password_revokes_tokens,
            deactivation_revokes_tokens,
            tokens_expire,
            create_group_stores_its_change,
            snapshot_reports_each_standing,
            stale_version_conflicts_and_changes_nothing,
            failed_change_changes_nothing,
            concurrent_changes_one_wins,
            member_counts_follow_joins_leaves_and_roles,
            members_page_is_newest_joined_first,
            groups_page_is_newest_first,
            user_groups_are_newest_joined_first,
            mute_list_leaves_out_expired_mutes,
            requests_are_replaced_deleted_and_cleared_by_joining,
            shared_files,
            member_attributes_are_set_deleted_and_read_by_key,
            blocklist_allowlist_and_group_switches,
            group_events_take_consecutive_sequence_numbers,
            user_events_go_to_named_users_only,
            receipts_join_the_personal_queue_in_id_order,
            dissolving_removes_everything,
            delete_user_keeps_groups_consistent,
            messages_share_the_group_sequence_with_events,
            group_messages_do_not_bump_the_version,
            a_batch_of_500_messages_takes_consecutive_sequences,
            concurrent_batches_take_distinct_sequences,
            repeated_client_ids_are_stored_once,
            a_missing_group_fails_only_its_slot,
            chat_conversations_are_named_alike_from_both_sides,
            timelines_and_history_page,
            user_queues_list_every_queue_with_the_device_cursor,
            cursors_advance_monotonically_per_device,
            dissolving_removes_the_groups_cursors,
            delete_user_drops_cursors_and_client_ids_but_keeps_conversations,
            create_room_stores_its_members,
            room_snapshot_reports_each_standing,
            stale_room_version_conflicts_and_a_failed_change_changes_nothing,
            concurrent_room_changes_one_wins,
            room_counts_follow_presence_and_admins,
            room_members_page_is_newest_joined_first_and_marks_the_allowlisted,
            rooms_page_and_user_rooms_are_newest_first,
            room_lists_switches_and_settings,
            room_attributes_are_written_replaced_and_deleted,
            destroying_a_room_removes_everything,
            room_super_admins_are_per_app_users,
            delete_user_leaves_rooms_consistent,
            room_delivery_settings_and_presences,
        );
    };
    (@tests $make_store:expr; $($behaviour:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $behaviour() {
                let Some(store) = $make_store.await else { return };
                $crate::conformance::$behaviour(&*store).await;
            }
        )*
    };
}

const NOW: i64 = 1_700_000_000_000;

// ------------------------------------------------------------------------ apps and users

pub async fn ensure_app_is_idempotent(store: &dyn Store) {
    let first = new_app("demo");
    let created = store.ensure_app(&first).await.expect("ensure_app");
    assert_eq!(
        (created.uuid.as_str(), created.org.as_str(), created.name.as_str(), &created.settings),
        (first.uuid.as_str(), "qun", "demo", &first.settings)
    );

    let again = NewApp {
        uuid: "another-uuid".into(),
        client_id: "another-client".into(),
        settings: AppSettings { open_registration: true, ..first.settings.clone() },
        ..first.clone()
    };
    assert_eq!(store.ensure_app(&again).await.expect("ensure_app again"), created, "returns the stored app");
    assert_eq!(store.app_by_key("qun", "demo").await.expect("app_by_key"), Some(created.clone()));
    assert_eq!(store.app_by_key("qun", "nope").await.expect("app_by_key"), None);
    assert_eq!(store.app_by_key("other", "demo").await.expect("app_by_key"), None);

    let second = store.ensure_app(&new_app("second")).await.expect("ensure_app second");
    assert_ne!(second.id, created.id);

    let settings = AppSettings { open_registration: true, rest_rate_limit_per_second: Some(100), ..first.settings };
    store.update_app_settings(created.id, &settings).await.expect("update_app_settings");
    let updated = store.app_by_key("qun", "demo").await.expect("app_by_key").expect("app");
    assert_eq!(updated.settings, settings);
    assert_eq!(store.app_by_key("qun", "second").await.expect("app_by_key"), Some(second.clone()));
    assert!(matches!(store.update_app_settings(second.id + 1000, &settings).await, Err(StoreError::NotFound)));

    // Credentials can be replaced; the app is found with the new ones.
    store.set_app_credentials(created.id, "new-id", b"new-hash").await.expect("set_app_credentials");
    let read = store.app_by_key("qun", "demo").await.expect("app_by_key").expect("the app");
    assert_eq!((read.client_id.as_str(), read.client_secret_hash.as_slice()), ("new-id", b"new-hash".as_slice()));
    assert!(matches!(store.set_app_credentials(second.id + 1000, "x", b"y").await, Err(StoreError::NotFound)));
}

pub async fn create_users_reports_each_taken_name(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["alice"]).await;

    let batch = [new_user("bob"), new_user("alice"), new_user("carol"), new_user("bob")];
    let results = store.create_users(app_id, &batch).await.expect("create_users");
    assert_eq!(results.len(), 4);
    let bob = results[0].as_ref().expect("bob is new");
    assert_eq!((bob.name.as_str(), bob.uuid.as_str(), bob.nickname.as_str()), ("bob", "uuid-bob", "nick bob"));
    assert!(bob.activated);
    assert!(matches!(results[1], Err(StoreError::AlreadyExists)), "alice was taken");
    assert!(results[2].is_ok(), "carol is new");
    assert!(matches!(results[3], Err(StoreError::AlreadyExists)), "bob was taken earlier in the batch");

    assert_eq!(store.user(app_id, &user("bob")).await.expect("user").as_ref(), Some(bob));
    assert!(store.user(app_id, &user("carol")).await.expect("user").is_some());
    assert_eq!(store.user(app_id, &user("dave")).await.expect("user"), None);
    // The first alice is untouched.
    assert_eq!(store.user(app_id, &user("alice")).await.expect("user").expect("alice").nickname, "nick alice");

    // Names are per app.
    let other_app = store.ensure_app(&new_app("other")).await.expect("ensure_app").id;
    let results = store.create_users(other_app, &[new_user("alice")]).await.expect("create_users");
    assert!(results[0].is_ok());
    assert_eq!(store.user(other_app, &user("bob")).await.expect("user"), None);
}

pub async fn users_page_is_in_byte_order(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["carol", "a_b", "alice", "a0", "a.b", "bob", "a-b"]).await;
    let page = |after: Option<&'static str>, limit| async move {
        let after = after.map(user);
        names(store.users_page(app_id, after.as_ref(), limit).await.expect("users_page").iter().map(|u| &u.name))
    };
    assert_eq!(page(None, 3).await, ["a-b", "a.b", "a0"]);
    assert_eq!(page(Some("a0"), 3).await, ["a_b", "alice", "bob"]);
    assert_eq!(page(Some("bob"), 3).await, ["carol"]);
    assert!(page(Some("carol"), 3).await.is_empty());
}

pub async fn set_password_revokes_tokens(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["alice", "bob"]).await;
    insert_token(store, token(app_id, b"alice-1", Some("alice"), None)).await;
    insert_token(store, token(app_id, b"alice-2", Some("alice"), Some(NOW + 60_000))).await;
    insert_token(store, token(app_id, b"bob-1", Some("bob"), None)).await;
    insert_token(store, token(app_id, b"app-1", None, None)).await;

    assert!(store.set_password(app_id, &user("alice"), "new-hash", NOW + 1).await.expect("set_password"));
    let alice = store.user(app_id, &user("alice")).await.expect("user").expect("alice");
    assert_eq!((alice.password_hash.as_str(), alice.modified_ms), ("new-hash", NOW + 1));
    assert_eq!(store.token(b"alice-1", NOW).await.expect("token"), None);
    assert_eq!(store.token(b"alice-2", NOW).await.expect("token"), None);
    assert!(store.token(b"bob-1", NOW).await.expect("token").is_some(), "other users keep theirs");
    assert!(store.token(b"app-1", NOW).await.expect("token").is_some(), "app tokens stay");

    assert!(!store.set_password(app_id, &user("nobody"), "x", NOW).await.expect("set_password"));
}

pub async fn deactivation_revokes_tokens(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["alice", "bob"]).await;
    insert_token(store, token(app_id, b"alice-1", Some("alice"), None)).await;
    insert_token(store, token(app_id, b"bob-1", Some("bob"), None)).await;

    let active = store.set_activated(app_id, &user("alice"), true, NOW + 1).await.expect("set_activated");
    assert!(active.expect("alice").activated);
    assert!(store.token(b"alice-1", NOW).await.expect("token").is_some(), "activation revokes nothing");

    let inactive = store.set_activated(app_id, &user("alice"), false, NOW + 2).await.expect("set_activated");
    let inactive = inactive.expect("alice");
    assert_eq!((inactive.activated, inactive.modified_ms), (false, NOW + 2));
    assert!(!store.user(app_id, &user("alice")).await.expect("user").expect("alice").activated);
    assert_eq!(store.token(b"alice-1", NOW).await.expect("token"), None);
    assert!(store.token(b"bob-1", NOW).await.expect("token").is_some());

    store.set_activated(app_id, &user("alice"), true, NOW + 3).await.expect("set_activated");
    assert_eq!(store.token(b"alice-1", NOW).await.expect("token"), None, "tokens do not come back");
    assert_eq!(store.set_activated(app_id, &user("nobody"), false, NOW).await.expect("set_activated"), None);

    let renamed = store.set_nickname(app_id, &user("alice"), "Alice A.", NOW + 4).await.expect("set_nickname");
    let renamed = renamed.expect("alice");
    assert_eq!((renamed.nickname.as_str(), renamed.modified_ms, renamed.activated), ("Alice A.", NOW + 4, true));
    assert_eq!(store.user(app_id, &user("alice")).await.expect("user"), Some(renamed));
    assert_eq!(store.set_nickname(app_id, &user("nobody"), "x", NOW).await.expect("set_nickname"), None);
}

pub async fn tokens_expire(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["alice"]).await;
    let expiring = token(app_id, b"expiring", Some("alice"), Some(NOW + 1000));
    let forever = token(app_id, b"forever", Some("alice"), None);
    let app_token = token(app_id, b"app", None, Some(NOW + 10));
    for t in [&expiring, &forever, &app_token] {
        insert_token(store, t.clone()).await;
    }
    assert_eq!(store.token(b"expiring", NOW + 999).await.expect("token"), Some(expiring.clone()));
    assert_eq!(store.token(b"expiring", NOW + 1000).await.expect("token"), None);
    assert_eq!(store.token(b"forever", i64::MAX - 1).await.expect("token"), Some(forever));
    assert_eq!(store.token(b"app", NOW).await.expect("token"), Some(app_token));
    assert_eq!(store.token(b"unknown", NOW).await.expect("token"), None);
    assert!(matches!(store.insert_token(&expiring).await, Err(StoreError::AlreadyExists)));
}

// ------------------------------------------------------------------------ group changes

pub async fn create_group_stores_its_change(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = GroupId(1_000_000_000_001);
    let new_group = NewGroup { id: group_id, owner: user("owner"), settings: settings("first", true), created_ms: NOW };
    let create = GroupChange {
        mutations: vec![add("owner", MemberRole::Owner, 1), add("alice", MemberRole::Member, 2)],
        events: vec![
            to_group(10, event(GroupOperation::Presence, group_id, &["alice"]), Some("alice")),
            to_users(11, event(GroupOperation::Create, group_id, &[]), &["owner"]),
        ],
        now_ms: NOW,
    };
    let applied = store.create_group(app_id, &new_group, &create).await.expect("create_group");
    assert_eq!(applied, AppliedChange { version: 1, timeline_seqs: vec![1] });

    let group = group_record(store, app_id, group_id).await;
    assert_eq!((group.id, group.owner.as_str(), &group.settings), (group_id, "owner", &new_group.settings));
    assert_eq!((group.member_count, group.admin_count, group.version, group.last_seq), (2, 0, 1, 1));
    assert_eq!((group.created_ms, group.modified_ms), (NOW, NOW));
    assert_eq!((group.mute_all, group.disabled, group.announcement.as_str()), (false, false, ""));
    assert_eq!(store.user_events(app_id, &user("owner"), 0, 10).await.expect("user_events").len(), 1);

    // A taken id: nothing of the second change is stored.
    let again = GroupChange {
        mutations: vec![add("bob", MemberRole::Owner, 1)],
        events: vec![to_users(12, event(GroupOperation::Create, group_id, &[]), &["bob"])],
        now_ms: NOW + 1,
    };
    let taken = NewGroup { owner: user("bob"), settings: settings("second", false), ..new_group.clone() };
    assert!(matches!(store.create_group(app_id, &taken, &again).await, Err(StoreError::AlreadyExists)));
    assert_eq!(group_record(store, app_id, group_id).await, group);
    assert!(store.user_events(app_id, &user("bob"), 0, 10).await.expect("user_events").is_empty());
    let (_, total) = store.user_groups(app_id, &user("bob"), 0, 10).await.expect("user_groups");
    assert_eq!(total, 0);
}

pub async fn snapshot_reports_each_standing(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["owner", "admin", "member", "outsider", "banned"]).await;
    let group_id = create_group(store, app_id, 100, "owner", &["member"]).await;
    apply(
        store,
        app_id,
        group_id,
        vec![add("admin", MemberRole::Admin, 10), GroupMutation::Blocklist { user: user("banned") }],
    )
    .await;

    let asked = users(&["member", "nobody", "owner", "banned", "admin", "outsider"]);
    let snapshot = store.group_snapshot(app_id, group_id, &asked, NOW).await.expect("snapshot").expect("group");
    let standings: Vec<_> =
        snapshot.users.iter().map(|u| (u.user.as_str(), u.exists, u.standing(), u.blocklisted)).collect();
    assert_eq!(
        standings,
        [
            ("member", true, Standing::Member, false),
            ("nobody", false, Standing::Outsider, false),
            ("owner", true, Standing::Owner, false),
            ("banned", true, Standing::Blocklisted, true),
            ("admin", true, Standing::Admin, false),
            ("outsider", true, Standing::Outsider, false),
        ]
    );
    let admin = snapshot.user(&user("admin")).and_then(|u| u.membership.clone()).expect("admin membership");
    assert_eq!((admin.role, admin.join_order, admin.joined_ms), (MemberRole::Admin, 10, NOW));
    assert_eq!((admin.muted_until_ms, admin.allowlisted, admin.shielded, admin.cursor_seq), (None, false, false, 0));
    assert_eq!(snapshot.group.owner, user("owner"));
    assert_eq!((snapshot.group.member_count, snapshot.group.admin_count, snapshot.group.version), (3, 1, 2));

    assert_eq!(store.group_snapshot(app_id, GroupId(101), &asked, NOW).await.expect("snapshot"), None);
    // A group of another app is not visible.
    let other_app = store.ensure_app(&new_app("other")).await.expect("ensure_app").id;
    assert_eq!(store.group_snapshot(other_app, group_id, &[], NOW).await.expect("snapshot"), None);
}

pub async fn stale_version_conflicts_and_changes_nothing(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 200, "owner", &[]).await;
    let first = GroupChange {
        mutations: vec![GroupMutation::SetAnnouncement("first".into())],
        events: vec![to_group(1, event(GroupOperation::UpdateAnnouncement, group_id, &[]), None)],
        now_ms: NOW + 1,
    };
    let applied = store.apply_group_change(app_id, group_id, 1, &first).await.expect("apply");
    assert_eq!(applied, AppliedChange { version: 2, timeline_seqs: vec![1] });
    let before = group_record(store, app_id, group_id).await;
    assert_eq!((before.version, before.modified_ms, before.announcement.as_str()), (2, NOW + 1, "first"));

    let stale = GroupChange {
        mutations: vec![add("alice", MemberRole::Member, 5), GroupMutation::SetAnnouncement("second".into())],
        events: vec![
            to_group(2, event(GroupOperation::Presence, group_id, &["alice"]), None),
            to_users(3, event(GroupOperation::DirectJoined, group_id, &["alice"]), &["alice"]),
        ],
        now_ms: NOW + 2,
    };
    assert!(matches!(store.apply_group_change(app_id, group_id, 1, &stale).await, Err(StoreError::Conflict)));
    assert_eq!(group_record(store, app_id, group_id).await, before, "nothing changed");
    assert_eq!(store.group_timeline(app_id, group_id, 0, 10).await.expect("timeline").len(), 1);
    assert!(store.user_events(app_id, &user("alice"), 0, 10).await.expect("user_events").is_empty());
    assert_eq!(member_names(store, app_id, group_id).await, ["owner"]);

    let unknown = store.apply_group_change(app_id, GroupId(201), 1, &stale).await;
    assert!(matches!(unknown, Err(StoreError::NotFound)));

    // With the right version it goes through.
    let applied = store.apply_group_change(app_id, group_id, 2, &stale).await.expect("apply");
    assert_eq!(applied, AppliedChange { version: 3, timeline_seqs: vec![2] });
}

pub async fn failed_change_changes_nothing(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 250, "owner", &["alice"]).await;
    let before = group_record(store, app_id, group_id).await;
    // The last mutation fails (alice is already a member): the ones before it roll back too.
    let failing = GroupChange {
        mutations: vec![
            GroupMutation::SetAnnouncement("changed".into()),
            add("bob", MemberRole::Member, 10),
            add("alice", MemberRole::Member, 11),
        ],
        events: vec![to_group(1, event(GroupOperation::Presence, group_id, &["bob"]), None)],
        now_ms: NOW + 1,
    };
    let result = store.apply_group_change(app_id, group_id, before.version, &failing).await;
    assert!(matches!(result, Err(StoreError::AlreadyExists)), "{result:?}");
    assert_eq!(group_record(store, app_id, group_id).await, before);
    assert_eq!(member_names(store, app_id, group_id).await, ["alice", "owner"]);
    assert!(store.group_timeline(app_id, group_id, 0, 10).await.expect("timeline").is_empty());

    // join_order is unique within a group.
    let same_order = change(vec![add("bob", MemberRole::Member, 2)], vec![]);
    let result = store.apply_group_change(app_id, group_id, before.version, &same_order).await;
    assert!(matches!(result, Err(StoreError::AlreadyExists)), "{result:?}");
    assert_eq!(group_record(store, app_id, group_id).await, before);
}

pub async fn concurrent_changes_one_wins(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 300, "owner", &[]).await;
    let alice_joins = change(vec![add("alice", MemberRole::Member, 10)], vec![]);
    let bob_joins = change(vec![add("bob", MemberRole::Member, 11)], vec![]);
    let (alice, bob) = join(
        store.apply_group_change(app_id, group_id, 1, &alice_joins),
        store.apply_group_change(app_id, group_id, 1, &bob_joins),
    )
    .await;
    let outcomes = [&alice, &bob].map(|result| match result {
        Ok(applied) => Ok(applied.version),
        Err(StoreError::Conflict) => Err("conflict"),
        Err(other) => panic!("unexpected {other:?}"),
    });
    assert!(outcomes == [Ok(2), Err("conflict")] || outcomes == [Err("conflict"), Ok(2)], "{outcomes:?}");
    let group = group_record(store, app_id, group_id).await;
    assert_eq!((group.version, group.member_count), (2, 2));
}

pub async fn member_counts_follow_joins_leaves_and_roles(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 400, "owner", &["alice"]).await;
    let counts = |expected: (u32, u32)| async move {
        let group = group_record(store, app_id, group_id).await;
        assert_eq!((group.member_count, group.admin_count), expected, "(members, admins)");
        let listed = store.members_page(app_id, group_id, MemberPage::Offset { number: 0, size: 100 }).await;
        assert_eq!(listed.expect("members_page").len(), expected.0 as usize);
        group.version
    };
    counts((2, 0)).await;

    apply(store, app_id, group_id, vec![add("bob", MemberRole::Admin, 10), add("carol", MemberRole::Member, 11)]).await;
    counts((4, 1)).await;
    apply(store, app_id, group_id, vec![GroupMutation::SetRole { user: user("carol"), role: MemberRole::Admin }]).await;
    counts((4, 2)).await;
    apply(store, app_id, group_id, vec![GroupMutation::SetRole { user: user("bob"), role: MemberRole::Member }]).await;
    counts((4, 1)).await;
    apply(store, app_id, group_id, vec![GroupMutation::RemoveMember { user: user("carol") }]).await;
    counts((3, 0)).await;

    // Removing or promoting a non-member changes no count (but the change still commits).
    let version = counts((3, 0)).await;
    apply(
        store,
        app_id,
        group_id,
        vec![
            GroupMutation::RemoveMember { user: user("carol") },
            GroupMutation::SetRole { user: user("nobody"), role: MemberRole::Admin },
        ],
    )
    .await;
    assert_eq!(counts((3, 0)).await, version + 1);

    // Leave and rejoin in one change.
    apply(
        store,
        app_id,
        group_id,
        vec![GroupMutation::RemoveMember { user: user("alice") }, add("alice", MemberRole::Admin, 20)],
    )
    .await;
    counts((3, 1)).await;
}

pub async fn members_page_is_newest_joined_first(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 500, "owner", &[]).await;
    let joins = (0..300).map(|i| add(&format!("m{i:03}"), MemberRole::Member, 1000 + 3 * i)).collect();
    apply(store, app_id, group_id, joins).await;
    assert_eq!(group_record(store, app_id, group_id).await.member_count, 301);

    let mut expected: Vec<String> = (0..300).rev().map(|i| format!("m{i:03}")).collect();
    expected.push("owner".into());
    let page = |page| async move {
        let members = store.members_page(app_id, group_id, page).await.expect("members_page");
        (names(members.iter().map(|m| &m.user)), members.last().map(|m| m.join_order))
    };

    assert_eq!(page(MemberPage::Offset { number: 0, size: 100 }).await.0, expected[..100]);
    assert_eq!(page(MemberPage::Offset { number: 2, size: 100 }).await.0, expected[200..300]);
    assert_eq!(page(MemberPage::Offset { number: 3, size: 100 }).await.0, ["owner"]);
    assert!(page(MemberPage::Offset { number: 4, size: 100 }).await.0.is_empty());
    assert_eq!(page(MemberPage::Offset { number: 7, size: 7 }).await.0, expected[49..56]);

    // Walking by cursor visits everyone once, in order.
    let mut walked = Vec::new();
    let mut cursor = None;
    loop {
        let (members, last) = page(MemberPage::After { join_order: cursor, limit: 64 }).await;
        let full = members.len() == 64;
        walked.extend(members);
        cursor = last;
        if !full {
            break;
        }
    }
    assert_eq!(walked, expected);
    // The cursor is exclusive: m150 joined with join_order 1450.
    assert_eq!(page(MemberPage::After { join_order: Some(1450), limit: 3 }).await.0, ["m149", "m148", "m147"]);
    assert_eq!(page(MemberPage::After { join_order: Some(1000), limit: 3 }).await.0, ["owner"]);
    assert!(page(MemberPage::After { join_order: Some(1), limit: 3 }).await.0.is_empty());
}

pub async fn groups_page_is_newest_first(store: &dyn Store) {
    let app_id = app(store).await;
    for id in 1..=12 {
        // Every third group is private.
        create_group_with(store, app_id, id, id % 3 != 0, vec![add("owner", MemberRole::Owner, 1)]).await;
    }
    let other_app = store.ensure_app(&new_app("other")).await.expect("ensure_app").id;
    create_group_with(store, other_app, 50, true, vec![add("owner", MemberRole::Owner, 1)]).await;

    let page = |public_only, before: Option<u64>, limit| async move {
        let groups = store.groups_page(app_id, public_only, before.map(GroupId), limit).await.expect("groups_page");
        groups.iter().map(|g| g.id.0).collect::<Vec<_>>()
    };
    assert_eq!(page(false, None, 5).await, [12, 11, 10, 9, 8]);
    assert_eq!(page(false, Some(8), 5).await, [7, 6, 5, 4, 3]);
    assert_eq!(page(false, Some(3), 5).await, [2, 1]);
    assert_eq!(page(true, None, 4).await, [11, 10, 8, 7]);
    assert_eq!(page(true, Some(7), 10).await, [5, 4, 2, 1]);

    let ids = [GroupId(5), GroupId(999), GroupId(1), GroupId(50), GroupId(12)];
    let found = store.groups(app_id, &ids).await.expect("groups");
    assert_eq!(found.iter().map(|g| g.id.0).collect::<Vec<_>>(), [5, 1, 12], "asked order, unknown left out");
    let private = store.groups(app_id, &[GroupId(9)]).await.expect("groups");
    assert_eq!((found[0].settings.public, private[0].settings.public), (true, false));
}

pub async fn user_groups_are_newest_joined_first(store: &dyn Store) {
    let app_id = app(store).await;
    let owned = create_group_with(store, app_id, 1, true, vec![add("alice", MemberRole::Owner, 5)]).await;
    let administered = create_group(store, app_id, 2, "owner", &[]).await;
    let joined = create_group(store, app_id, 3, "owner", &[]).await;
    create_group(store, app_id, 4, "owner", &["bob"]).await;
    apply(store, app_id, administered, vec![add("alice", MemberRole::Admin, 10)]).await;
    apply(store, app_id, joined, vec![add("alice", MemberRole::Member, 30)]).await;

    let alice_groups = |offset, limit| async move {
        let (groups, total) = store.user_groups(app_id, &user("alice"), offset, limit).await.expect("user_groups");
        let listed: Vec<_> = groups
            .iter()
            .map(|(group, membership)| {
                assert_eq!(membership.user, user("alice"));
                (group.id, membership.role)
            })
            .collect();
        (listed, total)
    };
    let (all, total) = alice_groups(0, 10).await;
    assert_eq!(all, [(joined, MemberRole::Member), (administered, MemberRole::Admin), (owned, MemberRole::Owner)]);
    assert_eq!(total, 3);
    assert_eq!(alice_groups(1, 1).await, (vec![(administered, MemberRole::Admin)], 3));

    apply(store, app_id, administered, vec![GroupMutation::RemoveMember { user: user("alice") }]).await;
    assert_eq!(alice_groups(0, 10).await, (vec![(joined, MemberRole::Member), (owned, MemberRole::Owner)], 2));
    let (nothing, total) = store.user_groups(app_id, &user("nobody"), 0, 10).await.expect("user_groups");
    assert!(nothing.is_empty());
    assert_eq!(total, 0);
}

pub async fn mute_list_leaves_out_expired_mutes(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 600, "owner", &["a", "b", "c", "d"]).await;
    let mute = |name: &str, until_ms| GroupMutation::SetMute { user: user(name), until_ms };
    apply(
        store,
        app_id,
        group_id,
        vec![
            mute("a", Some(NOW + 1000)),
            mute("b", Some(i64::MAX)),
            mute("c", Some(NOW - 1)),
            mute("d", Some(NOW + 500)),
            mute("x", Some(NOW + 500)), // not a member: nothing to mute
        ],
    )
    .await;

    let muted = |now_ms| async move {
        let list = store.mute_list(app_id, group_id, now_ms).await.expect("mute_list");
        list.into_iter().map(|(name, until)| (name.as_str().to_owned(), until)).collect::<Vec<_>>()
    };
    let expected = |list: &[(&str, i64)]| list.iter().map(|(n, u)| (n.to_string(), *u)).collect::<Vec<_>>();
    assert_eq!(muted(NOW).await, expected(&[("d", NOW + 500), ("b", i64::MAX), ("a", NOW + 1000)]));
    assert_eq!(muted(NOW + 600).await, expected(&[("b", i64::MAX), ("a", NOW + 1000)]));

    let snapshot = store.group_snapshot(app_id, group_id, &users(&["a", "c"]), NOW).await;
    let snapshot = snapshot.expect("snapshot").expect("group");
    let (a, c) = (&snapshot.users[0], &snapshot.users[1]);
    assert_eq!(a.membership.as_ref().and_then(|m| m.muted_until_ms), Some(NOW + 1000));
    assert!(a.muted(NOW) && !a.muted(NOW + 1000));
    assert_eq!(c.membership.as_ref().and_then(|m| m.muted_until_ms), Some(NOW - 1), "expiry is stored as is");
    assert!(!c.muted(NOW));

    apply(store, app_id, group_id, vec![mute("a", None)]).await;
    assert_eq!(muted(NOW).await, expected(&[("d", NOW + 500), ("b", i64::MAX)]));
}

pub async fn requests_are_replaced_deleted_and_cleared_by_joining(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 700, "owner", &[]).await;
    let application = request("alice", RequestKind::Application, None, "let me in", NOW);
    let invitation = request("alice", RequestKind::Invitation, Some("owner"), "join us", NOW + 1);
    let bob_application = request("bob", RequestKind::Application, None, "hi", NOW + 2);
    apply(
        store,
        app_id,
        group_id,
        vec![
            GroupMutation::PutRequest(application.clone()),
            GroupMutation::PutRequest(invitation.clone()),
            GroupMutation::PutRequest(bob_application.clone()),
        ],
    )
    .await;
    let pending = |name: &'static str, kind| async move {
        store.pending_request(app_id, group_id, &user(name), kind).await.expect("pending_request")
    };
    assert_eq!(pending("alice", RequestKind::Application).await, Some(application));
    assert_eq!(pending("alice", RequestKind::Invitation).await, Some(invitation.clone()));
    assert_eq!(pending("bob", RequestKind::Application).await, Some(bob_application));
    assert_eq!(pending("bob", RequestKind::Invitation).await, None);

    let again = request("alice", RequestKind::Application, None, "please", NOW + 3);
    apply(store, app_id, group_id, vec![GroupMutation::PutRequest(again.clone())]).await;
    assert_eq!(pending("alice", RequestKind::Application).await, Some(again), "a new request replaces the old");

    apply(
        store,
        app_id,
        group_id,
        vec![GroupMutation::DeleteRequest { user: user("bob"), kind: RequestKind::Application }],
    )
    .await;
    assert_eq!(pending("bob", RequestKind::Application).await, None);
    assert_eq!(pending("alice", RequestKind::Invitation).await, Some(invitation), "only bob's went");

    apply(store, app_id, group_id, vec![add("alice", MemberRole::Member, 10)]).await;
    assert_eq!(pending("alice", RequestKind::Application).await, None);
    assert_eq!(pending("alice", RequestKind::Invitation).await, None);
}

pub async fn shared_files(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 800, "owner", &[]).await;
    let files: Vec<_> = (1..=3).map(|i| file(&format!("f{i}"), NOW + i)).collect();
    apply(store, app_id, group_id, files.iter().cloned().map(GroupMutation::AddFile).collect()).await;
    let listed = |offset, limit| async move {
        let files = store.shared_files(app_id, group_id, offset, limit).await.expect("shared_files");
        files.into_iter().map(|f| f.file_id).collect::<Vec<_>>()
    };
    assert_eq!(listed(0, 10).await, ["f3", "f2", "f1"]);
    assert_eq!(listed(1, 1).await, ["f2"]);
    assert_eq!(store.shared_file(app_id, group_id, "f2").await.expect("shared_file"), Some(files[1].clone()));
    assert_eq!(store.shared_file(app_id, group_id, "f9").await.expect("shared_file"), None);

    let version = group_record(store, app_id, group_id).await.version;
    let duplicate = change(vec![GroupMutation::AddFile(file("f2", NOW + 9))], vec![]);
    let result = store.apply_group_change(app_id, group_id, version, &duplicate).await;
    assert!(matches!(result, Err(StoreError::AlreadyExists)), "{result:?}");

    apply(store, app_id, group_id, vec![GroupMutation::DeleteFile { file_id: "f2".into() }]).await;
    assert_eq!(store.shared_file(app_id, group_id, "f2").await.expect("shared_file"), None);
    assert_eq!(listed(0, 10).await, ["f3", "f1"]);
}

pub async fn member_attributes_are_set_deleted_and_read_by_key(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 900, "owner", &["alice", "bob"]).await;
    let set = |name: &str, attributes: &[(&str, &str)]| GroupMutation::SetMemberAttributes {
        user: user(name),
        attributes: attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    };
    apply(
        store,
        app_id,
        group_id,
        vec![set("alice", &[("nick", "Al"), ("color", "red")]), set("bob", &[("nick", "Bobby")])],
    )
    .await;
    let read = |names: &'static [&'static str], keys: &'static [&'static str]| async move {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let found = store.member_attributes(app_id, group_id, &users(names), &keys).await.expect("member_attributes");
        found.into_iter().map(|(u, k, v)| format!("{u}.{k}={v}")).collect::<Vec<_>>()
    };
    assert_eq!(read(&["alice", "bob"], &[]).await, ["alice.color=red", "alice.nick=Al", "bob.nick=Bobby"]);
    assert_eq!(read(&["bob", "alice"], &["nick"]).await, ["bob.nick=Bobby", "alice.nick=Al"]);
    assert_eq!(read(&["alice"], &["color", "missing"]).await, ["alice.color=red"]);

    apply(store, app_id, group_id, vec![set("alice", &[("nick", ""), ("color", "blue")])]).await;
    assert_eq!(read(&["alice"], &[]).await, ["alice.color=blue"]);

    apply(store, app_id, group_id, vec![GroupMutation::RemoveMember { user: user("bob") }]).await;
    assert!(read(&["bob"], &[]).await.is_empty(), "leaving drops the attributes");
}

pub async fn blocklist_allowlist_and_group_switches(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 1000, "owner", &["alice", "bob"]).await;
    let block = |name: &str| GroupMutation::Blocklist { user: user(name) };
    apply(store, app_id, group_id, vec![block("dave"), block("carol")]).await;
    apply(store, app_id, group_id, vec![block("carol")]).await; // already there: no error
    let blocklist = || async move { names(store.blocklist(app_id, group_id).await.expect("blocklist").iter()) };
    assert_eq!(blocklist().await, ["carol", "dave"]);
    let later = store.group_snapshot(app_id, group_id, &[], NOW).await.expect("snapshot").expect("group").group;
    let erin = GroupChange { mutations: vec![block("erin")], events: vec![], now_ms: NOW + 10 };
    store.apply_group_change(app_id, group_id, later.version, &erin).await.expect("apply");
    assert_eq!(blocklist().await, ["erin", "carol", "dave"], "newest first");
    apply(store, app_id, group_id, vec![GroupMutation::Unblocklist { user: user("carol") }]).await;
    assert_eq!(blocklist().await, ["erin", "dave"]);

    apply(
        store,
        app_id,
        group_id,
        vec![
            GroupMutation::SetAllowlisted { user: user("alice"), allowlisted: true },
            GroupMutation::SetShielded { user: user("bob"), shielded: true },
        ],
    )
    .await;
    assert_eq!(names(store.allowlist(app_id, group_id).await.expect("allowlist").iter()), ["alice"]);
    let snapshot = store.group_snapshot(app_id, group_id, &users(&["alice", "bob"]), NOW).await;
    let snapshot = snapshot.expect("snapshot").expect("group");
    assert!(snapshot.users[0].allowlisted() && !snapshot.users[1].allowlisted());
    assert!(snapshot.users[1].membership.as_ref().expect("bob").shielded);
    apply(store, app_id, group_id, vec![GroupMutation::SetAllowlisted { user: user("alice"), allowlisted: false }])
        .await;
    assert!(store.allowlist(app_id, group_id).await.expect("allowlist").is_empty());

    // Ownership moves with SetOwner and two SetRoles.
    apply(
        store,
        app_id,
        group_id,
        vec![
            GroupMutation::SetOwner { user: user("bob") },
            GroupMutation::SetRole { user: user("bob"), role: MemberRole::Owner },
            GroupMutation::SetRole { user: user("owner"), role: MemberRole::Admin },
        ],
    )
    .await;
    let managers = store.group_managers(app_id, group_id).await.expect("group_managers");
    let managers: Vec<_> = managers.iter().map(|m| (m.user.as_str(), m.role)).collect();
    assert_eq!(managers, [("bob", MemberRole::Owner), ("owner", MemberRole::Admin)]);
    assert_eq!(member_names(store, app_id, group_id).await, ["bob", "alice", "owner"]);

    let new_settings = GroupSettings {
        description: "about".into(),
        avatar: "https://example.com/a.png".into(),
        approval_required: true,
        allow_invites: true,
        invite_need_confirm: false,
        max_users: 3000,
        custom: "{\"k\":1}".into(),
        ..settings("renamed", false)
    };
    let version = group_record(store, app_id, group_id).await.version;
    let switches = GroupChange {
        mutations: vec![
            GroupMutation::UpdateSettings(new_settings.clone()),
            GroupMutation::SetAnnouncement("hello".into()),
            GroupMutation::SetMuteAll(true),
            GroupMutation::SetDisabled(true),
        ],
        events: vec![],
        now_ms: NOW + 20,
    };
    store.apply_group_change(app_id, group_id, version, &switches).await.expect("apply");
    let group = group_record(store, app_id, group_id).await;
    assert_eq!(group.settings, new_settings);
    assert_eq!(group.owner, user("bob"));
    assert_eq!((group.announcement.as_str(), group.mute_all, group.disabled), ("hello", true, true));
    assert_eq!((group.admin_count, group.member_count, group.modified_ms), (1, 3, NOW + 20));
    assert!(group.flags().mute_all && group.flags().disabled && !group.flags().public);

    apply(store, app_id, group_id, vec![GroupMutation::SetMuteAll(false), GroupMutation::SetDisabled(false)]).await;
    let group = group_record(store, app_id, group_id).await;
    assert_eq!((group.mute_all, group.disabled), (false, false));
}

// ------------------------------------------------------------------------ events

pub async fn group_events_take_consecutive_sequence_numbers(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 1100, "owner", &["alice"]).await;
    let update = event(GroupOperation::Update, group_id, &[]);
    let presence = event(GroupOperation::Presence, group_id, &["alice"]);
    let announcement = event(GroupOperation::UpdateAnnouncement, group_id, &[]);
    let applied = apply_with_events(
        store,
        app_id,
        group_id,
        vec![],
        vec![to_group(11, update.clone(), None), to_group(12, presence.clone(), Some("alice"))],
    )
    .await;
    assert_eq!(applied.timeline_seqs, [1, 2]);
    let applied = apply_with_events(
        store,
        app_id,
        group_id,
        vec![GroupMutation::SetAnnouncement("news".into())],
        vec![to_group(13, announcement.clone(), None)],
    )
    .await;
    assert_eq!(applied.timeline_seqs, [3]);
    assert_eq!(group_record(store, app_id, group_id).await.last_seq, 3);

    let timeline = store.group_timeline(app_id, group_id, 0, 10).await.expect("group_timeline");
    let entries: Vec<_> = timeline.iter().map(|e| (e.seq, e.id, e.except.as_ref().map(UserName::as_str))).collect();
    assert_eq!(entries, [(1, 11, None), (2, 12, Some("alice")), (3, 13, None)]);
    let items: Vec<_> = timeline.iter().map(|e| e.item.clone()).collect();
    assert_eq!(items, [TimelineItem::Event(update), TimelineItem::Event(presence), TimelineItem::Event(announcement)]);
    assert!(timeline.iter().all(|e| e.created_ms == NOW));
    let page = store.group_timeline(app_id, group_id, 1, 1).await.expect("group_timeline");
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [2]);

    // Stored once for the group, not per member.
    for member in ["owner", "alice"] {
        assert!(store.user_events(app_id, &user(member), 0, 10).await.expect("user_events").is_empty());
    }

    // A new member's cursor starts at the last entry before the change that adds them.
    let joined = apply_with_events(
        store,
        app_id,
        group_id,
        vec![add("carol", MemberRole::Member, 10)],
        vec![to_group(14, event(GroupOperation::Presence, group_id, &["carol"]), Some("carol"))],
    )
    .await;
    assert_eq!(joined.timeline_seqs, [4]);
    let snapshot = store.group_snapshot(app_id, group_id, &users(&["carol"]), NOW).await;
    let carol = snapshot.expect("snapshot").expect("group").users[0].membership.clone().expect("carol");
    assert_eq!(carol.cursor_seq, 3);

    // Sequences are per group.
    let other = create_group(store, app_id, 1101, "owner", &[]).await;
    let applied = apply_with_events(
        store,
        app_id,
        other,
        vec![],
        vec![to_group(15, event(GroupOperation::Update, other, &[]), None)],
    )
    .await;
    assert_eq!(applied.timeline_seqs, [1]);
}

pub async fn user_events_go_to_named_users_only(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 1200, "owner", &["alice", "bob"]).await;
    let invite = event(GroupOperation::AddAdmin, group_id, &["alice"]);
    let mute = event(GroupOperation::AddMute, group_id, &["alice"]);
    let applied = apply_with_events(
        store,
        app_id,
        group_id,
        vec![],
        vec![to_users(21, invite.clone(), &["alice", "bob"]), to_users(22, mute.clone(), &["alice"])],
    )
    .await;
    assert!(applied.timeline_seqs.is_empty());

    let events = |name: &'static str, after, limit| async move {
        let events = store.user_events(app_id, &user(name), after, limit).await.expect("user_events");
        events.into_iter().map(|e| (e.id, e.item.group_event().cloned().expect("a group event"))).collect::<Vec<_>>()
    };
    assert_eq!(events("alice", 0, 10).await, [(21, invite.clone()), (22, mute.clone())]);
    assert_eq!(events("bob", 0, 10).await, [(21, invite.clone())]);
    assert!(events("owner", 0, 10).await.is_empty());
    assert_eq!(events("alice", 21, 10).await, [(22, mute)]);
    assert_eq!(events("alice", 0, 1).await, [(21, invite)]);
    assert!(store.group_timeline(app_id, group_id, 0, 10).await.expect("group_timeline").is_empty());
    assert_eq!(group_record(store, app_id, group_id).await.last_seq, 0);
}

pub async fn receipts_join_the_personal_queue_in_id_order(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 1250, "owner", &["alice"]).await;
    let mute = event(GroupOperation::AddMute, group_id, &["alice"]);
    apply_with_events(store, app_id, group_id, vec![], vec![to_users(40, mute.clone(), &["alice"])]).await;
    let receipt = |kind, message_id, timestamp_ms| Receipt {
        kind,
        from: user("bob"),
        to: user("alice"),
        message_id,
        timestamp_ms,
    };
    let read = PersonalItem::Receipt(receipt(ReceiptKind::Read, Some(u64::MAX >> 2), NOW));
    let conversation = PersonalItem::Receipt(receipt(ReceiptKind::ConversationRead, None, NOW + 1));
    // Out of id order on purpose: the queue is ordered by id, not by arrival.
    store.add_personal_item(app_id, &user("alice"), 50, &conversation, NOW).await.expect("add_personal_item");
    store.add_personal_item(app_id, &user("alice"), 30, &read, NOW).await.expect("add_personal_item");
    // The same id again is ignored (a retried write), whatever it carries.
    store.add_personal_item(app_id, &user("alice"), 30, &conversation, NOW).await.expect("add_personal_item again");

    let items = store.user_events(app_id, &user("alice"), 0, 10).await.expect("user_events");
    assert_eq!(
        items.into_iter().map(|stored| (stored.id, stored.item)).collect::<Vec<_>>(),
        [(30, read), (40, PersonalItem::GroupEvent(mute)), (50, conversation)]
    );
    assert!(store.user_events(app_id, &user("bob"), 0, 10).await.expect("user_events").is_empty());
    // The personal queue's head is the newest item, receipts included.
    let heads = store.user_queues(app_id, &user("alice"), "phone").await.expect("user_queues");
    let personal = heads.iter().find(|head| head.queue == QueueKey::Personal).expect("the personal queue");
    assert_eq!(personal.last_seq, 50);
}

pub async fn dissolving_removes_everything(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 1300, "owner", &["alice"]).await;
    let control = create_group(store, app_id, 1301, "owner", &["bob"]).await;
    let everything = |group_id| {
        vec![
            GroupMutation::Blocklist { user: user("mallory") },
            GroupMutation::PutRequest(request("carol", RequestKind::Application, None, "hi", NOW)),
            GroupMutation::AddFile(file("f1", NOW)),
            GroupMutation::SetMemberAttributes { user: user("owner"), attributes: vec![("k".into(), "v".into())] },
            GroupMutation::SetMute { user: user("owner"), until_ms: Some(NOW + 1000) },
            GroupMutation::SetAnnouncement(format!("group {group_id}")),
        ]
    };
    for id in [group_id, control] {
        let update = to_group(id.0, event(GroupOperation::Update, id, &[]), None);
        apply_with_events(store, app_id, id, everything(id), vec![update]).await;
    }

    let destroy = event(GroupOperation::Destroy, group_id, &[]);
    let applied = apply_with_events(
        store,
        app_id,
        group_id,
        vec![GroupMutation::Dissolve],
        vec![to_users(31, destroy.clone(), &["owner", "alice"])],
    )
    .await;
    assert!(applied.timeline_seqs.is_empty());

    for id in [group_id, control] {
        let gone = id == group_id;
        let snapshot = store.group_snapshot(app_id, id, &[], NOW).await.expect("snapshot");
        assert_eq!(snapshot.is_none(), gone);
        assert_eq!(store.groups(app_id, &[id]).await.expect("groups").is_empty(), gone);
        assert_eq!(member_names(store, app_id, id).await.is_empty(), gone);
        let members = store.members_page(app_id, id, MemberPage::After { join_order: None, limit: 10 }).await;
        assert_eq!(members.expect("members_page").is_empty(), gone);
        assert_eq!(store.blocklist(app_id, id).await.expect("blocklist").is_empty(), gone);
        assert_eq!(store.mute_list(app_id, id, NOW).await.expect("mute_list").is_empty(), gone);
        let request = store.pending_request(app_id, id, &user("carol"), RequestKind::Application).await;
        assert_eq!(request.expect("pending_request").is_none(), gone);
        assert_eq!(store.shared_files(app_id, id, 0, 10).await.expect("shared_files").is_empty(), gone);
        let attributes = store.member_attributes(app_id, id, &users(&["owner"]), &[]).await;
        assert_eq!(attributes.expect("member_attributes").is_empty(), gone);
        assert_eq!(store.group_timeline(app_id, id, 0, 10).await.expect("group_timeline").is_empty(), gone);
    }
    let (alice_groups, total) = store.user_groups(app_id, &user("alice"), 0, 10).await.expect("user_groups");
    assert!(alice_groups.is_empty() && total == 0);
    let alice_events = store.user_events(app_id, &user("alice"), 0, 10).await.expect("user_events");
    assert_eq!(
        alice_events.into_iter().map(|e| (e.id, e.item)).collect::<Vec<_>>(),
        [(31, PersonalItem::GroupEvent(destroy))]
    );

    // The id can be used again, with a fresh timeline.
    let again = create_group(store, app_id, 1300, "owner", &[]).await;
    let group = group_record(store, app_id, again).await;
    assert_eq!((group.last_seq, group.member_count, group.announcement.as_str()), (0, 1, ""));

    // A group-wide event has no timeline to go to once the group is gone: refused, and the
    // group stays.
    let version = group_record(store, app_id, control).await.version;
    let refused = GroupChange {
        mutations: vec![GroupMutation::Dissolve],
        events: vec![to_group(32, event(GroupOperation::Destroy, control, &[]), None)],
        now_ms: NOW,
    };
    let result = store.apply_group_change(app_id, control, version, &refused).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    // So is a mutation after the dissolution.
    let refused = change(vec![GroupMutation::Dissolve, GroupMutation::SetMuteAll(true)], vec![]);
    let result = store.apply_group_change(app_id, control, version, &refused).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    assert_eq!(group_record(store, app_id, control).await.version, version);
    assert_eq!(store.group_timeline(app_id, control, 0, 10).await.expect("group_timeline").len(), 1);
}

pub async fn delete_user_keeps_groups_consistent(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["alice", "owner", "bob"]).await;
    let owned = create_group_with(
        store,
        app_id,
        1,
        true,
        vec![add("alice", MemberRole::Owner, 1), add("bob", MemberRole::Member, 2)],
    )
    .await;
    let member_of = create_group(store, app_id, 2, "owner", &["alice", "bob"]).await;
    let admin_of = create_group(store, app_id, 3, "owner", &[]).await;
    apply(store, app_id, admin_of, vec![add("alice", MemberRole::Admin, 10)]).await;
    let blocked_in = create_group(store, app_id, 4, "owner", &[]).await;
    apply(store, app_id, blocked_in, vec![GroupMutation::Blocklist { user: user("alice") }]).await;
    let applied_to = create_group(store, app_id, 5, "owner", &[]).await;
    let application = request("alice", RequestKind::Application, None, "hi", NOW);
    apply(store, app_id, applied_to, vec![GroupMutation::PutRequest(application)]).await;
    let attribute = |group_id| GroupMutation::SetMemberAttributes {
        user: user("alice"),
        attributes: vec![("k".into(), format!("v{group_id}"))],
    };
    apply(store, app_id, member_of, vec![attribute(2)]).await;
    apply(store, app_id, owned, vec![attribute(1)]).await;
    apply_with_events(
        store,
        app_id,
        member_of,
        vec![],
        vec![to_users(41, event(GroupOperation::AddMute, member_of, &["alice"]), &["alice", "bob"])],
    )
    .await;
    insert_token(store, token(app_id, b"alice-token", Some("alice"), None)).await;

    let before = |group_id| group_record(store, app_id, group_id);
    let (owned_before, member_of_before, admin_of_before, blocked_in_before) =
        (before(owned).await, before(member_of).await, before(admin_of).await, before(blocked_in).await);

    let deleted = store.delete_user(app_id, &user("alice")).await.expect("delete_user").expect("alice existed");
    assert_eq!(deleted.name, user("alice"));
    assert_eq!(store.user(app_id, &user("alice")).await.expect("user"), None);
    assert_eq!(store.token(b"alice-token", NOW).await.expect("token"), None);
    assert!(store.user_events(app_id, &user("alice"), 0, 10).await.expect("user_events").is_empty());
    assert_eq!(store.user_events(app_id, &user("bob"), 0, 10).await.expect("user_events").len(), 1);
    assert!(store.user(app_id, &user("bob")).await.expect("user").is_some());

    // The group alice owns keeps her as owner of record.
    let owned_after = before(owned).await;
    assert_eq!(owned_after, owned_before);
    assert_eq!(owned_after.owner, user("alice"));
    let alice_in = |group_id| async move {
        let snapshot = store.group_snapshot(app_id, group_id, &users(&["alice"]), NOW).await;
        snapshot.expect("snapshot").expect("group").users.remove(0)
    };
    let alice_in_owned = alice_in(owned).await;
    assert!(!alice_in_owned.exists);
    assert_eq!(alice_in_owned.standing(), Standing::Owner);

    let member_of_after = before(member_of).await;
    assert_eq!(member_of_after.member_count, member_of_before.member_count - 1);
    assert_eq!(member_of_after.version, member_of_before.version + 1);
    assert_eq!(alice_in(member_of).await.standing(), Standing::Outsider);
    assert_eq!(member_names(store, app_id, member_of).await, ["bob", "owner"]);
    let attributes = store.member_attributes(app_id, member_of, &users(&["alice"]), &[]).await;
    assert!(attributes.expect("member_attributes").is_empty());
    let attributes = store.member_attributes(app_id, owned, &users(&["alice"]), &[]).await;
    assert!(attributes.expect("member_attributes").is_empty());

    let admin_of_after = before(admin_of).await;
    assert_eq!((admin_of_after.member_count, admin_of_after.admin_count), (1, 0));
    assert_eq!(admin_of_after.version, admin_of_before.version + 1);

    let blocked_in_after = before(blocked_in).await;
    assert!(store.blocklist(app_id, blocked_in).await.expect("blocklist").is_empty());
    assert_eq!(blocked_in_after.version, blocked_in_before.version + 1);

    let pending = store.pending_request(app_id, applied_to, &user("alice"), RequestKind::Application).await;
    assert_eq!(pending.expect("pending_request"), None);

    let (groups, total) = store.user_groups(app_id, &user("alice"), 0, 10).await.expect("user_groups");
    assert_eq!((groups.len(), total), (1, 1));
    assert_eq!(groups[0].0.id, owned);

    assert_eq!(store.delete_user(app_id, &user("alice")).await.expect("delete_user"), None);
}

// ------------------------------------------------------------------------ messages

pub async fn messages_share_the_group_sequence_with_events(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 1400, "owner", &["alice"]).await;
    let group = Conversation::Group(group_id);
    let update = event(GroupOperation::Update, group_id, &[]);
    let first = apply_with_events(store, app_id, group_id, vec![], vec![to_group(1, update.clone(), None)]).await;
    assert_eq!(first.timeline_seqs, [1]);

    let (alice_bob, alice_carol) = (chat("alice", "bob"), chat("alice", "carol"));
    let results = append(
        store,
        app_id,
        vec![
            message(10, &group, "owner", None),
            message(11, &group, "alice", None),
            message(12, &alice_bob, "alice", None),
            message(13, &chat("bob", "alice"), "bob", None),
            message(14, &alice_carol, "carol", None),
        ],
    )
    .await;
    assert_eq!(stored_seqs(results), [2, 3, 1, 2, 1], "per conversation, in the order given");

    let second = apply_with_events(store, app_id, group_id, vec![], vec![to_group(2, update.clone(), Some("owner"))]);
    assert_eq!(second.await.timeline_seqs, [4], "an event after the messages");
    assert_eq!(stored_seqs(append(store, app_id, vec![message(15, &group, "alice", None)]).await), [5]);
    assert_eq!(group_record(store, app_id, group_id).await.last_seq, 5);

    let timeline = store.group_timeline(app_id, group_id, 0, 10).await.expect("group_timeline");
    assert_eq!(seqs_and_ids(&timeline), [(1, 1), (2, 10), (3, 11), (4, 2), (5, 15)]);
    let items: Vec<_> = timeline.iter().map(|e| (e.item.clone(), e.except.clone(), e.created_ms)).collect();
    assert_eq!(
        items,
        [
            (TimelineItem::Event(update.clone()), None, NOW),
            (TimelineItem::Message(b"m10".to_vec()), None, NOW + 10),
            (TimelineItem::Message(b"m11".to_vec()), None, NOW + 11),
            (TimelineItem::Event(update), Some(user("owner")), NOW),
            (TimelineItem::Message(b"m15".to_vec()), None, NOW + 15),
        ]
    );
    // chat_timeline of a group is its timeline.
    assert_eq!(store.chat_timeline(app_id, &group, 0, 10).await.expect("chat_timeline"), timeline);

    let alice_bob_timeline = store.chat_timeline(app_id, &alice_bob, 0, 10).await.expect("chat_timeline");
    assert_eq!(seqs_and_ids(&alice_bob_timeline), [(1, 12), (2, 13)]);
    let items: Vec<_> = alice_bob_timeline.iter().map(|e| (e.item.clone(), e.except.clone(), e.created_ms)).collect();
    assert_eq!(
        items,
        [
            (TimelineItem::Message(b"m12".to_vec()), None, NOW + 12),
            (TimelineItem::Message(b"m13".to_vec()), None, NOW + 13),
        ]
    );
    assert_eq!(chat_entries(store, app_id, &alice_carol).await, [(1, 14)]);
    assert!(chat_entries(store, app_id, &chat("bob", "carol")).await.is_empty());

    // Sequences are per group.
    let other = create_group(store, app_id, 1401, "owner", &[]).await;
    let results = append(store, app_id, vec![message(16, &Conversation::Group(other), "owner", None)]).await;
    assert_eq!(stored_seqs(results), [1]);
    // And per app.
    let other_app = store.ensure_app(&new_app("other")).await.expect("ensure_app").id;
    assert_eq!(stored_seqs(append(store, other_app, vec![message(17, &alice_bob, "bob", None)]).await), [1]);
    assert_eq!(chat_entries(store, app_id, &alice_bob).await, [(1, 12), (2, 13)]);
}

pub async fn group_messages_do_not_bump_the_version(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 1450, "owner", &["alice"]).await;
    let group = Conversation::Group(group_id);
    let before = group_record(store, app_id, group_id).await;
    let messages = (1..=3).map(|id| message(id, &group, "alice", Some(id))).collect();
    assert_eq!(stored_seqs(append(store, app_id, messages).await), [1, 2, 3]);
    let after = group_record(store, app_id, group_id).await;
    assert_eq!(after, GroupRecord { last_seq: 3, ..before.clone() }, "only last_seq moved");

    // A change decided on the version read before the messages still commits.
    let applied = store
        .apply_group_change(
            app_id,
            group_id,
            before.version,
            &change(
                vec![GroupMutation::SetAnnouncement("news".into())],
                vec![to_group(4, event(GroupOperation::UpdateAnnouncement, group_id, &[]), None)],
            ),
        )
        .await
        .expect("apply_group_change");
    assert_eq!(applied, AppliedChange { version: before.version + 1, timeline_seqs: vec![4] });

    // Sending while the membership changes: neither gets in the other's way.
    let version = applied.version;
    let joins = change(vec![add("bob", MemberRole::Member, 10)], vec![]);
    let (sent, joined) = join(
        store.append_messages(app_id, &[message(5, &group, "alice", Some(5))]),
        store.apply_group_change(app_id, group_id, version, &joins),
    )
    .await;
    let sent = sent.expect("append_messages");
    assert!(matches!(sent[..], [Ok(AppendOutcome::Stored { seq: 5 })]), "{sent:?}");
    assert_eq!(joined.expect("apply_group_change").version, version + 1);
    let group = group_record(store, app_id, group_id).await;
    assert_eq!((group.version, group.last_seq, group.member_count), (version + 1, 5, 3));
}

pub async fn a_batch_of_500_messages_takes_consecutive_sequences(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 1500, "owner", &["alice"]).await;
    let group = Conversation::Group(group_id);
    let sender = |i: u64| if i.is_multiple_of(2) { "owner" } else { "alice" };
    let batch: Vec<_> = (1..=500).map(|i| message(10_000 + i, &group, sender(i), Some(i))).collect();
    let results = append(store, app_id, batch).await;
    assert_eq!(stored_seqs(results), (1..=500).collect::<Vec<_>>());
    assert_eq!(group_record(store, app_id, group_id).await.last_seq, 500);

    let timeline = store.group_timeline(app_id, group_id, 0, 1000).await.expect("group_timeline");
    let expected: Vec<_> = (1..=500).map(|i| (i as i64, 10_000 + i)).collect();
    assert_eq!(seqs_and_ids(&timeline), expected);
    // The next batch carries on.
    let results = append(store, app_id, vec![message(20_001, &group, "alice", Some(501))]).await;
    assert_eq!(stored_seqs(results), [501]);
}

pub async fn concurrent_batches_take_distinct_sequences(store: &dyn Store) {
    let app_id = app(store).await;
    let (first, second) = (create_group(store, app_id, 1550, "owner", &[]).await, GroupId(1551));
    create_group(store, app_id, second.0, "owner", &[]).await;
    let alice_bob = chat("alice", "bob");
    // Both batches name both groups and the chat, in opposite orders.
    let batch = |base: u64, groups: [GroupId; 2]| -> Vec<NewMessage> {
        (0..60)
            .map(|i| {
                let conversation = match i % 3 {
                    0 => Conversation::Group(groups[0]),
                    1 => alice_bob.clone(),
                    _ => Conversation::Group(groups[1]),
                };
                message(base + i, &conversation, "alice", Some(base + i))
            })
            .collect()
    };
    let (a, b) = (batch(1_000, [first, second]), batch(2_000, [second, first]));
    let version = group_record(store, app_id, first).await.version;
    let event_change = change(vec![], vec![to_group(3_000, event(GroupOperation::Update, first, &[]), None)]);
    let ((a, b), applied) = join(
        join(store.append_messages(app_id, &a), store.append_messages(app_id, &b)),
        store.apply_group_change(app_id, first, version, &event_change),
    )
    .await;
    stored_seqs(a.expect("first batch"));
    stored_seqs(b.expect("second batch"));
    applied.expect("apply_group_change");

    let consecutive = |entries: Vec<TimelineEntry>, count: i64| {
        assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=count).collect::<Vec<_>>());
    };
    consecutive(store.group_timeline(app_id, first, 0, 100).await.expect("group_timeline"), 41);
    consecutive(store.group_timeline(app_id, second, 0, 100).await.expect("group_timeline"), 40);
    consecutive(store.chat_timeline(app_id, &alice_bob, 0, 100).await.expect("chat_timeline"), 40);
    assert_eq!(group_record(store, app_id, first).await.last_seq, 41);
}

pub async fn repeated_client_ids_are_stored_once(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 1600, "owner", &["alice", "bob"]).await;
    let (group, alice_bob) = (Conversation::Group(group_id), chat("alice", "bob"));
    let results = append(
        store,
        app_id,
        vec![
            message(1, &group, "alice", Some(7)),
            message(2, &alice_bob, "alice", Some(8)),
            // The same client id from another sender is another message.
            message(3, &group, "bob", Some(7)),
            // Without a client id nothing is a resend.
            message(4, &group, "alice", None),
            message(5, &group, "alice", None),
        ],
    )
    .await;
    assert_eq!(stored_seqs(results), [1, 1, 2, 3, 4]);

    let results = append(
        store,
        app_id,
        vec![
            message(6, &group, "alice", Some(7)),
            message(7, &group, "alice", Some(9)),
            // A resend in the same batch.
            message(8, &group, "alice", Some(9)),
            message(9, &alice_bob, "alice", Some(8)),
            // The client id names the first message, whatever conversation the resend names.
            message(10, &group, "alice", Some(8)),
        ],
    )
    .await;
    let outcomes: Vec<_> = results.into_iter().map(|r| r.expect("no error")).collect();
    assert_eq!(
        outcomes,
        [
            AppendOutcome::Duplicate { id: 1, seq: 1 },
            AppendOutcome::Stored { seq: 5 },
            AppendOutcome::Duplicate { id: 7, seq: 5 },
            AppendOutcome::Duplicate { id: 2, seq: 1 },
            AppendOutcome::Duplicate { id: 2, seq: 1 },
        ]
    );
    // Stored once each; a duplicate uses no sequence number.
    let timeline = store.group_timeline(app_id, group_id, 0, 10).await.expect("group_timeline");
    assert_eq!(seqs_and_ids(&timeline), [(1, 1), (2, 3), (3, 4), (4, 5), (5, 7)]);
    assert_eq!(group_record(store, app_id, group_id).await.last_seq, 5);
    assert_eq!(chat_entries(store, app_id, &alice_bob).await, [(1, 2)]);
    let results = append(store, app_id, vec![message(11, &alice_bob, "bob", None)]).await;
    assert_eq!(stored_seqs(results), [2]);

    // A new conversation whose only message is a resend is not created.
    let alice_dave = chat("alice", "dave");
    let results = append(store, app_id, vec![message(12, &alice_dave, "alice", Some(7))]).await;
    assert!(matches!(results[..], [Ok(AppendOutcome::Duplicate { id: 1, seq: 1 })]), "{results:?}");
    assert!(chat_entries(store, app_id, &alice_dave).await.is_empty());
    let dave_queues = store.user_queues(app_id, &user("dave"), "phone").await.expect("user_queues");
    assert_eq!(queue_keys(&dave_queues), [QueueKey::Personal]);

    // Client ids are per app.
    let other_app = store.ensure_app(&new_app("other")).await.expect("ensure_app").id;
    assert_eq!(stored_seqs(append(store, other_app, vec![message(13, &alice_bob, "alice", Some(8))]).await), [1]);
}

pub async fn a_missing_group_fails_only_its_slot(store: &dyn Store) {
    let app_id = app(store).await;
    assert!(store.append_messages(app_id, &[]).await.expect("append_messages").is_empty());
    let group_id = create_group(store, app_id, 1700, "owner", &["alice"]).await;
    let (group, missing, alice_bob) =
        (Conversation::Group(group_id), Conversation::Group(GroupId(1799)), chat("alice", "bob"));
    let results = append(
        store,
        app_id,
        vec![
            message(1, &group, "alice", Some(1)),
            message(2, &missing, "alice", Some(2)),
            message(3, &alice_bob, "alice", Some(3)),
            message(4, &group, "alice", Some(4)),
        ],
    )
    .await;
    assert!(
        matches!(
            results[..],
            [
                Ok(AppendOutcome::Stored { seq: 1 }),
                Err(StoreError::NotFound),
                Ok(AppendOutcome::Stored { seq: 1 }),
                Ok(AppendOutcome::Stored { seq: 2 }),
            ]
        ),
        "{results:?}"
    );
    let timeline = store.group_timeline(app_id, group_id, 0, 10).await.expect("group_timeline");
    assert_eq!(seqs_and_ids(&timeline), [(1, 1), (2, 4)]);
    assert_eq!(chat_entries(store, app_id, &alice_bob).await, [(1, 3)]);
    let results = append(store, app_id, vec![message(5, &missing, "alice", None)]).await;
    assert!(matches!(results[..], [Err(StoreError::NotFound)]), "{results:?}");

    // The failed message took no client id: once the group exists, it goes in.
    create_group(store, app_id, 1799, "owner", &["alice"]).await;
    assert_eq!(stored_seqs(append(store, app_id, vec![message(6, &missing, "alice", Some(2))]).await), [1]);

    // A 1:1 message whose id is taken fails alone, and takes neither its client id nor a seq.
    let results =
        append(store, app_id, vec![message(3, &alice_bob, "bob", Some(10)), message(7, &alice_bob, "bob", Some(11))])
            .await;
    assert!(
        matches!(results[..], [Err(StoreError::AlreadyExists), Ok(AppendOutcome::Stored { seq: 2 })]),
        "{results:?}"
    );
    assert_eq!(stored_seqs(append(store, app_id, vec![message(8, &alice_bob, "bob", Some(10))]).await), [3]);
    assert_eq!(chat_entries(store, app_id, &alice_bob).await, [(1, 3), (2, 7), (3, 8)]);
}

pub async fn chat_conversations_are_named_alike_from_both_sides(store: &dyn Store) {
    let app_id = app(store).await;
    let results = append(
        store,
        app_id,
        vec![
            message(1, &chat("alice", "bob"), "alice", None),
            message(2, &chat("bob", "alice"), "bob", None),
            // Hand-built in the wrong order: still the same conversation.
            message(3, &Conversation::Chat { low: user("bob"), high: user("alice") }, "bob", None),
            message(4, &chat("a_b", "a-b"), "a_b", None),
            message(5, &chat("a-b", "a_b"), "a-b", None),
            message(6, &chat("carol", "carol"), "carol", None),
        ],
    )
    .await;
    assert_eq!(stored_seqs(results), [1, 2, 3, 1, 2, 1]);
    for conversation in
        [chat("alice", "bob"), chat("bob", "alice"), Conversation::Chat { low: user("bob"), high: user("alice") }]
    {
        assert_eq!(chat_entries(store, app_id, &conversation).await, [(1, 1), (2, 2), (3, 3)]);
        let history = store.history(app_id, &conversation, None, 10).await.expect("history");
        assert_eq!(seqs_and_ids(&history), [(3, 3), (2, 2), (1, 1)]);
    }
    assert_eq!(chat_entries(store, app_id, &chat("a-b", "a_b")).await, [(1, 4), (2, 5)]);

    // Each side sees the conversation keyed by the other; one's own appears once.
    let heads = |name: &'static str| async move {
        let queues = store.user_queues(app_id, &user(name), "phone").await.expect("user_queues");
        queues.into_iter().map(|q| (q.queue, q.last_seq)).collect::<Vec<_>>()
    };
    assert_eq!(heads("alice").await, [(QueueKey::Chat(user("bob")), 3), (QueueKey::Personal, 0)]);
    assert_eq!(heads("bob").await, [(QueueKey::Chat(user("alice")), 3), (QueueKey::Personal, 0)]);
    assert_eq!(heads("a_b").await, [(QueueKey::Chat(user("a-b")), 2), (QueueKey::Personal, 0)]);
    assert_eq!(heads("a-b").await, [(QueueKey::Chat(user("a_b")), 2), (QueueKey::Personal, 0)]);
    assert_eq!(heads("carol").await, [(QueueKey::Chat(user("carol")), 1), (QueueKey::Personal, 0)]);
}

pub async fn timelines_and_history_page(store: &dyn Store) {
    let app_id = app(store).await;
    let alice_bob = chat("alice", "bob");
    let messages =
        (101..=105).map(|id| message(id, &alice_bob, if id.is_multiple_of(2) { "bob" } else { "alice" }, None));
    assert_eq!(stored_seqs(append(store, app_id, messages.collect()).await), [1, 2, 3, 4, 5]);

    let page = |after_seq, limit| {
        let alice_bob = &alice_bob;
        async move {
            let entries = store.chat_timeline(app_id, alice_bob, after_seq, limit).await.expect("chat_timeline");
            seqs_and_ids(&entries)
        }
    };
    assert_eq!(page(0, 2).await, [(1, 101), (2, 102)]);
    assert_eq!(page(2, 2).await, [(3, 103), (4, 104)]);
    assert_eq!(page(4, 10).await, [(5, 105)]);
    assert!(page(5, 10).await.is_empty());

    let history = |conversation: Conversation, before: Option<u64>, limit| async move {
        let entries = store.history(app_id, &conversation, before, limit).await.expect("history");
        assert!(entries.iter().all(|e| matches!(e.item, TimelineItem::Message(_)) && e.except.is_none()));
        entries.iter().map(|e| e.id).collect::<Vec<_>>()
    };
    assert_eq!(history(alice_bob.clone(), None, 2).await, [105, 104]);
    assert_eq!(history(alice_bob.clone(), Some(104), 2).await, [103, 102], "strictly before");
    assert_eq!(history(alice_bob.clone(), Some(102), 10).await, [101]);
    assert!(history(alice_bob.clone(), Some(101), 10).await.is_empty());
    assert!(history(alice_bob.clone(), Some(999), 10).await.is_empty(), "an unknown id");
    assert!(history(chat("alice", "carol"), None, 10).await.is_empty());
    let entry = &store.history(app_id, &alice_bob, Some(103), 1).await.expect("history")[0];
    assert_eq!(
        (entry.seq, entry.id, &entry.item, entry.created_ms),
        (2, 102, &TimelineItem::Message(b"m102".to_vec()), NOW + 102)
    );

    // A group's history leaves its events out.
    let group_id = create_group(store, app_id, 1800, "owner", &["alice"]).await;
    let group = Conversation::Group(group_id);
    let update = |id| to_group(id, event(GroupOperation::Update, group_id, &[]), None);
    apply_with_events(store, app_id, group_id, vec![], vec![update(1)]).await;
    append(store, app_id, vec![message(201, &group, "alice", None), message(202, &group, "owner", None)]).await;
    apply_with_events(store, app_id, group_id, vec![], vec![update(2)]).await;
    assert_eq!(stored_seqs(append(store, app_id, vec![message(203, &group, "alice", None)]).await), [5]);
    assert_eq!(history(group.clone(), None, 10).await, [203, 202, 201]);
    assert_eq!(history(group.clone(), None, 1).await, [203]);
    assert_eq!(history(group.clone(), Some(203), 10).await, [202, 201]);
    assert_eq!(history(group.clone(), Some(2), 10).await, [202, 201], "before an event's entry");
    assert!(history(group.clone(), Some(201), 10).await.is_empty());
    assert!(history(group.clone(), Some(103), 10).await.is_empty(), "an id of another conversation");
    assert!(history(alice_bob, Some(203), 10).await.is_empty(), "an id of another conversation");
    let entries = store.history(app_id, &group, Some(203), 1).await.expect("history");
    assert_eq!(seqs_and_ids(&entries), [(3, 202)]);
    assert_eq!(entries[0].item, TimelineItem::Message(b"m202".to_vec()));
    assert!(history(Conversation::Group(GroupId(1801)), None, 10).await.is_empty());
}

pub async fn user_queues_list_every_queue_with_the_device_cursor(store: &dyn Store) {
    let app_id = app(store).await;
    let joined_at_creation = create_group(store, app_id, 1900, "owner", &["alice"]).await;
    let joined_later = create_group(store, app_id, 1901, "owner", &[]).await;
    let not_joined = create_group(store, app_id, 1902, "owner", &["bob"]).await;
    let left = create_group(store, app_id, 1903, "owner", &["alice"]).await;
    let to = |group_id| Conversation::Group(group_id);
    append(
        store,
        app_id,
        vec![
            message(1, &to(joined_at_creation), "owner", None),
            message(2, &to(joined_later), "owner", None),
            message(3, &to(joined_later), "owner", None),
            message(4, &to(joined_later), "owner", None),
            message(5, &to(not_joined), "owner", None),
        ],
    )
    .await;
    apply(
        store,
        app_id,
        joined_later,
        vec![add("alice", MemberRole::Member, 10), GroupMutation::SetShielded { user: user("alice"), shielded: true }],
    )
    .await;
    apply(store, app_id, left, vec![GroupMutation::RemoveMember { user: user("alice") }]).await;
    append(
        store,
        app_id,
        vec![
            message(6, &to(joined_later), "owner", None),
            message(7, &to(joined_later), "alice", None),
            message(8, &chat("alice", "bob"), "alice", None),
            message(9, &chat("bob", "alice"), "bob", None),
            message(10, &chat("carol", "alice"), "carol", None),
            message(11, &chat("bob", "carol"), "carol", None),
        ],
    )
    .await;
    let notice = event(GroupOperation::AddMute, not_joined, &["alice"]);
    apply_with_events(store, app_id, not_joined, vec![], vec![to_users(50, notice.clone(), &["alice"])]).await;
    apply_with_events(store, app_id, not_joined, vec![], vec![to_users(60, notice, &["alice", "bob"])]).await;

    let alice = user("alice");
    for (device, queue, seq) in [
        ("phone", QueueKey::Group(joined_later), 4),
        ("phone", QueueKey::Chat(user("bob")), 1),
        ("phone", QueueKey::Personal, 50),
        ("pad", QueueKey::Group(joined_later), 5),
    ] {
        store.advance_cursor(app_id, &alice, device, &queue, seq).await.expect("advance_cursor");
    }

    let head =
        |queue, last_seq, floor_seq, cursor, shielded| QueueHead { queue, last_seq, floor_seq, cursor, shielded };
    let queues = store.user_queues(app_id, &alice, "phone").await.expect("user_queues");
    assert_eq!(
        queues,
        [
            head(QueueKey::Group(joined_at_creation), 1, 0, None, false),
            head(QueueKey::Group(joined_later), 5, 3, Some(4), true),
            head(QueueKey::Chat(user("bob")), 2, 0, Some(1), false),
            head(QueueKey::Chat(user("carol")), 1, 0, None, false),
            head(QueueKey::Personal, 60, 0, Some(50), false),
        ]
    );
    let queues = store.user_queues(app_id, &alice, "pad").await.expect("user_queues");
    let cursors: Vec<_> = queues.iter().map(|q| q.cursor).collect();
    assert_eq!(cursors, [None, Some(5), None, None, None]);
    let queues = store.user_queues(app_id, &alice, "unknown device").await.expect("user_queues");
    assert!(queues.iter().all(|q| q.cursor.is_none()) && queues.len() == 5);

    let bob = store.user_queues(app_id, &user("bob"), "phone").await.expect("user_queues");
    assert_eq!(
        bob,
        [
            head(QueueKey::Group(not_joined), 1, 0, None, false),
            head(QueueKey::Chat(user("alice")), 2, 0, None, false),
            head(QueueKey::Chat(user("carol")), 1, 0, None, false),
            head(QueueKey::Personal, 60, 0, None, false),
        ]
    );
    let nobody = store.user_queues(app_id, &user("nobody"), "phone").await.expect("user_queues");
    assert_eq!(nobody, [head(QueueKey::Personal, 0, 0, None, false)]);
    let other_app = store.ensure_app(&new_app("other")).await.expect("ensure_app").id;
    let elsewhere = store.user_queues(other_app, &alice, "phone").await.expect("user_queues");
    assert_eq!(elsewhere, [head(QueueKey::Personal, 0, 0, None, false)]);
}

pub async fn cursors_advance_monotonically_per_device(store: &dyn Store) {
    let app_id = app(store).await;
    let (alice, group) = (user("alice"), QueueKey::Group(GroupId(2000)));
    let cursor = |name: &'static str, device: &'static str, queue: QueueKey| async move {
        store.cursor(app_id, &user(name), device, &queue).await.expect("cursor")
    };
    let advance = |device: &'static str, queue: QueueKey, seq| {
        let alice = alice.clone();
        async move { store.advance_cursor(app_id, &alice, device, &queue, seq).await.expect("advance_cursor") }
    };
    assert_eq!(cursor("alice", "phone", group.clone()).await, None);
    advance("phone", group.clone(), 5).await;
    assert_eq!(cursor("alice", "phone", group.clone()).await, Some(5));
    advance("phone", group.clone(), 3).await;
    assert_eq!(cursor("alice", "phone", group.clone()).await, Some(5), "never backwards");
    advance("phone", group.clone(), 5).await;
    assert_eq!(cursor("alice", "phone", group.clone()).await, Some(5));
    advance("phone", group.clone(), 8).await;
    assert_eq!(cursor("alice", "phone", group.clone()).await, Some(8));

    // Per device, per queue, per user, per app.
    assert_eq!(cursor("alice", "pad", group.clone()).await, None);
    advance("pad", group.clone(), 2).await;
    assert_eq!(cursor("alice", "pad", group.clone()).await, Some(2));
    assert_eq!(cursor("alice", "phone", group.clone()).await, Some(8));
    assert_eq!(cursor("alice", "phone", QueueKey::Group(GroupId(2001))).await, None);
    assert_eq!(cursor("alice", "phone", QueueKey::Chat(user("bob"))).await, None);
    assert_eq!(cursor("bob", "phone", group.clone()).await, None);
    let other_app = store.ensure_app(&new_app("other")).await.expect("ensure_app").id;
    assert_eq!(store.cursor(other_app, &alice, "phone", &group).await.expect("cursor"), None);

    // Personal positions are event ids (snowflakes).
    let snowflake = 7_300_000_000_000_000_000_i64;
    advance("phone", QueueKey::Personal, snowflake).await;
    advance("phone", QueueKey::Personal, snowflake - 1).await;
    assert_eq!(cursor("alice", "phone", QueueKey::Personal).await, Some(snowflake));
    advance("phone", QueueKey::Chat(user("bob")), 1).await;
    assert_eq!(cursor("alice", "phone", QueueKey::Chat(user("bob"))).await, Some(1));
    assert_eq!(cursor("bob", "phone", QueueKey::Chat(user("alice"))).await, None);
}

pub async fn dissolving_removes_the_groups_cursors(store: &dyn Store) {
    let app_id = app(store).await;
    let dissolved = create_group(store, app_id, 2100, "owner", &["alice", "bob"]).await;
    let kept = create_group(store, app_id, 2101, "owner", &["alice"]).await;
    let cursors = [
        ("alice", "phone", QueueKey::Group(dissolved), 3),
        ("alice", "pad", QueueKey::Group(dissolved), 4),
        ("bob", "phone", QueueKey::Group(dissolved), 1),
        // Someone who left long ago.
        ("carol", "phone", QueueKey::Group(dissolved), 1),
        ("alice", "phone", QueueKey::Group(kept), 2),
        ("alice", "phone", QueueKey::Chat(user("bob")), 1),
        ("alice", "phone", QueueKey::Personal, 9),
    ];
    for (name, device, queue, seq) in &cursors {
        store.advance_cursor(app_id, &user(name), device, queue, *seq).await.expect("advance_cursor");
    }
    apply(store, app_id, dissolved, vec![GroupMutation::Dissolve]).await;
    for (name, device, queue, seq) in &cursors {
        let cursor = store.cursor(app_id, &user(name), device, queue).await.expect("cursor");
        let expected = (*queue != QueueKey::Group(dissolved)).then_some(*seq);
        assert_eq!(cursor, expected, "{name} {device} {queue:?}");
    }
    let queues = store.user_queues(app_id, &user("alice"), "phone").await.expect("user_queues");
    assert_eq!(queue_keys(&queues), [QueueKey::Group(kept), QueueKey::Personal]);

    // The id used again starts with no cursor.
    create_group(store, app_id, dissolved.0, "owner", &["alice"]).await;
    let cursor = store.cursor(app_id, &user("alice"), "phone", &QueueKey::Group(dissolved)).await;
    assert_eq!(cursor.expect("cursor"), None);
}

pub async fn delete_user_drops_cursors_and_client_ids_but_keeps_conversations(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["alice", "bob"]).await;
    let group_id = create_group(store, app_id, 2200, "owner", &["alice", "bob"]).await;
    let (group, alice_bob) = (Conversation::Group(group_id), chat("alice", "bob"));
    append(
        store,
        app_id,
        vec![
            message(1, &alice_bob, "alice", Some(1)),
            message(2, &alice_bob, "bob", Some(1)),
            message(3, &group, "alice", Some(2)),
        ],
    )
    .await;
    let (alice, bob) = (user("alice"), user("bob"));
    store.advance_cursor(app_id, &alice, "phone", &QueueKey::Chat(bob.clone()), 2).await.expect("advance_cursor");
    store.advance_cursor(app_id, &alice, "phone", &QueueKey::Group(group_id), 1).await.expect("advance_cursor");
    store.advance_cursor(app_id, &bob, "phone", &QueueKey::Chat(alice.clone()), 1).await.expect("advance_cursor");

    store.delete_user(app_id, &alice).await.expect("delete_user").expect("alice existed");
    for queue in [QueueKey::Chat(bob.clone()), QueueKey::Group(group_id)] {
        assert_eq!(store.cursor(app_id, &alice, "phone", &queue).await.expect("cursor"), None);
    }
    assert_eq!(store.cursor(app_id, &bob, "phone", &QueueKey::Chat(alice.clone())).await.expect("cursor"), Some(1));
    // Bob keeps the conversation and its history; the group keeps its messages.
    assert_eq!(chat_entries(store, app_id, &alice_bob).await, [(1, 1), (2, 2)]);
    let bob_queues = store.user_queues(app_id, &bob, "phone").await.expect("user_queues");
    let chat_head = bob_queues.iter().find(|q| q.queue == QueueKey::Chat(alice.clone())).expect("the chat");
    assert_eq!((chat_head.last_seq, chat_head.cursor), (2, Some(1)));
    assert_eq!(seqs_and_ids(&store.group_timeline(app_id, group_id, 0, 10).await.expect("group_timeline")), [(1, 3)]);

    // Her client ids went with her; bob's stay.
    let results =
        append(store, app_id, vec![message(4, &alice_bob, "alice", Some(1)), message(5, &alice_bob, "bob", Some(1))])
            .await;
    let outcomes: Vec<_> = results.into_iter().map(|r| r.expect("no error")).collect();
    assert_eq!(outcomes, [AppendOutcome::Stored { seq: 3 }, AppendOutcome::Duplicate { id: 2, seq: 2 }]);
}

// ------------------------------------------------------------------------ chat rooms

pub async fn create_room_stores_its_members(store: &dyn Store) {
    let app_id = app(store).await;
    let room_id = RoomId(2_000_000_000_001);
    let new_room = NewRoom { id: room_id, owner: user("owner"), settings: room_settings("lobby"), created_ms: NOW };
    let create = room_change(vec![room_add("owner", 1), room_add("alice", 2), room_add("bob", 3)]);
    assert_eq!(store.create_room(app_id, &new_room, &create).await.expect("create_room"), 1);

    let room = room_record(store, app_id, room_id).await;
    assert_eq!((room.id, room.owner.as_str(), &room.settings), (room_id, "owner", &new_room.settings));
    assert_eq!((room.member_count, room.admin_count, room.version), (3, 0, 1));
    assert_eq!((room.created_ms, room.modified_ms, room.mute_all, room.announcement.as_str()), (NOW, NOW, false, ""));
    assert_eq!(room_member_names(store, app_id, room_id).await, ["bob", "alice", "owner"]);

    // A taken id: nothing of the second creation is stored.
    let taken = NewRoom { owner: user("carol"), settings: room_settings("other"), ..new_room.clone() };
    let again = room_change(vec![room_add("carol", 1)]);
    assert!(matches!(store.create_room(app_id, &taken, &again).await, Err(StoreError::AlreadyExists)));
    assert_eq!(room_record(store, app_id, room_id).await, room);
    let (rooms, total) = store.user_rooms(app_id, &user("carol"), 0, 10).await.expect("user_rooms");
    assert!(rooms.is_empty() && total == 0);
    // Rooms and groups have ids of their own.
    assert_eq!(store.group_snapshot(app_id, GroupId(room_id.0), &[], NOW).await.expect("snapshot"), None);
}

pub async fn room_snapshot_reports_each_standing(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["owner", "admin", "member", "outsider", "banned"]).await;
    let room_id = create_room(store, app_id, 10, "owner", &["member", "admin"]).await;
    apply_room(
        store,
        app_id,
        room_id,
        vec![
            RoomMutation::SetAdmin { user: user("admin"), admin: true },
            RoomMutation::Blocklist { user: user("banned") },
            RoomMutation::SetMute { user: user("member"), until_ms: Some(NOW + 1000) },
            RoomMutation::SetAllowlisted { user: user("member"), allowlisted: true },
            set_room_attributes("member", true, &[("b", "1"), ("a", "2")]),
            set_room_attributes("member", false, &[("kept", "3")]),
            // Roles outlive presence: the admin and the owner leave.
            RoomMutation::RemoveMember { user: user("admin") },
            RoomMutation::RemoveMember { user: user("owner") },
        ],
    )
    .await;

    let asked = users(&["member", "nobody", "owner", "banned", "admin", "outsider"]);
    let snapshot = store.room_snapshot(app_id, room_id, &asked).await.expect("snapshot").expect("room");
    let standings: Vec<_> =
        snapshot.users.iter().map(|u| (u.user.as_str(), u.exists, u.standing(), u.present())).collect();
    assert_eq!(
        standings,
        [
            ("member", true, Standing::Member, true),
            ("nobody", false, Standing::Outsider, false),
            ("owner", true, Standing::Owner, false),
            ("banned", true, Standing::Blocklisted, false),
            ("admin", true, Standing::Admin, false),
            ("outsider", true, Standing::Outsider, false),
        ]
    );
    let member = snapshot.user(&user("member")).expect("member");
    assert_eq!((member.allowlisted, member.muted_until_ms, member.admin), (true, Some(NOW + 1000), false));
    assert!(member.muted(NOW) && !member.muted(NOW + 1000));
    assert_eq!(member.auto_delete_keys, ["a", "b"]);
    let presence = member.presence.clone().expect("in the room");
    assert_eq!((presence.join_order, presence.joined_ms, presence.allowlisted), (2, NOW, true));
    assert_eq!((snapshot.room.member_count, snapshot.room.admin_count, snapshot.room.version), (1, 1, 2));

    assert_eq!(store.room_snapshot(app_id, RoomId(11), &asked).await.expect("snapshot"), None);
    let other_app = store.ensure_app(&new_app("other")).await.expect("ensure_app").id;
    assert_eq!(store.room_snapshot(other_app, room_id, &[]).await.expect("snapshot"), None);
}

pub async fn stale_room_version_conflicts_and_a_failed_change_changes_nothing(store: &dyn Store) {
    let app_id = app(store).await;
    let room_id = create_room(store, app_id, 20, "owner", &["alice"]).await;
    let announce = RoomChange { mutations: vec![RoomMutation::SetAnnouncement("first".into())], now_ms: NOW + 1 };
    assert_eq!(store.apply_room_change(app_id, room_id, 1, &announce).await.expect("apply"), 2);
    let before = room_record(store, app_id, room_id).await;
    assert_eq!((before.version, before.modified_ms, before.announcement.as_str()), (2, NOW + 1, "first"));

    let stale = room_change(vec![room_add("bob", 10), RoomMutation::SetAnnouncement("second".into())]);
    assert!(matches!(store.apply_room_change(app_id, room_id, 1, &stale).await, Err(StoreError::Conflict)));
    assert_eq!(room_record(store, app_id, room_id).await, before, "nothing changed");
    assert!(matches!(store.apply_room_change(app_id, RoomId(21), 1, &stale).await, Err(StoreError::NotFound)));

    // The last mutation fails (alice is in the room already): the ones before roll back too.
    let failing = room_change(vec![
        RoomMutation::SetMuteAll(true),
        room_add("bob", 10),
        RoomMutation::SetAdmin { user: user("bob"), admin: true },
        room_add("alice", 11),
    ]);
    let result = store.apply_room_change(app_id, room_id, 2, &failing).await;
    assert!(matches!(result, Err(StoreError::AlreadyExists)), "{result:?}");
    // join_order is unique in a room.
    let same_order = room_change(vec![room_add("bob", 2)]);
    let result = store.apply_room_change(app_id, room_id, 2, &same_order).await;
    assert!(matches!(result, Err(StoreError::AlreadyExists)), "{result:?}");
    assert_eq!(room_record(store, app_id, room_id).await, before);
    assert_eq!(room_member_names(store, app_id, room_id).await, ["alice", "owner"]);
    assert!(store.room_admins(app_id, room_id).await.expect("room_admins").is_empty());

    // With the right version it goes through.
    assert_eq!(store.apply_room_change(app_id, room_id, 2, &stale).await.expect("apply"), 3);
}

pub async fn concurrent_room_changes_one_wins(store: &dyn Store) {
    let app_id = app(store).await;
    let room_id = create_room(store, app_id, 30, "owner", &[]).await;
    let alice_joins = room_change(vec![room_add("alice", 10)]);
    let bob_joins = room_change(vec![room_add("bob", 11)]);
    let (alice, bob) = join(
        store.apply_room_change(app_id, room_id, 1, &alice_joins),
        store.apply_room_change(app_id, room_id, 1, &bob_joins),
    )
    .await;
    let outcomes = [&alice, &bob].map(|result| match result {
        Ok(version) => Ok(*version),
        Err(StoreError::Conflict) => Err("conflict"),
        Err(other) => panic!("unexpected {other:?}"),
    });
    assert!(outcomes == [Ok(2), Err("conflict")] || outcomes == [Err("conflict"), Ok(2)], "{outcomes:?}");
    let room = room_record(store, app_id, room_id).await;
    assert_eq!((room.version, room.member_count), (2, 2));
}

pub async fn room_counts_follow_presence_and_admins(store: &dyn Store) {
    let app_id = app(store).await;
    let room_id = create_room(store, app_id, 40, "owner", &["alice"]).await;
    let counts = |expected: (u32, u32)| async move {
        let room = room_record(store, app_id, room_id).await;
        assert_eq!((room.member_count, room.admin_count), expected, "(members, admins)");
        let listed = store.room_members_page(app_id, room_id, MemberPage::Offset { number: 0, size: 100 }).await;
        assert_eq!(listed.expect("room_members_page").len(), expected.0 as usize);
        assert_eq!(store.room_admins(app_id, room_id).await.expect("room_admins").len(), expected.1 as usize);
    };
    counts((2, 0)).await;
    let admin = |name: &str, admin| RoomMutation::SetAdmin { user: user(name), admin };
    apply_room(store, app_id, room_id, vec![room_add("bob", 10), room_add("carol", 11), admin("bob", true)]).await;
    counts((4, 1)).await;
    // Appointing twice, or removing what is not there, moves nothing.
    apply_room(store, app_id, room_id, vec![admin("bob", true), admin("carol", false)]).await;
    counts((4, 1)).await;
    // Leaving keeps the role; removing the role keeps the presence.
    apply_room(store, app_id, room_id, vec![RoomMutation::RemoveMember { user: user("bob") }]).await;
    counts((3, 1)).await;
    assert_eq!(store.room_admins(app_id, room_id).await.expect("room_admins"), users(&["bob"]));
    apply_room(store, app_id, room_id, vec![admin("alice", true), admin("bob", false)]).await;
    counts((3, 1)).await;
    apply_room(
        store,
        app_id,
        room_id,
        vec![RoomMutation::RemoveMember { user: user("bob") }, RoomMutation::RemoveMember { user: user("carol") }],
    )
    .await;
    counts((2, 1)).await;
    // Leave and come back in one change.
    apply_room(store, app_id, room_id, vec![RoomMutation::RemoveMember { user: user("alice") }, room_add("alice", 20)])
        .await;
    counts((2, 1)).await;
}

pub async fn room_members_page_is_newest_joined_first_and_marks_the_allowlisted(store: &dyn Store) {
    let app_id = app(store).await;
    let room_id = create_room(store, app_id, 50, "owner", &[]).await;
    let joins = (0..250).map(|i| room_add(&format!("m{i:03}"), 1000 + 3 * i)).collect();
    apply_room(store, app_id, room_id, joins).await;
    let allow = |name: &str| RoomMutation::SetAllowlisted { user: user(name), allowlisted: true };
    apply_room(store, app_id, room_id, vec![allow("m010"), allow("m200"), allow("ghost")]).await;
    assert_eq!(room_record(store, app_id, room_id).await.member_count, 251);

    let mut expected: Vec<String> = (0..250).rev().map(|i| format!("m{i:03}")).collect();
    expected.push("owner".into());
    let page = |page| async move {
        let members = store.room_members_page(app_id, room_id, page).await.expect("room_members_page");
        (names(members.iter().map(|m| &m.user)), members.last().map(|m| m.join_order))
    };
    assert_eq!(page(MemberPage::Offset { number: 0, size: 100 }).await.0, expected[..100]);
    assert_eq!(page(MemberPage::Offset { number: 2, size: 100 }).await.0, expected[200..]);
    assert!(page(MemberPage::Offset { number: 3, size: 100 }).await.0.is_empty());
    assert_eq!(page(MemberPage::Offset { number: 7, size: 7 }).await.0, expected[49..56]);

    let mut walked = Vec::new();
    let mut cursor = None;
    loop {
        let (members, last) = page(MemberPage::After { join_order: cursor, limit: 64 }).await;
        let full = members.len() == 64;
        walked.extend(members);
        cursor = last;
        if !full {
            break;
        }
    }
    assert_eq!(walked, expected);
    assert_eq!(page(MemberPage::After { join_order: Some(1450), limit: 3 }).await.0, ["m149", "m148", "m147"]);

    let all = store.room_members_page(app_id, room_id, MemberPage::Offset { number: 0, size: 300 }).await;
    let allowlisted: Vec<&str> =
        all.as_ref().expect("room_members_page").iter().filter(|m| m.allowlisted).map(|m| m.user.as_str()).collect();
    assert_eq!(allowlisted, ["m200", "m010"]);
    // The allowlist itself also holds users who are not in the room.
    let mut listed = names(store.room_allowlist(app_id, room_id).await.expect("room_allowlist").iter());
    listed.sort();
    assert_eq!(listed, ["ghost", "m010", "m200"]);
}

pub async fn rooms_page_and_user_rooms_are_newest_first(store: &dyn Store) {
    let app_id = app(store).await;
    for id in 1..=7 {
        create_room(store, app_id, id, "owner", &[]).await;
    }
    let other_app = store.ensure_app(&new_app("other")).await.expect("ensure_app").id;
    create_room(store, other_app, 50, "owner", &[]).await;
    let page = |before: Option<u64>, offset, limit| async move {
        let rooms = store.rooms_page(app_id, before.map(RoomId), offset, limit).await.expect("rooms_page");
        rooms.iter().map(|r| r.id.0).collect::<Vec<_>>()
    };
    assert_eq!(page(None, 0, 3).await, [7, 6, 5]);
    assert_eq!(page(Some(5), 0, 3).await, [4, 3, 2]);
    assert_eq!(page(Some(2), 0, 3).await, [1]);
    assert_eq!(page(None, 3, 3).await, [4, 3, 2]);
    assert_eq!(page(Some(6), 4, 10).await, [1]);
    let found = store.rooms(app_id, &[RoomId(5), RoomId(999), RoomId(1), RoomId(50)]).await.expect("rooms");
    assert_eq!(found.iter().map(|r| r.id.0).collect::<Vec<_>>(), [5, 1], "asked order, unknown left out");

    apply_room(store, app_id, RoomId(2), vec![room_add("alice", 10)]).await;
    apply_room(store, app_id, RoomId(6), vec![room_add("alice", 30)]).await;
    apply_room(store, app_id, RoomId(4), vec![room_add("alice", 20)]).await;
    let alice_rooms = |offset, limit| async move {
        let (rooms, total) = store.user_rooms(app_id, &user("alice"), offset, limit).await.expect("user_rooms");
        let listed: Vec<(u64, i64)> = rooms.iter().map(|(room, member)| (room.id.0, member.join_order)).collect();
        (listed, total)
    };
    assert_eq!(alice_rooms(0, 10).await, (vec![(6, 30), (4, 20), (2, 10)], 3));
    assert_eq!(alice_rooms(1, 1).await, (vec![(4, 20)], 3));
    apply_room(store, app_id, RoomId(4), vec![RoomMutation::RemoveMember { user: user("alice") }]).await;
    assert_eq!(alice_rooms(0, 10).await, (vec![(6, 30), (2, 10)], 2));
}

pub async fn room_lists_switches_and_settings(store: &dyn Store) {
    let app_id = app(store).await;
    let room_id = create_room(store, app_id, 60, "owner", &["a", "b", "c", "d"]).await;
    let mute = |name: &str, until_ms| RoomMutation::SetMute { user: user(name), until_ms };
    let settings = RoomSettings { name: "renamed".into(), description: "d".into(), max_users: 5, custom: "{}".into() };
    apply_room(
        store,
        app_id,
        room_id,
        vec![
            mute("a", Some(NOW + 1000)),
            mute("b", Some(i64::MAX)),
            mute("c", Some(NOW - 1)),
            RoomMutation::Blocklist { user: user("x") },
            RoomMutation::Blocklist { user: user("y") },
            RoomMutation::Blocklist { user: user("x") },
            RoomMutation::SetMuteAll(true),
            RoomMutation::SetAnnouncement("hello".into()),
            RoomMutation::UpdateSettings(settings.clone()),
        ],
    )
    .await;
    let muted = |now_ms| async move {
        let list = store.room_mute_list(app_id, room_id, now_ms).await.expect("room_mute_list");
        let mut list: Vec<(String, i64)> = list.into_iter().map(|(n, u)| (n.as_str().to_owned(), u)).collect();
        list.sort();
        list
    };
    assert_eq!(muted(NOW).await, [("a".to_owned(), NOW + 1000), ("b".to_owned(), i64::MAX)]);
    assert_eq!(muted(NOW + 1000).await, [("b".to_owned(), i64::MAX)]);
    let mut blocked = names(store.room_blocklist(app_id, room_id).await.expect("room_blocklist").iter());
    blocked.sort();
    assert_eq!(blocked, ["x", "y"]);
    let room = room_record(store, app_id, room_id).await;
    assert_eq!((room.mute_all, room.announcement.as_str(), &room.settings), (true, "hello", &settings));
    assert!(room.flags().mute_all);

    // Mutes outlive presence; a new mute replaces the old; unmuting and unblocking remove.
    apply_room(store, app_id, room_id, vec![RoomMutation::RemoveMember { user: user("a") }]).await;
    assert_eq!(muted(NOW).await.len(), 2);
    apply_room(
        store,
        app_id,
        room_id,
        vec![mute("a", Some(NOW + 5)), mute("b", None), RoomMutation::Unblocklist { user: user("x") }],
    )
    .await;
    assert_eq!(muted(NOW).await, [("a".to_owned(), NOW + 5)]);
    assert_eq!(store.room_blocklist(app_id, room_id).await.expect("room_blocklist"), users(&["y"]));
    apply_room(store, app_id, room_id, vec![RoomMutation::SetMuteAll(false)]).await;
    assert!(!room_record(store, app_id, room_id).await.mute_all);
}

pub async fn room_delivery_settings_and_presences(store: &dyn Store) {
    let app_id = app(store).await;
    let room_id = create_room(store, app_id, 65, "owner", &["a", "b"]).await;
    assert_eq!(room_record(store, app_id, room_id).await.delivery, RoomDelivery::default(), "no overrides at first");
    let delivery =
        RoomDelivery { history_enabled: Some(false), history_size: Some(200), rate_limit_per_second: Some(5) };
    apply_room(store, app_id, room_id, vec![RoomMutation::SetDelivery(delivery)]).await;
    assert_eq!(room_record(store, app_id, room_id).await.delivery, delivery);
    let listed = store.rooms(app_id, &[room_id]).await.expect("rooms");
    assert_eq!(listed[0].delivery, delivery);

    // The app's room defaults are stored with its settings.
    let mut settings = store.app_by_key("qun", "conformance").await.expect("app_by_key").expect("app").settings;
    settings.rooms.history_size = 42;
    store.update_app_settings(app_id, &settings).await.expect("update_app_settings");
    let stored = store.app_by_key("qun", "conformance").await.expect("app_by_key").expect("app");
    assert_eq!(stored.settings.rooms.history_size, 42);

    // Presences: every member of every room of every app, the allowlisted marked.
    let other = store.ensure_app(&new_app("other")).await.expect("ensure_app").id;
    let elsewhere = create_room(store, other, 66, "zed", &[]).await;
    apply_room(
        store,
        app_id,
        room_id,
        vec![
            RoomMutation::SetAllowlisted { user: user("b"), allowlisted: true },
            RoomMutation::RemoveMember { user: user("owner") },
        ],
    )
    .await;
    let mut seen: Vec<(String, String, RoomId, String, bool)> = store
        .room_presences()
        .await
        .expect("room_presences")
        .into_iter()
        .map(|p| (p.org, p.app, p.room_id, p.member.user.as_str().to_owned(), p.member.allowlisted))
        .collect();
    seen.sort();
    let entry = |app: &str, room: RoomId, name: &str, allowlisted: bool| {
        ("qun".to_owned(), app.to_owned(), room, name.to_owned(), allowlisted)
    };
    assert_eq!(
        seen,
        [
            entry("conformance", room_id, "a", false),
            entry("conformance", room_id, "b", true),
            entry("other", elsewhere, "zed", false),
        ]
    );
}

pub async fn room_attributes_are_written_replaced_and_deleted(store: &dyn Store) {
    let app_id = app(store).await;
    let room_id = create_room(store, app_id, 70, "owner", &["ann", "bob"]).await;
    apply_room(
        store,
        app_id,
        room_id,
        vec![
            set_room_attributes("ann", true, &[("seat", "1"), ("mic", "on")]),
            set_room_attributes("bob", false, &[("topic", "rust")]),
        ],
    )
    .await;
    let read = |keys: &'static [&'static str]| async move {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let attributes = store.room_attributes(app_id, room_id, &keys).await.expect("room_attributes");
        attributes
            .into_iter()
            .map(|a| (a.key, a.value, a.owner.as_str().to_owned(), a.auto_delete, a.updated_ms))
            .collect::<Vec<_>>()
    };
    let row =
        |k: &str, v: &str, owner: &str, auto_delete| (k.to_owned(), v.to_owned(), owner.to_owned(), auto_delete, NOW);
    assert_eq!(
        read(&[]).await,
        [row("mic", "on", "ann", true), row("seat", "1", "ann", true), row("topic", "rust", "bob", false)]
    );
    assert_eq!(read(&["topic", "nope"]).await, [row("topic", "rust", "bob", false)]);

    // Overwriting a key makes the writer its owner, with the writer's autoDelete.
    apply_room(
        store,
        app_id,
        room_id,
        vec![
            set_room_attributes("bob", false, &[("seat", "2")]),
            RoomMutation::DeleteAttributes { keys: vec!["mic".into(), "nope".into()] },
        ],
    )
    .await;
    assert_eq!(read(&[]).await, [row("seat", "2", "bob", false), row("topic", "rust", "bob", false)]);
    let snapshot = store.room_snapshot(app_id, room_id, &users(&["ann", "bob"])).await.expect("snapshot");
    let snapshot = snapshot.expect("room");
    assert!(snapshot.users[0].auto_delete_keys.is_empty());
    assert!(snapshot.users[1].auto_delete_keys.is_empty(), "bob's keys are NO_DELETE");
}

pub async fn destroying_a_room_removes_everything(store: &dyn Store) {
    let app_id = app(store).await;
    let room_id = create_room(store, app_id, 80, "owner", &["alice"]).await;
    let control = create_room(store, app_id, 81, "owner", &["alice"]).await;
    let everything = || {
        vec![
            RoomMutation::SetAdmin { user: user("alice"), admin: true },
            RoomMutation::Blocklist { user: user("mallory") },
            RoomMutation::SetAllowlisted { user: user("alice"), allowlisted: true },
            RoomMutation::SetMute { user: user("alice"), until_ms: Some(NOW + 1000) },
            set_room_attributes("alice", true, &[("k", "v")]),
        ]
    };
    apply_room(store, app_id, room_id, everything()).await;
    apply_room(store, app_id, control, everything()).await;
    apply_room(store, app_id, room_id, vec![RoomMutation::Destroy]).await;

    for id in [room_id, control] {
        let gone = id == room_id;
        assert_eq!(store.room_snapshot(app_id, id, &[]).await.expect("snapshot").is_none(), gone);
        assert_eq!(store.rooms(app_id, &[id]).await.expect("rooms").is_empty(), gone);
        let members = store.room_members_page(app_id, id, MemberPage::After { join_order: None, limit: 10 }).await;
        assert_eq!(members.expect("room_members_page").is_empty(), gone);
        assert_eq!(store.room_admins(app_id, id).await.expect("room_admins").is_empty(), gone);
        assert_eq!(store.room_blocklist(app_id, id).await.expect("room_blocklist").is_empty(), gone);
        assert_eq!(store.room_allowlist(app_id, id).await.expect("room_allowlist").is_empty(), gone);
        assert_eq!(store.room_mute_list(app_id, id, NOW).await.expect("room_mute_list").is_empty(), gone);
        assert_eq!(store.room_attributes(app_id, id, &[]).await.expect("room_attributes").is_empty(), gone);
    }
    let (rooms, total) = store.user_rooms(app_id, &user("alice"), 0, 10).await.expect("user_rooms");
    assert_eq!((rooms.len(), total), (1, 1));

    // The id can be used again, empty; a mutation after a destruction fails the whole change.
    let again = create_room(store, app_id, 80, "owner", &[]).await;
    assert_eq!(room_record(store, app_id, again).await.member_count, 1);
    assert!(store.room_admins(app_id, again).await.expect("room_admins").is_empty());
    let version = room_record(store, app_id, control).await.version;
    let refused = room_change(vec![RoomMutation::Destroy, RoomMutation::SetMuteAll(true)]);
    let result = store.apply_room_change(app_id, control, version, &refused).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    assert_eq!(room_record(store, app_id, control).await.version, version);
}

pub async fn room_super_admins_are_per_app_users(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["ann", "bob", "cat"]).await;
    assert!(matches!(store.add_room_super_admin(app_id, &user("ghost"), NOW).await, Err(StoreError::NotFound)));
    assert!(store.add_room_super_admin(app_id, &user("ann"), NOW).await.expect("add"));
    assert!(store.add_room_super_admin(app_id, &user("bob"), NOW + 1).await.expect("add"));
    assert!(store.add_room_super_admin(app_id, &user("cat"), NOW + 2).await.expect("add"));
    assert!(!store.add_room_super_admin(app_id, &user("ann"), NOW + 3).await.expect("add again"));

    let page = |offset, limit| async move {
        let (names_page, total) = store.room_super_admins(app_id, offset, limit).await.expect("room_super_admins");
        (names(names_page.iter()), total)
    };
    assert_eq!(page(0, 2).await, (vec!["cat".to_owned(), "bob".to_owned()], 3));
    assert_eq!(page(2, 2).await, (vec!["ann".to_owned()], 3));
    assert!(store.is_room_super_admin(app_id, &user("bob")).await.expect("is"));
    assert!(store.remove_room_super_admin(app_id, &user("bob")).await.expect("remove"));
    assert!(!store.remove_room_super_admin(app_id, &user("bob")).await.expect("remove again"));
    assert!(!store.is_room_super_admin(app_id, &user("bob")).await.expect("is"));
    assert_eq!(page(0, 10).await.1, 2);

    // Per app.
    let other_app = store.ensure_app(&new_app("other")).await.expect("ensure_app").id;
    assert!(!store.is_room_super_admin(other_app, &user("ann")).await.expect("is"));
    assert_eq!(store.room_super_admins(other_app, 0, 10).await.expect("room_super_admins").1, 0);
}

pub async fn delete_user_leaves_rooms_consistent(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["alice", "owner", "bob"]).await;
    let owned = create_room(store, app_id, 1, "alice", &["bob"]).await;
    let admin_of = create_room(store, app_id, 2, "owner", &["alice", "bob"]).await;
    apply_room(
        store,
        app_id,
        admin_of,
        vec![
            RoomMutation::SetAdmin { user: user("alice"), admin: true },
            RoomMutation::SetMute { user: user("alice"), until_ms: Some(i64::MAX) },
            RoomMutation::SetAllowlisted { user: user("alice"), allowlisted: true },
            set_room_attributes("alice", true, &[("gone", "1")]),
            set_room_attributes("alice", false, &[("kept", "2")]),
        ],
    )
    .await;
    let blocked_in = create_room(store, app_id, 3, "owner", &[]).await;
    apply_room(store, app_id, blocked_in, vec![RoomMutation::Blocklist { user: user("alice") }]).await;
    let untouched = create_room(store, app_id, 4, "owner", &["bob"]).await;
    store.add_room_super_admin(app_id, &user("alice"), NOW).await.expect("add super admin");

    let before = |room_id| room_record(store, app_id, room_id);
    let (owned_before, admin_of_before, blocked_in_before, untouched_before) =
        (before(owned).await, before(admin_of).await, before(blocked_in).await, before(untouched).await);
    store.delete_user(app_id, &user("alice")).await.expect("delete_user").expect("alice existed");

    let owned_after = before(owned).await;
    assert_eq!((owned_after.owner.as_str(), owned_after.member_count), ("alice", owned_before.member_count - 1));
    assert_eq!(owned_after.version, owned_before.version + 1);
    let snapshot = store.room_snapshot(app_id, owned, &users(&["alice"])).await.expect("snapshot").expect("room");
    assert_eq!((snapshot.users[0].exists, snapshot.users[0].standing()), (false, Standing::Owner));

    let admin_of_after = before(admin_of).await;
    assert_eq!(
        (admin_of_after.member_count, admin_of_after.admin_count, admin_of_after.version),
        (admin_of_before.member_count - 1, 0, admin_of_before.version + 1)
    );
    assert!(store.room_mute_list(app_id, admin_of, NOW).await.expect("room_mute_list").is_empty());
    assert!(store.room_allowlist(app_id, admin_of).await.expect("room_allowlist").is_empty());
    let keys: Vec<String> = store
        .room_attributes(app_id, admin_of, &[])
        .await
        .expect("room_attributes")
        .into_iter()
        .map(|a| a.key)
        .collect();
    assert_eq!(keys, ["kept"], "NO_DELETE attributes stay");

    let blocked_in_after = before(blocked_in).await;
    assert!(store.room_blocklist(app_id, blocked_in).await.expect("room_blocklist").is_empty());
    assert_eq!(blocked_in_after.version, blocked_in_before.version + 1);
    assert_eq!(before(untouched).await, untouched_before);

    let (rooms, total) = store.user_rooms(app_id, &user("alice"), 0, 10).await.expect("user_rooms");
    assert!(rooms.is_empty() && total == 0);
    assert!(!store.is_room_super_admin(app_id, &user("alice")).await.expect("is"));
}

// ------------------------------------------------------------------------ helpers

fn user(name: &str) -> UserName {
    UserName::parse(name).expect("valid user name")
}

fn users(names: &[&str]) -> Vec<UserName> {
    names.iter().map(|name| user(name)).collect()
}

fn chat(a: &str, b: &str) -> Conversation {
    Conversation::chat(user(a), user(b))
}

/// Message `id` with payload `m<id>`, created at `NOW + id`.
fn message(id: u64, conversation: &Conversation, sender: &str, client_id: Option<u64>) -> NewMessage {
    NewMessage {
        id,
        conversation: conversation.clone(),
        sender: user(sender),
        client_id,
        payload: format!("m{id}").into_bytes(),
        created_ms: NOW + id as i64,
    }
}

async fn append(store: &dyn Store, app_id: i64, messages: Vec<NewMessage>) -> Vec<StoreResult<AppendOutcome>> {
    let results = store.append_messages(app_id, &messages).await.expect("append_messages");
    assert_eq!(results.len(), messages.len(), "one result per message");
    results
}

/// The sequence of each message, all of which must have been stored.
fn stored_seqs(results: Vec<StoreResult<AppendOutcome>>) -> Vec<i64> {
    results
        .into_iter()
        .map(|result| match result {
            Ok(AppendOutcome::Stored { seq }) => seq,
            other => panic!("not stored: {other:?}"),
        })
        .collect()
}

fn seqs_and_ids(entries: &[TimelineEntry]) -> Vec<(i64, u64)> {
    entries.iter().map(|e| (e.seq, e.id)).collect()
}

async fn chat_entries(store: &dyn Store, app_id: i64, conversation: &Conversation) -> Vec<(i64, u64)> {
    seqs_and_ids(&store.chat_timeline(app_id, conversation, 0, 100).await.expect("chat_timeline"))
}

fn queue_keys(queues: &[QueueHead]) -> Vec<QueueKey> {
    queues.iter().map(|q| q.queue.clone()).collect()
}

fn names<'a>(users: impl IntoIterator<Item = &'a UserName>) -> Vec<String> {
    users.into_iter().map(|name| name.as_str().to_owned()).collect()
}

fn new_app(name: &str) -> NewApp {
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

async fn app(store: &dyn Store) -> i64 {
    store.ensure_app(&new_app("conformance")).await.expect("ensure_app").id
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        name: user(name),
        uuid: format!("uuid-{name}"),
        password_hash: "hash".into(),
        nickname: format!("nick {name}"),
        created_ms: NOW,
    }
}

async fn register(store: &dyn Store, app_id: i64, names: &[&str]) {
    let new: Vec<_> = names.iter().map(|name| new_user(name)).collect();
    for result in store.create_users(app_id, &new).await.expect("create_users") {
        result.expect("a new user");
    }
}

fn token(app_id: i64, hash: &[u8], user_name: Option<&str>, expires_ms: Option<i64>) -> TokenRecord {
    TokenRecord { hash: hash.to_vec(), app_id, user: user_name.map(user), created_ms: NOW, expires_ms }
}

async fn insert_token(store: &dyn Store, token: TokenRecord) {
    store.insert_token(&token).await.expect("insert_token");
}

fn settings(name: &str, public: bool) -> GroupSettings {
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

fn add(name: &str, role: MemberRole, join_order: i64) -> GroupMutation {
    GroupMutation::AddMember { user: user(name), role, join_order }
}

fn request(name: &str, kind: RequestKind, inviter: Option<&str>, message: &str, created_ms: i64) -> RequestRecord {
    RequestRecord { user: user(name), kind, inviter: inviter.map(user), message: message.into(), created_ms }
}

fn file(file_id: &str, created_ms: i64) -> SharedFileRecord {
    SharedFileRecord {
        file_id: file_id.into(),
        name: format!("{file_id}.txt"),
        owner: user("owner"),
        size: 42,
        created_ms,
    }
}

fn event(operation: GroupOperation, group_id: GroupId, to: &[&str]) -> GroupEvent {
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

fn to_group(id: u64, event: GroupEvent, except: Option<&str>) -> EventRecord {
    EventRecord { id, audience: Audience::Group { except: except.map(user) }, event }
}

fn to_users(id: u64, event: GroupEvent, names: &[&str]) -> EventRecord {
    EventRecord { id, audience: Audience::Users(users(names)), event }
}

fn change(mutations: Vec<GroupMutation>, events: Vec<EventRecord>) -> GroupChange {
    GroupChange { mutations, events, now_ms: NOW }
}

/// Creates group `id` with the given mutations (its members) and returns its id.
async fn create_group_with(
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
async fn create_group(store: &dyn Store, app_id: i64, id: u64, owner: &str, members: &[&str]) -> GroupId {
    let mut mutations = vec![add(owner, MemberRole::Owner, 1)];
    mutations.extend(members.iter().zip(2..).map(|(name, join_order)| add(name, MemberRole::Member, join_order)));
    create_group_with(store, app_id, id, true, mutations).await
}

async fn group_record(store: &dyn Store, app_id: i64, group_id: GroupId) -> GroupRecord {
    store.group_snapshot(app_id, group_id, &[], NOW).await.expect("group_snapshot").expect("the group exists").group
}

async fn member_names(store: &dyn Store, app_id: i64, group_id: GroupId) -> Vec<String> {
    names(store.member_names(app_id, group_id).await.expect("member_names").iter())
}

/// Applies mutations at the group's current version.
async fn apply(store: &dyn Store, app_id: i64, group_id: GroupId, mutations: Vec<GroupMutation>) -> AppliedChange {
    apply_with_events(store, app_id, group_id, mutations, vec![]).await
}

async fn apply_with_events(
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

fn room_settings(name: &str) -> RoomSettings {
    RoomSettings { name: name.into(), description: "about".into(), max_users: 1000, custom: String::new() }
}

fn room_add(name: &str, join_order: i64) -> RoomMutation {
    RoomMutation::AddMember { user: user(name), join_order }
}

fn room_change(mutations: Vec<RoomMutation>) -> RoomChange {
    RoomChange { mutations, now_ms: NOW }
}

fn set_room_attributes(owner: &str, auto_delete: bool, pairs: &[(&str, &str)]) -> RoomMutation {
    RoomMutation::SetAttributes {
        owner: user(owner),
        auto_delete,
        attributes: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

/// Creates room `id` owned by `owner` (in the room, join_order 1), `members` joining after.
async fn create_room(store: &dyn Store, app_id: i64, id: u64, owner: &str, members: &[&str]) -> RoomId {
    let mut mutations = vec![room_add(owner, 1)];
    mutations.extend(members.iter().zip(2..).map(|(name, join_order)| room_add(name, join_order)));
    let room =
        NewRoom { id: RoomId(id), owner: user(owner), settings: room_settings(&format!("room {id}")), created_ms: NOW };
    store.create_room(app_id, &room, &room_change(mutations)).await.expect("create_room");
    room.id
}

async fn room_record(store: &dyn Store, app_id: i64, room_id: RoomId) -> RoomRecord {
    store.room_snapshot(app_id, room_id, &[]).await.expect("room_snapshot").expect("the room exists").room
}

async fn room_member_names(store: &dyn Store, app_id: i64, room_id: RoomId) -> Vec<String> {
    let members = store.room_members_page(app_id, room_id, MemberPage::Offset { number: 0, size: 1000 }).await;
    names(members.expect("room_members_page").iter().map(|m| &m.user))
}

/// Applies mutations at the room's current version.
async fn apply_room(store: &dyn Store, app_id: i64, room_id: RoomId, mutations: Vec<RoomMutation>) -> i64 {
    let version = room_record(store, app_id, room_id).await.version;
    let applied = store.apply_room_change(app_id, room_id, version, &room_change(mutations)).await;
    let applied = applied.expect("apply_room_change");
    assert_eq!(applied, version + 1);
    applied
}

/// Runs two futures concurrently on the current task (the store must interleave them).
async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
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

#[cfg(test)]
mod sqlite {
    /// A store in a temporary directory that lives as long as the test.
    struct SqliteFixture {
        store: crate::SqliteStore,
        _directory: tempfile::TempDir,
    }

    impl std::ops::Deref for SqliteFixture {
        type Target = crate::SqliteStore;
        fn deref(&self) -> &crate::SqliteStore {
            &self.store
        }
    }

    async fn sqlite_store() -> Option<SqliteFixture> {
        let directory = tempfile::tempdir().expect("temporary directory");
        let url = crate::testing::fresh_sqlite_url(directory.path()).await;
        let store = crate::SqliteStore::open(&url).await.expect("open sqlite");
        Some(SqliteFixture { store, _directory: directory })
    }

    crate::store_conformance_suite!(sqlite_store());
}

#[cfg(test)]
mod postgres {
    async fn postgres_store() -> Option<Box<crate::PostgresStore>> {
        let server = crate::testing::postgres_test_url()?;
        let url = crate::testing::fresh_postgres_database(&server).await;
        Some(Box::new(crate::PostgresStore::connect(&url).await.expect("connect postgres")))
    }

    crate::store_conformance_suite!(postgres_store());
}
