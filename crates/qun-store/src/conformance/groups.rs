//! Groups: the versioned change path, counts, pages, lists, requests, files, attributes, the
//! events a change stores, dissolution and a member's deletion.

use qun_core::{GroupId, GroupOperation, GroupSettings, MemberRole, PersonalItem, Standing, UserName};

use super::support::*;
use crate::prelude::*;
use crate::{AppliedChange, GroupChange, GroupMutation, MemberPage, NewGroup, RequestKind, StoreError, TimelineItem};

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
