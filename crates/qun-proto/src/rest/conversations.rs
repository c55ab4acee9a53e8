//! The conversation list calls of the SDK (`getServerConversations`,
//! `getServerPinnedConversations`, `getServerConversationsByFilter`, `pinConversation`,
//! `addConversationMark` / `removeConversationMark`, `deleteConversation`), with the names the
//! SDK reads.

use serde::{Deserialize, Serialize};

/// `session_type` / a target's `type` of a 1:1 conversation.
pub const CHAT: &str = "chat";
/// `session_type` of a group conversation in the list (the SDK reads anything but `chat` as a
/// group).
pub const GROUP_CHAT: &str = "groupChat";

/// `GET /sdk/user/{me}/user_channels/list` and `…/user_channels/mark/search`: `data`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConversationPage {
    pub channel_infos: Vec<ChannelInfo>,
    /// Where the next page starts; empty on the last page.
    pub cursor: String,
}

/// One conversation of the list.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChannelInfo {
    /// The peer's user id or the group id.
    pub session_to: String,
    /// [`CHAT`] or [`GROUP_CHAT`].
    pub session_type: String,
    pub is_top: bool,
    /// When it was pinned (ms); 0 when it is not.
    pub update_top_status_time: i64,
    pub unread_num: u64,
    /// The newest message.
    pub meta: LastMessage,
    /// `mark_0` … `mark_19`.
    pub marks: Vec<String>,
}

/// A conversation's newest message, as the SDK parses it: `payload` is a
/// [`HistoryPayload`](super::messages::HistoryPayload) as JSON text.
#[derive(Debug, Serialize, Deserialize)]
pub struct LastMessage {
    pub id: String,
    pub from: String,
    pub to: String,
    pub timestamp: i64,
    pub payload: String,
}

/// `POST /sdk/user/{me}/user_channel/top` (pin); unpinning is a DELETE with the same fields in
/// the query.
#[derive(Debug, Deserialize)]
pub struct PinRequest {
    /// [`CHAT`] or `groupChat`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub to: Option<String>,
}

/// The pin calls' `data`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PinState {
    pub is_top: bool,
    pub update_top_status_time: i64,
}

/// `POST` / `DELETE /sdk/user/{me}/user_channels/mark`.
#[derive(Debug, Deserialize)]
pub struct MarkRequest {
    /// `mark_0` … `mark_19`.
    pub mark: Option<String>,
    pub targets: Option<Vec<ConversationTarget>>,
}

/// A conversation named in a request: `type` [`CHAT`] or `groupchat`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConversationTarget {
    pub to: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// The mark calls' `data`: the targets left alone (not a conversation of the caller's).
#[derive(Debug, Serialize, Deserialize)]
pub struct MarkResult {
    pub ignore: Vec<ConversationTarget>,
}

/// `DELETE /user/{me}/user_channel` (and `/users/{u}/user_channel`, the REST API's).
#[derive(Debug, Deserialize)]
pub struct DeleteConversation {
    /// The peer's user id or the group id.
    pub channel: Option<String>,
    /// [`CHAT`] or `groupchat` (`groupChat` from the SDK).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Remove the conversation's history (for the caller) too.
    #[serde(default)]
    pub delete_roam: Option<bool>,
}

/// The delete call's `data`: `{"result": "ok"}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeleteResult {
    pub result: String,
}
