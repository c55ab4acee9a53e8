//! Group read receipts: one row per reader and message, the sender's notice with the count in
//! the same transaction, pages of readers, the window, and what dissolution takes.

use qun_core::{GroupId, GroupReceipt, PersonalItem, Receipt, ReceiptKind};

use super::support::*;
use crate::prelude::*;
use crate::{Conversation, GroupAckOutcome, GroupMutation, NewGroupAck, TimelineItem};

fn ack(id: u64, group_id: GroupId, message_id: u64, reader: &str, sender: &str, message_ms: i64) -> NewGroupAck {
    NewGroupAck {
        id,
        group_id,
        message_id,
        message_ms,
        reader: user(reader),
        created_ms: NOW,
        notice: Receipt {
            kind: ReceiptKind::Read,
            from: user(reader),
            to: user(sender),
            message_id: Some(message_id),
            timestamp_ms: NOW,
            group: Some(GroupReceipt { group_id, read_count: None, content: format!("from {reader}") }),
        },
    }
}

/// The read counts of the sender's notices, in the personal queue's order.
async fn notices(store: &dyn Store, app_id: i64, sender: &str) -> Vec<(u64, String, Option<u32>)> {
    let items = store.user_events(app_id, &user(sender), 0, 100).await.expect("user_events");
    items
        .into_iter()
        .map(|stored| match stored.item {
            PersonalItem::Receipt(receipt) => {
                (stored.id, receipt.from.to_string(), receipt.group.and_then(|group| group.read_count))
            }
            other => panic!("not a receipt: {other:?}"),
        })
        .collect()
}

pub async fn group_message_finds_messages_of_that_group_only(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 2200, "owner", &["alice"]).await;
    let other = create_group(store, app_id, 2201, "owner", &[]).await;
    append(store, app_id, vec![message(10, &Conversation::Group(group_id), "owner", None)]).await;
    append(store, app_id, vec![message(11, &chat("owner", "alice"), "owner", None)]).await;
    let entry = store.group_message(app_id, group_id, 10).await.expect("group_message").expect("the message");
    assert_eq!((entry.id, entry.item), (10, TimelineItem::Message(b"m10".to_vec())));
    assert_eq!(store.group_message(app_id, other, 10).await.expect("group_message"), None);
    assert_eq!(store.group_message(app_id, group_id, 11).await.expect("group_message"), None, "a 1:1 message");
    assert_eq!(store.group_message(app_id, group_id, 12).await.expect("group_message"), None);
    // The group's events are not messages.
    let update = event(qun_core::GroupOperation::Update, group_id, &[]);
    apply_with_events(store, app_id, group_id, vec![], vec![to_group(13, update, None)]).await;
    assert_eq!(store.group_message(app_id, group_id, 13).await.expect("group_message"), None);
}

pub async fn group_acks_count_readers_once_and_notify_the_sender(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 2300, "owner", &["alice", "bob"]).await;
    let add = |a: NewGroupAck| async move { store.add_group_ack(app_id, &a, 0).await.expect("add_group_ack") };
    assert_eq!(add(ack(100, group_id, 7, "alice", "owner", NOW)).await, GroupAckOutcome { read_count: 1, first: true });
    assert_eq!(add(ack(101, group_id, 7, "bob", "owner", NOW)).await, GroupAckOutcome { read_count: 2, first: true });
    // A second receipt of the same reader changes nothing and tells nobody.
    assert_eq!(
        add(ack(102, group_id, 7, "alice", "owner", NOW)).await,
        GroupAckOutcome { read_count: 2, first: false }
    );
    // Another message counts apart.
    assert_eq!(add(ack(103, group_id, 8, "bob", "owner", NOW)).await, GroupAckOutcome { read_count: 1, first: true });
    assert_eq!(
        notices(store, app_id, "owner").await,
        [(100, "alice".into(), Some(1)), (101, "bob".into(), Some(2)), (103, "bob".into(), Some(1))]
    );
    let stored = store.user_events(app_id, &user("owner"), 0, 1).await.expect("user_events");
    let PersonalItem::Receipt(receipt) = &stored[0].item else { panic!("not a receipt") };
    assert_eq!(receipt.group.as_ref().map(|g| (g.group_id, g.content.as_str())), Some((group_id, "from alice")));
    assert!(store.user_events(app_id, &user("alice"), 0, 10).await.expect("user_events").is_empty());
}

pub async fn group_readers_page_in_reading_order(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 2400, "owner", &["alice", "bob", "carol"]).await;
    for (id, reader) in [(203, "carol"), (201, "alice"), (202, "bob")] {
        store.add_group_ack(app_id, &ack(id, group_id, 9, reader, "owner", NOW), 0).await.expect("add_group_ack");
    }
    let page = |after, limit| async move { store.group_readers(app_id, 9, after, limit).await.expect("group_readers") };
    let first = page(None, 2).await;
    assert_eq!(first.total, 3);
    assert_eq!(first.readers, [(201, user("alice")), (202, user("bob"))]);
    let rest = page(Some(202), 2).await;
    assert_eq!((rest.readers, rest.total), (vec![(203, user("carol"))], 3));
    assert!(page(Some(203), 2).await.readers.is_empty());
    let none = store.group_readers(app_id, 10, None, 10).await.expect("group_readers");
    assert_eq!((none.readers.len(), none.total), (0, 0));
    let other_app = store.ensure_app(&new_app("other")).await.expect("ensure_app").id;
    assert_eq!(store.group_readers(other_app, 9, None, 10).await.expect("group_readers").total, 0);
}

pub async fn group_acks_go_with_the_window_and_the_group(store: &dyn Store) {
    let app_id = app(store).await;
    let group_id = create_group(store, app_id, 2500, "owner", &["alice", "bob"]).await;
    let other = create_group(store, app_id, 2501, "owner", &["alice"]).await;
    let add = |a: NewGroupAck, expired_before| async move {
        store.add_group_ack(app_id, &a, expired_before).await.expect("add_group_ack")
    };
    add(ack(300, group_id, 20, "alice", "owner", NOW - 10), 0).await;
    add(ack(301, group_id, 21, "alice", "owner", NOW), 0).await;
    add(ack(302, other, 22, "alice", "owner", NOW), 0).await;
    // Any receipt drops those of messages sent before the window, in every group of the app.
    add(ack(303, other, 22, "owner", "owner", NOW), NOW - 5).await;
    let total =
        |message_id| async move { store.group_readers(app_id, message_id, None, 10).await.expect("readers").total };
    assert_eq!((total(20).await, total(21).await, total(22).await), (0, 1, 2));

    apply(store, app_id, group_id, vec![GroupMutation::Dissolve]).await;
    assert_eq!((total(21).await, total(22).await), (0, 2));
}
