//! What a connection hands to the application: pulled messages and group events, kicks, and
//! the end of the connection; and the decoding of one downlink `Meta` into one of those.

use qun_proto::msync::{KeyValue, MessageBody, Meta, MucBody, StatisticsBody, pb};

/// Something the server delivered. Received from the channel [`crate::Connection::connect`]
/// returns.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A message (`Meta.ns` CHAT), in [`ReceiveMode::Full`].
    Message {
        /// The server id: the same id the sender's ack carried.
        id: u64,
        /// The sender.
        from: String,
        /// The group id, or the recipient for a 1:1 message.
        to: String,
        chat_type: ChatType,
        /// The text of the first TEXT content (empty if there is none).
        text: String,
        /// Every content, decoded.
        contents: Vec<pb::message_body::Content>,
        /// The message's `ext` attributes (see [`crate::ext`] to read them).
        ext: Vec<KeyValue>,
        /// Server time, ms since the Unix epoch.
        timestamp: u64,
    },
    /// A message in [`ReceiveMode::IdsOnly`]: its body was not decoded.
    MessageId { id: u64, timestamp: u64 },
    /// A group event (`Meta.ns` MUC): someone was made admin, muted, invited, ...
    GroupEvent {
        id: u64,
        group: String,
        /// msync `MUCBody.Operation` (e.g. 21 = ADD_ADMIN); [`operation_name`] names it.
        operation: i32,
        /// Who did it.
        from: String,
        /// Who it was done to.
        to: Vec<String>,
        /// Free text: the announcement, an invitation's reason, ...
        reason: Option<String>,
        /// A chat room memberPresence: what the joiner wrote in its join (`MUCBody.ext`).
        ext: Option<String>,
    },
    /// A receipt (`Meta.ns` CHAT whose `MessageBody.type` is READ_ACK 4, DELIVER_ACK 5 or
    /// CHANNEL_ACK 7, see [`pb::message_body::Type`]): `from` read or received message
    /// `message_id` (none: read the whole conversation). Not a message: the SDK reports it as
    /// `onReadMessage` / `onDeliveredMessage` / `onChannelMessage`.
    Receipt { id: u64, kind: i32, from: String, to: String, message_id: Option<u64> },
    /// The server is closing this connection and says why (msync `StatisticsBody.Operation`:
    /// 1 user removed, 2 logged in on another device, 3 password changed, ...).
    Kicked { operation: i32 },
    /// The connection ended. Always the last item.
    Closed,
}

/// How a message was addressed (`MessageBody.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChatType {
    /// 1:1.
    Chat,
    GroupChat,
    ChatRoom,
}

/// How much of each message the connection decodes.
///
/// `Full` decodes the `MessageBody` (contents, ext, names): what an application wants.
/// `IdsOnly` stops at the `Meta` (whose payload is a zero-copy slice of the frame) and hands
/// out [`Incoming::MessageId`]: no strings and no per-content allocations, for a benchmark
/// that holds thousands of connections and only counts and times deliveries. Group events and
/// kicks are decoded in both modes (they are rare).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReceiveMode {
    #[default]
    Full,
    IdsOnly,
}

/// The SDK's name of a group operation (`onGroupEvent`'s `operation`, e.g. `"setAdmin"`), or
/// the schema's name for operations the SDK has no group event for.
pub fn operation_name(operation: i32) -> String {
    if let Some(known) = qun_core::GroupOperation::from_msync_code(operation) {
        return known.sdk_name().to_owned();
    }
    match pb::muc_body::Operation::try_from(operation) {
        Ok(schema) => schema.as_str_name().to_owned(),
        Err(_) => format!("operation {operation}"),
    }
}

/// The application-level item one downlink `Meta` stands for. `None` for metas with nothing
/// to hand out (statistics that are not kicks, rosters, notifications) and for undecodable
/// bodies: a reader never fails on an odd meta.
pub(crate) fn from_meta(meta: &Meta, mode: ReceiveMode) -> Option<Incoming> {
    let id = meta.id.unwrap_or(0);
    let timestamp = meta.timestamp.unwrap_or(0);
    match pb::meta::NameSpace::try_from(meta.ns.unwrap_or_default()).ok()? {
        pb::meta::NameSpace::Chat if mode == ReceiveMode::IdsOnly => Some(Incoming::MessageId { id, timestamp }),
        pb::meta::NameSpace::Chat => {
            use pb::message_body::Type;
            let body: MessageBody = meta.decode_payload().ok()?;
            let conference = meta.to.as_ref().is_some_and(|to| to.is_conference());
            let from = name_of(meta.from.as_ref()).or_else(|| name_of(body.from.as_ref()));
            let to = name_of(meta.to.as_ref()).or_else(|| name_of(body.to.as_ref()));
            let chat_type = match body.r#type.and_then(|t| Type::try_from(t).ok()) {
                Some(kind @ (Type::ReadAck | Type::DeliverAck | Type::ChannelAck)) => {
                    return Some(Incoming::Receipt {
                        id,
                        kind: kind as i32,
                        from: from.unwrap_or_default(),
                        to: to.unwrap_or_default(),
                        message_id: body.ack_message_id,
                    });
                }
                // Recalls and edits are not messages either; nothing to hand out yet.
                Some(Type::Recall | Type::Edit) => return None,
                Some(Type::Chatroom) => ChatType::ChatRoom,
                Some(Type::Groupchat) => ChatType::GroupChat,
                Some(Type::Chat) => ChatType::Chat,
                _ if conference => ChatType::GroupChat,
                _ => ChatType::Chat,
            };
            let text = body
                .contents
                .iter()
                .find(|c| c.r#type() == pb::message_body::content::Type::Text)
                .map(|c| c.text().to_owned())
                .unwrap_or_default();
            Some(Incoming::Message {
                id,
                from: from.unwrap_or_default(),
                to: to.unwrap_or_default(),
                chat_type,
                text,
                contents: body.contents,
                ext: body.ext,
                timestamp,
            })
        }
        pb::meta::NameSpace::Muc => {
            let body: MucBody = meta.decode_payload().ok()?;
            Some(Incoming::GroupEvent {
                id,
                group: name_of(body.muc_id.as_ref()).or_else(|| name_of(meta.to.as_ref())).unwrap_or_default(),
                operation: body.operation.unwrap_or_default(),
                from: name_of(body.from.as_ref()).or_else(|| name_of(meta.from.as_ref())).unwrap_or_default(),
                to: body.to.iter().filter_map(|jid| jid.name.clone()).collect(),
                reason: body.reason,
                ext: body.ext,
            })
        }
        pb::meta::NameSpace::Statistic => {
            let body: StatisticsBody = meta.decode_payload().ok()?;
            let operation = body.operation.unwrap_or_default();
            // INFORMATION (0) is the SDK's own telemetry, never a kick.
            (operation != pb::statistics_body::Operation::Information as i32).then_some(Incoming::Kicked { operation })
        }
        _ => None,
    }
}

fn name_of(jid: Option<&qun_proto::msync::Jid>) -> Option<String> {
    jid.and_then(|jid| jid.name.clone()).filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use qun_proto::msync::{Jid, Message};

    use super::*;
    use crate::frames::{Target, ext, text_body};

    fn meta(ns: pb::meta::NameSpace, payload: Vec<u8>) -> Meta {
        Meta {
            id: Some(1_000),
            from: Some(Jid::user("o#a", "bob")),
            to: Some(Jid::group("o#a", "42")),
            timestamp: Some(1_700_000_000_000),
            ns: Some(ns as i32),
            payload: Some(payload.into()),
            ..Default::default()
        }
    }

    #[test]
    fn group_message_in_both_modes() {
        let body = text_body("bob", &Target::Group("42".into()), "hello", vec![ext::string("k1", "v1")]);
        let meta = meta(pb::meta::NameSpace::Chat, body.encode_to_vec());
        let Some(Incoming::Message { id, from, to, chat_type, text, contents, ext: extension, timestamp }) =
            from_meta(&meta, ReceiveMode::Full)
        else {
            panic!("a message")
        };
        assert_eq!((id, from.as_str(), to.as_str(), chat_type), (1_000, "bob", "42", ChatType::GroupChat));
        assert_eq!((text.as_str(), contents.len(), timestamp), ("hello", 1, 1_700_000_000_000));
        assert_eq!(ext::get_str(&extension, "k1"), Some("v1"));
        assert_eq!(
            from_meta(&meta, ReceiveMode::IdsOnly),
            Some(Incoming::MessageId { id: 1_000, timestamp: 1_700_000_000_000 })
        );
    }

    #[test]
    fn receipts_are_not_messages() {
        let receipt = |kind: pb::message_body::Type, acked: Option<u64>| MessageBody {
            r#type: Some(kind as i32),
            from: Some(Jid { name: Some("bob".into()), ..Default::default() }),
            to: Some(Jid { name: Some("alice".into()), ..Default::default() }),
            ack_message_id: acked,
            ..Default::default()
        };
        for (kind, acked) in [
            (pb::message_body::Type::ReadAck, Some(7)),
            (pb::message_body::Type::DeliverAck, Some(8)),
            (pb::message_body::Type::ChannelAck, None),
        ] {
            let decoded =
                from_meta(&meta(pb::meta::NameSpace::Chat, receipt(kind, acked).encode_to_vec()), ReceiveMode::Full);
            let from = "bob".to_owned();
            assert_eq!(
                decoded,
                Some(Incoming::Receipt { id: 1_000, kind: kind as i32, from, to: "42".into(), message_id: acked })
            );
        }
        let recall = receipt(pb::message_body::Type::Recall, Some(7));
        assert_eq!(from_meta(&meta(pb::meta::NameSpace::Chat, recall.encode_to_vec()), ReceiveMode::Full), None);
    }

    #[test]
    fn group_event_and_kick() {
        let body = MucBody {
            muc_id: Some(Jid::group("o#a", "42")),
            operation: Some(21),
            from: Some(Jid::user("o#a", "owner")),
            to: vec![Jid::user("o#a", "alice")],
            ..Default::default()
        };
        let event = from_meta(&meta(pb::meta::NameSpace::Muc, body.encode_to_vec()), ReceiveMode::IdsOnly);
        assert_eq!(
            event,
            Some(Incoming::GroupEvent {
                id: 1_000,
                group: "42".into(),
                operation: 21,
                from: "owner".into(),
                to: vec!["alice".into()],
                reason: None,
                ext: None,
            })
        );
        assert_eq!(operation_name(21), "setAdmin");
        assert_eq!(operation_name(2), "JOIN");
        assert_eq!(operation_name(999), "operation 999");

        let kick = StatisticsBody { operation: Some(2), ..Default::default() };
        assert_eq!(
            from_meta(&meta(pb::meta::NameSpace::Statistic, kick.encode_to_vec()), ReceiveMode::Full),
            Some(Incoming::Kicked { operation: 2 })
        );
        let telemetry = StatisticsBody { operation: Some(0), ..Default::default() };
        assert_eq!(
            from_meta(&meta(pb::meta::NameSpace::Statistic, telemetry.encode_to_vec()), ReceiveMode::Full),
            None
        );
    }

    #[test]
    fn odd_metas_are_skipped_not_fatal() {
        let garbage = vec![0xff, 0xff, 0xff];
        assert_eq!(from_meta(&meta(pb::meta::NameSpace::Chat, garbage.clone()), ReceiveMode::Full), None);
        assert_eq!(from_meta(&meta(pb::meta::NameSpace::Muc, garbage.clone()), ReceiveMode::Full), None);
        assert_eq!(from_meta(&meta(pb::meta::NameSpace::Notify, garbage), ReceiveMode::Full), None);
        let unknown_ns = Meta { ns: Some(77), ..Default::default() };
        assert_eq!(from_meta(&unknown_ns, ReceiveMode::Full), None);
    }
}
