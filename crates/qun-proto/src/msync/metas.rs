//! Downlink metas built from domain items, in the shapes the official SDK parses: group and
//! chat room events (`Meta{ns: MUC}`), receipts (`Meta{ns: CHAT}` of an ack type), contact
//! events (`Meta{ns: ROSTER}`), and the chat room join ack. What each field must hold was found by running the SDKs (see
//! ARCHITECTURE.md, "What the official SDK showed us").

use std::collections::BTreeMap;

use bytes::Bytes;
use qun_core::{
    ContactEvent, GroupEvent, GroupOperation, Receipt, ReceiptKind, RoomEvent, RoomId, RoomOperation, UserName,
};

use super::{Jid, KeyValue, Message, MessageBody, Meta, MucBody, RosterBody, Status, pb, sync_ack_with_metas};

/// A group event: `Meta{ns: MUC, payload: MUCBody}`. The SDK reads `from.name` (so it is
/// always set), `to[0]` as the affected user, `reason` as the text, and for
/// `memberAttributesUpdate` the JSON `eventInfo.ext` (`{"username", "properties"}`: it throws
/// on `JSON.parse(undefined)` without it).
pub fn group_event_meta(app_key: &str, id: u64, event: &GroupEvent) -> Meta {
    let (reason, event_info) = match event.operation {
        GroupOperation::MemberMetadataUpdate => (None, Some(member_attributes_info(event))),
        _ => ((!event.reason.is_empty()).then(|| event.reason.clone()), None),
    };
    let body = MucBody {
        muc_id: Some(Jid::group(app_key, event.group_id.to_string())),
        operation: Some(event.operation.msync_code()),
        from: Some(Jid::user(app_key, event.from.as_str())),
        to: event.to.iter().map(|user| Jid::user(app_key, user.as_str())).collect(),
        reason,
        event_info,
        is_chatroom: Some(false),
        muc_name: Some(event.group_name.clone()),
        muc_member_count: Some(event.member_count as i32),
        ..Default::default()
    };
    Meta {
        id: Some(id),
        from: Some(Jid::user(app_key, event.from.as_str())),
        to: Some(Jid::group(app_key, event.group_id.to_string())),
        timestamp: Some(event.timestamp_ms as u64),
        ns: Some(pb::meta::NameSpace::Muc as i32),
        payload: Some(body.encode_to_vec().into()),
        ..Default::default()
    }
}

/// `eventInfo.ext` of a member-attributes event: whose attributes (the event's subject) and
/// the attributes set (the event's `reason` holds them as a JSON object; `""` deletes a key).
fn member_attributes_info(event: &GroupEvent) -> pb::muc_body::EventInfo {
    let properties: serde_json::Value = serde_json::from_str(&event.reason).unwrap_or_else(|_| serde_json::json!({}));
    let username = event.to.first().map(UserName::as_str).unwrap_or_default();
    let ext = serde_json::json!({"username": username, "properties": properties});
    pb::muc_body::EventInfo { event_type: None, ext: Some(ext.to_string()) }
}

/// A receipt: `Meta{ns: CHAT}` whose `MessageBody.type` is READ_ACK, DELIVER_ACK or
/// CHANNEL_ACK, with `ackMessageId` the message it is about. The SDK reports `from`/`to` from
/// the body's JIDs and `mid` from `ackMessageId`.
///
/// A group's receipt names the group as `to` (conference domain). A group read receipt carries
/// the read count as `ext[0]`, a STRING the SDK hands to `JSON.parse` and reports as
/// `groupReadCount` (so a JSON number: both SDKs' message typings say `groupReadCount?: number`),
/// with `ackContent` and `msgConfig.allowGroupAck` as the reader's client wrote them.
pub fn receipt_meta(app_key: &str, id: u64, receipt: &Receipt) -> Meta {
    let body_type = match receipt.kind {
        ReceiptKind::Read => pb::message_body::Type::ReadAck,
        ReceiptKind::Delivered => pb::message_body::Type::DeliverAck,
        ReceiptKind::ConversationRead => pb::message_body::Type::ChannelAck,
    };
    let name_only = |name: &str| Jid { name: Some(name.to_owned()), ..Default::default() };
    let (to_jid, to_name) = match &receipt.group {
        Some(group) => (Jid::group(app_key, group.group_id.to_string()), group.group_id.to_string()),
        None => (Jid::user(app_key, receipt.to.as_str()), receipt.to.to_string()),
    };
    let mut body = MessageBody {
        r#type: Some(body_type as i32),
        from: Some(name_only(receipt.from.as_str())),
        to: Some(name_only(&to_name)),
        ack_message_id: receipt.message_id,
        ..Default::default()
    };
    if let Some(group) = &receipt.group
        && let Some(read_count) = group.read_count
    {
        body.ext = vec![KeyValue {
            key: Some(GROUP_READ_COUNT_KEY.to_owned()),
            r#type: Some(pb::key_value::ValueType::String as i32),
            value: Some(pb::key_value::Value::StringValue(read_count.to_string())),
        }];
        body.msg_config = Some(pb::message_body::MessageConfig { allow_group_ack: Some(true) });
        body.ack_content = (!group.content.is_empty()).then(|| group.content.clone());
    }
    Meta {
        id: Some(id),
        from: Some(Jid::user(app_key, receipt.from.as_str())),
        to: Some(to_jid),
        timestamp: Some(receipt.timestamp_ms as u64),
        ns: Some(pb::meta::NameSpace::Chat as i32),
        payload: Some(body.encode_to_vec().into()),
        ..Default::default()
    }
}

/// The `Meta.ext` key of a recall's text for the receivers (the SDK's `recallMessage({ext})`,
/// handed out as `onRecallMessage`'s `ext`).
pub const RECALL_EXTENSION_KEY: &str = "recallMessageExtensionInfo";

/// Who recalls or edits which message, and when: what a recall or edit notice says.
#[derive(Debug, Clone, Copy)]
pub struct MessageNotice<'a> {
    /// The notice's own server id.
    pub id: u64,
    /// The user who recalls or edits (`admin` for the app administrator by default).
    pub by: &'a str,
    /// The resource of the connection it came from, if any.
    pub by_resource: Option<&'a str>,
    /// The message, as stored.
    pub original: &'a Meta,
    pub timestamp_ms: u64,
}

impl MessageNotice<'_> {
    fn meta(&self, body: MessageBody, ext: Vec<pb::KeyValue>) -> Meta {
        let app_key = self.original.from.as_ref().and_then(|jid| jid.app_key.clone()).unwrap_or_default();
        Meta {
            id: Some(self.id),
            from: Some(Jid { client_resource: self.by_resource.map(str::to_owned), ..Jid::user(app_key, self.by) }),
            to: self.original.to.clone(),
            timestamp: Some(self.timestamp_ms),
            ns: Some(pb::meta::NameSpace::Chat as i32),
            payload: Some(body.encode_to_vec().into()),
            ext,
            ..Default::default()
        }
    }

    fn body(&self, body_type: pb::message_body::Type) -> MessageBody {
        let name_only = |name: Option<String>| Some(Jid { name, ..Default::default() });
        MessageBody {
            r#type: Some(body_type as i32),
            from: name_only(Some(self.by.to_owned())),
            to: name_only(self.original.to.as_ref().and_then(|jid| jid.name.clone())),
            ..Default::default()
        }
    }
}

/// A recall as its readers receive it: `Meta{ns: CHAT}` with `MessageBody{type: RECALL,
/// ackMessageId}` in the message's conversation. The SDK fires `onRecallMessage` with `mid` =
/// `ackMessageId`, `from` = the body's `from` (the recaller) and `ext` = `Meta.ext`'s
/// [`RECALL_EXTENSION_KEY`].
pub fn recall_meta(notice: &MessageNotice<'_>, extension: Option<&str>) -> Meta {
    let body = MessageBody { ack_message_id: notice.original.id, ..notice.body(pb::message_body::Type::Recall) };
    let ext = extension
        .filter(|text| !text.is_empty())
        .map(|text| vec![pb::KeyValue::string(RECALL_EXTENSION_KEY, text)])
        .unwrap_or_default();
    notice.meta(body, ext)
}

/// How often and when a message was edited, and by whom: the SDK's `modifiedInfo`
/// (`operationCount`, `operationTime`, `operatorId`) is read from `edit_msg` in
/// `MessageBody.meta` (a JSON string) of history and of edit notices, and from the edit ack's
/// NOTIFY, which also give the message's sender, time and chat type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EditInfo {
    pub count: u32,
    pub operator: String,
    pub edit_time: u64,
    pub sender: String,
    pub send_time: u64,
    /// `chat:user` or `chat:group` (the SDK's keys for `singleChat` and `groupChat`).
    pub chat_type: &'static str,
}

/// `MessageBody.meta` with `edit_msg` set to `info`, keeping whatever else the JSON object held.
fn with_edit_info(meta_json: Option<&str>, info: &EditInfo) -> String {
    let mut object = meta_json
        .and_then(|json| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json).ok())
        .unwrap_or_default();
    object.insert("edit_msg".to_owned(), serde_json::to_value(info).unwrap_or_default());
    serde_json::Value::Object(object).to_string()
}

/// The stored message after an edit: its body's contents (and ext, when `new_ext` is given)
/// replaced, and `edit_msg` in its body's `meta`, so history shows the edited text with its
/// `modifiedInfo`. Everything else (id, time, sender, type) stays.
pub fn edited_message(
    original: &Meta,
    original_body: &MessageBody,
    contents: Vec<pb::message_body::Content>,
    new_ext: Option<Vec<pb::KeyValue>>,
    info: &EditInfo,
) -> Meta {
    let body = MessageBody {
        contents,
        ext: new_ext.unwrap_or_else(|| original_body.ext.clone()),
        meta: Some(with_edit_info(original_body.meta.as_deref(), info)),
        ..original_body.clone()
    };
    Meta { payload: Some(body.encode_to_vec().into()), ..original.clone() }
}

/// An edit as its readers receive it: `Meta{ns: CHAT}` with `MessageBody{type: EDIT,
/// editMessageId, editScope}`, the new contents and ext, and `edit_msg` in the body's `meta`.
/// The SDK fires `onModifiedMessage` with the message as edited, its `id` = `editMessageId`,
/// `from` / `time` / `chatType` from `edit_msg`'s sender, send_time and chat_type.
pub fn edit_meta(notice: &MessageNotice<'_>, edited_body: &MessageBody, scope: i32, info: &EditInfo) -> Meta {
    let body = MessageBody {
        edit_message_id: notice.original.id,
        edit_scope: Some(scope),
        contents: edited_body.contents.clone(),
        ext: edited_body.ext.clone(),
        meta: Some(with_edit_info(None, info)),
        ..notice.body(pb::message_body::Type::Edit)
    };
    notice.meta(body, Vec::new())
}

/// The ack of an edit: besides the usual fields, `metas[0]` is a `Meta{ns: NOTIFY}` whose
/// payload is the JSON `{"edit_msg": …}`; the SDK resolves `modifyMessage` with `modifiedInfo`
/// from it (and fails with a TypeError without it).
pub fn edit_ack(meta_id: u64, message_id: u64, info: &EditInfo, timestamp_ms: u64) -> Bytes {
    let notify = Meta {
        ns: Some(pb::meta::NameSpace::Notify as i32),
        payload: Some(serde_json::json!({ "edit_msg": info }).to_string().into_bytes().into()),
        timestamp: Some(timestamp_ms),
        ..Default::default()
    };
    sync_ack_with_metas(meta_id, Some(message_id), Status::ok(), timestamp_ms, vec![notify])
}

/// A contact event: `Meta{ns: ROSTER, payload: RosterBody}`. The SDK reads `operation` (which
/// callback), `from.name` (who acted), `to[0].name` (it throws without one) and `reason`, which
/// it passes on as the event's `status` (the invitation's message).
pub fn contact_event_meta(app_key: &str, id: u64, event: &ContactEvent) -> Meta {
    let body = RosterBody {
        operation: Some(event.contact_change.msync_code()),
        from: Some(Jid::user(app_key, event.from.as_str())),
        to: vec![Jid::user(app_key, event.to.as_str())],
        reason: (!event.reason.is_empty()).then(|| event.reason.clone()),
        ..Default::default()
    };
    Meta {
        id: Some(id),
        from: Some(Jid::user(app_key, event.from.as_str())),
        to: Some(Jid::user(app_key, event.to.as_str())),
        timestamp: Some(event.timestamp_ms as u64),
        ns: Some(pb::meta::NameSpace::Roster as i32),
        payload: Some(body.encode_to_vec().into()),
        ..Default::default()
    }
}

/// The key of a group read receipt's count in `MessageBody.ext` (the SDK reads `ext[0]`
/// whatever its key).
pub const GROUP_READ_COUNT_KEY: &str = "group_read_count";

/// A room event: `Meta{ns: MUC, payload: MUCBody{isChatroom: true}}`. The SDK reads
/// `from.name` (always set), `to[0]` as the affected user, `reason` (the announcement),
/// `mucMemberCount` (memberPresence / memberAbsence), and the custom attributes from
/// `eventInfo.ext` (`{"result":{"successKeys":[…]},"properties":{…}}`).
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

/// What the SDK's chat room join ack carries about the room and the joiner
/// (`status.chatroomInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinInfo {
    pub is_all_mute: bool,
    pub create_timestamp: i64,
    pub is_in_white_list: bool,
    pub member_count: u32,
    /// The joiner's mute expiry (ms since the epoch; the SDK's `muteExpireTimestamp`), 0 if
    /// not muted.
    pub mute_until: i64,
}

/// The ack of a websocket join: `CommSyncDL{metaId, status OK, metas: [Meta{ns: MUC,
/// payload: MUCBody{status: {chatroomInfo}}}]}`, the JSON keyed by the joiner's name, as the
/// SDK reads it into `joinChatRoom`'s `info`.
pub fn join_ack(app_key: &str, room_id: RoomId, user: &str, meta_id: u64, info: JoinInfo, now_ms: u64) -> Bytes {
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
    sync_ack_with_metas(meta_id, None, Status::ok(), now_ms, vec![meta])
}

#[cfg(test)]
mod tests {
    use qun_core::{GroupId, GroupReceipt};

    use super::*;
    use crate::msync::{CommSyncDl, decode_msync};

    fn name(raw: &str) -> UserName {
        UserName::parse(raw).unwrap()
    }

    #[test]
    fn member_attribute_events_carry_event_info_ext() {
        let event = GroupEvent {
            operation: GroupOperation::MemberMetadataUpdate,
            group_id: GroupId(5),
            group_name: "g".into(),
            from: "owner".into(),
            to: vec![name("bob")],
            reason: r#"{"nick":"B"}"#.into(),
            member_count: 3,
            timestamp_ms: 1,
        };
        let body: MucBody = group_event_meta("o#a", 9, &event).decode_payload().unwrap();
        assert_eq!((body.operation, body.reason.as_deref()), (Some(45), None));
        let ext: serde_json::Value = serde_json::from_str(body.event_info.unwrap().ext()).unwrap();
        assert_eq!(ext, serde_json::json!({"username": "bob", "properties": {"nick": "B"}}));
        // Other events carry their text as `reason` and no event info.
        let announcement = GroupEvent { operation: GroupOperation::UpdateAnnouncement, reason: "hi".into(), ..event };
        let body: MucBody = group_event_meta("o#a", 9, &announcement).decode_payload().unwrap();
        assert_eq!((body.reason.as_deref(), body.event_info), (Some("hi"), None));
    }

    #[test]
    fn receipts_are_chat_metas_of_ack_types() {
        let receipt = Receipt {
            kind: ReceiptKind::Read,
            from: name("bob"),
            to: name("ann"),
            message_id: Some(7),
            timestamp_ms: 3,
            group: None,
        };
        let meta = receipt_meta("o#a", 11, &receipt);
        assert_eq!((meta.id, meta.ns(), meta.timestamp), (Some(11), pb::meta::NameSpace::Chat, Some(3)));
        assert!(!meta.to.as_ref().unwrap().is_conference());
        let body: MessageBody = meta.decode_payload().unwrap();
        assert_eq!((body.r#type(), body.ack_message_id), (pb::message_body::Type::ReadAck, Some(7)));
        assert_eq!((body.from.unwrap().name(), body.to.unwrap().name()), ("bob", "ann"));
        assert!(body.ext.is_empty());

        // A group read receipt: to the group, with the count as ext[0]'s JSON text.
        let group = GroupReceipt { group_id: GroupId(42), read_count: Some(2), content: "ok".into() };
        let meta = receipt_meta("o#a", 12, &Receipt { group: Some(group.clone()), ..receipt.clone() });
        assert!(meta.to.as_ref().unwrap().is_conference());
        let body: MessageBody = meta.decode_payload().unwrap();
        assert_eq!((body.to.as_ref().unwrap().name(), body.ack_content.as_deref()), ("42", Some("ok")));
        assert_eq!(body.ext[0].value, Some(pb::key_value::Value::StringValue("2".into())));
        assert_eq!(body.msg_config.and_then(|c| c.allow_group_ack), Some(true));

        // A group conversation receipt (to the reader's other devices): to the group, no count.
        let channel = Receipt {
            kind: ReceiptKind::ConversationRead,
            message_id: None,
            group: Some(GroupReceipt { read_count: None, content: String::new(), ..group }),
            ..receipt
        };
        let body: MessageBody = receipt_meta("o#a", 13, &channel).decode_payload().unwrap();
        assert_eq!((body.r#type(), body.to.unwrap().name()), (pb::message_body::Type::ChannelAck, "42"));
        assert!(body.ext.is_empty());
    }

    #[test]
    fn contact_events_are_roster_bodies_from_the_actor() {
        let event = ContactEvent {
            contact_change: qun_core::ContactChange::Invited,
            from: UserName::parse("bob").unwrap(),
            to: UserName::parse("ann").unwrap(),
            reason: "hi".into(),
            timestamp_ms: 4,
        };
        let meta = contact_event_meta("o#a", 12, &event);
        assert_eq!((meta.id, meta.ns(), meta.timestamp), (Some(12), pb::meta::NameSpace::Roster, Some(4)));
        let body: RosterBody = meta.decode_payload().unwrap();
        assert_eq!(body.operation, Some(2));
        assert_eq!((body.from.as_ref().unwrap().name(), body.to[0].name(), body.reason()), ("bob", "ann", "hi"));
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
        let frame = decode_msync(join_ack("o#a", RoomId(7), "ann", 42, info, 1)).unwrap();
        let ack: CommSyncDl = frame.decode_payload().unwrap();
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
            to: vec![name("bob")],
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
