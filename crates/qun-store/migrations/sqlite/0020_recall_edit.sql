-- Recall and edit (SQLite). Keep it in step with migrations/postgres/0020_recall_edit.sql.

-- Timeline kinds, in both timelines: 1 message, 2 notice (a recall or an edit of an earlier
-- message, delivered like a message but never history), 3 recalled (the message's row, kept
-- so history can still page from its id; delivered to nobody). group_timeline also has 0
-- (event). Rows written before this migration are messages.
ALTER TABLE chat_timeline ADD COLUMN kind INTEGER NOT NULL DEFAULT 1;
-- How many times a message was edited: an edit is written only at the count it was decided on.
ALTER TABLE chat_timeline ADD COLUMN edits INTEGER NOT NULL DEFAULT 0;
ALTER TABLE group_timeline ADD COLUMN edits INTEGER NOT NULL DEFAULT 0;
