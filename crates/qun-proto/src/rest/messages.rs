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
