//! The database schema: one migration set per backend, embedded at build time and run at open.
//!
//! `migrations/sqlite` and `migrations/postgres` describe the same tables, keys and indexes;
//! only the column types differ (INTEGER 0/1 and BLOB in SQLite, BOOLEAN, SMALLINT and BYTEA
//! in PostgreSQL). A change to one needs the same change to the other, as a new numbered file:
//! an applied migration is never edited.
//!
//! The layout in short:
//! - every table is keyed by `app_id` first;
//! - u64 ids (group ids, event and message ids) are BIGINT holding the same 64 bits as i64
//!   (they are below 2^63, so they also sort as numbers);
//! - a group's members, blocklist, requests, files, member attributes and timeline reference
//!   the group row with `ON DELETE CASCADE`, so deleting the row dissolves the group;
//! - `group_members` has a unique index on `(app_id, group_id, join_order DESC)` for member
//!   lists newest joined first, and one on `(app_id, user_name, join_order DESC)` for a user's
//!   groups;
//! - `group_timeline` holds a group's events (kind 0) and messages (kind 1), each once per
//!   group, with the per-group sequence kept in `groups.last_seq`; an index on `(app_id, id)`
//!   finds an entry by id (history pages from a message id);
//! - a 1:1 conversation is named `"low|high"` (the two user names in byte order): `chats` holds
//!   its sequence (`last_seq`) and is indexed by either side, `chat_timeline` its messages
//!   (unique ids); neither has foreign keys, as the conversation outlives either user;
//! - recall and edit (`0020_recall_edit.sql`): both timelines have a `kind` (1 message, 2 notice
//!   of a recall or edit, 3 recalled message; 0 event in groups) and an `edits` count;
//! - `message_client_ids` remembers each stored message by (sender, client id), for resends;
//! - `delivery_cursors` is what each device of a user acknowledged, per queue (`"g:<group>"`,
//!   `"c:<peer>"`, `"u"`); by queue name, so dissolving a group deletes its rows explicitly
//!   (indexed by `(app_id, queue)`);
//! - chat rooms (`0003_chatrooms.sql`): `rooms` with its version and counts; `room_members` is
//!   presence (who is in the room now, unique `join_order` per room for newest-first lists),
//!   while `room_admins`, `room_blocks`, `room_allowlist` and `room_mutes` outlive it; all of
//!   them and `room_attributes` (key, value, who set it, autoDelete) go with the room row
//!   (`ON DELETE CASCADE`); `room_super_admins` is per app. Room events are never stored.
//! - conversations (`0030_conversations.sql`): `conversation_states` holds, per user and
//!   conversation key (`"g:<group>"`, `"c:<peer>"`), only what the user changed (pin, marks,
//!   deleted-through, history cleared through a sequence or before a time, read-through);
//!   `history_removals` the single messages a user removed from their own history. The list
//!   itself is derived, so sending writes neither.
//! - group read receipts (`0040_group_acks.sql`): `group_acks`, one row per reader and message
//!   (keyed so), ordered by the receipt's id for the readers list, indexed by the message's time
//!   (receipts are dropped 3 days after it) and going with the group row (`ON DELETE CASCADE`).

use sqlx::migrate::Migrator;

pub(crate) static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");

pub(crate) static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");
