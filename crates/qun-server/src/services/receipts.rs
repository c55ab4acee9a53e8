//! Receipts from a logged-in client: 1:1 read, delivery and conversation (channel) acks, group
//! read receipts for messages sent with `allowGroupAck`, and group conversation acks.
//!
//! A receipt is not a message: it is stored once, as a personal item of whoever it is for (so
//! it reaches their devices live and at their next login), never in the conversation's
//! timeline (so it is not history, not counted unread, not part of the offline store). The
//! gateway turns it back into the SDK's READ_ACK / DELIVER_ACK / CHANNEL_ACK meta
//! (`qun_proto::msync::receipt_meta`).
//!
//! - **1:1 read and delivery acks** go to the peer (`onReadMessage` / `onDeliveredMessage`).
//! - **Conversation acks** (`channel`) say "I read the whole conversation". A 1:1 one goes to
//!   the peer (`onChannelMessage`); in a group it tells nobody else (Agora: "in groups, a
//!   conversation receipt only clears the unread count"). Either way the conversation becomes
//!   read on every device of the reader: each device's cursor moves to the conversation's head
//!   (so UNREAD counts it for none of them), and the reader's other devices get the ack as it
//!   was sent (the SDK fires `onChannelMessage` with the reader as `from`), as they get the
//!   reader's messages; the device that sent it does not.
//! - **Group read receipts** (`read` with `chatType: groupChat`) are for messages sent with
//!   `msgConfig.allowGroupAck`, in groups of at most [`GROUP_ACK_MAX_MEMBERS`] members, within
//!   [`GROUP_ACK_WINDOW_MS`] of the message (Agora's limits). Each reader's first receipt is one
//!   row (`ReceiptStore::add_group_ack`) plus, in the same transaction, the sender's notice with
//!   the read count (`onReadMessage` with `groupReadCount`): one write per reader, none per
//!   member, and a group message costs the same writes with or without `allowGroupAck`. The
//!   sender (or the app) lists the readers over REST ([`group_readers`]). Group delivery acks
//!   do not exist in Agora's API and are refused.

use qun_core::receipts::{GROUP_ACK_CONTENT_MAX_BYTES, GROUP_ACK_MAX_MEMBERS, GROUP_ACK_WINDOW_MS};
use qun_core::rules::GroupAction;
use qun_core::{GroupId, GroupReceipt, PersonalItem, Receipt, ReceiptKind, UserName};
use qun_proto::msync::{Message, MessageBody, Meta, pb};
use qun_proto::{ApiError, ErrorCode};
use qun_store::{AppRecord, GroupReaders, NewGroupAck, QueueKey, TimelineItem};

use crate::ids::now_ms;
use crate::services::delivery::Origin;
use crate::services::groups::{load_scene, parse_group_id};
use crate::services::messages::Sent;
use crate::services::{Caller, Services, store_error, user_not_found};

/// The receipt kind an uplink message body type stands for, if it is a receipt.
pub fn receipt_kind(body_type: pb::message_body::Type) -> Option<ReceiptKind> {
    use pb::message_body::Type;
    match body_type {
        Type::ReadAck => Some(ReceiptKind::Read),
        Type::DeliverAck => Some(ReceiptKind::Delivered),
        Type::ChannelAck => Some(ReceiptKind::ConversationRead),
        _ => None,
    }
}

/// Stores a receipt from `reader` (a logged-in client's user, on the connection `origin`) about
/// the conversation `meta.to` names, and hints whoever it is for.
pub async fn send_from_client(
    state: &Services,
    app: &AppRecord,
    reader: &UserName,
    origin: &dyn Origin,
    meta: &Meta,
    body: &MessageBody,
    kind: ReceiptKind,
) -> Result<Sent, ApiError> {
    let to = meta.to.clone().unwrap_or_default();
    if to.is_conference() {
        let group_id = parse_group_id(to.name())?;
        return match kind {
            ReceiptKind::Read => group_read(state, app, reader, group_id, body).await,
            ReceiptKind::ConversationRead => group_conversation_read(state, app, reader, origin, group_id).await,
            ReceiptKind::Delivered => {
                Err(ApiError::new(ErrorCode::NotSupported, "delivery receipts are for 1:1 messages"))
            }
        };
    }
    let peer = UserName::parse(to.name()).map_err(|_| ApiError::new(ErrorCode::UserNotFound, "user not found"))?;
    if &peer == reader {
        return Err(ApiError::new(ErrorCode::IllegalArgument, "a receipt goes to the peer, not to oneself"));
    }
    let message_id = body.ack_message_id.filter(|id| *id != 0);
    if kind.names_a_message() && message_id.is_none() {
        return Err(ApiError::new(ErrorCode::IllegalArgument, "the receipt names no message"));
    }
    if state.store.user(app.id, &peer).await.map_err(store_error)?.is_none() {
        return Err(user_not_found(&peer));
    }
    let sent = Sent { id: state.ids.next(), timestamp_ms: now_ms() };
    let receipt = Receipt {
        kind,
        from: reader.clone(),
        to: peer.clone(),
        message_id: message_id.filter(|_| kind.names_a_message()),
        timestamp_ms: sent.timestamp_ms as i64,
        group: None,
    };
    if kind == ReceiptKind::ConversationRead {
        conversation_read_everywhere(state, app.id, reader, origin, QueueKey::Chat(peer.clone()), &receipt, sent)
            .await?;
    }
    add_personal_item(state, app.id, &peer, &receipt, sent).await?;
    state.delivery.queue_updated(app.id, &peer, &QueueKey::Personal, None);
    Ok(sent)
}

/// A group conversation ack: the group is read on every device of the reader, and their other
/// devices are told; no member hears of it.
async fn group_conversation_read(
    state: &Services,
    app: &AppRecord,
    reader: &UserName,
    origin: &dyn Origin,
    group_id: GroupId,
) -> Result<Sent, ApiError> {
    load_scene(state, app, &Caller::User(reader.clone()), group_id, &[])
        .await?
        .authorize(GroupAction::ReadContent, None)?;
    let sent = Sent { id: state.ids.next(), timestamp_ms: now_ms() };
    let receipt = Receipt {
        kind: ReceiptKind::ConversationRead,
        from: reader.clone(),
        to: reader.clone(),
        message_id: None,
        timestamp_ms: sent.timestamp_ms as i64,
        group: Some(GroupReceipt { group_id, read_count: None, content: String::new() }),
    };
    conversation_read_everywhere(state, app.id, reader, origin, QueueKey::Group(group_id), &receipt, sent).await?;
    Ok(sent)
}

/// The reader read the whole conversation `queue`: every device of theirs counts it read, and
/// their other devices get `receipt` (the connection that sent it has it already).
async fn conversation_read_everywhere(
    state: &Services,
    app_id: i64,
    reader: &UserName,
    origin: &dyn Origin,
    queue: QueueKey,
    receipt: &Receipt,
    sent: Sent,
) -> Result<(), ApiError> {
    state.store.mark_queue_read(app_id, reader, &queue).await.map_err(store_error)?;
    // The conversation list's unread count for it goes to zero too.
    crate::services::conversations::read_to_head(state, app_id, reader, &queue).await?;
    // Before it is stored, so that a pull of the personal queue meanwhile leaves it out.
    origin.sent(sent.id);
    add_personal_item(state, app_id, reader, receipt, sent).await?;
    state.delivery.queue_updated(app_id, reader, &QueueKey::Personal, Some(origin.session_id()));
    Ok(())
}

async fn add_personal_item(
    state: &Services,
    app_id: i64,
    user: &UserName,
    receipt: &Receipt,
    sent: Sent,
) -> Result<(), ApiError> {
    let item = PersonalItem::Receipt(receipt.clone());
    state.store.add_personal_item(app_id, user, sent.id, &item, sent.timestamp_ms as i64).await.map_err(store_error)
}

/// A member's read receipt for a group message: counted once per reader, and the message's
/// sender told the read count.
async fn group_read(
    state: &Services,
    app: &AppRecord,
    reader: &UserName,
    group_id: GroupId,
    body: &MessageBody,
) -> Result<Sent, ApiError> {
    let message_id = body
        .ack_message_id
        .filter(|id| *id != 0)
        .ok_or_else(|| ApiError::new(ErrorCode::IllegalArgument, "the receipt names no message"))?;
    let content = body.ack_content.clone().unwrap_or_default();
    if content.len() > GROUP_ACK_CONTENT_MAX_BYTES {
        return Err(ApiError::new(
            ErrorCode::IllegalArgument,
            format!("ackContent is over {GROUP_ACK_CONTENT_MAX_BYTES} bytes"),
        ));
    }
    let scene = load_scene(state, app, &Caller::User(reader.clone()), group_id, &[]).await?;
    scene.authorize(GroupAction::ReadContent, None)?;
    if scene.group().member_count > GROUP_ACK_MAX_MEMBERS {
        return Err(ApiError::new(
            ErrorCode::ExceedLimit,
            format!("group read receipts are for groups of at most {GROUP_ACK_MAX_MEMBERS} members"),
        ));
    }
    let now = now_ms();
    let message = ackable_message(state, app.id, group_id, message_id, now).await?;
    if &message.sender == reader {
        return Err(ApiError::new(ErrorCode::IllegalArgument, "a read receipt goes to the sender, not to oneself"));
    }
    let sent = Sent { id: state.ids.next(), timestamp_ms: now };
    let ack = NewGroupAck {
        id: sent.id,
        group_id,
        message_id,
        message_ms: message.sent_ms,
        reader: reader.clone(),
        created_ms: now as i64,
        notice: Receipt {
            kind: ReceiptKind::Read,
            from: reader.clone(),
            to: message.sender.clone(),
            message_id: Some(message_id),
            timestamp_ms: now as i64,
            group: Some(GroupReceipt { group_id, read_count: None, content }),
        },
    };
    let outcome = state.store.add_group_ack(app.id, &ack, window_start(now)).await.map_err(store_error)?;
    if outcome.first {
        state.delivery.queue_updated(app.id, &message.sender, &QueueKey::Personal, None);
    }
    Ok(sent)
}

/// `GET /chatgroups/{g}/acks/{msg}`: who read a group message, in the order they read it, after
/// the receipt `after`. For the message's sender and the app (Agora: by default only the
/// sender sees a message's read receipts).
pub async fn group_readers(
    state: &Services,
    app: &AppRecord,
    caller: &Caller,
    group_id: GroupId,
    message_id: u64,
    after: Option<u64>,
    limit: u32,
) -> Result<GroupReaders, ApiError> {
    load_scene(state, app, caller, group_id, &[]).await?.authorize(GroupAction::ReadContent, None)?;
    let message = ackable_message(state, app.id, group_id, message_id, now_ms()).await?;
    if let Caller::User(user) = caller
        && user != &message.sender
    {
        return Err(ApiError::new(ErrorCode::ForbiddenOp, "only the message's sender sees who read it"));
    }
    state.store.group_readers(app.id, message_id, after, limit).await.map_err(store_error)
}

/// A group message that takes read receipts: its sender and when it was sent.
struct AckableMessage {
    sender: UserName,
    sent_ms: i64,
}

/// The group's message `message_id`, if it was sent with `allowGroupAck` and is within the
/// window; otherwise Agora's "group ack msg not found".
async fn ackable_message(
    state: &Services,
    app_id: i64,
    group_id: GroupId,
    message_id: u64,
    now: u64,
) -> Result<AckableMessage, ApiError> {
    let not_found = |why: &str| ApiError::new(ErrorCode::GroupAckMessageNotFound, why.to_owned());
    let entry = state
        .store
        .group_message(app_id, group_id, message_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| not_found("no such message in this group"))?;
    let TimelineItem::Message(bytes) = &entry.item else {
        return Err(not_found("no such message in this group"));
    };
    // The stored downlink meta: its `from` is the sender, its body says whether it asked.
    let meta = Meta::decode(bytes.as_slice()).map_err(|_| not_found("the message cannot be read"))?;
    let body: MessageBody = meta.decode_payload().map_err(|_| not_found("the message cannot be read"))?;
    if !body.msg_config.and_then(|config| config.allow_group_ack).unwrap_or(false) {
        return Err(not_found("the message was not sent with allowGroupAck"));
    }
    if entry.created_ms < window_start(now) {
        return Err(not_found("the message is older than the read receipt window"));
    }
    let sender = meta
        .from
        .as_ref()
        .and_then(|from| UserName::parse(from.name()).ok())
        .ok_or_else(|| not_found("the message has no sender"))?;
    Ok(AckableMessage { sender, sent_ms: entry.created_ms })
}

/// Messages sent before this time take no more read receipts (and theirs are dropped).
fn window_start(now: u64) -> i64 {
    now as i64 - GROUP_ACK_WINDOW_MS
}

/// The message id in a REST path (`/acks/{msg}`).
pub fn parse_message_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .ok()
        .filter(|id| *id != 0)
        .ok_or_else(|| ApiError::new(ErrorCode::GroupAckMessageNotFound, format!("message {raw} does not exist")))
}
