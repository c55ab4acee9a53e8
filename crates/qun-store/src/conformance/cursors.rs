//! Queues and cursors: every queue with its head and the device's cursor, forward-only
//! cursors, and what dissolution and deletion take with them.

use qun_core::{GroupId, GroupOperation, MemberRole};

use super::support::*;
use crate::prelude::*;
use crate::{AppendOutcome, Conversation, CursorAdvance, GroupMutation, QueueHead, QueueKey};

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

pub async fn a_batch_of_cursors_advances_each_monotonically(store: &dyn Store) {
    let app_id = app(store).await;
    let other_app = store.ensure_app(&new_app("other")).await.expect("ensure_app").id;
    let group = QueueKey::Group(GroupId(2050));
    let at = |app_id, name: &str, device: &str, queue: &QueueKey, seq| CursorAdvance {
        app_id,
        user: user(name),
        device: device.to_owned(),
        queue: queue.clone(),
        seq,
    };
    let cursor = |app_id, name: &'static str, device: &'static str, queue: QueueKey| async move {
        store.cursor(app_id, &user(name), device, &queue).await.expect("cursor")
    };
    store.advance_cursor(app_id, &user("alice"), "phone", &group, 10).await.expect("advance_cursor");
    store.advance_cursor(app_id, &user("alice"), "pad", &group, 10).await.expect("advance_cursor");

    store.advance_cursors(&[]).await.expect("an empty batch");
    store
        .advance_cursors(&[
            // Behind the stored position: stays; ahead: moves.
            at(app_id, "alice", "phone", &group, 7),
            at(app_id, "alice", "pad", &group, 12),
            // Named twice: the larger wins, whatever the order.
            at(app_id, "bob", "phone", &group, 4),
            at(app_id, "bob", "phone", &group, 9),
            at(app_id, "bob", "phone", &group, 6),
            // Other queues, users and apps in the same batch.
            at(app_id, "bob", "phone", &QueueKey::Chat(user("alice")), 2),
            at(app_id, "bob", "phone", &QueueKey::Personal, 7_300_000_000_000_000_000),
            at(other_app, "alice", "phone", &group, 3),
        ])
        .await
        .expect("advance_cursors");
    assert_eq!(cursor(app_id, "alice", "phone", group.clone()).await, Some(10), "never backwards");
    assert_eq!(cursor(app_id, "alice", "pad", group.clone()).await, Some(12));
    assert_eq!(cursor(app_id, "bob", "phone", group.clone()).await, Some(9));
    assert_eq!(cursor(app_id, "bob", "phone", QueueKey::Chat(user("alice"))).await, Some(2));
    assert_eq!(cursor(app_id, "bob", "phone", QueueKey::Personal).await, Some(7_300_000_000_000_000_000));
    assert_eq!(cursor(other_app, "alice", "phone", group.clone()).await, Some(3));
    assert_eq!(cursor(app_id, "bob", "pad", group.clone()).await, None, "only the positions named");

    // A large batch (every statement size the store splits into, and a remainder) lands whole:
    // 299 devices of carol (2 × 128 + 32 + 8 + 3), each at its own position, some already further.
    let devices: Vec<String> = (0..299).map(|i| format!("device-{i:03}")).collect();
    for device in devices.iter().step_by(50) {
        store.advance_cursor(app_id, &user("carol"), device, &group, 1_000).await.expect("advance_cursor");
    }
    let batch: Vec<CursorAdvance> =
        devices.iter().enumerate().map(|(i, device)| at(app_id, "carol", device, &group, i as i64)).collect();
    store.advance_cursors(&batch).await.expect("advance_cursors");
    for (i, device) in devices.iter().enumerate() {
        let expected = if i % 50 == 0 { 1_000 } else { i as i64 };
        let stored = store.cursor(app_id, &user("carol"), device, &group).await.expect("cursor");
        assert_eq!(stored, Some(expected), "{device}");
    }
    // What a login reads sees them too.
    let queues = store.user_queues(app_id, &user("bob"), "phone").await.expect("user_queues");
    let personal = queues.iter().find(|head| head.queue == QueueKey::Personal).expect("the personal queue");
    assert_eq!(personal.cursor, Some(7_300_000_000_000_000_000));
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

pub async fn marking_a_queue_read_moves_every_device_to_its_head(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 2100, "owner", &["alice"]).await;
    let group = Conversation::Group(group_id);
    let alice_bob = chat("alice", "bob");
    append(
        store,
        app_id,
        vec![
            message(1, &group, "owner", None),
            message(2, &group, "owner", None),
            message(3, &group, "owner", None),
            message(4, &alice_bob, "bob", None),
            message(5, &alice_bob, "bob", None),
        ],
    )
    .await;
    let alice = user("alice");
    let (group_queue, chat_queue) = (QueueKey::Group(group_id), QueueKey::Chat(user("bob")));
    // The phone read the group up to 1; the pad never read the group, only its personal queue;
    // the laptop is ahead of the head already (an acknowledgement cannot go back).
    for (device, queue, seq) in
        [("phone", &group_queue, 1), ("pad", &QueueKey::Personal, 9), ("laptop", &chat_queue, 7)]
    {
        store.advance_cursor(app_id, &alice, device, queue, seq).await.expect("advance_cursor");
    }
    let cursor = |device: &'static str, queue: QueueKey| {
        let alice = alice.clone();
        async move { store.cursor(app_id, &alice, device, &queue).await.expect("cursor") }
    };

    assert_eq!(store.mark_queue_read(app_id, &alice, &group_queue).await.expect("mark_queue_read"), Some(3));
    for device in ["phone", "pad", "laptop"] {
        assert_eq!(cursor(device, group_queue.clone()).await, Some(3), "{device}");
    }
    assert_eq!(store.mark_queue_read(app_id, &alice, &chat_queue).await.expect("mark_queue_read"), Some(2));
    assert_eq!(cursor("phone", chat_queue.clone()).await, Some(2));
    assert_eq!(cursor("laptop", chat_queue.clone()).await, Some(7), "never backwards");
    // The UNREAD summary's source says so.
    let heads = store.user_queues(app_id, &alice, "pad").await.expect("user_queues");
    let pad: Vec<_> = heads.iter().filter(|h| h.queue != QueueKey::Personal).map(|h| (h.last_seq, h.cursor)).collect();
    assert_eq!(pad, [(3, Some(3)), (2, Some(2))]);
    // Other queues, users and the peer's side are untouched.
    assert_eq!(cursor("pad", QueueKey::Personal).await, Some(9));
    assert_eq!(
        store.cursor(app_id, &user("bob"), "phone", &QueueKey::Chat(alice.clone())).await.expect("cursor"),
        None
    );

    // Nothing to mark: no such group or conversation, or the personal queue.
    for queue in [QueueKey::Group(GroupId(2199)), QueueKey::Chat(user("carol")), QueueKey::Personal] {
        assert_eq!(store.mark_queue_read(app_id, &alice, &queue).await.expect("mark_queue_read"), None, "{queue:?}");
    }
    assert_eq!(cursor("phone", QueueKey::Chat(user("carol"))).await, None);
    // A user with no device yet has nothing to move.
    let owner = user("owner");
    assert_eq!(store.mark_queue_read(app_id, &owner, &group_queue).await.expect("mark_queue_read"), Some(3));
    assert_eq!(store.cursor(app_id, &owner, "phone", &group_queue).await.expect("cursor"), None);
}
