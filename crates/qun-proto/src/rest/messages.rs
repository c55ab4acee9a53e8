//! Message REST shapes (agora-chat-api.md §4) and the SDK's history call.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
