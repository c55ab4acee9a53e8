//! The client against the real server: a Qun server started in-process on a free port with a
//! fresh SQLite database, driven through `RestClient` and `Connection` as an application
//! would.

mod harness;

mod events;
mod login;
mod messages;
