-- Qun's schema for SQLite. Keep it in step with migrations/postgres (same tables, columns,
-- keys and indexes; only the types differ). STRICT tables: a value of the wrong type is an
-- error, as it is in PostgreSQL. Booleans are INTEGER 0/1. Every table is keyed by app first.

CREATE TABLE apps (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid               TEXT    NOT NULL UNIQUE,
    org                TEXT    NOT NULL,
    name               TEXT    NOT NULL,
    client_id          TEXT    NOT NULL,
    client_secret_hash BLOB    NOT NULL,
    settings           TEXT    NOT NULL, -- AppSettings as JSON
    created_ms         INTEGER NOT NULL,
    UNIQUE (org, name)
) STRICT;

CREATE TABLE users (
    app_id        INTEGER NOT NULL REFERENCES apps (id),
    name          TEXT    NOT NULL,
    uuid          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    nickname      TEXT    NOT NULL,
    activated     INTEGER NOT NULL,
    created_ms    INTEGER NOT NULL,
    modified_ms   INTEGER NOT NULL,
    PRIMARY KEY (app_id, name)
) STRICT;

-- A user's tokens go with the user.
CREATE TABLE tokens (
    hash       BLOB    NOT NULL PRIMARY KEY, -- SHA-256 of the token
    app_id     INTEGER NOT NULL REFERENCES apps (id),
    user_name  TEXT,                         -- NULL: an app token
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER,                      -- NULL: never
    FOREIGN KEY (app_id, user_name) REFERENCES users (app_id, name) ON DELETE CASCADE
) STRICT;
CREATE INDEX tokens_by_user ON tokens (app_id, user_name);

-- admin_count is kept by the store with member_count, so reading a group never counts rows.
-- owner has no foreign key: a deleted user stays owner of record of their groups.
CREATE TABLE groups (
    app_id              INTEGER NOT NULL REFERENCES apps (id),
    id                  INTEGER NOT NULL,
    owner               TEXT    NOT NULL,
    name                TEXT    NOT NULL,
    description         TEXT    NOT NULL,
    avatar              TEXT    NOT NULL,
    public              INTEGER NOT NULL,
    approval_required   INTEGER NOT NULL,
    allow_invites       INTEGER NOT NULL,
    invite_need_confirm INTEGER NOT NULL,
    max_users           INTEGER NOT NULL,
    custom              TEXT    NOT NULL,
    mute_all            INTEGER NOT NULL DEFAULT 0,
    disabled            INTEGER NOT NULL DEFAULT 0,
    announcement        TEXT    NOT NULL DEFAULT '',
    member_count        INTEGER NOT NULL DEFAULT 0,
    admin_count         INTEGER NOT NULL DEFAULT 0,
    version             INTEGER NOT NULL,
    last_seq            INTEGER NOT NULL DEFAULT 0,
    created_ms          INTEGER NOT NULL,
    modified_ms         INTEGER NOT NULL,
    PRIMARY KEY (app_id, id)
) STRICT;

-- Everything below "belongs to" a group and goes with it (ON DELETE CASCADE): dissolving a
-- group is deleting its row.

CREATE TABLE group_members (
    app_id         INTEGER NOT NULL,
    group_id       INTEGER NOT NULL,
    user_name      TEXT    NOT NULL,
    role           INTEGER NOT NULL, -- MemberRole::code
    joined_ms      INTEGER NOT NULL,
    join_order     INTEGER NOT NULL,
    muted_until_ms INTEGER,          -- NULL: not muted
    allowlisted    INTEGER NOT NULL DEFAULT 0,
    shielded       INTEGER NOT NULL DEFAULT 0,
    cursor_seq     INTEGER NOT NULL,
    PRIMARY KEY (app_id, group_id, user_name),
    FOREIGN KEY (app_id, group_id) REFERENCES groups (app_id, id) ON DELETE CASCADE
) STRICT;
-- Member lists, newest joined first, by offset or cursor: an index walk even at 5,000 members.
CREATE UNIQUE INDEX group_members_by_join_order ON group_members (app_id, group_id, join_order DESC);
-- A user's groups, newest joined first.
CREATE INDEX group_members_by_user ON group_members (app_id, user_name, join_order DESC);

CREATE TABLE group_blocks (
    app_id     INTEGER NOT NULL,
    group_id   INTEGER NOT NULL,
    user_name  TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (app_id, group_id, user_name),
    FOREIGN KEY (app_id, group_id) REFERENCES groups (app_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX group_blocks_by_user ON group_blocks (app_id, user_name);

CREATE TABLE group_requests (
    app_id     INTEGER NOT NULL,
    group_id   INTEGER NOT NULL,
    user_name  TEXT    NOT NULL,
    kind       INTEGER NOT NULL, -- RequestKind::code
    inviter    TEXT,
    message    TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (app_id, group_id, user_name, kind),
    FOREIGN KEY (app_id, group_id) REFERENCES groups (app_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX group_requests_by_user ON group_requests (app_id, user_name);

CREATE TABLE group_files (
    app_id     INTEGER NOT NULL,
    group_id   INTEGER NOT NULL,
    file_id    TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    owner      TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (app_id, group_id, file_id),
    FOREIGN KEY (app_id, group_id) REFERENCES groups (app_id, id) ON DELETE CASCADE
) STRICT;

CREATE TABLE group_member_attrs (
    app_id     INTEGER NOT NULL,
    group_id   INTEGER NOT NULL,
    user_name  TEXT    NOT NULL,
    attr_key   TEXT    NOT NULL,
    attr_value TEXT    NOT NULL,
    PRIMARY KEY (app_id, group_id, user_name, attr_key),
    FOREIGN KEY (app_id, group_id) REFERENCES groups (app_id, id) ON DELETE CASCADE
) STRICT;

-- A group's timeline: group-wide events now, the group's messages later, each stored once
-- with the group's next sequence number (groups.last_seq). Members read it after their cursor.
CREATE TABLE group_timeline (
    app_id      INTEGER NOT NULL,
    group_id    INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    id          INTEGER NOT NULL, -- server id (snowflake)
    kind        INTEGER NOT NULL, -- 0: event (GroupEvent JSON), 1: message (bytes)
    except_user TEXT,             -- a member who must not receive it
    payload     BLOB    NOT NULL,
    created_ms  INTEGER NOT NULL,
    PRIMARY KEY (app_id, group_id, seq),
    FOREIGN KEY (app_id, group_id) REFERENCES groups (app_id, id) ON DELETE CASCADE
) STRICT;

-- Events addressed to named users, one row per recipient. No foreign key: an event may
-- outlive its group (a dissolution notice) and is addressed by name.
CREATE TABLE user_events (
    app_id     INTEGER NOT NULL,
    user_name  TEXT    NOT NULL,
    id         INTEGER NOT NULL,
    payload    TEXT    NOT NULL, -- GroupEvent as JSON
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (app_id, user_name, id)
) STRICT;
