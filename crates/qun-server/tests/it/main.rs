//! End-to-end tests: the real server on a free port, driven over HTTP. Each test runs on
//! SQLite, and on PostgreSQL when `QUN_TEST_DATABASE_URL` is set (see `harness::backends`).

mod harness;

mod authorization;
mod batches;
mod chat_cli;
mod gateway;

mod chatfiles;
mod contacts;
mod conversations;
mod cursors;
mod fuzz;
mod group_content;
mod group_requests;
mod groups;
mod hardening;
mod history;
mod lifecycle;
mod recall;
mod receipts;
mod replies;
mod room_live;
mod rooms;
mod server;
mod tidy;
mod users;
