//! Group settings and the roles a user can hold in a group.

use serde::{Deserialize, Serialize};

use crate::limits;

/// A member's role. Stored as a small integer (see [`MemberRole::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MemberRole {
    Owner,
    Admin,
    Member,
}

impl MemberRole {
    pub fn code(self) -> i16 {
        match self {
            MemberRole::Owner => 0,
            MemberRole::Admin => 1,
            MemberRole::Member => 2,
        }
    }

    pub fn from_code(code: i16) -> MemberRole {
        match code {
            0 => MemberRole::Owner,
            1 => MemberRole::Admin,
            _ => MemberRole::Member,
        }
    }

    /// Agora's `permission` string in joined-group listings.
    pub fn permission(self) -> &'static str {
        match self {
            MemberRole::Owner => "owner",
            MemberRole::Admin => "admin",
            MemberRole::Member => "member",
        }
    }
}

/// Where a user stands with respect to one group: what the permission rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Standing {
    Owner,
    Admin,
    Member,
    /// Not a member and not on the blocklist.
    Outsider,
    /// On the group's blocklist (and therefore not a member).
    Blocklisted,
}

impl Standing {
    pub fn of_role(role: MemberRole) -> Standing {
        match role {
            MemberRole::Owner => Standing::Owner,
            MemberRole::Admin => Standing::Admin,
            MemberRole::Member => Standing::Member,
        }
    }

    pub fn is_member(self) -> bool {
        matches!(self, Standing::Owner | Standing::Admin | Standing::Member)
    }

    /// Owner or admin.
    pub fn is_manager(self) -> bool {
        matches!(self, Standing::Owner | Standing::Admin)
    }
}

/// The switches of a group that the permission rules depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupFlags {
    /// Listed publicly and open to applications.
    pub public: bool,
    /// Applications need owner/admin approval (Agora's `membersonly`).
    pub approval_required: bool,
    /// Plain members may invite (Agora's `allowinvites`).
    pub allow_invites: bool,
    /// Invitees must accept before they join (Agora's `invite_need_confirm`).
    pub invite_need_confirm: bool,
    /// Only owner, admins and allowlisted members may send.
    pub mute_all: bool,
    /// Banned by the app administrator: no sends, no management by users.
    pub disabled: bool,
}

/// Everything a group is configured with, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSettings {
    pub name: String,
    pub description: String,
    pub avatar: String,
    pub public: bool,
    pub approval_required: bool,
    pub allow_invites: bool,
    pub invite_need_confirm: bool,
    pub max_users: u32,
    pub custom: String,
}

/// A setting that breaks a limit; the message names the field as Agora's JSON does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("groupname must be provided")]
    NameMissing,
    #[error("groupname is longer than 128 characters")]
    NameTooLong,
    #[error("description is longer than 512 characters")]
    DescriptionTooLong,
    #[error("avatar length is too big")]
    AvatarTooLong,
    #[error("custom is longer than 8192 bytes")]
    CustomTooLong,
    #[error("maxusers must be between 3 and {limit}")]
    MaxUsersOutOfRange { limit: u32 },
    #[error("members size is greater than max user size")]
    TooManyMembers,
    #[error("announcement is longer than 512 characters")]
    AnnouncementTooLong,
}

/// `maxusers` of a group created without one: Agora's 200, or less if the plan allows less
/// (the free plan's cap is 100).
pub fn default_group_max_users(plan_limit: u32) -> u32 {
    limits::DEFAULT_MAXUSERS.min(plan_limit)
}

impl GroupSettings {
    /// Checks every limit; `plan_limit` is the app's largest allowed `maxusers`.
    pub fn validate(&self, plan_limit: u32) -> Result<(), SettingsError> {
        if self.name.trim().is_empty() {
            return Err(SettingsError::NameMissing);
        }
        if limits::chars(&self.name) > limits::GROUP_NAME_MAX_CHARS {
            return Err(SettingsError::NameTooLong);
        }
        if limits::chars(&self.description) > limits::GROUP_DESCRIPTION_MAX_CHARS {
            return Err(SettingsError::DescriptionTooLong);
        }
        if limits::chars(&self.avatar) > limits::AVATAR_MAX_CHARS {
            return Err(SettingsError::AvatarTooLong);
        }
        if self.custom.len() > limits::GROUP_CUSTOM_MAX_BYTES {
            return Err(SettingsError::CustomTooLong);
        }
        if self.max_users < 3 || self.max_users > plan_limit {
            return Err(SettingsError::MaxUsersOutOfRange { limit: plan_limit });
        }
        Ok(())
    }

    pub fn flags(&self, mute_all: bool, disabled: bool) -> GroupFlags {
        GroupFlags {
            public: self.public,
            approval_required: self.approval_required,
            allow_invites: self.allow_invites,
            invite_need_confirm: self.invite_need_confirm,
            mute_all,
            disabled,
        }
    }
}

/// Checks an announcement against its limit.
pub fn validate_announcement(text: &str) -> Result<(), SettingsError> {
    if limits::chars(text) > limits::ANNOUNCEMENT_MAX_CHARS {
        return Err(SettingsError::AnnouncementTooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_size_never_exceeds_the_plan() {
        assert_eq!(default_group_max_users(crate::Plan::Enterprise.group_member_limit()), 200);
        assert_eq!(default_group_max_users(crate::Plan::Free.group_member_limit()), 100);
    }

    fn settings() -> GroupSettings {
        GroupSettings {
            name: "g".into(),
            description: String::new(),
            avatar: String::new(),
            public: true,
            approval_required: false,
            allow_invites: false,
            invite_need_confirm: true,
            max_users: 200,
            custom: String::new(),
        }
    }

    #[test]
    fn custom_is_limited_in_bytes() {
        let mut s = settings();
        s.custom = "x".repeat(8192);
        assert_eq!(s.validate(5000), Ok(()));
        s.custom = "x".repeat(8193);
        assert_eq!(s.validate(5000), Err(SettingsError::CustomTooLong));
        // Four bytes per character: 2,048 characters are exactly 8 KB.
        s.custom = "😀".repeat(2048);
        assert_eq!(s.validate(5000), Ok(()));
        s.custom.push('x');
        assert_eq!(s.validate(5000), Err(SettingsError::CustomTooLong));
    }

    #[test]
    fn text_limits_count_characters() {
        let mut s = settings();
        s.name = "群".repeat(128);
        assert_eq!(s.validate(5000), Ok(()));
        s.name.push('群');
        assert_eq!(s.validate(5000), Err(SettingsError::NameTooLong));
        s = settings();
        s.description = "d".repeat(513);
        assert_eq!(s.validate(5000), Err(SettingsError::DescriptionTooLong));
        assert!(validate_announcement(&"a".repeat(512)).is_ok());
        assert!(validate_announcement(&"a".repeat(513)).is_err());
    }

    #[test]
    fn maxusers_is_capped_by_the_plan() {
        let mut s = settings();
        s.max_users = 5000;
        assert_eq!(s.validate(5000), Ok(()));
        assert_eq!(s.validate(1000), Err(SettingsError::MaxUsersOutOfRange { limit: 1000 }));
        s.max_users = 2;
        assert!(s.validate(5000).is_err());
    }
}
