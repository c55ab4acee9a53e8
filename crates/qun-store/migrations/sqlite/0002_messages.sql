-- Messages, queues and delivery cursors (SQLite). Keep it in step with
-- migrations/postgres/0002_messages.sql (same tables, columns, keys and indexes).

-- Group messages go to group_timeline (kind 1), sharing the group's sequence with its events.
-- History pages from a message id: find the entry by id.
CREATE INDEX group_timeline_by_id ON group_timeline (app_id, id);

-- A 1:1 conversation, named "low|high" (the two user names in byte order; '|' is never part
-- of a name), with the sequence of its newest message. No foreign keys: a conversation
-- outlives the deletion of either side (the other keeps their history), and is never deleted
-- (its timeline's sequence lives here).
CREATE TABLE chats (
    app_id   INTEGER NOT NULL REFERENCES apps (id),
    conv     TEXT    NOT NULL,
    low      TEXT    NOT NULL,
    high     TEXT    NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (app_id, conv)
) STRICT;
-- A user's conversations, from either side.
CREATE INDEX chats_by_low ON chats (app_id, low);
CREATE INDEX chats_by_high ON chats (app_id, high);

-- 1:1 messages, stored once per conversation.
CREATE TABLE chat_timeline (
    app_id     INTEGER NOT NULL,
    conv       TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    id         INTEGER NOT NULL, -- server id (snowflake)
    sender     TEXT    NOT NULL,
    payload    BLOB    NOT NULL, -- the realtime layer's bytes
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (app_id, conv, seq),
    UNIQUE (app_id, id)
) STRICT;

-- The client's own id of each stored message (msync Meta.id), so a resend is not stored twice.
CREATE TABLE message_client_ids (
    app_id    INTEGER NOT NULL,
    sender    TEXT    NOT NULL,
    client_id INTEGER NOT NULL,
    id        INTEGER NOT NULL, -- the server id the message got
    seq       INTEGER NOT NULL, -- and its sequence in its conversation
    PRIMARY KEY (app_id, sender, client_id)
) STRICT;

-- What each device of a user has acknowledged, per queue: "g:<group id>", "c:<peer>", "u".
CREATE TABLE delivery_cursors (
    app_id    INTEGER NOT NULL,
    user_name TEXT    NOT NULL,
    device    TEXT    NOT NULL,
    queue     TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    PRIMARY KEY (app_id, user_name, device, queue)
) STRICT;
-- Dissolving a group deletes every cursor on its queue.
CREATE INDEX delivery_cursors_by_queue ON delivery_cursors (app_id, queue);
