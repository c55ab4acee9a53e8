//! History: a conversation's messages page by page, either way, filtered as the SDK's
//! `getHistoryMessages` asks (message types, a time range, a group sender), and what a user
//! removed from their own history (`removeHistoryMessages`, `deleteConversation` with its
//! messages) left out.
//!
//! Groups and 1:1 conversations read their stored timelines; a chat room, which stores nothing,
//! answers from its recent-message ring (`services::room_delivery`), the only history it has.
//! The SDK names a room's queue like a group's (`<id>@conference.easemob.com`), so an id that
//! is no group is looked up as a room.
//!
//! Types and senders are inside the stored message, so they are filtered here: a page reads
//! the timeline in batches and keeps what matches, reading at most [`SCAN_MAX`] entries per
//! call. A page that stops there is shorter than asked and not the last; its `next_key` is the
//! last entry read, so the next call goes on from it (the SDK follows `cursor` until `isLast`).
//!
//! Removals are the user's own: a removed message stays for everyone else. They are kept as
//! per-user state (`ConversationStore`): a point in time, a sequence, and at most
//! [`REMOVED_IDS_MAX`] single ids per conversation.

use std::collections::HashSet;

use bytes::Bytes;
use qun_core::rules::{GroupAction, RoomAction};
use qun_core::{RoomId, UserName};
use qun_proto::msync::pb::message_body::content::Type as ContentType;
use qun_proto::msync::{self, Message, MessageBody, Meta};
use qun_proto::{ApiError, ErrorCode};
use qun_store::{
    AppRecord, Conversation, ConversationChange, HistoryDirection, HistoryQuery, QueueKey, TimelineEntry, TimelineItem,
};

use crate::services::groups::{load_scene, parse_group_id};
use crate::services::rooms::{load_room_scene, parse_room_id};
use crate::services::{Caller, Services, parse_user, store_error, user_not_found};

/// Entries read from the store at a time.
const SCAN_BATCH: u32 = 200;
/// Entries read per call at most, however few match the filters.
pub const SCAN_MAX: usize = 1_000;
/// Single messages a user may remove from one conversation's history (beyond that, remove by
/// time). Agora documents none; this bounds the rows a user can make us keep.
pub const REMOVED_IDS_MAX: u32 = 1_000;
/// Message ids per removal call (the SDK's own limit).
pub const REMOVE_IDS_PER_CALL_MAX: usize = 20;

/// A conversation as history sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistorySource {
    /// A group or 1:1 conversation, with its key from the viewer's side.
    Stored { conversation: Conversation, key: QueueKey },
    /// A chat room's recent messages.
    Room(RoomId),
}

/// What a page keeps, beyond the position and the direction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    /// Only these content types; empty: all.
    pub types: Vec<ContentType>,
    /// Only this sender's messages.
    pub sender: Option<UserName>,
    /// Created in this range (ms, both ends included).
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

impl HistoryFilter {
    fn filters_content(&self) -> bool {
        !self.types.is_empty() || self.sender.is_some()
    }

    /// Whether a serialized `Meta` passes the type and sender filters (a message that cannot be
    /// read passes none).
    fn keeps(&self, meta: &[u8]) -> bool {
        if !self.filters_content() {
            return true;
        }
        let Some(body) = Meta::decode(meta).ok().and_then(|meta| meta.decode_payload::<MessageBody>().ok()) else {
            return false;
        };
        let type_matches = self.types.is_empty()
            || body.contents.first().is_some_and(|content| self.types.contains(&content.r#type()));
        let sender_matches = self
            .sender
            .as_ref()
            .is_none_or(|sender| body.from.as_ref().and_then(|from| from.name.as_deref()) == Some(sender.as_str()));
        type_matches && sender_matches
    }

    fn in_time(&self, created_ms: i64) -> bool {
        self.since_ms.is_none_or(|since| created_ms >= since) && self.until_ms.is_none_or(|until| created_ms <= until)
    }
}

/// One page: serialized `Meta`s in the page's order, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    pub metas: Vec<Bytes>,
    /// The last entry read, when there may be more.
    pub next_key: Option<u64>,
    pub is_last: bool,
}

/// Which conversation a history queue names for `me`, checking that they may read it:
/// `<peer>@easemob.com`, or `<id>@conference.easemob.com` for a group (its members) or, when
/// no group has that id, a chat room (its members).
pub async fn resolve(state: &Services, app: &AppRecord, me: &UserName, queue: &str) -> Result<HistorySource, ApiError> {
    match queue.split_once('@') {
        Some((peer, msync::USER_DOMAIN)) => {
            let peer = parse_user(peer)?;
            Ok(HistorySource::Stored {
                conversation: Conversation::chat(me.clone(), peer.clone()),
                key: QueueKey::Chat(peer),
            })
        }
        Some((id, msync::CONFERENCE_DOMAIN)) => {
            let caller = Caller::User(me.clone());
            let group = parse_group_id(id)?;
            match load_scene(state, app, &caller, group, &[]).await {
                Ok(scene) => {
                    scene.authorize(GroupAction::ReadContent, None)?;
                    Ok(HistorySource::Stored { conversation: Conversation::Group(group), key: QueueKey::Group(group) })
                }
                Err(no_group) if no_group.code == ErrorCode::GroupNotFound => {
                    let room = parse_room_id(id).map_err(|_| no_group.clone())?;
                    let scene = match load_room_scene(state, app, &caller, room, &[]).await {
                        Ok(scene) => scene,
                        // Neither: say so as for a group, as before rooms had history.
                        Err(_) => return Err(no_group),
                    };
                    scene.authorize(RoomAction::ReadContent, None)?;
                    Ok(HistorySource::Room(room))
                }
                Err(other) => Err(other),
            }
        }
        _ => Err(ApiError::new(
            ErrorCode::InvalidParameter,
            "queue must be <id>@easemob.com or <id>@conference.easemob.com",
        )),
    }
}

/// A page of `me`'s history of `source`: from `from_id` (exclusive; `None` from the newest or,
/// reading towards newer, the oldest), at most `limit` messages that pass `filter`.
pub async fn page(
    state: &Services,
    app: &AppRecord,
    me: &UserName,
    source: &HistorySource,
    from_id: Option<u64>,
    direction: HistoryDirection,
    filter: &HistoryFilter,
    limit: u32,
) -> Result<HistoryPage, ApiError> {
    match source {
        HistorySource::Room(room) => {
            Ok(room_page(state.rooms.recent_messages(app.id, *room), from_id, direction, filter, limit))
        }
        HistorySource::Stored { conversation, key } => {
            let removed = state.store.conversation_state(app.id, me, key).await.map_err(store_error)?;
            let removed_ids: HashSet<u64> =
                state.store.removed_history_messages(app.id, me, key).await.map_err(store_error)?.into_iter().collect();
            let mut query = HistoryQuery {
                from_id,
                direction,
                after_seq: removed.cleared_through_seq,
                since_ms: filter.since_ms.unwrap_or(i64::MIN).max(removed.cleared_before_ms),
                until_ms: filter.until_ms.unwrap_or(i64::MAX),
                limit: SCAN_BATCH,
            };
            let mut metas = Vec::new();
            let mut scanned = 0;
            loop {
                let entries = state.store.history_page(app.id, conversation, &query).await.map_err(store_error)?;
                let exhausted = entries.len() < SCAN_BATCH as usize;
                let batch_len = entries.len();
                for (index, entry) in entries.into_iter().enumerate() {
                    scanned += 1;
                    let TimelineEntry { id, item: TimelineItem::Message(meta), .. } = entry else { continue };
                    if !removed_ids.contains(&id) && filter.keeps(&meta) {
                        metas.push(Bytes::from(meta));
                    }
                    let more_after = !exhausted || index + 1 < batch_len;
                    if metas.len() == limit as usize || scanned >= SCAN_MAX {
                        return Ok(HistoryPage { metas, next_key: more_after.then_some(id), is_last: !more_after });
                    }
                    query.from_id = Some(id);
                }
                if exhausted {
                    return Ok(HistoryPage { metas, next_key: None, is_last: true });
                }
            }
        }
    }
}

/// A page of a room's ring (oldest first), the same way as a stored timeline's.
fn room_page(
    ring: Vec<(u64, Bytes)>,
    from_id: Option<u64>,
    direction: HistoryDirection,
    filter: &HistoryFilter,
    limit: u32,
) -> HistoryPage {
    let mut ordered: Vec<(u64, Bytes)> = ring;
    if direction == HistoryDirection::Older {
        ordered.reverse();
    }
    let start = match from_id {
        None => 0,
        // An id the ring no longer (or never) had: nothing, as for a stored timeline.
        Some(id) => match ordered.iter().position(|(entry_id, _)| *entry_id == id) {
            Some(position) => position + 1,
            None => ordered.len(),
        },
    };
    let mut metas = Vec::new();
    for (index, (id, meta)) in ordered.iter().enumerate().skip(start) {
        let created_ms = Meta::decode(meta.clone()).ok().and_then(|meta| meta.timestamp).unwrap_or(0) as i64;
        if filter.in_time(created_ms) && filter.keeps(meta) {
            metas.push(meta.clone());
        }
        if metas.len() == limit as usize {
            let more_after = index + 1 < ordered.len();
            return HistoryPage { metas, next_key: more_after.then_some(*id), is_last: !more_after };
        }
    }
    HistoryPage { metas, next_key: None, is_last: true }
}

/// The conversation a removal names for `me` (`removeHistoryMessages`: `userId` for 1:1,
/// `groupId` for a group), checking they may read it.
pub async fn removal_target(
    state: &Services,
    app: &AppRecord,
    me: &UserName,
    peer: Option<&str>,
    group: Option<&str>,
) -> Result<QueueKey, ApiError> {
    match (peer, group) {
        (Some(peer), None) => {
            let peer = parse_user(peer)?;
            // Only a real user's conversation gets state kept for it.
            if state.store.user(app.id, &peer).await.map_err(store_error)?.is_none() {
                return Err(user_not_found(&peer));
            }
            Ok(QueueKey::Chat(peer))
        }
        (None, Some(group)) => {
            let group = parse_group_id(group)?;
            let scene = load_scene(state, app, &Caller::User(me.clone()), group, &[]).await?;
            scene.authorize(GroupAction::ReadContent, None)?;
            Ok(QueueKey::Group(group))
        }
        _ => Err(ApiError::new(ErrorCode::InvalidParameter, "name either userId or groupId")),
    }
}

/// Removes messages from `me`'s history of `conversation` (others keep them).
pub async fn remove_messages(
    state: &Services,
    app: &AppRecord,
    me: &UserName,
    conversation: &QueueKey,
    message_ids: &[u64],
) -> Result<(), ApiError> {
    if message_ids.is_empty() || message_ids.len() > REMOVE_IDS_PER_CALL_MAX {
        return Err(ApiError::new(ErrorCode::InvalidParameter, "msgIdList must name 1 to 20 messages"));
    }
    let removed = state
        .store
        .remove_history_messages(app.id, me, conversation, message_ids, REMOVED_IDS_MAX)
        .await
        .map_err(store_error)?;
    if !removed {
        return Err(ApiError::new(
            ErrorCode::ExceedLimit,
            format!("at most {REMOVED_IDS_MAX} messages are removed one by one per conversation; remove by time"),
        ));
    }
    Ok(())
}

/// Removes everything before `before_ms` from `me`'s history of `conversation`.
pub async fn remove_before(
    state: &Services,
    app: &AppRecord,
    me: &UserName,
    conversation: &QueueKey,
    before_ms: i64,
) -> Result<(), ApiError> {
    state
        .store
        .change_conversations(
            app.id,
            me,
            std::slice::from_ref(conversation),
            ConversationChange::ClearHistoryBefore(before_ms),
        )
        .await
        .map_err(store_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use qun_proto::msync::pb;

    fn meta(id: u64, timestamp: u64, from: &str, kind: ContentType) -> Bytes {
        let mut content = pb::message_body::Content::default();
        content.set_type(kind);
        let body = MessageBody {
            from: Some(msync::Jid { name: Some(from.to_owned()), ..Default::default() }),
            contents: vec![content],
            ..Default::default()
        };
        let meta = Meta {
            id: Some(id),
            timestamp: Some(timestamp),
            payload: Some(body.encode_to_vec().into()),
            ..Default::default()
        };
        Bytes::from(meta.encode_to_vec())
    }

    fn ids(page: &HistoryPage) -> Vec<u64> {
        page.metas.iter().map(|bytes| Meta::decode(bytes.clone()).unwrap().id()).collect()
    }

    #[test]
    fn a_room_ring_pages_both_ways_and_filters() {
        let ring: Vec<(u64, Bytes)> = (1..=5)
            .map(|id| {
                let kind = if id % 2 == 0 { ContentType::Image } else { ContentType::Text };
                (id, meta(id, 1000 + id, if id == 5 { "bo" } else { "al" }, kind))
            })
            .collect();
        let all = HistoryFilter::default();
        let older = room_page(ring.clone(), None, HistoryDirection::Older, &all, 2);
        assert_eq!((ids(&older), older.next_key, older.is_last), (vec![5, 4], Some(4), false));
        let rest = room_page(ring.clone(), Some(4), HistoryDirection::Older, &all, 10);
        assert_eq!((ids(&rest), rest.next_key, rest.is_last), (vec![3, 2, 1], None, true));
        let newer = room_page(ring.clone(), Some(2), HistoryDirection::Newer, &all, 3);
        assert_eq!((ids(&newer), newer.is_last), (vec![3, 4, 5], true));
        assert!(room_page(ring.clone(), Some(9), HistoryDirection::Newer, &all, 3).metas.is_empty());

        let images = HistoryFilter { types: vec![ContentType::Image], ..HistoryFilter::default() };
        assert_eq!(ids(&room_page(ring.clone(), None, HistoryDirection::Newer, &images, 10)), [2, 4]);
        let by_bo = HistoryFilter { sender: Some(UserName::parse("bo").unwrap()), ..HistoryFilter::default() };
        assert_eq!(ids(&room_page(ring.clone(), None, HistoryDirection::Older, &by_bo, 10)), [5]);
        let window = HistoryFilter { since_ms: Some(1002), until_ms: Some(1003), ..HistoryFilter::default() };
        assert_eq!(ids(&room_page(ring, None, HistoryDirection::Older, &window, 10)), [3, 2]);
    }
}
