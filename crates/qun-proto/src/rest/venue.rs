//! Shapes group and chat room calls answer alike (agora-chat-api.md §2 rows 10–29 and §3 rows
//! 7, 10 and 15–22): members, admins, the per-user outcomes of batch calls, mutes,
//! mute-all and the announcement.
//!
//! Where the two venues' replies differ only in the key naming the venue (`groupid` or
//! `chatroomid`), the shape is generic over that key ([`InGroup`], [`InChatroom`]).

use serde::{Deserialize, Serialize};

/// One affiliation: `{"owner": u}` or `{"member": u}` (admins are members here, as in Agora).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Affiliation {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub member: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub joined_time: Option<i64>,
}

/// What a group's and a room's details both show, in Agora's order; each venue's details put
/// their own fields around it. Rooms have no `membersonly`, `allowinvites` or
/// `invite_need_confirm`: Agora shows them with fixed values.
#[derive(Debug, Serialize, Deserialize)]
pub struct SharedDetails {
    pub description: String,
    pub membersonly: bool,
    pub allowinvites: bool,
    pub invite_need_confirm: bool,
    pub maxusers: u32,
    pub owner: String,
    pub created: i64,
    pub custom: String,
    pub mute: bool,
    pub affiliations_count: u32,
}

/// A batch of user names: add members, block, allowlist, invite.
#[derive(Debug, Deserialize)]
pub struct Usernames {
    pub usernames: Option<Vec<String>>,
}

/// The group of a per-user outcome, under the groups' key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InGroup {
    pub groupid: String,
}

/// The room of a per-user outcome of a blocklist or allowlist call, under the key Agora uses
/// there.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InChatroom {
    pub chatroomid: String,
}

/// Per-user outcome of a batch or single call: `{result, action?, user, <venue key>?,
/// reason?, expire?}`. `V` names the venue ([`InGroup`], [`InChatroom`]); mutes leave it out.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberResult<V = InGroup> {
    pub result: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action: Option<String>,
    pub user: String,
    #[serde(flatten)]
    pub venue: Option<V>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expire: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct NewAdmin {
    pub newadmin: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AdminAdded {
    pub result: String,
    pub newadmin: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AdminRemoved {
    pub result: String,
    pub oldadmin: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MuteAllState {
    pub mute: bool,
}

/// `POST /chatgroups/{id}/mute`, `POST /chatrooms/{id}/mute`. `mute_duration` in ms; -1 = for
/// ever.
#[derive(Debug, Deserialize)]
pub struct MuteMembers {
    pub usernames: Option<Vec<String>>,
    pub mute_duration: Option<i64>,
}

/// One entry of the mute list.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MutedMember {
    /// Expiry, ms since epoch; -1 = for ever.
    pub expire: i64,
    pub user: String,
}

#[derive(Debug, Deserialize)]
pub struct AnnouncementBody {
    pub announcement: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Announcement {
    pub announcement: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct IdResult {
    pub id: String,
    pub result: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome<V>(venue: Option<V>, reason: Option<&str>) -> MemberResult<V> {
        MemberResult {
            result: reason.is_none(),
            action: Some("add_blocks".to_owned()),
            user: "ann".to_owned(),
            venue,
            reason: reason.map(str::to_owned),
            expire: None,
        }
    }

    #[test]
    fn a_per_user_outcome_names_its_venue_under_the_venues_key_in_agoras_order() {
        let group = outcome(Some(InGroup { groupid: "7".to_owned() }), Some("no"));
        assert_eq!(
            serde_json::to_string(&group).unwrap(),
            r#"{"result":false,"action":"add_blocks","user":"ann","groupid":"7","reason":"no"}"#
        );
        let room = outcome(Some(InChatroom { chatroomid: "9".to_owned() }), None);
        assert_eq!(
            serde_json::to_string(&room).unwrap(),
            r#"{"result":true,"action":"add_blocks","user":"ann","chatroomid":"9"}"#
        );
        let back: MemberResult<InChatroom> = serde_json::from_str(&serde_json::to_string(&room).unwrap()).unwrap();
        assert_eq!(back, room);
    }

    #[test]
    fn a_mute_outcome_names_no_venue() {
        let muted = MemberResult::<InChatroom> {
            result: true,
            action: None,
            user: "ann".to_owned(),
            venue: None,
            reason: None,
            expire: Some(-1),
        };
        assert_eq!(serde_json::to_string(&muted).unwrap(), r#"{"result":true,"user":"ann","expire":-1}"#);
    }
}
