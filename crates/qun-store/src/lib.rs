//! Storage: the [`Store`] trait and its two implementations, SQLite (the embedded default) and
//! PostgreSQL (for several nodes), kept identical by one conformance suite run on both.
//!
//! `Store` is one trait per area: [`AppStore`], [`UserStore`], [`GroupStore`], [`RoomStore`],
//! [`MessageStore`], [`CursorStore`], [`ContactStore`], [`UserMetadataStore`], [`ReceiptStore`] and [`ConversationStore`]. A caller holds an `Arc<dyn Store>` and calls any of their
//! methods on it; code that calls them on a concrete store (a `SqliteStore`) imports the traits
//! with `use qun_store::prelude::*`.
//!
//! Invariants:
//! - The database is the source of truth. Every method is one transaction: it either commits
//!   whole or changes nothing.
//! - Group changes are optimistic: [`GroupStore::apply_group_change`] commits only if the group's
//!   `version` is still the one the caller decided on, and bumps it. The caller re-reads and
//!   re-decides on [`StoreError::Conflict`]. So a permission decision is never made on stale
//!   state.
//! - A group-wide event is stored once, in the group timeline with the group's next sequence
//!   number; an event for named users is stored once per recipient.
//! - Chat rooms change the same optimistic way ([`RoomStore::apply_room_change`], guarded by the
//!   room's `version`), but their events are not stored: rooms have no offline store, so the
//!   service hands a room change's events to the realtime layer after the commit.
//! - A message is stored once per conversation, never per recipient: a group message in the
//!   group timeline, sharing the group's sequence with its events; a 1:1 message in the chat
//!   timeline, with a sequence of its own per conversation. A message never bumps a group's
//!   `version`, so sending never conflicts with a membership change.
//! - What a user has read is a cursor per (user, device, queue), moved forward only.
//! - This crate makes no permission decision; `qun-core::rules` does.

mod records;
mod schema;
mod sql;

pub mod conformance;
pub mod testing;

pub use records::*;
pub use sql::{PostgresStore, SqlStore, SqliteStore};

use async_trait::async_trait;
use qun_core::{GroupId, PersonalItem, RoomId, UserName};

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The group changed since the caller read it; read again and decide again.
    #[error("concurrent change, retry")]
    Conflict,
    /// A unique key is taken (app, user, group id).
    #[error("already exists")]
    AlreadyExists,
    #[error("not found")]
    NotFound,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Opens the store a URL names: `sqlite://PATH` (created if missing) or `postgres://…`.
/// Runs the migrations.
pub async fn open(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(PostgresStore::connect(url).await?))
    } else {
        Ok(std::sync::Arc::new(SqliteStore::open(url).await?))
    }
}

/// Everything Qun keeps: one trait per area, each method one transaction. Held as
/// `Arc<dyn Store>`, on which every area's methods can be called.
pub trait Store:
    AppStore
    + UserStore
    + GroupStore
    + RoomStore
    + MessageStore
    + CursorStore
    + ContactStore
    + UserMetadataStore
    + ReceiptStore
    + ConversationStore
{
}

impl<T> Store for T where
    T: AppStore
        + UserStore
        + GroupStore
        + RoomStore
        + MessageStore
        + CursorStore
        + ContactStore
        + UserMetadataStore
        + ReceiptStore
        + ConversationStore
        + ?Sized
{
}

/// The area traits, for calling their methods on a concrete store: `use qun_store::prelude::*;`.
pub mod prelude {
    pub use crate::{
        AppStore, ContactStore, ConversationStore, CursorStore, GroupStore, MessageStore, ReceiptStore, RoomStore,
        Store, UserMetadataStore, UserStore,
    };
}

/// The store itself and the apps it holds.
#[async_trait]
pub trait AppStore: Send + Sync + 'static {
    /// Which backend this is, for logs and test names: "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
    /// Answers when the database does (one trivial read): for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    // ---------------------------------------------------------------- apps
    /// Creates the app if it does not exist; returns it as stored either way.
    async fn ensure_app(&self, new: &NewApp) -> StoreResult<AppRecord>;
    async fn app_by_key(&self, org: &str, app: &str) -> StoreResult<Option<AppRecord>>;
    async fn update_app_settings(&self, app_id: i64, settings: &AppSettings) -> StoreResult<()>;
    /// Replaces the app's client credentials (the id, and the secret's hash).
    async fn set_app_credentials(&self, app_id: i64, client_id: &str, client_secret_hash: &[u8]) -> StoreResult<()>;
}

/// Users and their tokens.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Inserts users one by one in one transaction; a taken name is reported per item
    /// (`Err(AlreadyExists)` in its slot) and does not stop the others.
    async fn create_users(&self, app_id: i64, users: &[NewUser]) -> StoreResult<Vec<Result<UserRecord, StoreError>>>;
    async fn user(&self, app_id: i64, name: &UserName) -> StoreResult<Option<UserRecord>>;
    /// Users in name order after `after` (exclusive).
    async fn users_page(&self, app_id: i64, after: Option<&UserName>, limit: u32) -> StoreResult<Vec<UserRecord>>;
    /// Deletes the user, their tokens, memberships (decrementing counts), blocklist entries,
    /// requests, member attributes, the events stored for them, their delivery cursors and their
    /// messages' client ids; bumps the version of every group where their standing changed.
    /// Groups they own keep them as owner of record (and their owner membership). Messages stay:
    /// the 1:1 conversations (the peer keeps their history) and the group timelines.
    /// In chat rooms: their presence, admin roles, blocklist, allowlist and mute entries, the
    /// attributes they set with autoDelete, and their super admin role go (counts follow, and
    /// every room touched gets a new version); rooms they own keep them as owner of record.
    async fn delete_user(&self, app_id: i64, name: &UserName) -> StoreResult<Option<UserRecord>>;
    /// Sets a new password hash and revokes the user's tokens.
    async fn set_password(&self, app_id: i64, name: &UserName, password_hash: &str, now_ms: i64) -> StoreResult<bool>;
    /// Activates or deactivates; deactivation revokes the user's tokens.
    async fn set_activated(
        &self,
        app_id: i64,
        name: &UserName,
        activated: bool,
        now_ms: i64,
    ) -> StoreResult<Option<UserRecord>>;
    async fn set_nickname(
        &self,
        app_id: i64,
        name: &UserName,
        nickname: &str,
        now_ms: i64,
    ) -> StoreResult<Option<UserRecord>>;

    // ---------------------------------------------------------------- tokens
    async fn insert_token(&self, token: &TokenRecord) -> StoreResult<()>;
    /// The token with this hash if it exists and has not expired at `now_ms`.
    async fn token(&self, token_hash: &[u8], now_ms: i64) -> StoreResult<Option<TokenRecord>>;
}

/// Groups: the versioned change path and every read of a group.
#[async_trait]
pub trait GroupStore: Send + Sync + 'static {
    // ---------------------------------------------------------------- writes
    /// Inserts the group and applies `change` (members, events) in the same transaction.
    async fn create_group(&self, app_id: i64, group: &NewGroup, change: &GroupChange) -> StoreResult<AppliedChange>;
    /// Applies `change` if the group's version is still `expected_version`; bumps the version.
    /// Dissolving the group also deletes every delivery cursor on its queue.
    async fn apply_group_change(
        &self,
        app_id: i64,
        group_id: GroupId,
        expected_version: i64,
        change: &GroupChange,
    ) -> StoreResult<AppliedChange>;

    // ---------------------------------------------------------------- reads
    /// The group and where each of `users` stands in it; `None` if there is no such group.
    async fn group_snapshot(
        &self,
        app_id: i64,
        group_id: GroupId,
        users: &[UserName],
        now_ms: i64,
    ) -> StoreResult<Option<GroupSnapshot>>;
    /// Groups by id, in the order asked; unknown ids are left out.
    async fn groups(&self, app_id: i64, ids: &[GroupId]) -> StoreResult<Vec<GroupRecord>>;
    /// Newest created first, ids below `before` (exclusive).
    async fn groups_page(
        &self,
        app_id: i64,
        public_only: bool,
        before: Option<GroupId>,
        limit: u32,
    ) -> StoreResult<Vec<GroupRecord>>;
    /// The groups a user is a member of, newest joined first, with their role; and the total.
    async fn user_groups(
        &self,
        app_id: i64,
        user: &UserName,
        offset: u32,
        limit: u32,
    ) -> StoreResult<(Vec<(GroupRecord, MembershipRecord)>, u64)>;
    /// Members newest joined first: by offset, or after a cursor (a `join_order`).
    async fn members_page(
        &self,
        app_id: i64,
        group_id: GroupId,
        page: MemberPage,
    ) -> StoreResult<Vec<MembershipRecord>>;
    /// Owner and admins.
    async fn group_managers(&self, app_id: i64, group_id: GroupId) -> StoreResult<Vec<MembershipRecord>>;
    /// Every member's name (for events addressed to each member individually).
    async fn member_names(&self, app_id: i64, group_id: GroupId) -> StoreResult<Vec<UserName>>;
    /// Blocklist, newest first.
    async fn blocklist(&self, app_id: i64, group_id: GroupId) -> StoreResult<Vec<UserName>>;
    /// Members whose mute has not expired at `now_ms`.
    async fn mute_list(&self, app_id: i64, group_id: GroupId, now_ms: i64) -> StoreResult<Vec<(UserName, i64)>>;
    async fn allowlist(&self, app_id: i64, group_id: GroupId) -> StoreResult<Vec<UserName>>;
    async fn shared_files(
        &self,
        app_id: i64,
        group_id: GroupId,
        offset: u32,
        limit: u32,
    ) -> StoreResult<Vec<SharedFileRecord>>;
    async fn shared_file(&self, app_id: i64, group_id: GroupId, file_id: &str)
    -> StoreResult<Option<SharedFileRecord>>;
    /// Member attributes of `users` (all keys when `keys` is empty).
    async fn member_attributes(
        &self,
        app_id: i64,
        group_id: GroupId,
        users: &[UserName],
        keys: &[String],
    ) -> StoreResult<Vec<(UserName, String, String)>>;
    /// Pending application or invitation of `user`.
    async fn pending_request(
        &self,
        app_id: i64,
        group_id: GroupId,
        user: &UserName,
        kind: RequestKind,
    ) -> StoreResult<Option<RequestRecord>>;
}

/// Chat rooms: the versioned change path, reads, super admins and presence.
#[async_trait]
pub trait RoomStore: Send + Sync + 'static {
    // ---------------------------------------------------------------- writes
    /// Inserts the room and applies `change` (its first members) in the same transaction;
    /// returns the room's version (1).
    async fn create_room(&self, app_id: i64, room: &NewRoom, change: &RoomChange) -> StoreResult<i64>;
    /// Applies `change` if the room's version is still `expected_version`; bumps the version and
    /// returns the new one.
    async fn apply_room_change(
        &self,
        app_id: i64,
        room_id: RoomId,
        expected_version: i64,
        change: &RoomChange,
    ) -> StoreResult<i64>;

    // ---------------------------------------------------------------- reads
    /// The room and where each of `users` stands in it; `None` if there is no such room.
    async fn room_snapshot(
        &self,
        app_id: i64,
        room_id: RoomId,
        users: &[UserName],
    ) -> StoreResult<Option<RoomSnapshot>>;
    /// Rooms by id, in the order asked; unknown ids are left out.
    async fn rooms(&self, app_id: i64, ids: &[RoomId]) -> StoreResult<Vec<RoomRecord>>;
    /// Newest created first: ids below `before` (exclusive), skipping `offset` of them.
    async fn rooms_page(
        &self,
        app_id: i64,
        before: Option<RoomId>,
        offset: u32,
        limit: u32,
    ) -> StoreResult<Vec<RoomRecord>>;
    /// The rooms a user is in now, newest joined first; and how many there are.
    async fn user_rooms(
        &self,
        app_id: i64,
        user: &UserName,
        offset: u32,
        limit: u32,
    ) -> StoreResult<(Vec<(RoomRecord, RoomMemberRecord)>, u64)>;
    /// The ids of the rooms a user is in now, at most `limit`, in no particular order: what a
    /// login reads, in one statement.
    async fn user_room_ids(&self, app_id: i64, user: &UserName, limit: u32) -> StoreResult<Vec<RoomId>>;
    /// Who is in the room, newest joined first: by offset, or after a cursor (a `join_order`).
    async fn room_members_page(
        &self,
        app_id: i64,
        room_id: RoomId,
        page: MemberPage,
    ) -> StoreResult<Vec<RoomMemberRecord>>;
    /// Admins, newest appointed first.
    async fn room_admins(&self, app_id: i64, room_id: RoomId) -> StoreResult<Vec<UserName>>;
    /// Blocklist, newest first.
    async fn room_blocklist(&self, app_id: i64, room_id: RoomId) -> StoreResult<Vec<UserName>>;
    /// Mutes that have not expired at `now_ms` (user, expiry), newest first.
    async fn room_mute_list(&self, app_id: i64, room_id: RoomId, now_ms: i64) -> StoreResult<Vec<(UserName, i64)>>;
    /// Allowlist, newest first.
    async fn room_allowlist(&self, app_id: i64, room_id: RoomId) -> StoreResult<Vec<UserName>>;
    /// Custom attributes in key order: those named in `keys`, or all when `keys` is empty.
    async fn room_attributes(
        &self,
        app_id: i64,
        room_id: RoomId,
        keys: &[String],
    ) -> StoreResult<Vec<RoomAttributeRecord>>;

    // ---------------------------------------------------------------- super admins
    /// Makes `user` a super admin of the app's rooms; `Ok(false)` if they were one already,
    /// `NotFound` if there is no such user.
    async fn add_room_super_admin(&self, app_id: i64, user: &UserName, now_ms: i64) -> StoreResult<bool>;
    /// `Ok(false)` if the user was not a super admin.
    async fn remove_room_super_admin(&self, app_id: i64, user: &UserName) -> StoreResult<bool>;
    /// Super admins, newest first, and how many there are.
    async fn room_super_admins(&self, app_id: i64, offset: u32, limit: u32) -> StoreResult<(Vec<UserName>, u64)>;
    async fn is_room_super_admin(&self, app_id: i64, user: &UserName) -> StoreResult<bool>;

    // ---------------------------------------------------------------- presence
    /// Everyone in any room of any app (for the realtime layer after a restart: nobody is
    /// online yet, so every member's absence starts then).
    async fn room_presences(&self) -> StoreResult<Vec<RoomPresence>>;
}

/// What the queues hold: group timelines, 1:1 timelines and personal items (group events
/// addressed to a user, receipts).
#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    // ---------------------------------------------------------------- events
    /// Items stored for `user` personally (group events addressed to them, receipts), with id
    /// above `after`, oldest first.
    async fn user_events(&self, app_id: i64, user: &UserName, after: u64, limit: u32) -> StoreResult<Vec<StoredEvent>>;
    /// Stores one personal item for `user` under `id` (a server id: ids order the queue). A
    /// second item under the same id is ignored.
    async fn add_personal_item(
        &self,
        app_id: i64,
        user: &UserName,
        id: u64,
        item: &PersonalItem,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// Group timeline entries with sequence above `after_seq`, oldest first.
    async fn group_timeline(
        &self,
        app_id: i64,
        group_id: GroupId,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<TimelineEntry>>;

    // ---------------------------------------------------------------- messages
    /// Appends messages in ONE transaction (group commit): each gets the next sequence of its
    /// conversation, in the order given (groups share `groups.last_seq` with group-wide events,
    /// in `group_timeline` as kind 1 with `except_user` NULL; 1:1 messages go to the chat
    /// timeline with its own per-conversation sequence). Bumps no group `version`.
    ///
    /// One result per message, in order:
    /// - a group that does not exist → `Err(NotFound)` in that slot, the others still commit;
    /// - a repeated (sender, client_id), from an earlier call or earlier in the same batch →
    ///   `Duplicate` with the first one's id and seq; nothing is stored and no seq is used;
    /// - a 1:1 message whose id is already stored → `Err(AlreadyExists)` in that slot (ids are
    ///   the caller's snowflakes; group timelines do not check them).
    ///
    /// An error of the whole call (`Err` outside the vector) means nothing was stored.
    async fn append_messages(
        &self,
        app_id: i64,
        messages: &[NewMessage],
    ) -> StoreResult<Vec<StoreResult<AppendOutcome>>>;
    /// 1:1 timeline entries after `after_seq`, oldest first (`TimelineItem::Message`, no
    /// `except`). For a group conversation it is [`MessageStore::group_timeline`] (events included).
    async fn chat_timeline(
        &self,
        app_id: i64,
        conversation: &Conversation,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<TimelineEntry>>;
    /// The message with server id `id`, in whichever conversation (1:1 or group) holds it;
    /// `None` if there is none, or it was recalled.
    async fn message_by_id(&self, app_id: i64, id: u64) -> StoreResult<Option<StoredMessage>>;
    /// Recalls or edits the message `message_id` of `notice.conversation` and appends `notice`
    /// (the recall or edit as its readers receive it) to that conversation with its next
    /// sequence, in one transaction; returns the notice's sequence. A notice is delivered like
    /// a message but is never history. `NotFound` (nothing changed) if the conversation does
    /// not hold the message as a message (never sent there, or recalled); `Conflict` if an edit
    /// finds another edit was written since its `expected_edits`. `notice.client_id` is not
    /// used.
    async fn change_message(
        &self,
        app_id: i64,
        message_id: u64,
        change: &MessageChange,
        notice: &NewMessage,
    ) -> StoreResult<i64>;
    /// History, newest first: entries of the conversation strictly older than the entry with id
    /// `before_id` (or the newest when None). Messages only (no events). An id that is not an
    /// entry of this conversation gives an empty page.
    async fn history(
        &self,
        app_id: i64,
        conversation: &Conversation,
        before_id: Option<u64>,
        limit: u32,
    ) -> StoreResult<Vec<TimelineEntry>>;
    /// A page of history as `query` asks: messages only (no events), either way from an entry,
    /// within a time range and above a sequence; at most `query.limit`.
    async fn history_page(
        &self,
        app_id: i64,
        conversation: &Conversation,
        query: &HistoryQuery,
    ) -> StoreResult<Vec<TimelineEntry>>;
}

/// What each user changed of their conversations (pins, marks, deletions, read points, history
/// removed for them), and the derived list of their conversations. Nothing here is written when
/// a message is sent: the list comes from memberships and timeline heads.
#[async_trait]
pub trait ConversationStore: Send + Sync + 'static {
    /// Every conversation of `user` that has a message: one per group they are a member of,
    /// one per 1:1 conversation they take part in, each with its newest message; in
    /// [`QueueKey`] order.
    async fn conversation_heads(&self, app_id: i64, user: &UserName) -> StoreResult<Vec<ConversationHead>>;
    /// The state of every conversation `user` changed, in [`QueueKey`] order.
    async fn conversation_states(&self, app_id: i64, user: &UserName) -> StoreResult<Vec<ConversationState>>;
    /// The state of one conversation (untouched when the user never changed it).
    async fn conversation_state(
        &self,
        app_id: i64,
        user: &UserName,
        conversation: &QueueKey,
    ) -> StoreResult<ConversationState>;
    /// Applies `change` to each of `conversations` of `user`, in one transaction.
    async fn change_conversations(
        &self,
        app_id: i64,
        user: &UserName,
        conversations: &[QueueKey],
        change: ConversationChange,
    ) -> StoreResult<()>;
    /// Removes messages from `user`'s own history of a conversation. `Ok(false)`, and nothing
    /// removed, if that would make more than `max` removed messages in that conversation.
    async fn remove_history_messages(
        &self,
        app_id: i64,
        user: &UserName,
        conversation: &QueueKey,
        message_ids: &[u64],
        max: u32,
    ) -> StoreResult<bool>;
    /// The messages `user` removed from their history of a conversation, in id order.
    async fn removed_history_messages(
        &self,
        app_id: i64,
        user: &UserName,
        conversation: &QueueKey,
    ) -> StoreResult<Vec<u64>>;
}

/// Where each device of a user is in each queue.
#[async_trait]
pub trait CursorStore: Send + Sync + 'static {
    /// Every queue `user` can read with its head and `device`'s cursor, in [`QueueKey`] order:
    /// one per group they are a member of (floor = their membership `cursor_seq`, the join
    /// point; `shielded` from the membership), one per 1:1 conversation they take part in (key
    /// `Chat(peer)`, floor 0), and `Personal` (last_seq = newest `user_events` id as i64, 0 when
    /// none; floor 0).
    async fn user_queues(&self, app_id: i64, user: &UserName, device: &str) -> StoreResult<Vec<QueueHead>>;
    /// The device's acknowledged position in one queue.
    async fn cursor(&self, app_id: i64, user: &UserName, device: &str, queue: &QueueKey) -> StoreResult<Option<i64>>;
    /// Moves the device's position forward to `seq` (never backwards: max(old, seq)).
    async fn advance_cursor(
        &self,
        app_id: i64,
        user: &UserName,
        device: &str,
        queue: &QueueKey,
        seq: i64,
    ) -> StoreResult<()>;
    /// Moves many positions forward, in one transaction: each as [`advance_cursor`] does
    /// (never backwards); a position named twice moves to the larger `seq`. Positions of any
    /// users, devices and apps may be mixed. The caller bounds the batch: the transaction holds
    /// the writer (on SQLite, the only one) until it commits.
    ///
    /// [`advance_cursor`]: CursorStore::advance_cursor
    async fn advance_cursors(&self, advances: &[CursorAdvance]) -> StoreResult<()>;
    /// The user read the whole conversation: moves the cursor of every device the user has a
    /// cursor for (in any queue) to the queue's head, never backwards, so no device counts it
    /// unread. Returns the head, or `None` when the queue has none (no such group or
    /// conversation, or the personal queue) and nothing moved.
    async fn mark_queue_read(&self, app_id: i64, user: &UserName, queue: &QueueKey) -> StoreResult<Option<i64>>;
}

/// Group read receipts: who read a group message sent with `allowGroupAck`.
#[async_trait]
pub trait ReceiptStore: Send + Sync + 'static {
    /// The message `message_id` of the group's timeline (a message, not an event), if there
    /// is one.
    async fn group_message(
        &self,
        app_id: i64,
        group_id: GroupId,
        message_id: u64,
    ) -> StoreResult<Option<TimelineEntry>>;
    /// Records that `ack.reader` read the message: once per reader (a repeat stores nothing
    /// and says `first: false`). On the first, stores `ack.notice` for the message's sender
    /// as a personal item with the read count filled in, in the same transaction. Drops every
    /// receipt of the app's messages sent before `expired_before_ms`.
    async fn add_group_ack(
        &self,
        app_id: i64,
        ack: &NewGroupAck,
        expired_before_ms: i64,
    ) -> StoreResult<GroupAckOutcome>;
    /// The message's readers in the order they read it, after the receipt id `after`, and
    /// how many there are in all.
    async fn group_readers(
        &self,
        app_id: i64,
        message_id: u64,
        after: Option<u64>,
        limit: u32,
    ) -> StoreResult<GroupReaders>;
}

/// Contacts, friend requests and users' blocklists. A contact is mutual: both sides' rows are
/// written and removed together. Every row goes with either user's deletion.
#[async_trait]
pub trait ContactStore: Send + Sync + 'static {
    /// Where `user` and `peer` stand with each other.
    async fn contact_standing(&self, app_id: i64, user: &UserName, peer: &UserName) -> StoreResult<ContactStanding>;
    /// How many contacts, unanswered requests sent and blocked users `user` has.
    async fn contact_counts(&self, app_id: i64, user: &UserName) -> StoreResult<ContactCounts>;
    /// Records `from`'s request to `to` (a repeated request replaces the reason and time).
    async fn put_contact_request(
        &self,
        app_id: i64,
        from: &UserName,
        to: &UserName,
        reason: &str,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// Removes `from`'s request to `to`; `Ok(false)` if there was none.
    async fn remove_contact_request(&self, app_id: i64, from: &UserName, to: &UserName) -> StoreResult<bool>;
    /// Makes `a` and `b` contacts of each other and removes the requests between them, either
    /// way; `Ok(false)` if they were contacts already (the requests still go).
    async fn add_contacts(&self, app_id: i64, a: &UserName, b: &UserName, now_ms: i64) -> StoreResult<bool>;
    /// Ends the contact both ways; `Ok(false)` if they were not contacts.
    async fn remove_contacts(&self, app_id: i64, a: &UserName, b: &UserName) -> StoreResult<bool>;
    /// Sets `owner`'s remark on `contact`; `Ok(false)` if they are not contacts.
    async fn set_contact_remark(
        &self,
        app_id: i64,
        owner: &UserName,
        contact: &UserName,
        remark: &str,
    ) -> StoreResult<bool>;
    /// `owner`'s contacts in name order, after `after` (exclusive).
    async fn contacts_page(
        &self,
        app_id: i64,
        owner: &UserName,
        after: Option<&UserName>,
        limit: u32,
    ) -> StoreResult<Vec<ContactRecord>>;
    /// Adds `users` to `owner`'s blocklist (those on it already stay as they are); users who do
    /// not exist are left out. Returns the users now blocked of those asked.
    async fn block_users(
        &self,
        app_id: i64,
        owner: &UserName,
        users: &[UserName],
        now_ms: i64,
    ) -> StoreResult<Vec<UserName>>;
    /// Removes `users` from `owner`'s blocklist; returns those that were on it.
    async fn unblock_users(&self, app_id: i64, owner: &UserName, users: &[UserName]) -> StoreResult<Vec<UserName>>;
    /// `owner`'s blocklist in name order, after `after` (exclusive).
    async fn user_blocklist(
        &self,
        app_id: i64,
        owner: &UserName,
        after: Option<&UserName>,
        limit: u32,
    ) -> StoreResult<Vec<UserName>>;
}

/// User attributes (`/metadata/user`): string keys and values per user.
#[async_trait]
pub trait UserMetadataStore: Send + Sync + 'static {
    /// The attributes of `users`, in (user as asked, key) order; users with none are left out.
    async fn user_metadata(&self, app_id: i64, users: &[UserName]) -> StoreResult<Vec<(UserName, String, String)>>;
    /// Sets `entries` on `user`'s attributes (other keys stay) if all of them together stay
    /// within `max_bytes` (keys and values, in bytes); otherwise changes nothing.
    async fn set_user_metadata(
        &self,
        app_id: i64,
        user: &UserName,
        entries: &[(String, String)],
        max_bytes: usize,
    ) -> StoreResult<UserMetadataUpdate>;
    /// Removes all of `user`'s attributes; `Ok(false)` if there were none.
    async fn delete_user_metadata(&self, app_id: i64, user: &UserName) -> StoreResult<bool>;
}
