//! The records the store reads and writes, and the mutations a group or room change is made of.

use qun_core::{
    Audience, GroupEvent, GroupId, GroupSettings, MemberRole, PersonalItem, Plan, Receipt, RoomDelivery,
    RoomDeliveryDefaults, RoomFlags, RoomId, RoomSettings, Standing, UserName,
};

// -------------------------------------------------------------------- apps

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApp {
    /// A stable UUID, Agora's `application` field (the caller makes it, as for users).
    pub uuid: String,
    pub org: String,
    pub name: String,
    pub client_id: String,
    /// SHA-256 of the client secret.
    pub client_secret_hash: Vec<u8>,
    pub settings: AppSettings,
    pub created_ms: i64,
}

/// Per-app settings, stored as JSON so new ones need no migration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct AppSettings {
    /// Anyone may register a user without an app token (Agora's "open registration"). Off by
    /// default: only the app administrator registers users. A row stored without the field
    /// reads as off (the struct's serde default), so it needs no migration.
    pub open_registration: bool,
    pub plan: Plan,
    /// REST calls per second for the whole app; `None` = unlimited (Agora's quotas are a
    /// property of their cloud, so they are off unless an operator sets one).
    pub rest_rate_limit_per_second: Option<u32>,
    /// How the app's chat rooms deliver by default (history ring, rate limit).
    pub rooms: RoomDeliveryDefaults,
    /// How long after sending a user may recall a message, in seconds (1 to
    /// `RECALL_TIME_LIMIT_MAX_SECS`); the app administrator may recall at any time. A row stored
    /// without the field reads as Agora's default.
    pub recall_time_limit_secs: u32,
    /// 1:1 messages only between contacts (Agora's "friend relationship check"). Off by
    /// default, as in Agora; a row stored without the field reads as off.
    pub contacts_only_chat: bool,
}

impl Default for AppSettings {
    fn default() -> Self {
        AppSettings {
            open_registration: false,
            plan: Plan::Enterprise,
            rest_rate_limit_per_second: None,
            rooms: RoomDeliveryDefaults::default(),
            recall_time_limit_secs: qun_core::limits::RECALL_TIME_LIMIT_DEFAULT_SECS,
            contacts_only_chat: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRecord {
    pub id: i64,
    /// A stable UUID, Agora's `application` field.
    pub uuid: String,
    pub org: String,
    pub name: String,
    pub client_id: String,
    pub client_secret_hash: Vec<u8>,
    pub settings: AppSettings,
    pub created_ms: i64,
}

// -------------------------------------------------------------------- users

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub name: UserName,
    pub uuid: String,
    /// PHC string (argon2id).
    pub password_hash: String,
    pub nickname: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub name: UserName,
    pub uuid: String,
    pub password_hash: String,
    pub nickname: String,
    pub activated: bool,
    pub created_ms: i64,
    pub modified_ms: i64,
}

// -------------------------------------------------------------------- tokens

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// SHA-256 of the opaque token; the token itself is never stored.
    pub hash: Vec<u8>,
    pub app_id: i64,
    /// `None` for an app token (the app administrator).
    pub user: Option<UserName>,
    pub created_ms: i64,
    /// `None` for a token that never expires (`ttl: 0`).
    pub expires_ms: Option<i64>,
}

// -------------------------------------------------------------------- groups

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGroup {
    pub id: GroupId,
    pub owner: UserName,
    pub settings: GroupSettings,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    pub id: GroupId,
    pub owner: UserName,
    pub settings: GroupSettings,
    pub mute_all: bool,
    pub disabled: bool,
    pub announcement: String,
    /// Members including the owner (Agora's `affiliations_count`).
    pub member_count: u32,
    pub admin_count: u32,
    /// Bumped by every committed change; the optimistic-concurrency token.
    pub version: i64,
    /// Sequence of the newest timeline entry.
    pub last_seq: i64,
    pub created_ms: i64,
    pub modified_ms: i64,
}

impl GroupRecord {
    pub fn flags(&self) -> qun_core::GroupFlags {
        self.settings.flags(self.mute_all, self.disabled)
    }
}

/// One membership row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRecord {
    pub user: UserName,
    pub role: MemberRole,
    pub joined_ms: i64,
    /// Unique and increasing per join: orders member lists, newest first.
    pub join_order: i64,
    /// Mute expiry, ms since epoch; `Some(i64::MAX)` = forever; `None` = not muted.
    pub muted_until_ms: Option<i64>,
    pub allowlisted: bool,
    /// The member blocked the group's messages for themself.
    pub shielded: bool,
    /// The member's timeline cursor: the last sequence delivered and acknowledged.
    pub cursor_seq: i64,
}

/// Where one user stands in a group, for the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInGroup {
    pub user: UserName,
    /// The user exists in the app.
    pub exists: bool,
    pub membership: Option<MembershipRecord>,
    pub blocklisted: bool,
}

impl UserInGroup {
    pub fn standing(&self) -> Standing {
        match (&self.membership, self.blocklisted) {
            (Some(m), _) => Standing::of_role(m.role),
            (None, true) => Standing::Blocklisted,
            (None, false) => Standing::Outsider,
        }
    }

    /// Muted at `now_ms`.
    pub fn muted(&self, now_ms: i64) -> bool {
        self.membership.as_ref().and_then(|m| m.muted_until_ms).is_some_and(|until| until > now_ms)
    }

    pub fn allowlisted(&self) -> bool {
        self.membership.as_ref().is_some_and(|m| m.allowlisted)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    pub group: GroupRecord,
    /// One entry per user asked for, in the order asked.
    pub users: Vec<UserInGroup>,
}

impl GroupSnapshot {
    pub fn user(&self, name: &UserName) -> Option<&UserInGroup> {
        self.users.iter().find(|u| &u.user == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberPage {
    /// Page `number` (from 0) of `size` members.
    Offset { number: u32, size: u32 },
    /// Up to `limit` members that joined before the member with this `join_order`.
    After { join_order: Option<i64>, limit: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFileRecord {
    pub file_id: String,
    pub name: String,
    pub owner: UserName,
    pub size: i64,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// A user asked to join.
    Application,
    /// A user was invited and has not answered.
    Invitation,
}

impl RequestKind {
    pub fn code(self) -> i16 {
        match self {
            RequestKind::Application => 0,
            RequestKind::Invitation => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub user: UserName,
    pub kind: RequestKind,
    /// Who invited (for invitations).
    pub inviter: Option<UserName>,
    pub message: String,
    pub created_ms: i64,
}

// -------------------------------------------------------------------- changes

/// What one group operation changes, applied atomically with its events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupChange {
    pub mutations: Vec<GroupMutation>,
    pub events: Vec<EventRecord>,
    /// Server time of the change, ms.
    pub now_ms: i64,
}

/// One elementary change to a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupMutation {
    UpdateSettings(GroupSettings),
    SetAnnouncement(String),
    SetMuteAll(bool),
    SetDisabled(bool),
    /// Adds a member (also clears any pending request of theirs). `join_order` must be unique.
    AddMember {
        user: UserName,
        role: MemberRole,
        join_order: i64,
    },
    /// Removes a member and their mute, allowlist entry and attributes.
    RemoveMember {
        user: UserName,
    },
    SetRole {
        user: UserName,
        role: MemberRole,
    },
    /// Sets the owner of record (the roles are changed with `SetRole`).
    SetOwner {
        user: UserName,
    },
    Blocklist {
        user: UserName,
    },
    Unblocklist {
        user: UserName,
    },
    /// `until_ms: None` unmutes.
    SetMute {
        user: UserName,
        until_ms: Option<i64>,
    },
    SetAllowlisted {
        user: UserName,
        allowlisted: bool,
    },
    SetShielded {
        user: UserName,
        shielded: bool,
    },
    PutRequest(RequestRecord),
    DeleteRequest {
        user: UserName,
        kind: RequestKind,
    },
    AddFile(SharedFileRecord),
    DeleteFile {
        file_id: String,
    },
    /// Sets (non-empty value) or deletes (empty value) attributes of a member.
    SetMemberAttributes {
        user: UserName,
        attributes: Vec<(String, String)>,
    },
    /// Deletes the group and everything in it, its timeline included. Events for named users
    /// in the same change are still stored; a group-wide event has no timeline left to go to,
    /// and a mutation after this one no group to change: either fails the change (`NotFound`).
    Dissolve,
}

/// An event to store with a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// Server id (snowflake), unique across events and messages.
    pub id: u64,
    pub audience: Audience,
    pub event: GroupEvent,
}

/// What a committed change produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppliedChange {
    /// The group's version after the change.
    pub version: i64,
    /// Timeline sequence numbers given to group-wide events, in order.
    pub timeline_seqs: Vec<i64>,
}

/// An item of one user's personal queue: a group event addressed to them, or a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: u64,
    pub item: PersonalItem,
}

/// What a timeline entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimelineItem {
    Event(GroupEvent),
    /// A message (the realtime layer defines the bytes).
    Message(Vec<u8>),
}

/// One entry of a conversation's timeline (a group's, or a 1:1 conversation's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    pub seq: i64,
    pub id: u64,
    /// Members who must not receive it (the actor of a "to all others" event).
    pub except: Option<UserName>,
    pub item: TimelineItem,
    pub created_ms: i64,
}

// -------------------------------------------------------------------- chat rooms

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRoom {
    pub id: RoomId,
    pub owner: UserName,
    pub settings: RoomSettings,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    pub id: RoomId,
    /// The owner of record, in the room or not.
    pub owner: UserName,
    pub settings: RoomSettings,
    pub announcement: String,
    pub mute_all: bool,
    /// Users in the room now (Agora's `affiliations_count`).
    pub member_count: u32,
    pub admin_count: u32,
    /// Bumped by every committed change; the optimistic-concurrency token.
    pub version: i64,
    pub created_ms: i64,
    pub modified_ms: i64,
    /// The room's overrides of its app's delivery defaults.
    pub delivery: RoomDelivery,
}

impl RoomRecord {
    pub fn flags(&self) -> RoomFlags {
        RoomFlags { mute_all: self.mute_all }
    }
}

/// Someone in a room now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomMemberRecord {
    pub user: UserName,
    pub joined_ms: i64,
    /// Unique and increasing per join: orders member lists, newest first.
    pub join_order: i64,
    /// On the room's allowlist (so, for the realtime layer, not dropped when offline).
    pub allowlisted: bool,
}

/// Someone in a room now, with the app and room they are in ([`crate::RoomStore::room_presences`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPresence {
    pub org: String,
    pub app: String,
    pub room_id: RoomId,
    pub member: RoomMemberRecord,
}

/// Where one user stands in a room, for the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInRoom {
    pub user: UserName,
    /// The user exists in the app.
    pub exists: bool,
    /// The room's owner of record.
    pub owner: bool,
    pub admin: bool,
    /// In the room now.
    pub presence: Option<RoomMemberRecord>,
    pub blocklisted: bool,
    pub allowlisted: bool,
    /// Mute expiry, ms since epoch (`i64::MAX`: for ever); possibly already expired.
    pub muted_until_ms: Option<i64>,
    /// The custom attribute keys this user set with `autoDelete`: they go when the user leaves.
    pub auto_delete_keys: Vec<String>,
}

impl UserInRoom {
    /// The owner and admins stand by role, present or not; plain members by presence.
    pub fn standing(&self) -> Standing {
        if self.owner {
            Standing::Owner
        } else if self.blocklisted {
            Standing::Blocklisted
        } else if self.admin {
            Standing::Admin
        } else if self.presence.is_some() {
            Standing::Member
        } else {
            Standing::Outsider
        }
    }

    pub fn present(&self) -> bool {
        self.presence.is_some()
    }

    /// Muted at `now_ms`.
    pub fn muted(&self, now_ms: i64) -> bool {
        self.muted_until_ms.is_some_and(|until| until > now_ms)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSnapshot {
    pub room: RoomRecord,
    /// One entry per user asked for, in the order asked.
    pub users: Vec<UserInRoom>,
}

impl RoomSnapshot {
    pub fn user(&self, name: &UserName) -> Option<&UserInRoom> {
        self.users.iter().find(|u| &u.user == name)
    }
}

/// One custom attribute of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomAttributeRecord {
    pub key: String,
    pub value: String,
    /// Who set it.
    pub owner: UserName,
    /// Removed when `owner` leaves the room.
    pub auto_delete: bool,
    pub updated_ms: i64,
}

/// What one room operation changes, applied atomically. Room events are not stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomChange {
    pub mutations: Vec<RoomMutation>,
    /// Server time of the change, ms.
    pub now_ms: i64,
}

/// One elementary change to a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomMutation {
    UpdateSettings(RoomSettings),
    SetAnnouncement(String),
    SetMuteAll(bool),
    /// Puts a user in the room. `join_order` must be unique in the room; a user already in the
    /// room fails the change (`AlreadyExists`).
    AddMember {
        user: UserName,
        join_order: i64,
    },
    /// Takes a user out of the room; their role, mute, allowlist entry and attributes stay.
    RemoveMember {
        user: UserName,
    },
    SetAdmin {
        user: UserName,
        admin: bool,
    },
    Blocklist {
        user: UserName,
    },
    Unblocklist {
        user: UserName,
    },
    /// `until_ms: None` unmutes.
    SetMute {
        user: UserName,
        until_ms: Option<i64>,
    },
    SetAllowlisted {
        user: UserName,
        allowlisted: bool,
    },
    /// Writes custom attributes (new or replaced), recording `owner` as who set them.
    SetAttributes {
        owner: UserName,
        auto_delete: bool,
        attributes: Vec<(String, String)>,
    },
    DeleteAttributes {
        keys: Vec<String>,
    },
    /// Replaces the room's delivery overrides.
    SetDelivery(RoomDelivery),
    /// Deletes the room and everything in it; a mutation after this one fails the change
    /// (`NotFound`).
    Destroy,
}

// -------------------------------------------------------------------- messages and queues

/// Which conversation a message belongs to (ordered so that a batch's messages can be
/// brought together by conversation).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Conversation {
    Group(GroupId),
    /// A 1:1 conversation; `Conversation::chat(a, b)` orders the pair so both sides name it alike.
    Chat {
        low: UserName,
        high: UserName,
    },
}

impl Conversation {
    /// The 1:1 conversation of `a` and `b`, whichever side names it.
    pub fn chat(a: UserName, b: UserName) -> Conversation {
        if a <= b { Conversation::Chat { low: a, high: b } } else { Conversation::Chat { low: b, high: a } }
    }
}

/// A message to store: written once per conversation (never per recipient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Server id (snowflake), unique.
    pub id: u64,
    pub conversation: Conversation,
    pub sender: UserName,
    /// The sending client's own id for the message (msync Meta.id); a resend with the same
    /// (sender, client_id) is not stored twice.
    pub client_id: Option<u64>,
    /// The message as the realtime layer will send it (a serialized msync Meta): opaque here.
    pub payload: Vec<u8>,
    pub created_ms: i64,
}

/// A message as its conversation's timeline holds it, found by id
/// ([`MessageStore::message_by_id`](crate::MessageStore::message_by_id)): what a recall or an edit
/// decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub conversation: Conversation,
    pub seq: i64,
    pub id: u64,
    /// As the realtime layer stored it (a serialized msync Meta), with the latest edit.
    pub payload: Vec<u8>,
    pub created_ms: i64,
    /// How many times it was edited.
    pub edits: u32,
}

/// What [`MessageStore::change_message`](crate::MessageStore::change_message) does to a stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageChange {
    /// The message leaves history and every queue; its row stays (kind "recalled"), so a
    /// history page can still start from its id.
    Recall,
    /// The message's payload becomes `payload` (the edited message), if it was edited
    /// `expected_edits` times so far.
    Edit { payload: Vec<u8>, expected_edits: u32 },
}

/// What [`MessageStore::append_messages`](crate::MessageStore::append_messages) did with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Stored with this sequence number in its conversation.
    Stored { seq: i64 },
    /// Already stored by an earlier send with the same (sender, client_id): its id and seq.
    Duplicate { id: u64, seq: i64 },
}

/// One position in a user's queues, per device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueHead {
    pub queue: QueueKey,
    /// Newest sequence in the queue.
    pub last_seq: i64,
    /// Where the user's reading of it may start at the earliest (their join point for groups;
    /// 0 otherwise).
    pub floor_seq: i64,
    /// The device's acknowledged position, if it has one.
    pub cursor: Option<i64>,
    /// For groups: the member blocked the group's messages (shield).
    pub shielded: bool,
}

/// One device's new position in one queue, for
/// [`CursorStore::advance_cursors`](crate::CursorStore::advance_cursors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorAdvance {
    pub app_id: i64,
    pub user: UserName,
    pub device: String,
    pub queue: QueueKey,
    /// The position acknowledged: the cursor moves to it unless it is further already.
    pub seq: i64,
}

/// A queue's key as stored: "g:<group id>", "c:<peer user name>" (per viewer), "u" (the user's
/// personal events).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QueueKey {
    Group(GroupId),
    /// The viewer's 1:1 conversation with this peer.
    Chat(UserName),
    /// The user's personal events (`user_events`); sequences are event ids.
    Personal,
}

impl QueueKey {
    pub fn as_storage_key(&self) -> String {
        match self {
            QueueKey::Group(group_id) => format!("g:{group_id}"),
            QueueKey::Chat(peer) => format!("c:{peer}"),
            QueueKey::Personal => "u".to_owned(),
        }
    }

    /// The key `as_storage_key` wrote, or `None` for anything else.
    pub fn parse_storage_key(key: &str) -> Option<QueueKey> {
        if key == "u" {
            return Some(QueueKey::Personal);
        }
        if let Some(group_id) = key.strip_prefix("g:") {
            return GroupId::parse(group_id).ok().map(QueueKey::Group);
        }
        let peer = key.strip_prefix("c:")?;
        // Stored names are already folded: a key with upper case was not written by us.
        UserName::parse(peer).ok().filter(|name| name.as_str() == peer).map(QueueKey::Chat)
    }
}

// -------------------------------------------------------------------- group read receipts

/// A member's read receipt for a group message sent with `allowGroupAck`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGroupAck {
    /// The receipt's server id: orders a message's readers (and pages them).
    pub id: u64,
    pub group_id: GroupId,
    pub message_id: u64,
    /// When the message was sent: its receipts are dropped once it is out of the window.
    pub message_ms: i64,
    pub reader: UserName,
    pub created_ms: i64,
    /// What the message's sender is told, stored for them (under `id`) when this is the
    /// reader's first receipt for the message; the store fills in the read count
    /// (`group.read_count`) it counted in the same transaction.
    pub notice: Receipt,
}

/// What recording a group read receipt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupAckOutcome {
    /// Members who have read the message, this one included.
    pub read_count: u32,
    /// False when the reader had already acknowledged it (nothing was stored).
    pub first: bool,
}

/// One page of a group message's readers, in the order they read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupReaders {
    /// Each reader with their receipt's id (the cursor of the next page).
    pub readers: Vec<(u64, UserName)>,
    /// Readers in all pages.
    pub total: u64,
}

// -------------------------------------------------------------------- history and conversations

/// Which way a history page reads from its starting point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryDirection {
    /// Newest first (the SDK's `searchDirection: 'up'`, its default).
    Older,
    /// Oldest first (`'down'`).
    Newer,
}

/// One page of a conversation's history: messages only, in `direction` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Continue after this entry (exclusive); `None` starts at the newest (`Older`) or the
    /// oldest (`Newer`). An id that is not an entry of the conversation gives an empty page.
    pub from_id: Option<u64>,
    pub direction: HistoryDirection,
    /// Only entries with a sequence above this (what the viewer removed lies below).
    pub after_seq: i64,
    /// Only entries created in `since_ms..=until_ms`.
    pub since_ms: i64,
    pub until_ms: i64,
    pub limit: u32,
}

impl HistoryQuery {
    /// Every message, newest first, `limit` at a time.
    pub fn newest(limit: u32) -> HistoryQuery {
        HistoryQuery {
            from_id: None,
            direction: HistoryDirection::Older,
            after_seq: 0,
            since_ms: i64::MIN,
            until_ms: i64::MAX,
            limit,
        }
    }
}

/// What a user changed of one of their conversations (the conversation list itself is
/// derived: group memberships and timeline heads, 1:1 conversations). Defaults: nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationState {
    /// `QueueKey::Group` or `QueueKey::Chat` (the peer).
    pub conversation: QueueKey,
    /// When it was pinned; `None`: not pinned.
    pub pinned_ms: Option<i64>,
    /// Bit n set: marked with mark n (the SDK's `mark_0` … `mark_19`).
    pub marks: u32,
    /// Deleted from the list: it shows again only with an entry after this sequence.
    pub hidden_through_seq: i64,
    /// History removed for this user through this sequence (a deletion with its messages).
    pub cleared_through_seq: i64,
    /// History removed for this user before this time (`removeHistoryMessages` by time).
    pub cleared_before_ms: i64,
    /// Read through this sequence: unread counts what comes after.
    pub read_seq: i64,
}

impl ConversationState {
    /// The state of a conversation its user never changed.
    pub fn untouched(conversation: QueueKey) -> ConversationState {
        ConversationState {
            conversation,
            pinned_ms: None,
            marks: 0,
            hidden_through_seq: 0,
            cleared_through_seq: 0,
            cleared_before_ms: 0,
            read_seq: 0,
        }
    }
}

/// A change a user makes to some of their conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationChange {
    /// Pin at this time, or unpin (`None`).
    Pin(Option<i64>),
    /// Set (`true`) or clear mark `mark` (0 to 31).
    Mark { mark: u8, marked: bool },
    /// Delete from the list through `through_seq` (read through it too; pin and marks go);
    /// with `clear_history`, remove its history through it as well.
    Delete { through_seq: i64, clear_history: bool },
    /// Remove history before this time.
    ClearHistoryBefore(i64),
    /// Read through this sequence.
    Read(i64),
}

/// A conversation of a user, derived: its newest message, and where the user's view of it
/// starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationHead {
    /// `QueueKey::Group` (a group they are a member of) or `QueueKey::Chat` (the peer).
    pub conversation: QueueKey,
    /// The user's join point in a group (their unread starts no earlier); 0 for 1:1.
    pub floor_seq: i64,
    /// The newest message.
    pub newest: TimelineEntry,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> UserName {
        UserName::parse(name).expect("valid user name")
    }

    #[test]
    fn chat_conversations_are_named_alike_from_both_sides() {
        let (alice, bob) = (user("alice"), user("bob"));
        let chat = Conversation::chat(bob.clone(), alice.clone());
        assert_eq!(chat, Conversation::chat(alice.clone(), bob.clone()));
        assert_eq!(chat, Conversation::Chat { low: alice.clone(), high: bob });
        assert_eq!(
            Conversation::chat(alice.clone(), alice.clone()),
            Conversation::Chat { low: alice.clone(), high: alice }
        );
        // Byte order, as both databases compare names: '-' < '.' < digits < '_' < letters.
        assert_eq!(
            Conversation::chat(user("a_b"), user("a-b")),
            Conversation::Chat { low: user("a-b"), high: user("a_b") }
        );
    }

    #[test]
    fn queue_keys_round_trip_through_storage() {
        for (key, stored) in [
            (QueueKey::Group(GroupId(123_456_789_012_345)), "g:123456789012345"),
            (QueueKey::Group(GroupId(u64::MAX)), "g:18446744073709551615"),
            (QueueKey::Chat(user("bob.b-1")), "c:bob.b-1"),
            (QueueKey::Personal, "u"),
        ] {
            assert_eq!(key.as_storage_key(), stored);
            assert_eq!(QueueKey::parse_storage_key(stored), Some(key));
        }
        for junk in ["", "g:", "g:x", "g:-1", "c:", "c:Bob", "c:a b", "u:", "x:1", "G:1"] {
            assert_eq!(QueueKey::parse_storage_key(junk), None, "{junk:?}");
        }
    }
}

/// Where two users stand with each other, from the first one's side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContactStanding {
    /// The peer is a user of the app (so that a 1:1 send checks everything in one read).
    pub peer_exists: bool,
    pub contacts: bool,
    /// The user has the peer on their blocklist.
    pub blocks_peer: bool,
    /// The peer has the user on theirs.
    pub blocked_by_peer: bool,
    /// The peer asked the user to be their contact, unanswered.
    pub request_from_peer: bool,
    /// The user asked the peer, unanswered.
    pub request_to_peer: bool,
}

/// What a user has that a limit counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContactCounts {
    pub contacts: u64,
    pub requests_sent: u64,
    pub blocked: u64,
}

/// One of a user's contacts, with the user's remark on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRecord {
    pub name: UserName,
    pub remark: String,
}

/// What [`UserMetadataStore::set_user_metadata`](crate::UserMetadataStore::set_user_metadata) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserMetadataUpdate {
    /// Set; the user's attributes now, in key order.
    Updated(Vec<(String, String)>),
    /// Nothing changed: all attributes together would be over the limit.
    TooLarge,
    /// There is no such user.
    NoSuchUser,
}
