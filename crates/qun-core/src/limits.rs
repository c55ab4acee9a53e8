//! Limits from Agora's documentation (agora-chat-api.md §7) and the per-app plans.

use serde::{Deserialize, Serialize};

/// Group name, in characters.
pub const GROUP_NAME_MAX_CHARS: usize = 128;
/// Group description, in characters.
pub const GROUP_DESCRIPTION_MAX_CHARS: usize = 512;
/// Group announcement, in characters.
pub const ANNOUNCEMENT_MAX_CHARS: usize = 512;
/// The group ext field (`custom`), in bytes: 8,192 accepted, 8,193 refused.
pub const GROUP_CUSTOM_MAX_BYTES: usize = 8 * 1024;
/// Avatar URL, in characters.
pub const AVATAR_MAX_CHARS: usize = 1024;
/// Admins besides the owner (owner + admins ≤ 100).
pub const ADMINS_MAX: usize = 99;
/// `maxusers` when a create request names none, as in Agora.
pub const DEFAULT_MAXUSERS: u32 = 200;
/// Users in one batch call (register, add/remove members, block, mute, allowlist).
pub const BATCH_MAX: usize = 60;
/// Group ids in one details request.
pub const DETAILS_MAX_IDS: usize = 100;
/// Password, in characters.
pub const PASSWORD_MAX_CHARS: usize = 64;
/// Nickname, in characters.
pub const NICKNAME_MAX_CHARS: usize = 100;
/// Join-request and invitation messages, in characters.
pub const REQUEST_MESSAGE_MAX_CHARS: usize = 512;
/// Shared file size in bytes.
pub const SHARED_FILE_MAX_BYTES: usize = 10 * 1024 * 1024;
/// Member attributes: key bytes, value bytes, all of one member's attributes in bytes.
pub const MEMBER_ATTR_KEY_MAX_BYTES: usize = 16;
pub const MEMBER_ATTR_VALUE_MAX_BYTES: usize = 512;
pub const MEMBER_ATTRS_TOTAL_MAX_BYTES: usize = 4096;
/// Users per member-attribute read, and per batch write.
pub const MEMBER_ATTRS_GET_MAX_USERS: usize = 10;
pub const MEMBER_ATTRS_BATCH_MAX_USERS: usize = 20;

/// Chat room name and description, in characters (required at creation).
pub const ROOM_NAME_MAX_CHARS: usize = 128;
pub const ROOM_DESCRIPTION_MAX_CHARS: usize = 512;
/// The room ext field (`custom`), in bytes: 8 KB, as for groups (EMnew; EM23 said 1,024 chars).
pub const ROOM_CUSTOM_MAX_BYTES: usize = 8 * 1024;
/// A room's `maxusers` when a create request names none (AG), unless the plan allows fewer.
pub const ROOM_DEFAULT_MAXUSERS: u32 = 1000;
/// Users in one remove-members call (adding, blocking, muting and allowlisting take 60).
pub const ROOM_REMOVE_MEMBERS_MAX: usize = 100;
/// Chat room custom attributes: per room, per call, key and value length in characters.
pub const ROOM_ATTRS_MAX: usize = 100;
pub const ROOM_ATTRS_PER_CALL: usize = 10;
pub const ROOM_ATTR_KEY_MAX_CHARS: usize = 128;
pub const ROOM_ATTR_VALUE_MAX_CHARS: usize = 4096;

/// User attributes (`/metadata/user`): all of one user's keys and values, in bytes (Agora: 2 KB
/// per user). Keys are at most 64 bytes (Qun's: Agora names no key limit).
pub const USER_METADATA_MAX_BYTES: usize = 2048;
pub const USER_METADATA_KEY_MAX_BYTES: usize = 64;
/// Users in one user-attribute read (`/metadata/user/get`; Agora: 100).
pub const USER_METADATA_GET_MAX_USERS: usize = 100;
/// Contacts per user (Agora's free plan: 3,000), and friend requests a user may have sent and
/// not yet had answered (Qun's: as many).
pub const CONTACTS_MAX: u64 = 3000;
pub const CONTACT_REQUESTS_MAX: u64 = 3000;
/// A contact's remark, in characters (Qun's: as a nickname).
pub const CONTACT_REMARK_MAX_CHARS: usize = 100;
/// Users on one user's blocklist (Agora: 500).
pub const USER_BLOCKLIST_MAX: u64 = 500;

/// A per-app plan; it caps group and chat room size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Starter,
    Pro,
    #[default]
    Enterprise,
}

impl Plan {
    /// How many groups one user may be a member of (owned ones included): Agora's "groups a
    /// user may join" by plan (agora-chat-api.md §7).
    pub fn groups_joined_limit(self) -> u32 {
        match self {
            Plan::Free => 100,
            Plan::Starter => 1_000,
            Plan::Pro => 2_000,
            Plan::Enterprise => 10_000,
        }
    }

    /// The largest `maxusers` a group of this app may have.
    pub fn group_member_limit(self) -> u32 {
        match self {
            Plan::Free => 100,
            Plan::Starter => 250,
            Plan::Pro => 1_000,
            Plan::Enterprise => 5_000,
        }
    }

    /// The largest `maxusers` a chat room of this app may have (AG chatroom-overview).
    pub fn room_member_limit(self) -> u32 {
        match self {
            Plan::Free => 100,
            Plan::Starter => 2_000,
            Plan::Pro => 10_000,
            Plan::Enterprise => 20_000,
        }
    }

    pub fn parse(raw: &str) -> Option<Plan> {
        match raw.to_ascii_lowercase().as_str() {
            "free" => Some(Plan::Free),
            "starter" => Some(Plan::Starter),
            "pro" => Some(Plan::Pro),
            "enterprise" => Some(Plan::Enterprise),
            _ => None,
        }
    }
}

/// How long after sending a user may recall a message, unless the app sets otherwise (Agora: 2
/// minutes).
pub const RECALL_TIME_LIMIT_DEFAULT_SECS: u32 = 120;
/// The longest recall time limit an app may set (Agora: 7 days).
pub const RECALL_TIME_LIMIT_MAX_SECS: u32 = 7 * 24 * 3600;
/// Edits of one message at most (Agora).
pub const MESSAGE_EDITS_MAX: u32 = 10;

/// Length in characters (Unicode scalar values), which is how Agora counts text limits.
pub fn chars(text: &str) -> usize {
    text.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cap_groups_and_rooms() {
        let caps: Vec<(u32, u32)> = [Plan::Free, Plan::Starter, Plan::Pro, Plan::Enterprise]
            .into_iter()
            .map(|plan| (plan.group_member_limit(), plan.room_member_limit()))
            .collect();
        assert_eq!(caps, [(100, 100), (250, 2_000), (1_000, 10_000), (5_000, 20_000)]);
        assert_eq!(Plan::parse("PRO"), Some(Plan::Pro));
        assert_eq!(Plan::parse("gold"), None);
    }
}
