-- Messages, queues and delivery cursors (PostgreSQL). Keep it in step with
-- migrations/sqlite/0002_messages.sql (same tables, columns, keys and indexes).

-- Group messages go to group_timeline (kind 1), sharing the group's sequence with its events.
-- History pages from a message id: find the entry by id.
CREATE INDEX group_timeline_by_id ON group_timeline (app_id, id);

-- A 1:1 conversation, named "low|high" (the two user names in byte order; '|' is never part
-- of a name), with the sequence of its newest message. No foreign keys: a conversation
-- outlives the deletion of either side (the other keeps their history), and is never deleted
-- (its timeline's sequence lives here).
CREATE TABLE chats (
    app_id   BIGINT  NOT NULL REFERENCES apps (id),
    conv     TEXT COLLATE "C" NOT NULL,
    low      TEXT COLLATE "C" NOT NULL,
    high     TEXT COLLATE "C" NOT NULL,
    last_seq BIGINT  NOT NULL,
    PRIMARY KEY (app_id, conv)
);
-- A user's conversations, from either side.
CREATE INDEX chats_by_low ON chats (app_id, low);
CREATE INDEX chats_by_high ON chats (app_id, high);

-- 1:1 messages, stored once per conversation.
CREATE TABLE chat_timeline (
    app_id     BIGINT  NOT NULL,
    conv       TEXT COLLATE "C" NOT NULL,
    seq        BIGINT  NOT NULL,
    id         BIGINT  NOT NULL, -- server id (snowflake)
    sender     TEXT COLLATE "C" NOT NULL,
    payload    BYTEA   NOT NULL, -- the realtime layer's bytes
    created_ms BIGINT  NOT NULL,
    PRIMARY KEY (app_id, conv, seq),
    UNIQUE (app_id, id)
);

-- The client's own id of each stored message (msync Meta.id), so a resend is not stored twice.
CREATE TABLE message_client_ids (
    app_id    BIGINT  NOT NULL,
    sender    TEXT COLLATE "C" NOT NULL,
    client_id BIGINT  NOT NULL,
    id        BIGINT  NOT NULL, -- the server id the message got
    seq       BIGINT  NOT NULL, -- and its sequence in its conversation
    PRIMARY KEY (app_id, sender, client_id)
);

-- What each device of a user has acknowledged, per queue: "g:<group id>", "c:<peer>", "u".
CREATE TABLE delivery_cursors (
    app_id    BIGINT  NOT NULL,
    user_name TEXT COLLATE "C" NOT NULL,
    device    TEXT COLLATE "C" NOT NULL,
    queue     TEXT COLLATE "C" NOT NULL,
    seq       BIGINT  NOT NULL,
    PRIMARY KEY (app_id, user_name, device, queue)
);
-- Dissolving a group deletes every cursor on its queue.
CREATE INDEX delivery_cursors_by_queue ON delivery_cursors (app_id, queue);
