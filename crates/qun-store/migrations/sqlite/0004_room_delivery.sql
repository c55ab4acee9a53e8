-- Chat room delivery settings (SQLite). Keep it in step with
-- migrations/postgres/0004_room_delivery.sql.
--
-- A room's overrides of its app's delivery defaults (recent-message ring size and switch, rate
-- limit), as JSON: `{}` takes the app's values for everything.
ALTER TABLE rooms ADD COLUMN delivery TEXT NOT NULL DEFAULT '{}';
