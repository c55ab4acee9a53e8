//! Chat room REST shapes (agora-chat-api.md §3 and the SDK's calls in sdk-behaviour.md §3).
//!
//! Shapes rooms share with groups (affiliations, admins, announcement, mutes, user batches and
//! their per-user outcomes) are in [`super::venue`]; this module holds what is the rooms' own.
//! Requests keep every field optional so the handler can answer a missing one with Agora's own
//! message.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::venue::{Affiliation, SharedDetails};

/// `POST /chatrooms/super_admin`.
#[derive(Debug, Default, Deserialize)]
pub struct SuperAdminBody {
    pub superadmin: Option<String>,
}

/// `POST /chatrooms/super_admin` → `{result: "success", resource: ""}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SuperAdminAdded {
    pub result: String,
    pub resource: String,
}

/// `DELETE /chatrooms/super_admin/{u}` → `{newSuperAdmin: u, resource: ""}` (Agora's name).
#[derive(Debug, Serialize, Deserialize)]
pub struct SuperAdminRemoved {
    #[serde(rename = "newSuperAdmin")]
    pub new_super_admin: String,
    pub resource: String,
}

/// `POST /chatrooms`: `name` and `description` are required, `owner` with an app token.
#[derive(Debug, Default, Deserialize)]
pub struct CreateRoom {
    #[serde(alias = "groupname")]
    pub name: Option<String>,
    #[serde(alias = "desc")]
    pub description: Option<String>,
    pub maxusers: Option<i64>,
    pub owner: Option<String>,
    pub members: Option<Vec<String>>,
    pub custom: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RoomCreated {
    pub id: String,
}

/// `GET /chatrooms`: one room.
#[derive(Debug, Serialize, Deserialize)]
pub struct RoomSummary {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub affiliations_count: u32,
    /// Rooms cannot be disabled; always false, as Agora's list shows the field.
    pub disabled: bool,
}

/// `GET /users/{u}/joined_chatrooms`: one room; with `detail=true` also the details.
#[derive(Debug, Serialize, Deserialize)]
pub struct JoinedRoom {
    pub id: String,
    pub name: String,
    #[serde(flatten, default)]
    pub detail: Option<JoinedRoomDetail>,
}

/// What `detail=true` adds to a joined room.
#[derive(Debug, Serialize, Deserialize)]
pub struct JoinedRoomDetail {
    pub description: String,
    pub owner: String,
    pub maxusers: u32,
    pub created: i64,
    pub affiliations_count: u32,
    pub mute: bool,
}

/// `GET /chatrooms/{ids}`: one room. `public` is a group setting rooms do not have; Agora
/// shows it (reserved) with a fixed value.
#[derive(Debug, Serialize, Deserialize)]
pub struct RoomDetails {
    pub id: String,
    pub name: String,
    #[serde(flatten)]
    pub shared: SharedDetails,
    pub affiliations: Vec<Affiliation>,
    pub public: bool,
}

/// `PUT /chatrooms/{id}`: only these three; the SDK's `modifyChatRoom` names the name
/// `groupname`.
#[derive(Debug, Default, Deserialize)]
pub struct ModifyRoom {
    #[serde(alias = "groupname")]
    pub name: Option<String>,
    pub description: Option<String>,
    pub maxusers: Option<i64>,
}

impl ModifyRoom {
    /// The JSON names this request accepts; anything else is refused.
    pub const FIELDS: &'static [&'static str] = &["name", "groupname", "description", "maxusers"];
}

/// The reply to a modification: `true` for each field changed (the others left out), under
/// Agora's names (the name is `groupname` here too).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RoomModified {
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub groupname: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub description: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub maxusers: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RoomDestroyed {
    pub success: bool,
    pub id: String,
}

/// Per-user outcome of adding or removing members: `{result, action, id, user, reason?}`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoomMemberResult {
    pub result: bool,
    pub action: String,
    pub id: String,
    pub user: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

/// `POST /chatrooms/{id}/users {usernames}`: who was added.
#[derive(Debug, Serialize, Deserialize)]
pub struct RoomMembersAdded {
    pub newmembers: Vec<String>,
    pub action: String,
    pub id: String,
}

/// `PUT /metadata/chatroom/{id}/user/{u}[/forced]`.
#[derive(Debug, Default, Deserialize)]
pub struct SetRoomAttributes {
    #[serde(rename = "metaData", alias = "metadata")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// `"DELETE"` (the default: removed when the setter leaves) or `"NO_DELETE"`.
    #[serde(rename = "autoDelete")]
    pub auto_delete: Option<String>,
}

/// `POST /metadata/chatroom/{id}` (read) and `DELETE /metadata/chatroom/{id}/user/{u}` (remove).
#[derive(Debug, Default, Deserialize)]
pub struct RoomAttributeKeys {
    pub keys: Option<Vec<String>>,
}

/// The outcome of setting or removing attributes, key by key.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoomAttributesResult {
    #[serde(rename = "successKeys")]
    pub success_keys: Vec<String>,
    #[serde(rename = "errorKeys")]
    pub error_keys: BTreeMap<String, String>,
}

// ------------------------------------------------------------------------ delivery settings
// Qun's own calls (Agora sets these in its console): how a room delivers.

/// `PUT /chatrooms/{id}/delivery`: the room's overrides of its app's defaults; a field left out
/// takes the app's value. `GET` answers [`RoomDeliveryState`].
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct RoomDeliveryBody {
    /// `false` switches the room's recent-message history off.
    pub history_enabled: Option<bool>,
    /// Recent messages kept for joiners, 0 to 200.
    pub history_size: Option<u32>,
    /// Messages per second the room delivers before it drops normal and low priority ones.
    pub rate_limit: Option<u32>,
}

/// A room's delivery: its overrides and what it runs with.
#[derive(Debug, Serialize, Deserialize)]
pub struct RoomDeliveryState {
    pub id: String,
    pub overrides: RoomDeliveryBody,
    /// Recent messages the room keeps for joiners now (0: history off).
    pub history_size: u32,
    pub rate_limit: u32,
}

/// `PUT /chatrooms/delivery` (app token): the app's defaults; a field left out keeps its value.
/// `GET` answers [`RoomDeliveryDefaultsState`].
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct RoomDeliveryDefaultsBody {
    pub history_enabled: Option<bool>,
    pub history_size: Option<u32>,
    pub rate_limit: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RoomDeliveryDefaultsState {
    pub history_enabled: bool,
    pub history_size: u32,
    pub rate_limit: u32,
}
