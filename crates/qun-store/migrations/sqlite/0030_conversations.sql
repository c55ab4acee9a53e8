-- Conversation state per user (SQLite). Keep it in step with
-- migrations/postgres/0030_conversations.sql.
--
-- A user's conversation list is derived (group memberships and timeline heads, 1:1 `chats`),
-- so sending a message writes nothing here. A row exists only for a conversation its user
-- changed: pinned, marked, deleted, read up to a point, or history removed. `conv` is the
-- queue key ("g:<group id>", "c:<peer>").
CREATE TABLE conversation_states (
    app_id             INTEGER NOT NULL,
    user_name          TEXT    NOT NULL,
    conv               TEXT    NOT NULL,
    pinned_ms          INTEGER,                   -- NULL: not pinned
    marks              INTEGER NOT NULL DEFAULT 0, -- bit n: mark_n
    hidden_through_seq INTEGER NOT NULL DEFAULT 0, -- deleted from the list up to this entry
    cleared_through_seq INTEGER NOT NULL DEFAULT 0, -- history removed up to this entry
    cleared_before_ms  INTEGER NOT NULL DEFAULT 0, -- history removed before this time
    read_seq           INTEGER NOT NULL DEFAULT 0, -- read up to this entry
    PRIMARY KEY (app_id, user_name, conv)
) STRICT;

-- Messages a user removed from their own history one by one (the others still see them).
CREATE TABLE history_removals (
    app_id     INTEGER NOT NULL,
    user_name  TEXT    NOT NULL,
    conv       TEXT    NOT NULL,
    message_id INTEGER NOT NULL,
    PRIMARY KEY (app_id, user_name, conv, message_id)
) STRICT;
