//! Messages and personal items: sequences shared with events, group commit, resends, 1:1
//! conversations, timelines and history.

use qun_core::{GroupId, GroupOperation, MemberRole, PersonalItem, Receipt, ReceiptKind};

use super::support::*;
use crate::prelude::*;
use crate::{
    AppendOutcome, AppliedChange, Conversation, GroupMutation, GroupRecord, HistoryDirection, HistoryQuery,
    MessageChange, NewMessage, QueueKey, StoreError, TimelineEntry, TimelineItem,
};

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
        group: None,
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

pub async fn a_batch_across_300_chats_numbers_each_chat_on_its_own(store: &dyn Store) {
    // Several statements of each size for the conversations, the client ids and the rows,
    // some chats new, some with messages already, two messages in each, one resend of each.
    let app_id = app(store).await;
    let peer = |i: u64| format!("peer{i:03}");
    let earlier: Vec<_> = (0..100).map(|i| message(50_000 + i, &chat("alice", &peer(i)), "alice", None)).collect();
    stored_seqs(append(store, app_id, earlier).await);
    let mut batch = Vec::new();
    for i in 0..300 {
        let conversation = chat("alice", &peer(i));
        batch.push(message(60_000 + 2 * i, &conversation, "alice", Some(1_000 + i)));
        batch.push(message(60_001 + 2 * i, &conversation, &peer(i), Some(1_000 + i)));
    }
    let resends: Vec<_> =
        (0..300).map(|i| message(70_000 + i, &chat("alice", &peer(i)), "alice", Some(1_000 + i))).collect();
    batch.extend(resends);
    let outcomes: Vec<_> = append(store, app_id, batch).await.into_iter().map(|r| r.expect("no error")).collect();
    for i in 0..300u64 {
        let first = if i < 100 { 2 } else { 1 };
        let (mine, theirs, resend) =
            (outcomes[2 * i as usize], outcomes[2 * i as usize + 1], outcomes[600 + i as usize]);
        assert_eq!(
            (mine, theirs),
            (AppendOutcome::Stored { seq: first }, AppendOutcome::Stored { seq: first + 1 }),
            "chat {i}"
        );
        assert_eq!(resend, AppendOutcome::Duplicate { id: 60_000 + 2 * i, seq: first }, "chat {i}");
        let entries = chat_entries(store, app_id, &chat(&peer(i), "alice")).await;
        assert_eq!(entries.last(), Some(&(first + 1, 60_001 + 2 * i)), "chat {i}");
    }
    let alice_queues = store.user_queues(app_id, &user("alice"), "phone").await.expect("user_queues");
    assert_eq!(alice_queues.len(), 301, "300 chats and the personal queue");
    for head in &alice_queues {
        if let QueueKey::Chat(peer) = &head.queue {
            let number: u64 = peer.as_str()["peer".len()..].parse().expect("a peer's number");
            assert_eq!(head.last_seq, if number < 100 { 3 } else { 2 }, "the head of the chat with {peer}");
        }
    }
    // Resent in a later batch: each claim found taken, each answered with the first message.
    let resends: Vec<_> =
        (0..300).map(|i| message(80_000 + i, &chat(&peer(i), "alice"), "alice", Some(1_000 + i))).collect();
    let outcomes: Vec<_> = append(store, app_id, resends).await.into_iter().map(|r| r.expect("no error")).collect();
    for (i, outcome) in (0..300u64).zip(outcomes) {
        let first = if i < 100 { 2 } else { 1 };
        assert_eq!(outcome, AppendOutcome::Duplicate { id: 60_000 + 2 * i, seq: first }, "chat {i}");
    }
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

pub async fn recalls_and_edits_replace_messages_and_append_notices(store: &dyn Store) {
    let app_id = app(store).await;
    let alice_bob = chat("alice", "bob");
    assert_eq!(
        stored_seqs(
            append(store, app_id, (301..=303).map(|id| message(id, &alice_bob, "alice", None)).collect()).await
        ),
        [1, 2, 3]
    );
    let found = store.message_by_id(app_id, 302).await.expect("message_by_id").expect("302 is stored");
    assert_eq!(
        (found.conversation, found.seq, found.id, found.payload, found.created_ms, found.edits),
        (alice_bob.clone(), 2, 302, b"m302".to_vec(), NOW + 302, 0)
    );

    // An edit rewrites the message in place and appends its notice with the next sequence.
    let edit = |payload: &str, expected_edits| MessageChange::Edit { payload: payload.into(), expected_edits };
    let notice = |id, conversation: &Conversation| message(id, conversation, "alice", None);
    let seq = store.change_message(app_id, 302, &edit("e1", 0), &notice(310, &alice_bob)).await.expect("edit");
    assert_eq!(seq, 4);
    let edited = store.message_by_id(app_id, 302).await.expect("message_by_id").expect("still there");
    assert_eq!((edited.payload.as_slice(), edited.edits, edited.seq), (b"e1".as_slice(), 1, 2));
    // An edit decided on a stale count changes nothing.
    let stale = store.change_message(app_id, 302, &edit("e2", 0), &notice(311, &alice_bob)).await;
    assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");

    // A recall takes the message out of every read but keeps its place for history pages.
    assert_eq!(store.change_message(app_id, 303, &MessageChange::Recall, &notice(312, &alice_bob)).await.ok(), Some(5));
    assert!(store.message_by_id(app_id, 303).await.expect("message_by_id").is_none());
    assert_eq!(chat_entries(store, app_id, &alice_bob).await, [(1, 301), (2, 302), (4, 310), (5, 312)]);
    let history = |before| async move {
        let entries = store.history(app_id, &chat("alice", "bob"), before, 10).await.expect("history");
        entries.iter().map(|e| (e.id, e.item.clone())).collect::<Vec<_>>()
    };
    let message_302 = (302, TimelineItem::Message(b"e1".to_vec()));
    assert_eq!(history(None).await, [message_302.clone(), (301, TimelineItem::Message(b"m301".to_vec()))]);
    assert_eq!(history(Some(303)).await[0], message_302, "history still pages from a recalled id");
    // Recalled or never there: nothing changes, no sequence is used.
    for id in [303, 999] {
        let again = store.change_message(app_id, id, &MessageChange::Recall, &notice(313, &alice_bob)).await;
        assert!(matches!(again, Err(StoreError::NotFound)), "{id}: {again:?}");
        let edit_gone = store.change_message(app_id, id, &edit("x", 0), &notice(313, &alice_bob)).await;
        assert!(matches!(edit_gone, Err(StoreError::NotFound)), "{id}: {edit_gone:?}");
    }
    // A message of another conversation is not found in this one.
    let carol = chat("alice", "carol");
    append(store, app_id, vec![message(320, &carol, "carol", None)]).await;
    let elsewhere = store.change_message(app_id, 301, &MessageChange::Recall, &notice(321, &carol)).await;
    assert!(matches!(elsewhere, Err(StoreError::NotFound)), "{elsewhere:?}");
    assert_eq!(chat_entries(store, app_id, &carol).await, [(1, 320)]);

    // Groups: the same, sharing the sequence with events.
    let group_id = create_group(store, app_id, 1900, "owner", &["alice"]).await;
    let group = Conversation::Group(group_id);
    append(store, app_id, vec![message(401, &group, "alice", None), message(402, &group, "owner", None)]).await;
    let found = store.message_by_id(app_id, 401).await.expect("message_by_id").expect("401 is stored");
    assert_eq!((found.conversation.clone(), found.seq), (group.clone(), 1));
    assert_eq!(store.change_message(app_id, 401, &MessageChange::Recall, &notice(410, &group)).await.ok(), Some(3));
    assert_eq!(store.change_message(app_id, 402, &edit("e402", 0), &notice(411, &group)).await.ok(), Some(4));
    assert_eq!(group_record(store, app_id, group_id).await.last_seq, 4);
    let update = to_group(5, event(GroupOperation::Update, group_id, &[]), None);
    assert_eq!(apply_with_events(store, app_id, group_id, vec![], vec![update]).await.timeline_seqs, [5]);
    let timeline = store.group_timeline(app_id, group_id, 0, 10).await.expect("group_timeline");
    assert_eq!(seqs_and_ids(&timeline), [(2, 402), (3, 410), (4, 411), (5, 5)]);
    assert_eq!(timeline[0].item, TimelineItem::Message(b"e402".to_vec()));
    assert_eq!(timeline[1].item, TimelineItem::Message(b"m410".to_vec()), "a notice reads as a message");
    let group_history = store.history(app_id, &group, None, 10).await.expect("history");
    assert_eq!(seqs_and_ids(&group_history), [(2, 402)], "notices and recalled messages are not history");
    let other_group = notice(412, &Conversation::Group(GroupId(1901)));
    let missing = store.change_message(app_id, 402, &MessageChange::Recall, &other_group).await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

pub async fn history_pages_read_both_ways_within_a_range(store: &dyn Store) {
    let app_id = app(store).await;
    let alice_bob = chat("alice", "bob");
    let messages = (101..=105).map(|id| message(id, &alice_bob, "alice", None));
    assert_eq!(stored_seqs(append(store, app_id, messages.collect()).await), [1, 2, 3, 4, 5]);
    let page = |conversation: Conversation, query: HistoryQuery| async move {
        let entries = store.history_page(app_id, &conversation, &query).await.expect("history_page");
        assert!(entries.iter().all(|e| matches!(e.item, TimelineItem::Message(_))));
        entries.iter().map(|e| e.id).collect::<Vec<_>>()
    };
    let older = |from_id, limit| HistoryQuery { from_id, ..HistoryQuery::newest(limit) };
    let newer = |from_id, limit| HistoryQuery { direction: HistoryDirection::Newer, ..older(from_id, limit) };

    assert_eq!(page(alice_bob.clone(), older(None, 2)).await, [105, 104]);
    assert_eq!(page(alice_bob.clone(), older(Some(104), 10)).await, [103, 102, 101], "strictly before");
    assert_eq!(page(alice_bob.clone(), newer(None, 2)).await, [101, 102], "from the oldest");
    assert_eq!(page(alice_bob.clone(), newer(Some(102), 10)).await, [103, 104, 105], "strictly after");
    assert!(page(alice_bob.clone(), newer(Some(105), 10)).await.is_empty());
    assert!(page(alice_bob.clone(), older(Some(999), 10)).await.is_empty(), "an unknown id");
    assert!(page(alice_bob.clone(), newer(Some(999), 10)).await.is_empty(), "an unknown id");
    // Above a sequence, and within a time range (both ends included).
    assert_eq!(page(alice_bob.clone(), HistoryQuery { after_seq: 3, ..older(None, 10) }).await, [105, 104]);
    assert_eq!(page(alice_bob.clone(), HistoryQuery { after_seq: 3, ..newer(None, 10) }).await, [104, 105]);
    let range = HistoryQuery { since_ms: NOW + 102, until_ms: NOW + 104, ..older(None, 10) };
    assert_eq!(page(alice_bob.clone(), range.clone()).await, [104, 103, 102]);
    assert_eq!(
        page(alice_bob.clone(), HistoryQuery { direction: HistoryDirection::Newer, ..range }).await,
        [102, 103, 104]
    );

    // A group's pages leave its events out, both ways.
    let group_id = create_group(store, app_id, 1850, "owner", &["alice"]).await;
    let group = Conversation::Group(group_id);
    let update = |id| to_group(id, event(GroupOperation::Update, group_id, &[]), None);
    apply_with_events(store, app_id, group_id, vec![], vec![update(1)]).await;
    append(store, app_id, vec![message(201, &group, "alice", None), message(202, &group, "owner", None)]).await;
    apply_with_events(store, app_id, group_id, vec![], vec![update(2)]).await;
    append(store, app_id, vec![message(203, &group, "alice", None)]).await;
    assert_eq!(page(group.clone(), older(None, 10)).await, [203, 202, 201]);
    assert_eq!(page(group.clone(), newer(None, 10)).await, [201, 202, 203]);
    assert_eq!(page(group.clone(), newer(Some(201), 1)).await, [202]);
    assert_eq!(page(group.clone(), HistoryQuery { after_seq: 3, ..newer(None, 10) }).await, [203]);
    assert!(page(group.clone(), newer(Some(103), 10)).await.is_empty(), "an id of another conversation");
    assert!(page(Conversation::Group(GroupId(1851)), newer(None, 10)).await.is_empty());
}
