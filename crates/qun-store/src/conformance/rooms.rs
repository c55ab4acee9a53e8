//! Chat rooms: the versioned change path, presence and roles, pages, lists, attributes,
//! super admins, delivery settings, destruction and a member's deletion.

use qun_core::{GroupId, RoomDelivery, RoomId, RoomSettings, Standing};

use super::support::*;
use crate::prelude::*;
use crate::{MemberPage, NewRoom, RoomChange, RoomMutation, StoreError};

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
    // What a login reads: the ids alone, up to the limit.
    let alice_room_ids = |limit| async move {
        let mut ids = store.user_room_ids(app_id, &user("alice"), limit).await.expect("user_room_ids");
        ids.sort();
        ids
    };
    assert_eq!(alice_room_ids(10).await, [RoomId(2), RoomId(6)]);
    assert_eq!(alice_room_ids(1).await.len(), 1);
    assert!(store.user_room_ids(app_id, &user("owner"), 10).await.expect("user_room_ids").len() == 7);
    assert!(store.user_room_ids(other_app, &user("alice"), 10).await.expect("user_room_ids").is_empty());
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
