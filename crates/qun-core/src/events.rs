//! Group events: what happened, and who must hear of it.
//!
//! Each operation has its msync `MUCBody.Operation` number (which the SDK turns into an
//! `onGroupEvent` operation string) and one [`AudienceRule`] taken from Agora's receiver
//! table (agora-chat-api.md §5). The services resolve the rule into an [`Audience`] and store
//! the event once for the whole group or once per named recipient.

use serde::{Deserialize, Serialize};

use crate::{GroupId, UserName};

/// A group event's kind. The discriminant is msync's `MUCBody.Operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(i32)]
pub enum GroupOperation {
    Create = 0,
    Destroy = 1,
    Apply = 4,
    ApplyAccept = 5,
    ApplyDecline = 6,
    Invite = 7,
    InviteAccept = 8,
    InviteDecline = 9,
    Kick = 10,
    /// Removed from the blocklist; the SDK calls it `unblockMember`.
    Allow = 13,
    Update = 14,
    Presence = 17,
    Absence = 18,
    DirectJoined = 19,
    AssignOwner = 20,
    AddAdmin = 21,
    RemoveAdmin = 22,
    AddMute = 23,
    RemoveMute = 24,
    UpdateAnnouncement = 25,
    DeleteAnnouncement = 26,
    UploadFile = 27,
    DeleteFile = 28,
    AddUserWhiteList = 29,
    RemoveUserWhiteList = 30,
    BanGroup = 31,
    RemoveBanGroup = 32,
    DisableGroup = 41,
    AbleGroup = 42,
    MemberMetadataUpdate = 45,
}

impl GroupOperation {
    /// The msync `MUCBody.Operation` value.
    pub fn msync_code(self) -> i32 {
        self as i32
    }

    /// The operation with msync number `code`, if it is a group operation Qun knows (clients
    /// use it to name what they received).
    pub fn from_msync_code(code: i32) -> Option<GroupOperation> {
        use GroupOperation::*;
        Some(match code {
            0 => Create,
            1 => Destroy,
            4 => Apply,
            5 => ApplyAccept,
            6 => ApplyDecline,
            7 => Invite,
            8 => InviteAccept,
            9 => InviteDecline,
            10 => Kick,
            13 => Allow,
            14 => Update,
            17 => Presence,
            18 => Absence,
            19 => DirectJoined,
            20 => AssignOwner,
            21 => AddAdmin,
            22 => RemoveAdmin,
            23 => AddMute,
            24 => RemoveMute,
            25 => UpdateAnnouncement,
            26 => DeleteAnnouncement,
            27 => UploadFile,
            28 => DeleteFile,
            29 => AddUserWhiteList,
            30 => RemoveUserWhiteList,
            31 => BanGroup,
            32 => RemoveBanGroup,
            41 => DisableGroup,
            42 => AbleGroup,
            45 => MemberMetadataUpdate,
            _ => return None,
        })
    }

    /// The `operation` the official SDK reports in `onGroupEvent`.
    pub fn sdk_name(self) -> &'static str {
        use GroupOperation::*;
        match self {
            Create => "create",
            Destroy => "destroy",
            Apply => "requestToJoin",
            ApplyAccept => "acceptRequest",
            ApplyDecline => "joinPublicGroupDeclined",
            Invite => "inviteToJoin",
            InviteAccept => "acceptInvite",
            InviteDecline => "rejectInvite",
            Kick => "removeMember",
            Allow => "unblockMember",
            Update => "updateInfo",
            Presence => "memberPresence",
            Absence => "memberAbsence",
            DirectJoined => "directJoined",
            AssignOwner => "changeOwner",
            AddAdmin => "setAdmin",
            RemoveAdmin => "removeAdmin",
            AddMute => "muteMember",
            RemoveMute => "unmuteMember",
            UpdateAnnouncement => "updateAnnouncement",
            DeleteAnnouncement => "deleteAnnouncement",
            UploadFile => "uploadFile",
            DeleteFile => "deleteFile",
            AddUserWhiteList => "addUserToAllowlist",
            RemoveUserWhiteList => "removeAllowlistMember",
            BanGroup => "muteAllMembers",
            RemoveBanGroup => "unmuteAllMembers",
            DisableGroup => "disableGroup",
            AbleGroup => "enableGroup",
            MemberMetadataUpdate => "memberAttributesUpdate",
        }
    }

    /// Who receives this event (agora-chat-api.md §5, receiver table).
    pub fn audience_rule(self) -> AudienceRule {
        use AudienceRule::*;
        use GroupOperation::*;
        match self {
            Create => Actor,
            Destroy => EveryMemberIndividually,
            Apply => OwnerAndAdmins,
            ApplyAccept | ApplyDecline | Invite | DirectJoined | Kick | Allow => Subjects,
            InviteAccept | InviteDecline => Inviter,
            Presence | Absence | MemberMetadataUpdate => MembersExceptSubject,
            Update | UpdateAnnouncement | DeleteAnnouncement | UploadFile | DeleteFile => Members,
            AssignOwner => OldAndNewOwner,
            AddAdmin | RemoveAdmin | AddUserWhiteList | RemoveUserWhiteList => OwnerAdminsAndSubjects,
            AddMute | RemoveMute => OwnerAdminsAndSubjectsExceptActor,
            BanGroup | RemoveBanGroup => MembersExceptActor,
            DisableGroup | AbleGroup => Members,
        }
    }
}

/// Who receives an event, as a rule; the service resolves it against the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudienceRule {
    /// The actor's own (other) devices.
    Actor,
    /// Every member, stored once per member because the group is going away.
    EveryMemberIndividually,
    /// Every member, stored once in the group timeline.
    Members,
    /// Every member but the actor, stored once in the group timeline.
    MembersExceptActor,
    /// Every member but the event's subject (the one who joined, left or changed attributes).
    MembersExceptSubject,
    OwnerAndAdmins,
    /// The users the event is about (`to`).
    Subjects,
    /// The user who sent the invitation being answered.
    Inviter,
    OldAndNewOwner,
    OwnerAdminsAndSubjects,
    OwnerAdminsAndSubjectsExceptActor,
}

/// Resolved receivers of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Audience {
    /// Every current member of the group (but `except`), stored once in the group timeline.
    Group { except: Option<UserName> },
    /// These users, stored once per user.
    Users(Vec<UserName>),
}

/// One group event as stored and later turned into an msync MUC meta.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupEvent {
    pub operation: GroupOperation,
    pub group_id: GroupId,
    pub group_name: String,
    /// The operator (or, for presence/absence/requests, the member concerned): MUCBody.from.
    pub from: String,
    /// Affected users: MUCBody.to; the SDK's `userId` is the first.
    pub to: Vec<UserName>,
    /// Free text: announcement, request or invitation message, file JSON, attributes JSON.
    pub reason: String,
    pub member_count: u32,
    /// Server time of the event, ms since the Unix epoch.
    pub timestamp_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_codes_match_the_msync_schema() {
        for (op, code, name) in [
            (GroupOperation::Destroy, 1, "destroy"),
            (GroupOperation::Apply, 4, "requestToJoin"),
            (GroupOperation::Invite, 7, "inviteToJoin"),
            (GroupOperation::Kick, 10, "removeMember"),
            (GroupOperation::Allow, 13, "unblockMember"),
            (GroupOperation::AddAdmin, 21, "setAdmin"),
            (GroupOperation::BanGroup, 31, "muteAllMembers"),
            (GroupOperation::MemberMetadataUpdate, 45, "memberAttributesUpdate"),
        ] {
            assert_eq!((op.msync_code(), op.sdk_name()), (code, name));
        }
    }

    #[test]
    fn every_msync_code_maps_back_to_its_operation() {
        let known: Vec<GroupOperation> = (-1..64).filter_map(GroupOperation::from_msync_code).collect();
        assert_eq!(known.len(), 30, "every variant has its code");
        for op in known {
            assert_eq!(GroupOperation::from_msync_code(op.msync_code()), Some(op));
        }
        // Operations the schema has but Qun never emits (JOIN, BAN, thread events) are not group events here.
        for code in [2, 3, 11, 12, 15, 16, 33, 43, 46] {
            assert_eq!(GroupOperation::from_msync_code(code), None, "{code}");
        }
    }
}
