//! Recalling and editing messages already stored (1:1 and group; chat rooms store nothing).
//!
//! A recall or an edit changes the message where it is stored, and appends a **notice** to the
//! same conversation with its next sequence, in one transaction
//! (`MessageStore::change_message`):
//! - a recall turns the message's row into a "recalled" row that no pull and no history page
//!   returns (a reader who had not pulled it never gets it), and its notice — the SDK's RECALL
//!   body naming the message — reaches everyone who reads the conversation, live or at their
//!   next pull, after everything they already had and exactly once (it is an entry of the
//!   queue like any other);
//! - an edit rewrites the stored message (new text, `edit_msg` in its body's `meta`, which
//!   history shows as the SDK's `modifiedInfo`), and its notice is the SDK's EDIT body.
//!
//! Notices are stored like messages (the queue serves them, the sending connection does not
//! get its own back) but are never history. Who may: the sender, within the app's recall time
//! limit (`AppSettings::recall_time_limit_secs`) for a recall, at most
//! [`MESSAGE_EDITS_MAX`] times and text into text for an edit; the app administrator recalls
//! over REST at any time.

use bytes::Bytes;
use qun_core::UserName;
use qun_core::limits::MESSAGE_EDITS_MAX;
use qun_proto::msync::{self, EditInfo, Jid, Message, MessageBody, MessageNotice, Meta, pb};
use qun_proto::{ApiError, ErrorCode};
use qun_store::{AppRecord, Conversation, MessageChange, NewMessage, StoreError, StoredMessage};

use crate::ids::now_ms;
use crate::services::Services;
use crate::services::delivery::Origin;
use crate::services::messages::{MESSAGE_MAX_BYTES, Sent, caught_up_with_own_send, notify};
use crate::services::recent::RecentEntry;
use crate::services::store_error;

/// An edit that lost a race with another edit of the same message is decided again, this
/// many times at most.
const EDIT_ATTEMPTS: usize = 3;

/// What the sender's connection is answered after an edit: the usual ack, with the edit's
/// `edit_msg` NOTIFY (`msync::edit_ack`).
#[derive(Debug, Clone)]
pub struct Edited {
    pub message_id: u64,
    pub info: EditInfo,
    pub timestamp_ms: u64,
}

/// A recall from a logged-in client: `MessageBody{type: RECALL, ackMessageId}` to the peer or
/// group whose conversation holds the message, with the receivers' text in `Meta.ext`.
pub async fn recall_from_client(
    state: &Services,
    app: &AppRecord,
    user: &UserName,
    origin: &dyn Origin,
    meta: &Meta,
    body: &MessageBody,
) -> Result<Sent, ApiError> {
    let message_id = body.ack_message_id.filter(|id| *id != 0).ok_or_else(message_not_found)?;
    let conversation = conversation_named(user, meta)?;
    let (message, original) = find(state, app.id, message_id, Some(&conversation)).await?;
    if sender_of(&original) != Some(user.as_str()) {
        return Err(ApiError::new(ErrorCode::NotMessageSender, "only the sender may recall a message"));
    }
    // The app's settings now, not as they were when this connection logged in.
    let current = state.app(&app.org, &app.name).await.map_err(store_error)?;
    let limit_secs = current.map_or(app.settings.recall_time_limit_secs, |app| app.settings.recall_time_limit_secs);
    let limit_ms = i64::from(limit_secs) * 1000;
    if now_ms() as i64 - message.created_ms > limit_ms {
        return Err(ApiError::new(ErrorCode::RecallTimeLimit, "exceed recall time limit"));
    }
    let extension = meta.ext.iter().find(|kv| kv.key() == msync::RECALL_EXTENSION_KEY).and_then(|kv| kv.as_str());
    recall(state, app.id, user, Some(origin), &message, &original, extension).await
}

/// The app administrator's recall (`POST /messages/msg_recall`), at any time: the receivers
/// are told `by` recalled it.
pub async fn recall_by_admin(
    state: &Services,
    app: &AppRecord,
    by: &UserName,
    message_id: u64,
) -> Result<(StoredMessage, Meta), ApiError> {
    let (message, original) = find(state, app.id, message_id, None).await?;
    recall(state, app.id, by, None, &message, &original, None).await?;
    Ok((message, original))
}

/// An edit from a logged-in client: `MessageBody{type: EDIT, editMessageId, editScope}` with
/// the new text as its content (and the new ext when the scope is BODY_AND_EXT).
pub async fn edit_from_client(
    state: &Services,
    app: &AppRecord,
    user: &UserName,
    origin: &dyn Origin,
    meta: &Meta,
    body: &MessageBody,
) -> Result<Edited, ApiError> {
    let message_id = body.edit_message_id.filter(|id| *id != 0).ok_or_else(message_not_found)?;
    let conversation = conversation_named(user, meta)?;
    let new_contents = match body.contents.as_slice() {
        [content] if content.r#type() == pb::message_body::content::Type::Text => body.contents.clone(),
        _ => return Err(ApiError::new(ErrorCode::EditFormat, "a message is edited into one text")),
    };
    let replaces_ext = body.edit_scope() == pb::message_body::EditScope::BodyAndExt;
    for _ in 0..EDIT_ATTEMPTS {
        let (message, original) = find(state, app.id, message_id, Some(&conversation)).await?;
        let original_body: MessageBody = original.decode_payload().map_err(|_| corrupt(message_id))?;
        if sender_of(&original) != Some(user.as_str()) {
            return Err(ApiError::new(ErrorCode::NotMessageSender, "only the sender may edit a message"));
        }
        if !matches!(original_body.contents.as_slice(), [c] if c.r#type() == pb::message_body::content::Type::Text) {
            return Err(ApiError::new(ErrorCode::EditFormat, "only text messages are edited"));
        }
        if message.edits >= MESSAGE_EDITS_MAX {
            return Err(ApiError::new(ErrorCode::EditLimit, "the message was edited as often as it may be"));
        }
        let timestamp_ms = now_ms();
        let info = EditInfo {
            count: message.edits + 1,
            operator: user.to_string(),
            edit_time: timestamp_ms,
            sender: user.to_string(),
            send_time: message.created_ms as u64,
            chat_type: match message.conversation {
                Conversation::Group(_) => "chat:group",
                Conversation::Chat { .. } => "chat:user",
            },
        };
        let new_ext = replaces_ext.then(|| body.ext.clone());
        let edited = msync::edited_message(&original, &original_body, new_contents.clone(), new_ext, &info);
        let edited_body: MessageBody = edited.decode_payload().map_err(|_| corrupt(message_id))?;
        if edited_body.encoded_len() > MESSAGE_MAX_BYTES {
            return Err(ApiError::new(ErrorCode::MessageTooLarge, "message is too large"));
        }
        let notice = MessageNotice {
            id: state.ids.next(),
            by: user.as_str(),
            by_resource: Some(origin.resource()),
            original: &original,
            timestamp_ms,
        };
        let scope = body.edit_scope.unwrap_or(pb::message_body::EditScope::Body as i32);
        let notice_meta = msync::edit_meta(&notice, &edited_body, scope, &info);
        let edited_bytes = Bytes::from(edited.encode_to_vec());
        let change = MessageChange::Edit { payload: edited_bytes.to_vec(), expected_edits: message.edits };
        match commit(state, app.id, user, Some(origin), &message, &change, &notice_meta).await {
            Ok(()) => {
                if let Conversation::Group(group) = &message.conversation {
                    let entry = RecentEntry {
                        seq: message.seq,
                        id: message_id,
                        except: None,
                        is_message: true,
                        meta: edited_bytes,
                    };
                    state.recent.replace(app.id, *group, entry);
                }
                return Ok(Edited { message_id, info, timestamp_ms });
            }
            Err(StoreError::Conflict) => continue,
            Err(other) => return Err(change_error(other)),
        }
    }
    Err(ApiError::new(ErrorCode::Busy, "the message is being edited; try again"))
}

/// Recalls `message` (its stored meta `original`) as `by`, from `origin` if a connection asked.
async fn recall(
    state: &Services,
    app_id: i64,
    by: &UserName,
    origin: Option<&dyn Origin>,
    message: &StoredMessage,
    original: &Meta,
    extension: Option<&str>,
) -> Result<Sent, ApiError> {
    let timestamp_ms = now_ms();
    let notice = MessageNotice {
        id: state.ids.next(),
        by: by.as_str(),
        by_resource: origin.map(|origin| origin.resource()),
        original,
        timestamp_ms,
    };
    let notice_meta = msync::recall_meta(&notice, extension);
    commit(state, app_id, by, origin, message, &MessageChange::Recall, &notice_meta).await.map_err(change_error)?;
    if let Conversation::Group(group) = &message.conversation {
        state.recent.remove(app_id, *group, message.seq);
    }
    // Its attachments go with it (only files its sender uploaded).
    if let (Some(sender), Ok(body)) = (sender_of(original), original.decode_payload::<MessageBody>()) {
        let paths: Vec<Option<String>> = body.contents.iter().map(|content| content.remote_path.clone()).collect();
        crate::services::chatfiles::delete_attachments(state, app_id, sender, &paths).await;
    }
    Ok(Sent { id: notice.id, timestamp_ms })
}

/// Stores the change and its notice, puts the notice in the recent timeline and hints the
/// conversation's readers (but the connection it came from, which has it).
async fn commit(
    state: &Services,
    app_id: i64,
    by: &UserName,
    origin: Option<&dyn Origin>,
    message: &StoredMessage,
    change: &MessageChange,
    notice_meta: &Meta,
) -> Result<(), StoreError> {
    let notice_id = notice_meta.id.unwrap_or_default();
    let notice_bytes = Bytes::from(notice_meta.encode_to_vec());
    let notice = NewMessage {
        id: notice_id,
        conversation: message.conversation.clone(),
        sender: by.clone(),
        client_id: None,
        payload: notice_bytes.to_vec(),
        created_ms: notice_meta.timestamp.unwrap_or_default() as i64,
    };
    let seq = state.store.change_message(app_id, message.id, change, &notice).await?;
    if let Conversation::Group(group) = &message.conversation {
        let entry = RecentEntry { seq, id: notice_id, except: None, is_message: true, meta: notice_bytes };
        state.recent.insert(app_id, *group, entry);
    }
    // Whose queue names the conversation for `by`: the sender's own (a REST recall by `admin`
    // notifies both sides all the same).
    let sender = sender_of_conversation(message, by);
    let quiet =
        origin.and_then(|origin| caught_up_with_own_send(origin, &sender, &message.conversation, seq, notice_id));
    notify(state, app_id, &message.conversation, &sender, quiet);
    Ok(())
}

/// The side of a 1:1 conversation `by` is on (a user who is neither, such as `admin`, counts
/// as its low side: both sides are notified either way).
fn sender_of_conversation(message: &StoredMessage, by: &UserName) -> UserName {
    match &message.conversation {
        Conversation::Chat { high, .. } if by == high => high.clone(),
        Conversation::Chat { low, .. } => low.clone(),
        Conversation::Group(_) => by.clone(),
    }
}

/// The message `id` of the app, decoded; if `conversation` is given, only there.
async fn find(
    state: &Services,
    app_id: i64,
    id: u64,
    conversation: Option<&Conversation>,
) -> Result<(StoredMessage, Meta), ApiError> {
    let message = state.store.message_by_id(app_id, id).await.map_err(store_error)?.ok_or_else(message_not_found)?;
    if conversation.is_some_and(|conversation| *conversation != message.conversation) {
        return Err(message_not_found());
    }
    let original = Meta::decode(message.payload.as_slice()).map_err(|_| corrupt(id))?;
    Ok((message, original))
}

/// The conversation a client's recall or edit names: its `to` is the group, or the peer.
fn conversation_named(user: &UserName, meta: &Meta) -> Result<Conversation, ApiError> {
    let to = meta.to.clone().unwrap_or_default();
    if to.is_conference() {
        let group = qun_core::GroupId::parse(to.name()).map_err(|_| message_not_found())?;
        return Ok(Conversation::Group(group));
    }
    let peer = UserName::parse(to.name()).map_err(|_| message_not_found())?;
    Ok(Conversation::chat(user.clone(), peer))
}

/// Who sent a stored message (its meta's `from`).
fn sender_of(meta: &Meta) -> Option<&str> {
    meta.from.as_ref().and_then(|jid: &Jid| jid.name.as_deref())
}

fn change_error(error: StoreError) -> ApiError {
    match error {
        // Recalled or edited meanwhile into something else: the message is not there any more.
        StoreError::NotFound => message_not_found(),
        other => store_error(other),
    }
}

fn message_not_found() -> ApiError {
    ApiError::new(ErrorCode::MessageNotFound, "the message does not exist")
}

fn corrupt(id: u64) -> ApiError {
    tracing::error!(message_id = id, "a stored message does not decode");
    ApiError::new(ErrorCode::Internal, "internal error")
}
