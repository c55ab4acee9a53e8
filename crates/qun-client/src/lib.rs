//! The Rust client SDK for Qun, used by the tests, the benchmark and `qun chat`.
//!
//! - [`RestClient`]: Agora's REST calls (tokens, registration, a generic call, a few group and
//!   chat room helpers), errors as [`Error::Api`] with Agora's `error` and `error_description`.
//! - [`Connection`]: one msync websocket, behaving like the official web SDK
//!   (sdk-behaviour.md §2): PROVISION login, UNREAD, NOTICE → pull → ack by `key = nextKey`
//!   until `isLast`, one queue at a time in FIFO order, sends acknowledged by meta id (15 s),
//!   a heartbeat after 30 s of silence, LOGOUT at close; chat rooms joined and left over the
//!   websocket (`join_room`, `leave_room`), sent to with a priority (`send_room_text`), their
//!   messages and events pushed. What arrives comes out of a channel of [`Incoming`] items.
//!
//! Built to hold thousands of connections in one process: each connection is one tokio task
//! (no thread), owns its state without locks, and talks to the application through bounded
//! channels. When the application does not drain its [`Incoming`] channel the connection
//! stops reading, so it stops acknowledging, and the server (not this process) holds the
//! backlog. A benchmark that only counts can use [`ReceiveMode::IdsOnly`] (no body decoding)
//! or drop the receiver altogether and read [`Connection::counters`].
//!
//! A connection never hands out a message it sent itself (its ack already told the
//! application, and the SDK drops ids it has seen): Qun's server leaves them out of the
//! sending connection's pulls, and the client drops any that come back anyway (counted in
//! `own_echoes`). Messages from the same user's other connections are delivered.
//!
//! Invariant: plain `ws://` only (no TLS dependency); nothing here panics on what the server
//! sends.

mod connection;
mod driver;
pub mod error;
pub mod frames;
mod incoming;
pub mod rest;

pub use connection::{ConnectOptions, Connection, Counters, Sent};
pub use error::{Error, Result};
pub use frames::{Target, ext};
pub use incoming::{ChatType, Incoming, ReceiveMode, operation_name};
pub use qun_proto::msync::{KeyValue, MessageBody, pb};
pub use rest::RestClient;

/// The websocket URL of a server whose REST base is `server` (`http://host:port` →
/// `ws://host:port/websocket`). An `https` base gives a `wss` URL, which this client refuses
/// to connect to (no TLS).
pub fn websocket_url(server: &str) -> String {
    let server = server.trim_end_matches('/');
    if let Some(secure) = server.strip_prefix("https://") {
        return format!("wss://{secure}/websocket");
    }
    let rest = server.strip_prefix("http://").or_else(|| server.strip_prefix("ws://")).unwrap_or(server);
    format!("ws://{rest}/websocket")
}

#[cfg(test)]
mod tests {
    #[test]
    fn websocket_url_from_the_rest_base() {
        assert_eq!(super::websocket_url("http://127.0.0.1:8080"), "ws://127.0.0.1:8080/websocket");
        assert_eq!(super::websocket_url("http://chat.example:80/"), "ws://chat.example:80/websocket");
        assert_eq!(super::websocket_url("localhost:9000"), "ws://localhost:9000/websocket");
        assert_eq!(super::websocket_url("https://chat.example"), "wss://chat.example/websocket");
    }
}
