-- Contacts, friend requests, user blocklists and user attributes (PostgreSQL). Keep it in step with
-- migrations/sqlite/0010_contacts.sql.
--
-- Every row names users of the app and goes with either of them (ON DELETE CASCADE), so
-- deleting a user needs no statement here. A contact is two rows, one per side, each with
-- its owner's remark.
CREATE TABLE contacts (
    app_id     BIGINT  NOT NULL,
    owner      TEXT COLLATE "C" NOT NULL,
    contact    TEXT COLLATE "C" NOT NULL,
    remark     TEXT    NOT NULL DEFAULT '',
    created_ms BIGINT  NOT NULL,
    PRIMARY KEY (app_id, owner, contact),
    FOREIGN KEY (app_id, owner) REFERENCES users (app_id, name) ON DELETE CASCADE,
    FOREIGN KEY (app_id, contact) REFERENCES users (app_id, name) ON DELETE CASCADE
);
CREATE INDEX contacts_by_contact ON contacts (app_id, contact);

-- A friend request waiting for its answer.
CREATE TABLE contact_requests (
    app_id     BIGINT  NOT NULL,
    requester  TEXT COLLATE "C" NOT NULL,
    target     TEXT COLLATE "C" NOT NULL,
    reason     TEXT    NOT NULL,
    created_ms BIGINT  NOT NULL,
    PRIMARY KEY (app_id, requester, target),
    FOREIGN KEY (app_id, requester) REFERENCES users (app_id, name) ON DELETE CASCADE,
    FOREIGN KEY (app_id, target) REFERENCES users (app_id, name) ON DELETE CASCADE
);
CREATE INDEX contact_requests_by_target ON contact_requests (app_id, target);

-- A user's blocklist: `blocked` may not send `owner` 1:1 messages.
CREATE TABLE user_blocks (
    app_id     BIGINT  NOT NULL,
    owner      TEXT COLLATE "C" NOT NULL,
    blocked    TEXT COLLATE "C" NOT NULL,
    created_ms BIGINT  NOT NULL,
    PRIMARY KEY (app_id, owner, blocked),
    FOREIGN KEY (app_id, owner) REFERENCES users (app_id, name) ON DELETE CASCADE,
    FOREIGN KEY (app_id, blocked) REFERENCES users (app_id, name) ON DELETE CASCADE
);
CREATE INDEX user_blocks_by_blocked ON user_blocks (app_id, blocked);

-- User attributes (`/metadata/user`), one row per key.
CREATE TABLE user_metadata (
    app_id     BIGINT  NOT NULL,
    user_name  TEXT COLLATE "C" NOT NULL,
    attr_key   TEXT COLLATE "C" NOT NULL,
    attr_value TEXT    NOT NULL,
    PRIMARY KEY (app_id, user_name, attr_key),
    FOREIGN KEY (app_id, user_name) REFERENCES users (app_id, name) ON DELETE CASCADE
);
