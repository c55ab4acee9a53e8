//! A chat room message from a client, and the msync shapes of room events and join acks.
//!
//! A room send reads nothing from and writes nothing to the database: the rules are checked
//! against the room's facts (kept in memory) and its online members; the downlink `Meta` is
//! built and serialized once; the room's rate limit decides whether it is delivered. The
//! sender is acknowledged either way (see ARCHITECTURE.md, "Chat rooms").

use std::collections::BTreeMap;

use bytes::Bytes;
use qun_core::room_delivery::PRIORITY_EXT_KEY;
use qun_core::rules::{self, RoomAction, Subject};
use qun_core::{RoomEvent, RoomFlags, RoomId, RoomOperation, RoomPriority, Standing, UserName};
use qun_proto::msync::{self, Jid, KeyValue, Message, MessageBody, Meta, MucBody, pb};
use qun_proto::{ApiError, ErrorCode};
use qun_store::AppRecord;

use super::presence::JoinInfo;
use crate::gateway::Session;
use crate::ids::now_ms;
use crate::services::messages::Sent;
use crate::services::rooms::room_not_found;
use crate::services::{Venue, denial_error_in};
use crate::state::AppState;

/// The priority tag a message carries in `Meta.ext` (`chatroom_msg_tag`), if any.
pub(crate) fn priority_tag(ext: &[KeyValue]) -> Option<i64> {
    ext.iter().find(|kv| kv.key.as_deref() == Some(PRIORITY_EXT_KEY)).and_then(|kv| match &kv.value {
        Some(pb::key_value::Value::VarintValue(value)) => Some(*value),
        Some(pb::key_value::Value::StringValue(text)) => text.parse().ok(),
        _ => None,
    })
}

/// A message to a chat room from a logged-in client (`Meta{to: room, ns: CHAT}`, body type
/// CHATROOM), its size already checked.
pub async fn send_from_client(
    state: &AppState,
    session: &Session,
    meta: Meta,
    body: MessageBody,
) -> Result<Sent, ApiError> {
    let to = meta.to.clone().unwrap_or_default();
    let room_id = RoomId::parse(to.name())
        .map_err(|_| ApiError::new(ErrorCode::GroupNotFound, format!("chatroom {} does not exist!", to.name())))?;
    let live = state.rooms.live(state, &session.app, room_id);
    let facts = match live.facts(state).await {
        Ok(facts) => facts,
        Err(error) => {
            if error.code == ErrorCode::GroupNotFound {
                // No such room: nothing of it stays in memory.
                state.rooms.forget_if_gone(&live);
            }
            return Err(error);
        }
    };
    let user = &session.user;
    let now = now_ms();
    let standing = if &facts.owner == user {
        Standing::Owner
    } else if facts.admins.contains(user) {
        Standing::Admin
    } else if live.has_member(user) {
        Standing::Member
    } else {
        Standing::Outsider
    };
    let subject =
        Subject { standing, muted: facts.muted(user, now as i64), allowlisted: facts.allowlist.contains(user) };
    rules::authorize_room(
        rules::Caller::User(subject),
        RoomAction::SendMessage,
        None,
        RoomFlags { mute_all: facts.mute_all },
    )
    .map_err(|denial| denial_error_in(Venue::Room, denial, &room_id.to_string(), user.as_str(), None))?;
    if live.is_closed() {
        return Err(room_not_found(room_id));
    }

    let priority = RoomPriority::effective(RoomPriority::from_tag(priority_tag(&meta.ext)), facts.privileged(user));
    let id = state.ids.next();
    let sender = Jid::user_resource(session.app_key.clone(), user.as_str(), session.resource.clone());
    // Meta.ext is relayed as sent: the SDK reads the message's priority back from chatroom_msg_tag.
    let downlink = room_message_meta(&live.app_key, id, now, sender, room_id, body, meta.ext, meta.routetype);
    session.sent(id);
    live.offer_message(id, Bytes::from(downlink.encode_to_vec()), priority, Some(session.id)).await;
    Ok(Sent { id, timestamp_ms: now })
}

/// A message to a chat room over REST (`POST /messages/chatrooms`) from `from`, whom the caller
/// checked may send there. `level` is the request's `chatroom_msg_level` (normal by default);
/// as from a client, messages of the owner, admins and allowlisted members are high priority.
pub(crate) async fn send_from_rest(
    state: &AppState,
    app: &AppRecord,
    room_id: RoomId,
    from: &UserName,
    body: MessageBody,
    level: RoomPriority,
) -> Result<Sent, ApiError> {
    let live = state.rooms.live(state, app, room_id);
    let facts = live.facts(state).await?;
    let priority = RoomPriority::effective(level, facts.privileged(from));
    let id = state.ids.next();
    let now = now_ms();
    let tag = KeyValue::int(PRIORITY_EXT_KEY, level.tag());
    let sender = Jid::user(live.app_key.clone(), from.as_str());
    let downlink = room_message_meta(&live.app_key, id, now, sender, room_id, body, vec![tag], None);
    live.offer_message(id, Bytes::from(downlink.encode_to_vec()), priority, None).await;
    Ok(Sent { id, timestamp_ms: now })
}

/// The downlink `Meta` of a room message from `sender`, its body typed CHATROOM and addressed
/// from the sender (whatever the client wrote) to the room.
#[allow(clippy::too_many_arguments)]
fn room_message_meta(
    app_key: &str,
    id: u64,
    now: u64,
    sender: Jid,
    room_id: RoomId,
    mut body: MessageBody,
    ext: Vec<KeyValue>,
    routetype: Option<i32>,
) -> Meta {
    let room_name = room_id.to_string();
    body.set_type(pb::message_body::Type::Chatroom);
    body.from = Some(Jid { name: sender.name.clone(), ..Default::default() });
    body.to = Some(Jid { name: Some(room_name.clone()), ..Default::default() });
    Meta {
        id: Some(id),
        from: Some(sender),
        to: Some(Jid::group(app_key, room_name)),
        timestamp: Some(now),
        ns: Some(pb::meta::NameSpace::Chat as i32),
        payload: Some(body.encode_to_vec().into()),
        routetype,
        ext,
        ..Default::default()
    }
}

/// A room event as the SDK expects it: `Meta{ns: MUC, payload: MUCBody{isChatroom: true}}`.
/// The SDK reads `from.name` (always set), `to[0]` as the affected user, `reason` (the
/// announcement), `mucMemberCount` (memberPresence / memberAbsence), and the custom
/// attributes from `eventInfo.ext` (`{"result":{"successKeys":[…]},"properties":{…}}`).
pub fn room_event_meta(app_key: &str, id: u64, event: &RoomEvent) -> Meta {
    let room_jid = Jid::group(app_key, event.room_id.to_string());
    let event_info = matches!(event.operation, RoomOperation::SetMetadata | RoomOperation::DeleteMetadata).then(|| {
        let keys: Vec<&String> = event.attributes.keys().collect();
        let properties: BTreeMap<&String, &String> = event.attributes.iter().collect();
        let ext = serde_json::json!({"result": {"successKeys": keys, "errorKeys": {}}, "properties": properties});
        pb::muc_body::EventInfo { event_type: None, ext: Some(ext.to_string()) }
    });
    let body = MucBody {
        muc_id: Some(room_jid.clone()),
        operation: Some(event.operation.msync_code()),
        from: Some(Jid::user(app_key, event.from.as_str())),
        to: event.to.iter().map(|user| Jid::user(app_key, user.as_str())).collect(),
        reason: (!event.reason.is_empty()).then(|| event.reason.clone()),
        is_chatroom: Some(true),
        muc_name: Some(event.room_name.clone()),
        muc_member_count: Some(event.member_count as i32),
        event_info,
        // Both SDK versions hand it out as the memberPresence event's `ext`.
        ext: (!event.ext.is_empty()).then(|| event.ext.clone()),
        ..Default::default()
    };
    Meta {
        id: Some(id),
        from: Some(Jid::user(app_key, event.from.as_str())),
        to: Some(room_jid),
        timestamp: Some(event.timestamp_ms as u64),
        ns: Some(pb::meta::NameSpace::Muc as i32),
        payload: Some(body.encode_to_vec().into()),
        ..Default::default()
    }
}

/// The ack of a websocket join: `CommSyncDL{metaId, status OK, metas: [Meta{ns: MUC,
/// payload: MUCBody{status: {chatroomInfo}}}]}`, the JSON keyed by the joiner's name, as the
/// SDK reads it into `joinChatRoom`'s `info`.
pub(crate) fn join_ack(app_key: &str, room_id: RoomId, user: &str, meta_id: u64, info: JoinInfo) -> Bytes {
    let chatroom_info = serde_json::json!({
        user: {
            "is_all_mute": info.is_all_mute,
            "create_timestamp": info.create_timestamp,
            "is_in_white_list": info.is_in_white_list,
            "member_count": info.member_count,
            "mute_duration": info.mute_until,
        }
    });
    let body = MucBody {
        muc_id: Some(Jid::group(app_key, room_id.to_string())),
        operation: Some(pb::muc_body::Operation::Join as i32),
        from: Some(Jid::user(app_key, user)),
        is_chatroom: Some(true),
        status: Some(pb::muc_body::Status {
            error_code: Some(pb::muc_body::status::ErrorCode::Ok as i32),
            description: None,
            chatroom_info: Some(chatroom_info.to_string()),
        }),
        ..Default::default()
    };
    let meta = Meta {
        id: Some(meta_id),
        ns: Some(pb::meta::NameSpace::Muc as i32),
        payload: Some(body.encode_to_vec().into()),
        ..Default::default()
    };
    msync::sync_ack_with_metas(meta_id, None, msync::Status::ok(), now_ms(), vec![meta])
}

#[cfg(test)]
mod tests {
    use qun_core::UserName;

    use super::*;

    #[test]
    fn the_priority_tag_is_read_from_meta_ext() {
        let tag = |value| KeyValue {
            key: Some(PRIORITY_EXT_KEY.into()),
            r#type: Some(pb::key_value::ValueType::Int as i32),
            value: Some(value),
        };
        assert_eq!(priority_tag(&[tag(pb::key_value::Value::VarintValue(0))]), Some(0));
        assert_eq!(priority_tag(&[tag(pb::key_value::Value::VarintValue(2))]), Some(2));
        assert_eq!(priority_tag(&[tag(pb::key_value::Value::StringValue("1".into()))]), Some(1));
        assert_eq!(priority_tag(&[]), None);
    }

    #[test]
    fn join_ack_carries_chatroom_info_keyed_by_user() {
        let info = JoinInfo {
            is_all_mute: true,
            create_timestamp: 5,
            is_in_white_list: false,
            member_count: 3,
            mute_until: 0,
        };
        let frame = msync::decode_msync(join_ack("o#a", RoomId(7), "ann", 42, info)).unwrap();
        let ack: msync::CommSyncDl = frame.decode_payload().unwrap();
        assert_eq!(ack.meta_id, Some(42));
        let body: MucBody = ack.metas[0].decode_payload().unwrap();
        let json: serde_json::Value = serde_json::from_str(body.status.unwrap().chatroom_info()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"ann": {"is_all_mute": true, "create_timestamp": 5, "is_in_white_list": false,
                "member_count": 3, "mute_duration": 0}})
        );
    }

    #[test]
    fn room_events_are_chatroom_mucs() {
        let event = RoomEvent {
            operation: RoomOperation::SetMetadata,
            room_id: RoomId(9),
            room_name: "r".into(),
            from: "ann".into(),
            to: vec![UserName::parse("bob").unwrap()],
            reason: String::new(),
            attributes: [("k".to_owned(), "v".to_owned())].into_iter().collect(),
            ext: String::new(),
            member_count: 4,
            timestamp_ms: 1,
        };
        let meta = room_event_meta("o#a", 77, &event);
        let body: MucBody = meta.decode_payload().unwrap();
        assert_eq!((body.is_chatroom, body.operation, body.muc_member_count), (Some(true), Some(43), Some(4)));
        let ext: serde_json::Value = serde_json::from_str(body.event_info.unwrap().ext()).unwrap();
        assert_eq!(ext["result"]["successKeys"], serde_json::json!(["k"]));
        assert_eq!(ext["properties"]["k"], "v");
    }
}
