//! Group REST shapes (agora-chat-api.md §2 and the SDK's calls in sdk-behaviour.md §3).
//!
//! Requests keep every field optional so the handler can answer a missing one with Agora's
//! own message ("group must contain public field!") instead of a generic parse error.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::venue::{Affiliation, SharedDetails};

/// `POST /chatgroups`. The SDK sends `desc` and `approval`; the REST docs say `description` and
/// `membersonly`; the Java server SDK says `members_only`. All are accepted.
#[derive(Debug, Default, Deserialize)]
pub struct CreateGroup {
    pub groupname: Option<String>,
    #[serde(alias = "desc")]
    pub description: Option<String>,
    pub avatar: Option<String>,
    pub public: Option<bool>,
    pub maxusers: Option<i64>,
    pub allowinvites: Option<bool>,
    #[serde(alias = "approval", alias = "members_only")]
    pub membersonly: Option<bool>,
    pub invite_need_confirm: Option<bool>,
    pub owner: Option<String>,
    pub members: Option<Vec<String>>,
    pub custom: Option<String>,
    /// Sent by some server SDKs; Qun assigns ids itself and ignores it.
    #[serde(default)]
    pub scale: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct GroupCreated {
    pub groupid: String,
}

/// `PUT /chatgroups/{id}`: settings, or `newowner` to transfer ownership. Unknown fields are
/// refused, as Agora does ("some of [x] are not valid fields").
#[derive(Debug, Default, Deserialize)]
pub struct ModifyGroup {
    pub groupname: Option<String>,
    #[serde(alias = "desc")]
    pub description: Option<String>,
    pub avatar: Option<String>,
    pub maxusers: Option<i64>,
    #[serde(alias = "approval", alias = "members_only")]
    pub membersonly: Option<bool>,
    pub allowinvites: Option<bool>,
    pub invite_need_confirm: Option<bool>,
    pub public: Option<bool>,
    pub custom: Option<String>,
    pub newowner: Option<String>,
}

impl ModifyGroup {
    /// The JSON names this request accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "groupname",
        "description",
        "desc",
        "avatar",
        "maxusers",
        "membersonly",
        "approval",
        "members_only",
        "allowinvites",
        "invite_need_confirm",
        "public",
        "custom",
        "newowner",
    ];
}

/// `GET /chatgroups/{ids}`: one group.
#[derive(Debug, Serialize, Deserialize)]
pub struct GroupDetails {
    pub id: String,
    pub name: String,
    pub avatar: String,
    #[serde(flatten)]
    pub shared: SharedDetails,
    pub disabled: bool,
    pub public: bool,
    pub affiliations: Vec<Affiliation>,
    /// The caller's role ("owner", "admin", "member", "none"), when the caller is a user.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub permission: Option<String>,
}

/// `GET /chatgroups` and `GET /publicchatgroups`: one group. Carries both the old names
/// (`groupid`, `groupname`) and the v3 ones (`id`, `name`) so both SDK versions read it.
#[derive(Debug, Serialize, Deserialize)]
pub struct GroupSummary {
    pub owner: String,
    pub groupid: String,
    pub groupname: String,
    pub id: String,
    pub name: String,
    pub affiliations: u32,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "lastModified")]
    pub last_modified: String,
    pub created: i64,
    pub public: bool,
    pub disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub permission: Option<String>,
}

/// `GET /chatgroups/user/{u}`: one joined group.
#[derive(Debug, Serialize, Deserialize)]
pub struct JoinedGroup {
    #[serde(rename = "groupId")]
    pub group_id: String,
    pub groupid: String,
    pub groupname: String,
    pub id: String,
    pub name: String,
    pub avatar: String,
    pub owner: String,
    pub description: String,
    pub disabled: bool,
    pub public: bool,
    pub allowinvites: bool,
    pub membersonly: bool,
    pub maxusers: u32,
    pub created: i64,
    pub permission: String,
    pub affiliations_count: u32,
}

/// `POST /chatgroups/{id}/users`: the added members.
#[derive(Debug, Serialize, Deserialize)]
pub struct MembersAdded {
    pub newmembers: Vec<String>,
    pub groupid: String,
    pub action: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct GroupDissolved {
    pub success: bool,
    pub groupid: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DisabledState {
    pub disabled: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct NewOwnerResult {
    pub newowner: bool,
}

/// `POST /chatgroups/{id}/apply`.
#[derive(Debug, Default, Deserialize)]
pub struct ApplyBody {
    #[serde(default)]
    pub message: Option<String>,
}

/// `POST /chatgroups/{id}/apply_verify`.
#[derive(Debug, Deserialize)]
pub struct ApplyVerify {
    pub applicant: Option<String>,
    #[serde(rename = "verifyResult")]
    pub verify_result: Option<bool>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /chatgroups/{id}/invite_verify`.
#[derive(Debug, Deserialize)]
pub struct InviteVerify {
    pub invitee: Option<String>,
    #[serde(rename = "verifyResult")]
    pub verify_result: Option<bool>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /chatgroups/{id}/invite` (SDK): `{usernames, reason?}`.
#[derive(Debug, Deserialize)]
pub struct InviteBody {
    pub usernames: Option<Vec<String>>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Outcome of a request, invitation or self-service call (apply, quit, shield, verify).
#[derive(Debug, Serialize, Deserialize)]
pub struct ActionResult {
    pub result: bool,
    pub groupid: String,
    pub action: String,
    pub user: String,
}

/// A shared file.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SharedFile {
    pub file_id: String,
    pub file_name: String,
    pub file_owner: String,
    pub file_size: i64,
    pub created: i64,
}

/// The `reason` of an `uploadFile` event, carried as this JSON in a string
/// (agora-chat-api.md §6: `{"data":{file_id, file_name, file_owner, file_size, created}}`).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct UploadedFileReason {
    pub data: SharedFile,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FileUploaded {
    pub file_url: String,
    pub group_id: String,
    pub file_name: String,
    pub created: i64,
    pub file_id: String,
    pub file_size: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FileDeleted {
    pub group_id: String,
    pub file_id: String,
    pub result: bool,
}

/// `PUT /metadata/chatgroup/{g}/user/{u}`.
#[derive(Debug, Deserialize)]
pub struct SetMemberAttributes {
    #[serde(rename = "metaData", alias = "metadata")]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// `POST /metadata/chatgroup/{g}/get`.
#[derive(Debug, Deserialize)]
pub struct GetMemberAttributes {
    pub targets: Option<Vec<String>>,
    #[serde(default)]
    pub properties: Option<Vec<String>>,
}

/// One user of `PUT /metadata/chatgroup/{g}/users/batch`.
#[derive(Debug, Deserialize, Serialize)]
pub struct MemberAttributesOfUser {
    pub username: String,
    #[serde(alias = "metaData")]
    pub metadata: BTreeMap<String, String>,
}

/// The batch attribute reply; the keys end in ':' in Agora's documentation, and so here.
#[derive(Debug, Serialize, Deserialize)]
pub struct MemberAttributesBatchResult {
    #[serde(rename = "updateMetadataFailed:")]
    pub failed: Vec<MemberAttributesOfUser>,
    #[serde(rename = "updateMetadataSucceeded:")]
    pub succeeded: Vec<MemberAttributesOfUser>,
}
