-- Chat rooms (PostgreSQL). Keep it in step with migrations/sqlite/0003_chatrooms.sql (same
-- tables, columns, keys and indexes; only the types differ).
--
-- A room's roles are held apart from its presence: `rooms.owner` and `room_admins` keep their
-- role when the user leaves; `room_members` is who is in the room now. Mutes, the blocklist and
-- the allowlist are the room's judgement on a user and outlive their presence too. Room events
-- are never stored (rooms have no offline store). member_count and admin_count are kept by the
-- store, so reading a room never counts rows. owner has no foreign key: a deleted user stays
-- owner of record.
CREATE TABLE rooms (
    app_id       BIGINT  NOT NULL REFERENCES apps (id),
    id           BIGINT  NOT NULL,
    owner        TEXT COLLATE "C" NOT NULL,
    name         TEXT    NOT NULL,
    description  TEXT    NOT NULL,
    max_users    BIGINT  NOT NULL,
    custom       TEXT    NOT NULL,
    announcement TEXT    NOT NULL DEFAULT '',
    mute_all     BOOLEAN NOT NULL DEFAULT FALSE,
    member_count BIGINT  NOT NULL DEFAULT 0,
    admin_count  BIGINT  NOT NULL DEFAULT 0,
    version      BIGINT  NOT NULL,
    created_ms   BIGINT  NOT NULL,
    modified_ms  BIGINT  NOT NULL,
    PRIMARY KEY (app_id, id)
);

-- Everything below belongs to a room and goes with it (ON DELETE CASCADE): destroying a room
-- is deleting its row. Each table has an index by user, for deleting a user.

-- Who is in the room now; join_order orders member lists, newest first.
CREATE TABLE room_members (
    app_id     BIGINT  NOT NULL,
    room_id    BIGINT  NOT NULL,
    user_name  TEXT COLLATE "C" NOT NULL,
    joined_ms  BIGINT  NOT NULL,
    join_order BIGINT  NOT NULL,
    PRIMARY KEY (app_id, room_id, user_name),
    FOREIGN KEY (app_id, room_id) REFERENCES rooms (app_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX room_members_by_join_order ON room_members (app_id, room_id, join_order DESC);
-- A user's rooms, newest joined first.
CREATE INDEX room_members_by_user ON room_members (app_id, user_name, join_order DESC);

CREATE TABLE room_admins (
    app_id     BIGINT  NOT NULL,
    room_id    BIGINT  NOT NULL,
    user_name  TEXT COLLATE "C" NOT NULL,
    created_ms BIGINT  NOT NULL,
    PRIMARY KEY (app_id, room_id, user_name),
    FOREIGN KEY (app_id, room_id) REFERENCES rooms (app_id, id) ON DELETE CASCADE
);
CREATE INDEX room_admins_by_user ON room_admins (app_id, user_name);

CREATE TABLE room_blocks (
    app_id     BIGINT  NOT NULL,
    room_id    BIGINT  NOT NULL,
    user_name  TEXT COLLATE "C" NOT NULL,
    created_ms BIGINT  NOT NULL,
    PRIMARY KEY (app_id, room_id, user_name),
    FOREIGN KEY (app_id, room_id) REFERENCES rooms (app_id, id) ON DELETE CASCADE
);
CREATE INDEX room_blocks_by_user ON room_blocks (app_id, user_name);

CREATE TABLE room_allowlist (
    app_id     BIGINT  NOT NULL,
    room_id    BIGINT  NOT NULL,
    user_name  TEXT COLLATE "C" NOT NULL,
    created_ms BIGINT  NOT NULL,
    PRIMARY KEY (app_id, room_id, user_name),
    FOREIGN KEY (app_id, room_id) REFERENCES rooms (app_id, id) ON DELETE CASCADE
);
CREATE INDEX room_allowlist_by_user ON room_allowlist (app_id, user_name);

-- A mute until until_ms (i64::MAX: for ever); an expired row is no mute and is overwritten by
-- the next one.
CREATE TABLE room_mutes (
    app_id     BIGINT  NOT NULL,
    room_id    BIGINT  NOT NULL,
    user_name  TEXT COLLATE "C" NOT NULL,
    until_ms   BIGINT  NOT NULL,
    created_ms BIGINT  NOT NULL,
    PRIMARY KEY (app_id, room_id, user_name),
    FOREIGN KEY (app_id, room_id) REFERENCES rooms (app_id, id) ON DELETE CASCADE
);
CREATE INDEX room_mutes_by_user ON room_mutes (app_id, user_name);

-- Custom attributes: at most 100 per room (checked by the service). owner is who set the key;
-- auto_delete: remove it when they leave the room.
CREATE TABLE room_attributes (
    app_id      BIGINT  NOT NULL,
    room_id     BIGINT  NOT NULL,
    attr_key    TEXT COLLATE "C" NOT NULL,
    attr_value  TEXT    NOT NULL,
    owner       TEXT COLLATE "C" NOT NULL,
    auto_delete BOOLEAN NOT NULL,
    updated_ms  BIGINT  NOT NULL,
    PRIMARY KEY (app_id, room_id, attr_key),
    FOREIGN KEY (app_id, room_id) REFERENCES rooms (app_id, id) ON DELETE CASCADE
);
CREATE INDEX room_attributes_by_owner ON room_attributes (app_id, owner);

-- The app's chat room super admins: the users who may create rooms from a client.
CREATE TABLE room_super_admins (
    app_id     BIGINT  NOT NULL REFERENCES apps (id),
    user_name  TEXT COLLATE "C" NOT NULL,
    created_ms BIGINT  NOT NULL,
    PRIMARY KEY (app_id, user_name)
);
