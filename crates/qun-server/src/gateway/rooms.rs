//! Chat room join and leave over the websocket (sdk-behaviour.md §2, "Chat-room join/leave are
//! websocket operations"): the SDK sends `Meta{ns: MUC, payload: MUCBody{mucId: <room>,
//! operation: JOIN | LEAVE, isChatroom: true, ext, leaveOtherRooms}}` and waits 15 s for the
//! ack, `CommSyncDL{metaId, status}` — for a join with `metas[0]` = a `MUCBody` whose
//! `status.chatroomInfo` is the JSON `joinChatRoom` resolves with.
//!
//! The work is done by the room's presence actor (`services::room_delivery`); a successful
//! join is acknowledged there, together with the room's recent messages.

use qun_core::RoomId;
use qun_proto::msync::{self, Meta, MucBody, StatusCode, pb};
use qun_proto::{ApiError, ErrorCode};

use super::session::Session;
use crate::ids::now_ms;
use crate::state::AppState;

/// The longest `ext` a join may carry: it goes to every member in memberPresence (Agora
/// documents no limit; 1 KiB keeps a join storm's fan-out bounded).
const JOIN_EXT_MAX_BYTES: usize = 1024;

/// An uplink MUC meta: a chat room join or leave; anything else is not supported over msync.
pub(super) async fn uplink_muc(state: &AppState, session: &Session, meta: Meta) {
    let meta_id = meta.id.unwrap_or(0);
    let refuse = |error: ApiError| session.send(msync::sync_ack(meta_id, None, error.code.into(), now_ms()));
    let Ok(body) = meta.decode_payload::<MucBody>() else {
        refuse(ApiError::new(ErrorCode::JsonParse, "the MUC body cannot be read"));
        return;
    };
    let operation = body.operation.and_then(|op| pb::muc_body::Operation::try_from(op).ok());
    let room_name = body.muc_id.as_ref().and_then(|jid| jid.name.clone()).unwrap_or_default();
    match operation {
        Some(pb::muc_body::Operation::Join | pb::muc_body::Operation::Leave) if body.is_chatroom() => {}
        _ => {
            session.send(msync::sync_ack(
                meta_id,
                None,
                msync::Status::error(StatusCode::Fail, "not supported"),
                now_ms(),
            ));
            return;
        }
    }
    let Ok(room_id) = RoomId::parse(&room_name) else {
        refuse(ApiError::new(ErrorCode::GroupNotFound, format!("chatroom {room_name} does not exist!")));
        return;
    };
    if operation == Some(pb::muc_body::Operation::Join) {
        let ext = body.ext.clone().unwrap_or_default();
        if ext.len() > JOIN_EXT_MAX_BYTES {
            refuse(ApiError::new(
                ErrorCode::InvalidParameter,
                format!("the join's ext is {} bytes; at most {JOIN_EXT_MAX_BYTES} are allowed", ext.len()),
            ));
            return;
        }
        if body.leave_other_rooms() {
            for other in state.rooms.rooms_of(session.app_id, &session.user) {
                if other != room_id
                    && let Err(error) = state.rooms.leave(state, &session.app, &session.user, other).await
                {
                    tracing::warn!(%error, user = %session.user, room = %other, "leaving another room failed");
                }
            }
        }
        // Acknowledged by the room on success.
        if let Err(error) =
            state.rooms.join(state, &session.app, &session.user, session.id, room_id, meta_id, ext).await
        {
            refuse(error);
        }
    } else {
        match state.rooms.leave(state, &session.app, &session.user, room_id).await {
            Ok(()) => session.send(msync::sync_ack(meta_id, None, msync::Status::ok(), now_ms())),
            Err(error) => refuse(error),
        };
    }
}
