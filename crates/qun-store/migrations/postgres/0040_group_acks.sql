-- Group read receipts (PostgreSQL). Keep it in step with migrations/sqlite/0040_group_acks.sql.

-- Who read a group message sent with allowGroupAck: one row per reader and message (never
-- one per member), kept while the message is within the receipt window and dropped with the
-- group.
CREATE TABLE group_acks (
    app_id     BIGINT  NOT NULL,
    group_id   BIGINT  NOT NULL,
    message_id BIGINT  NOT NULL, -- the message's server id (unique in the app)
    reader     TEXT COLLATE "C" NOT NULL,
    id         BIGINT  NOT NULL, -- the receipt's server id: the readers' order and page cursor
    message_ms BIGINT  NOT NULL, -- when the message was sent: the window is counted from it
    created_ms BIGINT  NOT NULL,
    PRIMARY KEY (app_id, message_id, reader),
    FOREIGN KEY (app_id, group_id) REFERENCES groups (app_id, id) ON DELETE CASCADE
);
-- A message's readers in the order they read it.
CREATE UNIQUE INDEX group_acks_by_message ON group_acks (app_id, message_id, id);
-- Dropping receipts of messages out of the window.
CREATE INDEX group_acks_by_message_time ON group_acks (app_id, message_ms);
-- The cascade from a dissolved group.
CREATE INDEX group_acks_by_group ON group_acks (app_id, group_id);
