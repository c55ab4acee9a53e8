//! Conversations: the list derived from memberships and timeline heads, and what a user changed
//! of their conversations (pins, marks, deletions, read points, history removed for them).

use qun_core::{GroupOperation, MemberRole};

use super::support::*;
use crate::prelude::*;
use crate::{ConversationChange, ConversationState, GroupMutation, QueueKey, StoreError, TimelineItem};

pub async fn conversation_heads_come_from_memberships_and_timelines(store: &dyn Store) {
    let app_id = app(store).await;
    let talked = create_group(store, app_id, 2500, "owner", &["alice"]).await;
    let joined_late = create_group(store, app_id, 2501, "owner", &[]).await;
    let only_events = create_group(store, app_id, 2502, "owner", &["alice"]).await;
    let not_joined = create_group(store, app_id, 2503, "owner", &["bob"]).await;
    let group = |group_id| crate::Conversation::Group(group_id);
    append(
        store,
        app_id,
        vec![
            message(1, &group(talked), "owner", None),
            message(2, &group(talked), "alice", None),
            message(3, &group(joined_late), "owner", None),
            message(4, &group(not_joined), "owner", None),
            message(5, &chat("alice", "bob"), "alice", None),
            message(6, &chat("bob", "alice"), "bob", None),
            message(7, &chat("carol", "alice"), "carol", None),
            message(8, &chat("bob", "carol"), "carol", None),
            message(9, &chat("alice", "alice"), "alice", None),
        ],
    )
    .await;
    apply(store, app_id, joined_late, vec![add("alice", MemberRole::Member, 10)]).await;
    // An event after the newest message is no message.
    let update = to_group(20, event(GroupOperation::Update, talked, &[]), None);
    apply_with_events(store, app_id, talked, vec![], vec![update.clone()]).await;
    let update = to_group(21, event(GroupOperation::Update, only_events, &[]), None);
    apply_with_events(store, app_id, only_events, vec![], vec![update]).await;

    let heads = store.conversation_heads(app_id, &user("alice")).await.expect("conversation_heads");
    let seen: Vec<(QueueKey, i64, u64, i64)> =
        heads.iter().map(|h| (h.conversation.clone(), h.floor_seq, h.newest.id, h.newest.seq)).collect();
    assert_eq!(
        seen,
        [
            (QueueKey::Group(talked), 0, 2, 2),
            (QueueKey::Group(joined_late), 1, 3, 1),
            (QueueKey::Chat(user("alice")), 0, 9, 1),
            (QueueKey::Chat(user("bob")), 0, 6, 2),
            (QueueKey::Chat(user("carol")), 0, 7, 1),
        ]
    );
    assert_eq!(heads[3].newest.item, TimelineItem::Message(b"m6".to_vec()));
    assert_eq!(heads[3].newest.created_ms, NOW + 6);
    assert!(store.conversation_heads(app_id, &user("dave")).await.expect("conversation_heads").is_empty());

    // Leaving a group takes it out of the list.
    apply(store, app_id, talked, vec![GroupMutation::RemoveMember { user: user("alice") }]).await;
    let heads = store.conversation_heads(app_id, &user("alice")).await.expect("conversation_heads");
    assert!(heads.iter().all(|h| h.conversation != QueueKey::Group(talked)));
}

pub async fn conversation_changes_are_per_user_and_never_go_back(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["alice", "bob"]).await;
    let (alice, bob) = (user("alice"), user("bob"));
    let group_id = create_group(store, app_id, 2600, "owner", &["alice"]).await;
    let (in_group, with_bob) = (QueueKey::Group(group_id), QueueKey::Chat(bob.clone()));
    let change = |conversations: Vec<QueueKey>, change| {
        let alice = &alice;
        async move { store.change_conversations(app_id, alice, &conversations, change).await.expect("change") }
    };
    let state = |conversation: QueueKey| {
        let alice = &alice;
        async move { store.conversation_state(app_id, alice, &conversation).await.expect("conversation_state") }
    };
    assert_eq!(state(in_group.clone()).await, ConversationState::untouched(in_group.clone()));

    change(vec![in_group.clone()], ConversationChange::Pin(Some(NOW))).await;
    change(vec![in_group.clone(), with_bob.clone()], ConversationChange::Mark { mark: 0, marked: true }).await;
    change(vec![in_group.clone()], ConversationChange::Mark { mark: 19, marked: true }).await;
    change(vec![with_bob.clone()], ConversationChange::Mark { mark: 0, marked: false }).await;
    change(vec![in_group.clone()], ConversationChange::Read(7)).await;
    change(vec![in_group.clone()], ConversationChange::Read(5)).await;
    change(vec![in_group.clone()], ConversationChange::ClearHistoryBefore(NOW + 10)).await;
    change(vec![in_group.clone()], ConversationChange::ClearHistoryBefore(NOW)).await;
    let group_state = ConversationState {
        pinned_ms: Some(NOW),
        marks: 1 | 1 << 19,
        read_seq: 7,
        cleared_before_ms: NOW + 10,
        ..ConversationState::untouched(in_group.clone())
    };
    assert_eq!(state(in_group.clone()).await, group_state, "read and cleared points never go back");
    assert_eq!(state(with_bob.clone()).await, ConversationState::untouched(with_bob.clone()));
    let states = store.conversation_states(app_id, &alice).await.expect("conversation_states");
    assert_eq!(states, [group_state.clone(), ConversationState::untouched(with_bob.clone())]);
    assert!(store.conversation_states(app_id, &bob).await.expect("conversation_states").is_empty(), "per user");

    // Deleting reads through the point, drops pin and marks; with history, clears it too.
    change(vec![in_group.clone()], ConversationChange::Delete { through_seq: 6, clear_history: false }).await;
    let deleted = ConversationState { pinned_ms: None, marks: 0, hidden_through_seq: 6, ..group_state.clone() };
    assert_eq!(state(in_group.clone()).await, deleted);
    change(vec![with_bob.clone()], ConversationChange::Delete { through_seq: 3, clear_history: true }).await;
    change(vec![with_bob.clone()], ConversationChange::Pin(Some(NOW + 1))).await;
    assert_eq!(
        state(with_bob.clone()).await,
        ConversationState {
            pinned_ms: Some(NOW + 1),
            hidden_through_seq: 3,
            cleared_through_seq: 3,
            read_seq: 3,
            ..ConversationState::untouched(with_bob.clone())
        }
    );
    change(vec![with_bob.clone()], ConversationChange::Pin(None)).await;
    assert_eq!(state(with_bob.clone()).await.pinned_ms, None);

    // The personal queue is no conversation.
    let personal = store.change_conversations(app_id, &alice, &[QueueKey::Personal], ConversationChange::Read(1)).await;
    assert!(matches!(personal, Err(StoreError::NotFound)), "{personal:?}");

    // A user's deletion takes their conversation state.
    store.remove_history_messages(app_id, &alice, &with_bob, &[1], 10).await.expect("remove_history_messages");
    store.delete_user(app_id, &alice).await.expect("delete_user").expect("alice existed");
    assert!(store.conversation_states(app_id, &alice).await.expect("conversation_states").is_empty());
    assert!(store.removed_history_messages(app_id, &alice, &with_bob).await.expect("removed").is_empty());
}

pub async fn history_removals_are_per_user_and_capped(store: &dyn Store) {
    let app_id = app(store).await;
    let (alice, bob) = (user("alice"), user("bob"));
    let with_bob = QueueKey::Chat(bob.clone());
    let remove = |who: &'static str, ids: Vec<u64>, max| async move {
        store
            .remove_history_messages(
                app_id,
                &user(who),
                &QueueKey::Chat(user(if who == "alice" { "bob" } else { "alice" })),
                &ids,
                max,
            )
            .await
            .expect("remove")
    };
    assert!(remove("alice", vec![30, 10, 20], 4).await);
    assert!(remove("alice", vec![10, 40], 4).await, "a repeated id counts once");
    assert!(!remove("alice", vec![50], 4).await, "over the cap");
    let removed = store.removed_history_messages(app_id, &alice, &with_bob).await.expect("removed");
    assert_eq!(removed, [10, 20, 30, 40], "a refused removal removes nothing");
    assert!(remove("bob", vec![10], 4).await);
    let removed = store.removed_history_messages(app_id, &bob, &QueueKey::Chat(alice.clone())).await.expect("removed");
    assert_eq!(removed, [10]);
    let other = store.removed_history_messages(app_id, &alice, &QueueKey::Chat(user("carol"))).await.expect("removed");
    assert!(other.is_empty());
}
