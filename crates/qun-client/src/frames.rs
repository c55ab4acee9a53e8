//! Uplink frames written the way the official web SDK writes them (sdk-behaviour.md §2), and
//! the SDK-style client meta ids.
//!
//! Every frame but PROVISION and LOGOUT has the layout of the SDK's 6-byte UNREAD
//! (`08 00 40 01 58 00`): `version 0`, `command`, then `payload`, then `encryptType [0]`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use qun_proto::msync::{
    self, CommSyncUl, Command, Jid, Logout, MSync, Message, MessageBody, Meta, Provision, TOKEN_PREFIX, pb,
};

/// `Provision.actionVersion` of agora-chat 1.4.0, whose behaviour this client copies.
pub const ACTION_VERSION: &str = "v5.1";
/// `Logout.reason` the 4.x SDK sends from `close()`.
pub const LOGOUT_REASON: &str = "inner:logout";
/// 2010-02-01T00:00:00Z in ms since the Unix epoch: the SDK's client ids count from here.
const SDK_ID_EPOCH_MS: u64 = 1_264_982_400_000;

/// Who logs in, and as which device: everything the PROVISION and LOGOUT frames carry.
#[derive(Debug, Clone)]
pub struct LoginFrame {
    /// `org#app`.
    pub app_key: String,
    pub user: String,
    pub token: String,
    /// The device's stable id: the server keeps delivery cursors per device.
    pub device_uuid: String,
    /// The SDK sends `"webim"`.
    pub device_name: String,
    /// This connection's resource (`JID.clientResource` and `Provision.resource`).
    pub resource: String,
    /// `Provision.version`: the SDK's version string.
    pub version: String,
    /// `"<epoch ms>:"`, repeated in the LOGOUT frame.
    pub session_id: String,
}

impl LoginFrame {
    fn guid(&self) -> Jid {
        Jid::user_resource(&self.app_key, &self.user, &self.resource)
    }

    fn auth(&self) -> String {
        format!("{TOKEN_PREFIX}{}", self.token)
    }
}

/// PROVISION: the login frame, field for field as agora-chat 1.4.0 sends it.
pub fn provision(login: &LoginFrame) -> Bytes {
    let body = Provision {
        os_type: Some(pb::provision::OsType::OsOther as i32),
        version: Some(login.version.clone()),
        compress_type: vec![pb::provision::CompressType::CompressNone as i32],
        encrypt_type: vec![pb::EncryptType::EncryptNone as i32],
        device_uuid: Some(login.device_uuid.clone()),
        device_name: Some(login.device_name.clone()),
        resource: Some(login.resource.clone()),
        action_version: Some(ACTION_VERSION.to_owned()),
        auth_token: Some(format!(r#"{{"token":"{}"}}"#, login.auth())),
        session_id: Some(login.session_id.clone()),
        ..Default::default()
    };
    let frame = MSync {
        version: Some(pb::m_sync::Version::MsyncV1 as i32),
        guid: Some(login.guid()),
        auth: Some(login.auth()),
        command: Some(Command::Provision as i32),
        payload: Some(body.encode_to_vec().into()),
        device_id: Some(0),
        encrypt_type: vec![pb::EncryptType::EncryptNone as i32],
        ..Default::default()
    };
    frame.encode_to_vec().into()
}

/// LOGOUT (4.x): `MSync{auth, guid, payload: Logout{sessionId, reason: "inner:logout"}}`.
pub fn logout(login: &LoginFrame) -> Bytes {
    let body =
        Logout { session_id: Some(login.session_id.clone()), reason: Some(LOGOUT_REASON.to_owned()), status: None };
    let frame = MSync {
        version: Some(pb::m_sync::Version::MsyncV1 as i32),
        guid: Some(login.guid()),
        auth: Some(login.auth()),
        command: Some(Command::Logout as i32),
        payload: Some(body.encode_to_vec().into()),
        encrypt_type: vec![pb::EncryptType::EncryptNone as i32],
        ..Default::default()
    };
    frame.encode_to_vec().into()
}

/// UNREAD: the first request after login, and the heartbeat. Exactly the SDK's 6 bytes.
pub fn unread() -> Bytes {
    Bytes::from_static(&[0x08, 0x00, 0x40, 0x01, 0x58, 0x00])
}

/// SYNC with a `meta`: sends a message (or another uplink operation).
pub fn send_meta(meta: Meta) -> Bytes {
    sync(&CommSyncUl { meta: Some(meta), ..Default::default() })
}

/// SYNC with a `queue`: pulls it; with `key` (the previous batch's `nextKey`) it also
/// acknowledges everything up to that key.
pub fn pull(queue: &Jid, key: Option<u64>) -> Bytes {
    sync(&CommSyncUl { queue: Some(queue.clone()), key, ..Default::default() })
}

fn sync(body: &CommSyncUl) -> Bytes {
    let frame = MSync {
        version: Some(pb::m_sync::Version::MsyncV1 as i32),
        command: Some(Command::Sync as i32),
        payload: Some(body.encode_to_vec().into()),
        encrypt_type: vec![pb::EncryptType::EncryptNone as i32],
        ..Default::default()
    };
    frame.encode_to_vec().into()
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A group, by id.
    Group(String),
    /// A user (1:1 chat), by name.
    User(String),
    /// A chat room, by id (the user must be in it: [`crate::Connection::join_room`]).
    Room(String),
}

impl Target {
    /// The `Meta.to` JID: `conference.easemob.com` for groups, `easemob.com` for users.
    pub fn jid(&self, app_key: &str) -> Jid {
        match self {
            Target::Group(group) | Target::Room(group) => Jid::group(app_key, group),
            Target::User(user) => Jid::user(app_key, user),
        }
    }

    fn name(&self) -> &str {
        match self {
            Target::Group(name) | Target::User(name) | Target::Room(name) => name,
        }
    }

    fn body_type(&self) -> pb::message_body::Type {
        match self {
            Target::Group(_) => pb::message_body::Type::Groupchat,
            Target::User(_) => pb::message_body::Type::Chat,
            Target::Room(_) => pb::message_body::Type::Chatroom,
        }
    }
}

/// A text message body as the SDK builds it: `{type, from{name}, to{name}, contents:[TEXT], ext}`.
pub fn text_body(from: &str, target: &Target, text: &str, ext: Vec<msync::KeyValue>) -> MessageBody {
    let content = pb::message_body::Content {
        r#type: Some(pb::message_body::content::Type::Text as i32),
        text: Some(text.to_owned()),
        ..Default::default()
    };
    MessageBody { contents: vec![content], ext, ..message_body(from, target) }
}

/// An empty body addressed like the SDK addresses one (type, `from.name`, `to.name`).
pub fn message_body(from: &str, target: &Target) -> MessageBody {
    MessageBody {
        r#type: Some(target.body_type() as i32),
        from: Some(Jid { name: Some(from.to_owned()), ..Default::default() }),
        to: Some(Jid { name: Some(target.name().to_owned()), ..Default::default() }),
        ..Default::default()
    }
}

/// The uplink `Meta{id, to, ns: CHAT, payload: body}` of a message. Fields the body leaves
/// unset (type, from, to) are filled in for `target`.
pub fn message_meta(app_key: &str, from: &str, meta_id: u64, target: &Target, mut body: MessageBody) -> Meta {
    let defaults = message_body(from, target);
    if body.r#type.is_none() {
        body.r#type = defaults.r#type;
    }
    body.from = body.from.or(defaults.from);
    body.to = body.to.or(defaults.to);
    Meta {
        id: Some(meta_id),
        to: Some(target.jid(app_key)),
        ns: Some(pb::meta::NameSpace::Chat as i32),
        payload: Some(body.encode_to_vec().into()),
        ..Default::default()
    }
}

/// The `Meta.ext` entry the SDK sends a chat room message's priority in
/// (`chatroom_msg_tag`: 0 high, 1 normal, 2 low).
pub fn room_priority(tag: i64) -> msync::KeyValue {
    msync::KeyValue::int(qun_core::room_delivery::PRIORITY_EXT_KEY, tag)
}

/// A chat room join (leaving the other rooms first with `leave_others`; `ext` goes to the other
/// members in memberPresence) or leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomPresence<'a> {
    Join { leave_others: bool, ext: &'a str },
    Leave,
}

/// The uplink `Meta{ns: MUC}` of a chat room join or leave, as the SDK builds it:
/// `MUCBody{mucId: <room>, operation: JOIN | LEAVE, from{name}, isChatroom: true}` (a join
/// also says `leaveOtherRooms` and carries `ext`).
pub fn room_presence_meta(app_key: &str, from: &str, meta_id: u64, room: &str, presence: RoomPresence<'_>) -> Meta {
    let (join, leave_others, ext) = match presence {
        RoomPresence::Join { leave_others, ext } => (true, leave_others, ext),
        RoomPresence::Leave => (false, false, ""),
    };
    let operation = if join { pb::muc_body::Operation::Join } else { pb::muc_body::Operation::Leave };
    let body = msync::MucBody {
        muc_id: Some(Jid::group(app_key, room)),
        operation: Some(operation as i32),
        from: Some(Jid { name: Some(from.to_owned()), ..Default::default() }),
        is_chatroom: Some(true),
        ext: join.then(|| ext.to_owned()),
        leave_other_rooms: join.then_some(leave_others),
        ..Default::default()
    };
    Meta {
        id: Some(meta_id),
        from: Some(Jid::user(app_key, from)),
        to: Some(Jid { domain: Some(msync::USER_DOMAIN.into()), ..Default::default() }),
        ns: Some(pb::meta::NameSpace::Muc as i32),
        payload: Some(body.encode_to_vec().into()),
        ..Default::default()
    }
}

/// A new client meta id: ms since 2010-02-01 plus a counter, like the SDK's `getUniqueId()`,
/// but strictly increasing across the whole process, so two connections (or two sends in one
/// millisecond) never share one.
pub fn next_meta_id() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = now_ms().saturating_sub(SDK_ID_EPOCH_MS);
    let previous = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| Some(now.max(last + 1)))
        .expect("the update always returns Some");
    now.max(previous + 1)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Builders for message `ext` entries (typed `KeyValue`s, as the SDK encodes them).
pub mod ext {
    use qun_proto::msync::KeyValue;
    use qun_proto::msync::pb::key_value::{Value, ValueType};

    fn entry(key: &str, kind: ValueType, value: Value) -> KeyValue {
        KeyValue { key: Some(key.to_owned()), r#type: Some(kind as i32), value: Some(value) }
    }

    /// A string attribute.
    pub fn string(key: &str, value: &str) -> KeyValue {
        entry(key, ValueType::String, Value::StringValue(value.to_owned()))
    }

    /// An integer attribute (the SDK writes JS integers as INT).
    pub fn int(key: &str, value: i64) -> KeyValue {
        KeyValue::int(key, value)
    }

    /// A boolean attribute.
    pub fn bool(key: &str, value: bool) -> KeyValue {
        entry(key, ValueType::Bool, Value::VarintValue(i64::from(value)))
    }

    /// A number with a fraction (the SDK writes those as DOUBLE).
    pub fn double(key: &str, value: f64) -> KeyValue {
        entry(key, ValueType::Double, Value::DoubleValue(value))
    }

    /// A JSON object or array, as its text (JSON_STRING).
    pub fn json(key: &str, value: &serde_json::Value) -> KeyValue {
        entry(key, ValueType::JsonString, Value::StringValue(value.to_string()))
    }

    /// The string value of `key` in `ext` (STRING or JSON_STRING), if present.
    pub fn get_str<'a>(ext: &'a [KeyValue], key: &str) -> Option<&'a str> {
        ext.iter().find(|kv| kv.key() == key).and_then(|kv| match &kv.value {
            Some(Value::StringValue(text)) => Some(text.as_str()),
            _ => None,
        })
    }

    /// The integer value of `key` in `ext` (BOOL, INT, UINT, LLINT), if present.
    pub fn get_int(ext: &[KeyValue], key: &str) -> Option<i64> {
        ext.iter().find(|kv| kv.key() == key).and_then(|kv| match kv.value {
            Some(Value::VarintValue(value)) => Some(value),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use qun_proto::msync::{CommSyncUl, decode_msync, token_from_auth};

    use super::*;

    fn login() -> LoginFrame {
        LoginFrame {
            app_key: "org1#app1".into(),
            user: "alice".into(),
            token: "YWMtTOKEN".into(),
            device_uuid: "web_1700000000000".into(),
            device_name: "webim".into(),
            resource: "webim_web_1700000000000".into(),
            version: "1.4.0".into(),
            session_id: "1700000000000:".into(),
        }
    }

    /// The top-level field numbers of a serialized message, in wire order.
    fn field_numbers(mut buf: &[u8]) -> Vec<u64> {
        fn varint(buf: &mut &[u8]) -> u64 {
            let mut value = 0;
            for shift in (0..64).step_by(7) {
                let byte = buf[0];
                *buf = &buf[1..];
                value |= u64::from(byte & 0x7f) << shift;
                if byte < 0x80 {
                    break;
                }
            }
            value
        }
        let mut numbers = Vec::new();
        while !buf.is_empty() {
            let key = varint(&mut buf);
            match key & 7 {
                0 => {
                    varint(&mut buf);
                }
                2 => {
                    let len = varint(&mut buf) as usize;
                    buf = &buf[len..];
                }
                other => panic!("unexpected wire type {other}"),
            }
            numbers.push(key >> 3);
        }
        numbers
    }

    #[test]
    fn provision_decodes_back_with_the_sdk_fields() {
        let bytes = provision(&login());
        let frame = decode_msync(bytes.clone()).unwrap();
        assert_eq!(frame.known_command(), Some(Command::Provision));
        assert_eq!(frame.version, Some(0), "version 0 is written");
        assert_eq!(token_from_auth(frame.auth()), Some("YWMtTOKEN"));
        let guid = frame.guid.as_ref().unwrap();
        assert_eq!(
            (guid.app_key(), guid.name(), guid.domain(), guid.client_resource()),
            ("org1#app1", "alice", "easemob.com", "webim_web_1700000000000")
        );
        assert_eq!((frame.device_id, frame.encrypt_type.as_slice()), (Some(0), &[0][..]));
        // Envelope fields in the SDK's order, encryptType (11) unpacked at the end.
        assert_eq!(field_numbers(&bytes), [1, 2, 3, 8, 9, 10, 11]);
        assert!(bytes.ends_with(&[0x50, 0x00, 0x58, 0x00]));

        let body: Provision = frame.decode_payload().unwrap();
        assert_eq!(body.os_type, Some(16), "OS_OTHER");
        assert_eq!(body.version(), "1.4.0");
        assert_eq!((body.compress_type.as_slice(), body.encrypt_type.as_slice()), (&[0][..], &[0][..]));
        assert_eq!(body.device_uuid(), "web_1700000000000");
        assert_eq!(body.device_name(), "webim");
        assert_eq!(body.resource(), "webim_web_1700000000000");
        assert_eq!(body.action_version(), "v5.1");
        assert_eq!(body.auth_token(), r#"{"token":"$t$YWMtTOKEN"}"#);
        assert_eq!(body.session_id(), "1700000000000:");
        assert_eq!(body.status, None);
        // compressType (5) and encryptType (6) unpacked: one key each, wire type 0.
        let payload = frame.payload.as_ref().unwrap();
        assert!(payload.windows(4).any(|w| w == [0x28, 0x00, 0x30, 0x00]), "{payload:02x?}");
    }

    #[test]
    fn provision_sets_the_sdks_fields_and_no_others() {
        let frame = decode_msync(provision(&login())).unwrap();
        let body: Provision = frame.decode_payload().unwrap();
        let expected_body = Provision {
            os_type: Some(16),
            version: Some("1.4.0".into()),
            compress_type: vec![0],
            encrypt_type: vec![0],
            device_uuid: Some("web_1700000000000".into()),
            device_name: Some("webim".into()),
            resource: Some("webim_web_1700000000000".into()),
            action_version: Some("v5.1".into()),
            auth_token: Some(r#"{"token":"$t$YWMtTOKEN"}"#.into()),
            session_id: Some("1700000000000:".into()),
            ..Default::default()
        };
        assert_eq!(body, expected_body);
        let expected_envelope = MSync {
            version: Some(0),
            guid: Some(Jid::user_resource("org1#app1", "alice", "webim_web_1700000000000")),
            auth: Some("$t$YWMtTOKEN".into()),
            command: Some(3),
            payload: frame.payload.clone(),
            device_id: Some(0),
            encrypt_type: vec![0],
            ..Default::default()
        };
        assert_eq!(frame, expected_envelope);
    }

    #[test]
    fn unread_is_the_sdks_six_bytes() {
        let frame = decode_msync(unread()).unwrap();
        assert_eq!(frame.known_command(), Some(Command::Unread));
        assert_eq!(frame.payload, None);
        let rebuilt = MSync {
            version: Some(0),
            command: Some(Command::Unread as i32),
            encrypt_type: vec![0],
            ..Default::default()
        };
        assert_eq!(unread(), rebuilt.encode_to_vec(), "same layout as the other uplink frames");
    }

    #[test]
    fn pull_and_ack_by_key() {
        let queue = Jid::group("org1#app1", "42");
        let first: CommSyncUl = decode_msync(pull(&queue, None)).unwrap().decode_payload().unwrap();
        assert_eq!((first.queue.as_ref(), first.key, first.meta), (Some(&queue), None, None));
        let frame = decode_msync(pull(&queue, Some(1_234))).unwrap();
        assert_eq!(frame.known_command(), Some(Command::Sync));
        assert_eq!(frame.command, Some(0), "SYNC is written");
        let ack: CommSyncUl = frame.decode_payload().unwrap();
        assert_eq!((ack.queue, ack.key), (Some(queue), Some(1_234)));
    }

    #[test]
    fn group_text_meta_is_what_the_sdk_sends() {
        let target = Target::Group("42".into());
        let body = text_body("alice", &target, "hi", vec![ext::string("k1", "v1"), ext::int("n", 7)]);
        let meta = message_meta("org1#app1", "alice", 530_696_359_459, &target, body);
        let frame = decode_msync(send_meta(meta)).unwrap();
        let sync: CommSyncUl = frame.decode_payload().unwrap();
        let meta = sync.meta.unwrap();
        assert_eq!(meta.id, Some(530_696_359_459));
        assert_eq!(meta.ns(), pb::meta::NameSpace::Chat);
        let to = meta.to.as_ref().unwrap();
        assert_eq!((to.name(), to.domain(), to.app_key()), ("42", "conference.easemob.com", "org1#app1"));
        let body: MessageBody = meta.decode_payload().unwrap();
        assert_eq!(body.r#type(), pb::message_body::Type::Groupchat);
        assert_eq!((body.from.unwrap().name(), body.to.unwrap().name()), ("alice", "42"));
        assert_eq!(body.contents.len(), 1);
        assert_eq!((body.contents[0].r#type(), body.contents[0].text()), (pb::message_body::content::Type::Text, "hi"));
        assert_eq!(ext::get_str(&body.ext, "k1"), Some("v1"));
        assert_eq!(ext::get_int(&body.ext, "n"), Some(7));
        assert_eq!(ext::get_str(&body.ext, "n"), None);

        let chat = message_meta("org1#app1", "alice", 1, &Target::User("bob".into()), MessageBody::default());
        let body: MessageBody = chat.decode_payload().unwrap();
        assert_eq!(body.r#type(), pb::message_body::Type::Chat);
        assert_eq!(chat.to.unwrap().domain(), "easemob.com");
    }

    #[test]
    fn logout_carries_the_session() {
        let frame = decode_msync(logout(&login())).unwrap();
        assert_eq!(frame.known_command(), Some(Command::Logout));
        assert_eq!(frame.guid.as_ref().unwrap().name(), "alice");
        let body: Logout = frame.decode_payload().unwrap();
        assert_eq!((body.session_id(), body.reason()), ("1700000000000:", "inner:logout"));
    }

    #[test]
    fn meta_ids_count_from_2010_and_never_repeat() {
        let ids: Vec<u64> = (0..10_000).map(|_| next_meta_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
        // Around 16 years after 2010-02-01, in ms, like the SDK's 530696359459.
        let since_2010 = now_ms() - SDK_ID_EPOCH_MS;
        assert!(ids[0] <= since_2010 + 10_000 && ids[0] + 60_000 > since_2010, "{} vs {since_2010}", ids[0]);
    }
}
