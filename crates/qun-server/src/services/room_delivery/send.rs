//! A chat room message from a client or from REST, checked and offered to the room.
//!
//! A room send reads nothing from and writes nothing to the database: the rules are checked
//! against the room's facts (kept in memory) and its online members; the downlink `Meta` is
//! built and serialized once; the room's rate limit decides whether it is delivered. The
//! sender is acknowledged either way (see ARCHITECTURE.md, "Chat rooms").

use bytes::Bytes;
use qun_core::room_delivery::{PRIORITY_EXT_KEY, RoomSender};
use qun_core::rules::{self, RoomAction, Subject};
use qun_core::{RoomFlags, RoomId, RoomPriority, Standing, UserName};
use qun_proto::msync::{Jid, KeyValue, Message, MessageBody, Meta, pb};
use qun_proto::{ApiError, ErrorCode};
use qun_store::AppRecord;

use crate::ids::now_ms;
use crate::services::Services;
use crate::services::delivery::Origin;
use crate::services::messages::Sent;
use crate::services::rooms::{parse_room_id, room_not_found};
use crate::services::{Caller, VenueKind, denial_error_in};
use crate::telemetry::Kind;

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
    state: &Services,
    app: &AppRecord,
    user: &UserName,
    origin: &dyn Origin,
    meta: Meta,
    body: MessageBody,
) -> Result<Sent, ApiError> {
    let to = meta.to.clone().unwrap_or_default();
    let room_id = parse_room_id(to.name())?;
    let live = state.rooms.live(state, app, room_id);
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
    .map_err(|denial| denial_error_in(VenueKind::Room, denial, &room_id.to_string(), user.as_str(), None))?;
    if live.is_closed() {
        return Err(room_not_found(room_id));
    }

    let claimed = RoomPriority::from_tag(priority_tag(&meta.ext));
    let claimant = if facts.privileged(user) { RoomSender::Privileged } else { RoomSender::Member };
    let priority = RoomPriority::effective(claimed, claimant);
    let id = state.ids.next();
    let sender = Jid::user_resource(live.app_key.clone(), user.as_str(), origin.resource());
    // Meta.ext is relayed as sent, but a member's refused claim of high goes out as normal
    // (the SDK reads the message's priority back from the tag).
    let mut ext = meta.ext;
    show_priority(&mut ext, RoomPriority::shown(claimed, claimant));
    let downlink = room_message_meta(&live.app_key, id, now, sender, room_id, body, ext, meta.routetype);
    origin.sent(id);
    live.offer_message(id, Bytes::from(downlink.encode_to_vec()), priority, user, Some(origin.session_id())).await;
    state.metrics.messages_accepted.of(Kind::Room).inc();
    Ok(Sent { id, timestamp_ms: now })
}

/// A message to a chat room over REST (`POST /messages/chatrooms`) from `from`, whom the caller
/// checked may send there. `level` is the request's `chatroom_msg_level` (normal by default),
/// taken as asked when the app administrator calls; a user token's call is held to what the
/// user could send from a client (a member's "high" is normal). As from a client, messages of
/// the owner, admins and allowlisted members are admitted as high priority. The downlink's tag
/// is the level asked for, but a member's refused high, which goes out as normal.
pub(crate) async fn send_from_rest(
    state: &Services,
    app: &AppRecord,
    caller: &Caller,
    room_id: RoomId,
    from: &UserName,
    body: MessageBody,
    level: RoomPriority,
) -> Result<Sent, ApiError> {
    let live = state.rooms.live(state, app, room_id);
    let facts = live.facts(state).await?;
    let claimant = match caller {
        Caller::AppAdmin => RoomSender::App,
        Caller::User(_) if facts.privileged(from) => RoomSender::Privileged,
        Caller::User(_) => RoomSender::Member,
    };
    let priority = RoomPriority::effective(level, claimant);
    let id = state.ids.next();
    let now = now_ms();
    let tag = KeyValue::int(PRIORITY_EXT_KEY, RoomPriority::shown(level, claimant).tag());
    let sender = Jid::user(live.app_key.clone(), from.as_str());
    let downlink = room_message_meta(&live.app_key, id, now, sender, room_id, body, vec![tag], None);
    live.offer_message(id, Bytes::from(downlink.encode_to_vec()), priority, from, None).await;
    state.metrics.messages_accepted.of(Kind::Room).inc();
    Ok(Sent { id, timestamp_ms: now })
}

/// Makes the `chatroom_msg_tag` the sender wrote, if any, say `shown` (see
/// [`RoomPriority::shown`]); a message without one stays without (the SDK reads that as normal).
fn show_priority(ext: &mut [KeyValue], shown: RoomPriority) {
    for kv in ext.iter_mut().filter(|kv| kv.key.as_deref() == Some(PRIORITY_EXT_KEY)) {
        *kv = KeyValue::int(PRIORITY_EXT_KEY, shown.tag());
    }
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

#[cfg(test)]
mod tests {
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
    fn the_downlink_tag_is_the_senders_but_a_refused_claim() {
        let other = KeyValue::int("other", 7);
        let tagged = |tag| vec![other.clone(), KeyValue::int(PRIORITY_EXT_KEY, tag)];
        let shown = |ext: &[KeyValue], sender| RoomPriority::shown(RoomPriority::from_tag(priority_tag(ext)), sender);
        // A member's claimed high (tag 0) goes out as normal (1); its other entries stay.
        let mut ext = tagged(0);
        let to_show = shown(&ext, RoomSender::Member);
        show_priority(&mut ext, to_show);
        assert_eq!(ext, tagged(1));
        // Every other tag is relayed as sent, a privileged sender's low included.
        for (tag, sender) in [(2, RoomSender::Member), (2, RoomSender::Privileged), (0, RoomSender::Privileged)] {
            let mut ext = tagged(tag);
            let to_show = shown(&ext, sender);
            show_priority(&mut ext, to_show);
            assert_eq!(ext, tagged(tag));
        }
        // No tag stays no tag.
        let mut ext = vec![other.clone()];
        let to_show = shown(&ext, RoomSender::Privileged);
        show_priority(&mut ext, to_show);
        assert_eq!(ext, vec![other]);
    }
}
