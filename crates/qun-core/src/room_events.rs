//! Chat room events: what happened in a room, and who must hear of it.
//!
//! Each operation has its msync `MUCBody.Operation` number (the SDK turns it into an
//! `onChatroomEvent` operation string when `isChatroom` is set) and one [`RoomAudienceRule`]
//! from Agora's chat room receiver table (agora-chat-api.md §5).
//!
//! Rooms have no offline store, so room events are never stored: a change returns them, with
//! their receivers resolved, and the realtime layer delivers them to whoever is online.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{RoomId, UserName};

/// A room event's kind. The discriminant is msync's `MUCBody.Operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(i32)]
pub enum RoomOperation {
    Destroy = 1,
    /// Removed (kicked, or blocked) from the room; the SDK calls it `removeMember`.
    Kick = 10,
    /// Removed from the blocklist; the SDK calls it `unblockMember`.
    Allow = 13,
    Update = 14,
    Presence = 17,
    Absence = 18,
    AddAdmin = 21,
    RemoveAdmin = 22,
    AddMute = 23,
    RemoveMute = 24,
    UpdateAnnouncement = 25,
    DeleteAnnouncement = 26,
    AddUserWhiteList = 29,
    RemoveUserWhiteList = 30,
    /// Mute-all on; the SDK calls it `muteAllMembers`.
    BanGroup = 31,
    RemoveBanGroup = 32,
    /// Custom attributes set; the SDK calls it `updateChatRoomAttributes`.
    SetMetadata = 43,
    DeleteMetadata = 44,
}

impl RoomOperation {
    /// Every operation Qun emits for rooms.
    pub const ALL: [RoomOperation; 18] = [
        RoomOperation::Destroy,
        RoomOperation::Kick,
        RoomOperation::Allow,
        RoomOperation::Update,
        RoomOperation::Presence,
        RoomOperation::Absence,
        RoomOperation::AddAdmin,
        RoomOperation::RemoveAdmin,
        RoomOperation::AddMute,
        RoomOperation::RemoveMute,
        RoomOperation::UpdateAnnouncement,
        RoomOperation::DeleteAnnouncement,
        RoomOperation::AddUserWhiteList,
        RoomOperation::RemoveUserWhiteList,
        RoomOperation::BanGroup,
        RoomOperation::RemoveBanGroup,
        RoomOperation::SetMetadata,
        RoomOperation::DeleteMetadata,
    ];

    /// The msync `MUCBody.Operation` value.
    pub fn msync_code(self) -> i32 {
        self as i32
    }

    /// The room operation with msync number `code`, if Qun emits it for rooms.
    pub fn from_msync_code(code: i32) -> Option<RoomOperation> {
        RoomOperation::ALL.into_iter().find(|op| op.msync_code() == code)
    }

    /// The `operation` the official SDK reports in `onChatroomEvent`.
    pub fn sdk_name(self) -> &'static str {
        use RoomOperation::*;
        match self {
            Destroy => "destroy",
            Kick => "removeMember",
            Allow => "unblockMember",
            Update => "updateInfo",
            Presence => "memberPresence",
            Absence => "memberAbsence",
            AddAdmin => "setAdmin",
            RemoveAdmin => "removeAdmin",
            AddMute => "muteMember",
            RemoveMute => "unmuteMember",
            UpdateAnnouncement => "updateAnnouncement",
            DeleteAnnouncement => "deleteAnnouncement",
            AddUserWhiteList => "addUserToAllowlist",
            RemoveUserWhiteList => "removeAllowlistMember",
            BanGroup => "muteAllMembers",
            RemoveBanGroup => "unmuteAllMembers",
            SetMetadata => "updateChatRoomAttributes",
            DeleteMetadata => "removeChatRoomAttributes",
        }
    }

    /// Who receives this event (agora-chat-api.md §5, `onChatroomEvent` table).
    pub fn audience_rule(self) -> RoomAudienceRule {
        use RoomAudienceRule::*;
        use RoomOperation::*;
        match self {
            Presence | Absence => MembersExceptSubject,
            Destroy | Update | UpdateAnnouncement | DeleteAnnouncement | SetMetadata | DeleteMetadata => Members,
            Kick | Allow | AddUserWhiteList | RemoveUserWhiteList | AddMute | RemoveMute | AddAdmin | RemoveAdmin => {
                Subjects
            }
            BanGroup | RemoveBanGroup => MembersExceptActor,
        }
    }
}

/// Who receives a room event, as a rule; the service resolves it into a [`RoomAudience`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomAudienceRule {
    /// Everyone in the room.
    Members,
    /// Everyone in the room but the actor.
    MembersExceptActor,
    /// Everyone in the room but the event's subject (who joined or left).
    MembersExceptSubject,
    /// The users the event is about (`to`), in the room or not.
    Subjects,
}

/// The resolved receivers of one room event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomAudience {
    /// Everyone in the room when it is delivered (but `except`): the realtime layer knows who
    /// is there, so a 20,000-member room is not listed per event.
    Members { except: Option<UserName> },
    /// These users.
    Users(Vec<UserName>),
}

/// One room event, as the realtime layer will turn it into an msync MUC meta
/// (`isChatroom: true`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomEvent {
    pub operation: RoomOperation,
    pub room_id: RoomId,
    pub room_name: String,
    /// The operator (or, for presence and absence, the member concerned): MUCBody.from.
    pub from: String,
    /// Affected users: MUCBody.to; the SDK's `userId` is the first.
    pub to: Vec<UserName>,
    /// Free text: the announcement, or a mute's duration in ms.
    pub reason: String,
    /// Custom attributes set (key → value) or removed (key → ""), for the metadata events.
    pub attributes: BTreeMap<String, String>,
    /// What a joiner wrote in its join (`MUCBody.ext`), passed on in memberPresence; empty
    /// otherwise.
    #[serde(default)]
    pub ext: String,
    /// Members in the room after the change.
    pub member_count: u32,
    /// Server time of the event, ms since the Unix epoch.
    pub timestamp_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_have_the_schema_numbers_and_the_sdk_names() {
        for (op, code, name) in [
            (RoomOperation::Destroy, 1, "destroy"),
            (RoomOperation::Kick, 10, "removeMember"),
            (RoomOperation::Allow, 13, "unblockMember"),
            (RoomOperation::Presence, 17, "memberPresence"),
            (RoomOperation::AddAdmin, 21, "setAdmin"),
            (RoomOperation::AddUserWhiteList, 29, "addUserToAllowlist"),
            (RoomOperation::BanGroup, 31, "muteAllMembers"),
            (RoomOperation::SetMetadata, 43, "updateChatRoomAttributes"),
            (RoomOperation::DeleteMetadata, 44, "removeChatRoomAttributes"),
        ] {
            assert_eq!((op.msync_code(), op.sdk_name()), (code, name));
        }
        for op in RoomOperation::ALL {
            assert_eq!(RoomOperation::from_msync_code(op.msync_code()), Some(op));
        }
        // Group-only operations are not room events.
        for code in [0, 4, 7, 19, 20, 27, 41, 45] {
            assert_eq!(RoomOperation::from_msync_code(code), None, "{code}");
        }
    }

    #[test]
    fn receivers_follow_the_chatroom_table() {
        use RoomAudienceRule::*;
        let rule = |op: RoomOperation| op.audience_rule();
        assert_eq!(rule(RoomOperation::Presence), MembersExceptSubject);
        assert_eq!(rule(RoomOperation::Absence), MembersExceptSubject);
        assert_eq!(rule(RoomOperation::Destroy), Members);
        assert_eq!(rule(RoomOperation::SetMetadata), Members);
        assert_eq!(rule(RoomOperation::BanGroup), MembersExceptActor);
        // Unlike groups, admin, mute and allowlist changes go to the target alone.
        for op in [RoomOperation::AddAdmin, RoomOperation::AddMute, RoomOperation::AddUserWhiteList] {
            assert_eq!(rule(op), Subjects, "{op:?}");
        }
    }
}
