//! The one error type of the client: REST failures carry Agora's `error` and
//! `error_description`, websocket refusals carry the msync status code and `reason`.

use qun_proto::msync::StatusCode;

/// Everything a client call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered a REST call with an error envelope (or any status but 200).
    #[error("{status} {error}: {description}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// Agora's `error` field, e.g. `"forbidden_op"` (empty if the body was not an envelope).
        error: String,
        /// Agora's `error_description`.
        description: String,
    },
    /// The server refused the PROVISION (login) frame, e.g. `"Sorry, token expired"`.
    #[error("login refused (status {code}): {reason}")]
    LoginRefused { code: i32, reason: String },
    /// The server acknowledged a send with a non-OK status, e.g. `USER_MUTED` /
    /// `"user is mute"` or `FAIL` / `"not in group or chatroom"`.
    #[error("send refused (status {code}): {reason}")]
    SendRefused { code: i32, reason: String, meta_id: u64 },
    /// No answer in time: the login reply (10 s) or a send's ack (15 s), as in the SDK.
    #[error("no {what} within {seconds} s")]
    Timeout { what: &'static str, seconds: u64 },
    /// The connection is closed (or closed while the call was waiting).
    #[error("connection closed")]
    Closed,
    /// A frame or reply that does not follow the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
}

/// The client's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The server's own words, if the server refused: `error_description` for REST, the
    /// msync `reason` for the websocket.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Error::Api { description, .. } => Some(description),
            Error::LoginRefused { reason, .. } | Error::SendRefused { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The msync status of a websocket refusal (`None` for a value this schema does not know,
    /// and for every other error).
    pub fn msync_status(&self) -> Option<StatusCode> {
        match self {
            Error::LoginRefused { code, .. } | Error::SendRefused { code, .. } => StatusCode::try_from(*code).ok(),
            _ => None,
        }
    }
}
