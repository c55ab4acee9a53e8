//! Message REST shapes (agora-chat-api.md §4), the SDK's history call, and Agora's history
//! format of a message.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::msync::pb::message_body::Content;
use crate::msync::pb::message_body::content::Type as ContentType;
use crate::msync::{KeyValue, MessageBody};

/// `POST /messages/chatgroups` and `POST /messages/users`.
#[derive(Debug, Deserialize)]
pub struct SendMessage {
    /// Default "admin".
    #[serde(default)]
    pub from: Option<String>,
    pub to: Option<Vec<String>>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub body: Option<Value>,
    /// Must be an object when present.
    #[serde(default)]
    pub ext: Option<Value>,
    #[serde(default)]
    pub sync_device: Option<bool>,
    #[serde(default)]
    pub routetype: Option<String>,
    #[serde(default)]
    pub need_group_ack: Option<bool>,
    /// Rooms: the messages' priority, `high`, `normal` (the default) or `low`.
    #[serde(default)]
    pub chatroom_msg_level: Option<String>,
}

/// The reply's `data`: target id → message id.
pub type SentMessages = BTreeMap<String, String>;

/// `POST /users/{me}/messageroaming` as the SDK sends it.
#[derive(Debug, Deserialize)]
pub struct RoamingRequest {
    /// `<target>@easemob.com` (1:1) or `<group>@conference.easemob.com`.
    pub queue: Option<String>,
    /// A message id to continue from (exclusive), or -1 (or absent) for the newest.
    #[serde(default)]
    pub start: Option<Value>,
    #[serde(default)]
    pub pull_number: Option<u32>,
    /// `true` reads towards newer messages ("down"); the SDK's default is older ("up").
    #[serde(default)]
    pub is_positive: Option<bool>,
    /// The SDK's `searchOptions.msgTypes`, comma-separated (`"txt,img"`); empty: every type.
    #[serde(default, rename = "msgType")]
    pub msg_type: Option<String>,
    /// `searchOptions.startTime` / `endTime` (ms, both included); null: unbounded.
    #[serde(default, rename = "startTime")]
    pub start_time: Option<i64>,
    #[serde(default, rename = "endTime")]
    pub end_time: Option<i64>,
    /// `searchOptions.from`: only this sender's messages (the SDK sends it for groups only).
    #[serde(default, rename = "userId")]
    pub user_id: Option<String>,
}

/// One history entry: a base64 protobuf `Meta`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RoamingMessage {
    pub msg: String,
}

/// The history reply's `data`, read by the SDK as `{msgs, next_key, is_last}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RoamingPage {
    pub msgs: Vec<RoamingMessage>,
    pub next_key: String,
    pub is_last: bool,
}

/// `POST /messages/msg_recall` (the app administrator's recall).
#[derive(Debug, Deserialize)]
pub struct RecallRequest {
    /// The message's server id, a string (a number is accepted too).
    pub msg_id: Option<Value>,
    /// The conversation: the group's id, or either user of a 1:1 conversation.
    pub to: Option<String>,
    /// `chat`, `groupchat` or `chatroom`.
    pub chat_type: Option<String>,
    /// Who the receivers are told recalled it; default `admin`.
    #[serde(default)]
    pub from: Option<String>,
    /// Accepted and ignored: the app administrator recalls at any time.
    #[serde(default)]
    pub force: Option<bool>,
    /// Accepted and ignored: the sender's other devices always learn of it.
    #[serde(default)]
    pub sync_device: Option<bool>,
}

/// The recall reply's `data` when the message was recalled.
#[derive(Debug, Serialize, Deserialize)]
pub struct Recalled {
    /// Always `yes`.
    pub recalled: String,
    pub chattype: String,
    pub from: String,
    pub to: String,
    pub msg_id: String,
}

/// The recall reply's `data` when it was not: `{"msgs": [{msg_id, recalled: <why>}]}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RecallRefused {
    pub msgs: Vec<RecallRefusal>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RecallRefusal {
    pub msg_id: String,
    /// `not_found msg` (no such message, or recalled already) or `can't find msg to` (the
    /// message is not in the conversation `to` names).
    pub recalled: String,
}

/// `GET/PUT /settings/recall` (Qun's own call): how long after sending a user may recall a
/// message, in seconds (Agora: 120 by default, at most 7 days).
#[derive(Debug, Serialize, Deserialize)]
pub struct RecallSetting {
    pub time_limit_secs: u32,
}

/// The REST removal calls' reply `data` (the SDK reads nothing of it).
pub const REMOVED: &str = "success";

/// The SDK's name of a content type (`searchOptions.msgTypes`, a history record's `type`).
pub fn content_type_name(kind: ContentType) -> &'static str {
    match kind {
        ContentType::Text => "txt",
        ContentType::Image => "img",
        ContentType::Video => "video",
        ContentType::Location => "loc",
        ContentType::Voice => "audio",
        ContentType::File => "file",
        ContentType::Command => "cmd",
        ContentType::Custom => "custom",
        ContentType::Combine => "combine",
    }
}

/// The content type the SDK names so, if it names one.
pub fn content_type_named(name: &str) -> Option<ContentType> {
    use ContentType::*;
    [Text, Image, Video, Location, Voice, File, Command, Custom, Combine]
        .into_iter()
        .find(|kind| content_type_name(*kind) == name)
}

/// A message in Agora's history format (the REST history file, webhooks, and the conversation
/// list's last message): `{bodies: [{type, …}], ext, from, to, type}`. The SDK parses it with
/// the same function for all of them; it reads `ext.file_type` of media, so `ext` is always an
/// object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HistoryPayload {
    pub bodies: Vec<HistoryBody>,
    pub ext: serde_json::Map<String, Value>,
    pub from: String,
    pub to: String,
    /// `chat`, `groupchat` or `chatroom`.
    #[serde(rename = "type")]
    pub chat_type: String,
}

/// One body of a [`HistoryPayload`]: the fields of its type (agora-chat-api.md §4).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HistoryBody {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<HistorySize>,
    /// Seconds of audio or video.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_length: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumb: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumb_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lng: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    #[serde(rename = "buildingName", skip_serializing_if = "Option::is_none")]
    pub building_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(rename = "customEvent", skip_serializing_if = "Option::is_none")]
    pub custom_event: Option<String>,
    /// One `{key: value}` object per entry, as the SDK merges them.
    #[serde(rename = "customExts", skip_serializing_if = "Option::is_none")]
    pub custom_exts: Option<Vec<serde_json::Map<String, Value>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct HistorySize {
    pub width: f64,
    pub height: f64,
}

impl HistoryPayload {
    /// A stored message's body in the history format; `to` is the conversation's target (the
    /// peer or the group id).
    pub fn from_message(body: &MessageBody) -> HistoryPayload {
        use crate::msync::pb::message_body::Type;
        let name = |jid: &Option<crate::msync::Jid>| jid.as_ref().and_then(|j| j.name.clone()).unwrap_or_default();
        HistoryPayload {
            bodies: body.contents.iter().map(HistoryBody::from_content).collect(),
            ext: body.ext.iter().map(|kv| (kv.key().to_owned(), key_value_json(kv))).collect(),
            from: name(&body.from),
            to: name(&body.to),
            chat_type: match body.r#type() {
                Type::Groupchat => "groupchat",
                Type::Chatroom => "chatroom",
                _ => "chat",
            }
            .to_owned(),
        }
    }
}

impl HistoryBody {
    fn from_content(content: &Content) -> HistoryBody {
        let size = |size: &Option<crate::msync::pb::message_body::content::Size>| {
            size.as_ref().map(|s| HistorySize { width: s.width(), height: s.height() })
        };
        let kind = content.r#type();
        let media = matches!(kind, ContentType::Image | ContentType::Video | ContentType::Voice | ContentType::File);
        HistoryBody {
            kind: content_type_name(kind).to_owned(),
            msg: content.text.clone().filter(|_| matches!(kind, ContentType::Text | ContentType::Combine)),
            url: content.remote_path.clone(),
            filename: content.display_name.clone(),
            secret: content.secret_key.clone(),
            size: size(&content.size),
            length: content.duration.filter(|_| media),
            file_length: content.file_length.filter(|_| media),
            thumb: content.thumbnail_remote_path.clone(),
            thumb_secret: content.thumbnail_secret_key.clone(),
            lat: content.latitude,
            lng: content.longitude,
            addr: content.address.clone(),
            building_name: content.building_name.clone(),
            action: content.action.clone(),
            custom_event: content.custom_event.clone(),
            custom_exts: (kind == ContentType::Custom).then(|| {
                content
                    .custom_exts
                    .iter()
                    .map(|kv| std::iter::once((kv.key().to_owned(), key_value_json(kv))).collect())
                    .collect()
            }),
            title: content.title.clone(),
            summary: content.summary.clone(),
        }
    }
}

/// A typed msync `KeyValue` as JSON, the way the SDK reads it back.
fn key_value_json(kv: &KeyValue) -> Value {
    use crate::msync::pb::key_value::{Value as Typed, ValueType};
    match (kv.r#type(), &kv.value) {
        (ValueType::Bool, Some(Typed::VarintValue(v))) => Value::Bool(*v != 0),
        (_, Some(Typed::VarintValue(v))) => Value::from(*v),
        (_, Some(Typed::FloatValue(v))) => Value::from(f64::from(*v)),
        (_, Some(Typed::DoubleValue(v))) => Value::from(*v),
        (ValueType::JsonString, Some(Typed::StringValue(text))) => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
        }
        (_, Some(Typed::StringValue(text))) => Value::String(text.clone()),
        (_, None) => Value::Null,
    }
}
