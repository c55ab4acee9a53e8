//! The conversation list (`getServerConversations` and its family): a user's groups and 1:1
//! conversations that have a message, newest activity first, each with its newest message,
//! unread count, pin and marks.
//!
//! **Derived, never written on the send path.** The list comes from what sending stores anyway
//! (`ConversationStore::conversation_heads`: memberships and timeline heads); unread is the
//! timeline after the user's read point (their join point in a group, raised by a conversation
//! read ack or a deletion), counting others' messages, at most [`UNREAD_COUNT_MAX`] (the offline
//! store's own bound). Only what a user changes is stored for them (`conversation_states`): a pin,
//! marks, a deletion, a read point. So a group message costs no per-member write.
//!
//! Decisions where Agora is silent: pinned conversations come first (newest pinned first), then
//! the others by newest message; a deleted conversation comes back with its next message;
//! deleting one drops its pin and marks; only a conversation of the user's (one with a message)
//! can be pinned or marked (others are reported as ignored by the mark call); at most
//! [`PINNED_MAX`] are pinned.

use std::collections::HashMap;

use qun_core::UserName;
use qun_proto::msync::{Message, Meta};
use qun_proto::{ApiError, ErrorCode};
use qun_store::{
    AppRecord, Conversation, ConversationChange, ConversationHead, ConversationState, HistoryQuery, QueueKey,
    TimelineEntry, TimelineItem,
};

use crate::ids::now_ms;
use crate::services::{Services, store_error};

/// Conversations a user's list holds at most (Agora keeps 100 per user).
pub const CONVERSATIONS_MAX: usize = 100;
/// Pinned conversations at most.
pub const PINNED_MAX: usize = 20;
/// Unread messages counted per conversation at most.
pub const UNREAD_COUNT_MAX: u32 = 200;
/// Marks a conversation can carry: the SDK's `mark_0` … `mark_19`.
pub const MARKS: u8 = 20;
/// Conversations one mark call names at most.
pub const MARK_TARGETS_MAX: usize = 20;

/// Which conversations a list call wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    All,
    Pinned,
    Marked(u8),
}

/// One conversation of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationView {
    pub conversation: QueueKey,
    pub pinned_ms: Option<i64>,
    pub marks: u32,
    pub unread: u64,
    /// The newest message (its bytes are the serialized `Meta`).
    pub newest: TimelineEntry,
}

/// A page of `me`'s conversations: `limit` from `offset`, and the offset of the next page if
/// there is one.
pub async fn list(
    state: &Services,
    app: &AppRecord,
    me: &UserName,
    listing: Listing,
    offset: usize,
    limit: usize,
) -> Result<(Vec<ConversationView>, Option<usize>), ApiError> {
    let (heads, mut states) = heads_and_states(state, app, me).await?;
    let mut shown: Vec<(ConversationHead, ConversationState)> = heads
        .into_iter()
        .filter_map(|head| {
            let conversation_state = states
                .remove(&head.conversation)
                .unwrap_or_else(|| ConversationState::untouched(head.conversation.clone()));
            (head.newest.seq > conversation_state.hidden_through_seq).then_some((head, conversation_state))
        })
        .filter(|(_, conversation_state)| match listing {
            Listing::All => true,
            Listing::Pinned => conversation_state.pinned_ms.is_some(),
            Listing::Marked(mark) => conversation_state.marks & (1 << mark) != 0,
        })
        .collect();
    // Pinned first, newest pinned first; then newest activity first.
    shown.sort_by_key(|(head, conversation_state)| {
        (
            std::cmp::Reverse(conversation_state.pinned_ms),
            std::cmp::Reverse(head.newest.created_ms),
            std::cmp::Reverse(head.newest.id),
        )
    });
    shown.truncate(CONVERSATIONS_MAX);
    let next = (offset + limit < shown.len()).then_some(offset + limit);
    let mut page = Vec::new();
    for (head, conversation_state) in shown.into_iter().skip(offset).take(limit) {
        let unread = unread(state, app, me, &head, &conversation_state).await?;
        page.push(ConversationView {
            conversation: head.conversation,
            pinned_ms: conversation_state.pinned_ms,
            marks: conversation_state.marks,
            unread,
            newest: head.newest,
        });
    }
    Ok((page, next))
}

/// Pins (`true`) or unpins a conversation of `me`'s; returns when it is pinned now.
pub async fn pin(
    state: &Services,
    app: &AppRecord,
    me: &UserName,
    conversation: &QueueKey,
    pinned: bool,
) -> Result<Option<i64>, ApiError> {
    let (heads, states) = heads_and_states(state, app, me).await?;
    if !heads.iter().any(|head| &head.conversation == conversation) {
        return Err(ApiError::new(ErrorCode::ResourceNotFound, "conversation not found"));
    }
    let pinned_ms = if pinned {
        let others = states.values().filter(|s| s.pinned_ms.is_some() && &s.conversation != conversation).count();
        if others >= PINNED_MAX {
            return Err(ApiError::new(
                ErrorCode::ExceedLimit,
                format!("at most {PINNED_MAX} conversations are pinned"),
            ));
        }
        Some(now_ms() as i64)
    } else {
        None
    };
    change(state, app, me, std::slice::from_ref(conversation), ConversationChange::Pin(pinned_ms)).await?;
    Ok(pinned_ms)
}

/// Sets or clears `mark` on those of `conversations` that are `me`'s; returns the others.
pub async fn mark(
    state: &Services,
    app: &AppRecord,
    me: &UserName,
    conversations: Vec<QueueKey>,
    mark: u8,
    marked: bool,
) -> Result<Vec<QueueKey>, ApiError> {
    if conversations.is_empty() || conversations.len() > MARK_TARGETS_MAX {
        return Err(ApiError::new(ErrorCode::InvalidParameter, "targets must name 1 to 20 conversations"));
    }
    let heads = state.store.conversation_heads(app.id, me).await.map_err(store_error)?;
    let (mine, ignored): (Vec<QueueKey>, Vec<QueueKey>) =
        conversations.into_iter().partition(|key| heads.iter().any(|head| &head.conversation == key));
    if !mine.is_empty() {
        change(state, app, me, &mine, ConversationChange::Mark { mark, marked }).await?;
    }
    Ok(ignored)
}

/// Deletes a conversation from `me`'s list (it comes back with its next message); with
/// `with_history`, its messages leave their history too. Deleting what is not there is done.
pub async fn delete(
    state: &Services,
    app: &AppRecord,
    me: &UserName,
    conversation: &QueueKey,
    with_history: bool,
) -> Result<(), ApiError> {
    let Some(through_seq) = newest_seq(state, app, me, conversation).await? else { return Ok(()) };
    let deletion = ConversationChange::Delete { through_seq, clear_history: with_history };
    change(state, app, me, std::slice::from_ref(conversation), deletion).await
}

/// `me` read the conversation `queue` up to its newest entry (a conversation ack): its unread
/// count in the conversation list goes to zero.
pub async fn read_to_head(state: &Services, app_id: i64, me: &UserName, queue: &QueueKey) -> Result<(), ApiError> {
    let head = match queue {
        QueueKey::Chat(peer) => {
            let conversation = Conversation::chat(me.clone(), peer.clone());
            let newest =
                state.store.history_page(app_id, &conversation, &HistoryQuery::newest(1)).await.map_err(store_error)?;
            newest.first().map(|entry| entry.seq)
        }
        QueueKey::Group(group) => {
            state.store.groups(app_id, &[*group]).await.map_err(store_error)?.first().map(|group| group.last_seq)
        }
        QueueKey::Personal => None,
    };
    if let Some(seq) = head {
        state
            .store
            .change_conversations(app_id, me, std::slice::from_ref(queue), ConversationChange::Read(seq))
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

async fn change(
    state: &Services,
    app: &AppRecord,
    me: &UserName,
    conversations: &[QueueKey],
    change: ConversationChange,
) -> Result<(), ApiError> {
    state.store.change_conversations(app.id, me, conversations, change).await.map_err(store_error)
}

async fn heads_and_states(
    state: &Services,
    app: &AppRecord,
    me: &UserName,
) -> Result<(Vec<ConversationHead>, HashMap<QueueKey, ConversationState>), ApiError> {
    let heads = state.store.conversation_heads(app.id, me).await.map_err(store_error)?;
    let states = state.store.conversation_states(app.id, me).await.map_err(store_error)?;
    Ok((heads, states.into_iter().map(|s| (s.conversation.clone(), s)).collect()))
}

/// The sequence of a conversation's newest message, if it is one of `me`'s.
async fn newest_seq(
    state: &Services,
    app: &AppRecord,
    me: &UserName,
    conversation: &QueueKey,
) -> Result<Option<i64>, ApiError> {
    let heads = state.store.conversation_heads(app.id, me).await.map_err(store_error)?;
    Ok(heads.into_iter().find(|head| &head.conversation == conversation).map(|head| head.newest.seq))
}

/// Others' messages after `me`'s read point (their join point in a group, or where they read
/// or deleted up to), at most [`UNREAD_COUNT_MAX`].
async fn unread(
    state: &Services,
    app: &AppRecord,
    me: &UserName,
    head: &ConversationHead,
    conversation_state: &ConversationState,
) -> Result<u64, ApiError> {
    let read_seq = head.floor_seq.max(conversation_state.read_seq);
    if head.newest.seq <= read_seq {
        return Ok(0);
    }
    let conversation = match &head.conversation {
        QueueKey::Group(group) => Conversation::Group(*group),
        QueueKey::Chat(peer) => Conversation::chat(me.clone(), peer.clone()),
        QueueKey::Personal => return Ok(0),
    };
    let entries =
        state.store.chat_timeline(app.id, &conversation, read_seq, UNREAD_COUNT_MAX).await.map_err(store_error)?;
    let from_others = entries
        .iter()
        .filter(|entry| match &entry.item {
            TimelineItem::Message(meta) => sender_of(meta).is_none_or(|sender| sender != me.as_str()),
            TimelineItem::Event(_) => false,
        })
        .count();
    Ok(from_others as u64)
}

/// Who sent a stored message (`Meta.from`).
fn sender_of(meta: &[u8]) -> Option<String> {
    Meta::decode(meta).ok()?.from?.name
}
