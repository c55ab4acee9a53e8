//! Receipts from a logged-in client: 1:1 read, delivery and conversation (channel) acks.
//!
//! A receipt is not a message: it is stored once, as a personal item of the peer it is for
//! (so it reaches their devices live and at their next login), never in the conversation's
//! timeline (so it is not history, not counted unread, not part of the offline store). The
//! gateway turns it back into the SDK's READ_ACK / DELIVER_ACK / CHANNEL_ACK meta
//! (`qun_proto::msync::receipt_meta`).

use qun_core::{PersonalItem, Receipt, ReceiptKind, UserName};
use qun_proto::msync::{MessageBody, Meta, pb};
use qun_proto::{ApiError, ErrorCode};
use qun_store::QueueKey;

use crate::ids::now_ms;
use crate::services::Services;
use crate::services::messages::Sent;
use crate::services::store_error;
use crate::services::user_not_found;

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

/// Stores a receipt from `sender` (a logged-in client's user) for the peer `meta.to` names,
/// and hints the peer's devices. Group receipts (read counts for `allowGroupAck` messages, group conversation
/// acks) are not served yet and are refused.
pub async fn send_from_client(
    state: &Services,
    app_id: i64,
    sender: &UserName,
    meta: &Meta,
    body: &MessageBody,
    kind: ReceiptKind,
) -> Result<Sent, ApiError> {
    let to = meta.to.clone().unwrap_or_default();
    if to.is_conference() {
        return Err(ApiError::new(ErrorCode::NotSupported, "group receipts are not supported yet"));
    }
    let peer = UserName::parse(to.name()).map_err(|_| ApiError::new(ErrorCode::UserNotFound, "user not found"))?;
    if &peer == sender {
        return Err(ApiError::new(ErrorCode::IllegalArgument, "a receipt goes to the peer, not to oneself"));
    }
    let message_id = body.ack_message_id.filter(|id| *id != 0);
    if kind.names_a_message() && message_id.is_none() {
        return Err(ApiError::new(ErrorCode::IllegalArgument, "the receipt names no message"));
    }
    if state.store.user(app_id, &peer).await.map_err(store_error)?.is_none() {
        return Err(user_not_found(&peer));
    }
    let id = state.ids.next();
    let timestamp_ms = now_ms();
    let receipt = Receipt {
        kind,
        from: sender.clone(),
        to: peer.clone(),
        message_id: message_id.filter(|_| kind.names_a_message()),
        timestamp_ms: timestamp_ms as i64,
    };
    state
        .store
        .add_personal_item(app_id, &peer, id, &PersonalItem::Receipt(receipt), timestamp_ms as i64)
        .await
        .map_err(store_error)?;
    if kind == ReceiptKind::ConversationRead {
        // The sender read the whole conversation: their server-side unread count goes to zero.
        crate::services::conversations::read_all(state, app_id, sender, &peer).await?;
    }
    state.delivery.queue_updated(app_id, &peer, &QueueKey::Personal, None);
    Ok(Sent { id, timestamp_ms })
}
